// uint8 elementwise kernels: quantize (f32 -> u8), dequantize (u8 -> f32), per-channel
// affine on u8 (an unfolded batch norm), and the byte copy behind concat. Each inner
// loop is plain C instantiated once per level (scalar, avx2, avx512 target attributes)
// so the compiler vectorises it; every operation in it is exactly rounded IEEE
// arithmetic (division, multiply, add, round-half-even, compares), so all instances
// give the same bits. Tasks are fixed-size chunks: results never depend on the threads.
#pragma clang fp contract(off)   // (x − zp)·mul + add stays multiply, then add
#include "qconv.h"
#include <string.h>

#define CHUNK (64 * 1024)

#define QLOOPS(SUF, TARGET)                                                                                       \
    TARGET static void quantize_##SUF(int64_t n, float scale, int32_t zp, const float *restrict x,                \
                                      uint8_t *restrict y) {                                                      \
        float lo = (float)-zp, hi = (float)(255 - zp);                                                           \
        for (int64_t i = 0; i < n; i++) y[i] = segc_quantize_one(x[i], scale, lo, hi, zp);                      \
    }                                                                                                             \
    TARGET static void dequantize_##SUF(int64_t n, float scale, int32_t zp, const uint8_t *restrict x,            \
                                        float *restrict y) {                                                      \
        for (int64_t i = 0; i < n; i++) y[i] = (float)((int32_t)x[i] - zp) * scale;                             \
    }                                                                                                             \
    TARGET static void affine_##SUF(int64_t n, int32_t xzp, int32_t yzp, int relu, float mul, float add,          \
                                    const uint8_t *restrict x, uint8_t *restrict y) {                             \
        float lo = (float)-yzp, hi = (float)(255 - yzp);                                                         \
        for (int64_t i = 0; i < n; i++) {                                                                        \
            float v = (float)((int32_t)x[i] - xzp) * mul + add;                                                  \
            if (relu) v = v > 0.0f ? v : 0.0f;                                                                   \
            float r = nearbyintf(v);                                                                             \
            r = r > lo ? r : lo;                                                                                 \
            r = r < hi ? r : hi;                                                                                 \
            y[i] = (uint8_t)((int32_t)r + yzp);                                                                  \
        }                                                                                                         \
    }

QLOOPS(scalar, )

static int64_t count_scalar(int64_t n, uint8_t v, const uint8_t *x) {
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++) c += x[i] == v;
    return c;
}
#if defined(__x86_64__)
QLOOPS(avx2, __attribute__((target("avx2,fma"))))
QLOOPS(avx512, __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma"))))
#endif

typedef struct {
    void (*quantize)(int64_t, float, int32_t, const float *, uint8_t *);
    void (*dequantize)(int64_t, float, int32_t, const uint8_t *, float *);
    void (*affine)(int64_t, int32_t, int32_t, int, float, float, const uint8_t *, uint8_t *);
    int64_t (*count)(int64_t, uint8_t, const uint8_t *);
} qloops;

static qloops loops_now(void) {
    int level = segc_qlevel();
#if defined(__x86_64__)
    if (level >= 2) return (qloops){quantize_avx512, dequantize_avx512, affine_avx512, segc_count_u8_avx512};
    if (level == 1) return (qloops){quantize_avx2, dequantize_avx2, affine_avx2, segc_count_u8_avx2};
#endif
    (void)level;
    return (qloops){quantize_scalar, dequantize_scalar, affine_scalar, count_scalar};
}

typedef struct {
    qloops f;
    int64_t n, c, hw, chunks;
    float scale;
    int32_t zp, yzp, relu;
    const void *x;
    void *y;
    const float *mul, *add;
} q_ctx;

static void quantize_task(void *vctx, int64_t t, int thread) {
    (void)thread;
    const q_ctx *c = vctx;
    int64_t i0 = t * CHUNK;
    c->f.quantize(SEGC_MIN(CHUNK, c->n - i0), c->scale, c->zp, (const float *)c->x + i0, (uint8_t *)c->y + i0);
}

static void dequantize_task(void *vctx, int64_t t, int thread) {
    (void)thread;
    const q_ctx *c = vctx;
    int64_t i0 = t * CHUNK;
    c->f.dequantize(SEGC_MIN(CHUNK, c->n - i0), c->scale, c->zp, (const uint8_t *)c->x + i0, (float *)c->y + i0);
}

static int scale_ok(float scale) { return isfinite(scale) && scale > 0.0f; }

int segc_quantize_u8(segc_pool *pool, int64_t n, float scale, int32_t zp, const float *x, uint8_t *y) {
    if (n < 0 || !scale_ok(scale) || zp < 0 || zp > 255) return SEGC_EINVAL;
    if (n == 0) return SEGC_OK;
    if (!x || !y) return SEGC_EINVAL;
    q_ctx c = {.f = loops_now(), .n = n, .scale = scale, .zp = zp, .x = x, .y = y};
    segc_pool_run(pool, quantize_task, &c, segc_chunks(n, CHUNK));
    return SEGC_OK;
}

int segc_dequantize_u8(segc_pool *pool, int64_t n, float scale, int32_t zp, const uint8_t *x, float *y) {
    if (n < 0 || !scale_ok(scale) || zp < 0 || zp > 255) return SEGC_EINVAL;
    if (n == 0) return SEGC_OK;
    if (!x || !y) return SEGC_EINVAL;
    q_ctx c = {.f = loops_now(), .n = n, .scale = scale, .zp = zp, .x = x, .y = y};
    segc_pool_run(pool, dequantize_task, &c, segc_chunks(n, CHUNK));
    return SEGC_OK;
}

// Tasks: (channel, chunk of the plane).
static void affine_task(void *vctx, int64_t t, int thread) {
    (void)thread;
    const q_ctx *c = vctx;
    int64_t ch = t / c->chunks, i0 = (t % c->chunks) * CHUNK, off = ch * c->hw + i0;
    c->f.affine(SEGC_MIN(CHUNK, c->hw - i0), c->zp, c->yzp, c->relu, c->mul[ch], c->add[ch],
                (const uint8_t *)c->x + off, (uint8_t *)c->y + off);
}

int segc_qaffine_u8(segc_pool *pool, int64_t c, int64_t hw, int32_t x_zp, int32_t y_zp, int32_t relu,
                    const uint8_t *x, const float *mul, const float *add, uint8_t *y) {
    if (c <= 0 || hw <= 0 || x_zp < 0 || x_zp > 255 || y_zp < 0 || y_zp > 255 || (relu != 0 && relu != 1))
        return SEGC_EINVAL;
    if (!x || !mul || !add || !y) return SEGC_EINVAL;
    q_ctx k = {.f = loops_now(), .c = c, .hw = hw, .chunks = segc_chunks(hw, CHUNK), .zp = x_zp, .yzp = y_zp,
               .relu = relu, .x = x, .y = y, .mul = mul, .add = add};
    segc_pool_run(pool, affine_task, &k, c * k.chunks);
    return SEGC_OK;
}

typedef struct {
    int64_t inner, dst_inner, offset, chunks;
    const uint8_t *src;
    uint8_t *dst;
} copy_ctx;

static void copy_task(void *vctx, int64_t t, int thread) {
    (void)thread;
    const copy_ctx *c = vctx;
    int64_t r = t / c->chunks, i0 = (t % c->chunks) * (4 * CHUNK), n = SEGC_MIN(4 * CHUNK, c->inner - i0);
    memcpy(c->dst + r * c->dst_inner + c->offset + i0, c->src + r * c->inner + i0, (size_t)n);
}

int segc_copy_rows_u8(segc_pool *pool, int64_t outer, int64_t inner, const uint8_t *src, uint8_t *dst,
                      int64_t dst_inner, int64_t offset) {
    if (outer < 0 || inner < 0 || offset < 0 || offset + inner > dst_inner) return SEGC_EINVAL;
    if (outer == 0 || inner == 0) return SEGC_OK;
    if (!src || !dst) return SEGC_EINVAL;
    if (src + offset == dst && inner == dst_inner) return SEGC_OK;   // already in place
    copy_ctx c = {inner, dst_inner, offset, segc_chunks(inner, 4 * CHUNK), src, dst};
    segc_pool_run(pool, copy_task, &c, outer * c.chunks);
    return SEGC_OK;
}

// Counting one code (the range guard: how many outputs an int8 op saturated at 255). One
// task per part of at most COUNT_PARTS; the total is an integer sum, the same for any split.
#define COUNT_PARTS 64

typedef struct {
    qloops f;
    int64_t n, parts;
    uint8_t v;
    const uint8_t *x;
    int64_t *partial;
} count_ctx;

static void count_task(void *vctx, int64_t t, int thread) {
    (void)thread;
    const count_ctx *c = vctx;
    int64_t lo = c->n * t / c->parts, hi = c->n * (t + 1) / c->parts;
    c->partial[t] = c->f.count(hi - lo, c->v, c->x + lo);
}

int64_t segc_count_u8(segc_pool *pool, int64_t n, uint8_t v, const uint8_t *x) {
    if (n <= 0 || !x) return 0;
    int64_t partial[COUNT_PARTS];
    int64_t parts = SEGC_MIN(SEGC_MIN((int64_t)COUNT_PARTS, 2 * (int64_t)segc_pool_threads(pool)), segc_chunks(n, CHUNK));
    count_ctx c = {.f = loops_now(), .n = n, .parts = parts, .v = v, .x = x, .partial = partial};
    segc_pool_run(pool, count_task, &c, parts);
    int64_t total = 0;
    for (int64_t t = 0; t < parts; t++) total += partial[t];
    return total;
}
