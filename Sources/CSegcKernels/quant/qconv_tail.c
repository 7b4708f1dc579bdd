// The float tail of an int8 conv (segc_qconv2d_tail, include/segc_kernels.h): in an int8
// plan ENet's 27 bottleneck ends are qconv (float output, its own PReLU) → add (the float
// main branch) → PReLU/ReLU → quantize (for the next int8 conv), and unfused those three
// elementwise passes over the whole tensor were a third of its int8 time (avx512: add 8.5,
// prelu 2.8, quantize 2.7 of 42.6 ms). Here each conv task runs them on the outputs it has
// just written, while they are in cache: one read of the main branch, one write of the
// result and of its uint8 copy.
//
// The arithmetic is the separate ops' (elementwise.c's add and activation, quantize.c's
// quantize), element by element, so the bits are theirs; the loops are instantiated per
// level like quantize.c's and vectorised (every operation exactly rounded IEEE).
#pragma clang fp contract(off)   // add, then the activation; the quantize's division stays one
#include "qconv.h"

#define TAIL_LOOPS(SUF, TARGET)                                                                                 \
    TARGET static void tail_##SUF(int64_t n, const float *a, const float *b, int act, float slope, float *out) { \
        _Pragma("clang loop vectorize(assume_safety)") for (int64_t i = 0; i < n; i++)                          \
            out[i] = segc_act(a[i] + b[i], act, slope);                                                          \
    }                                                                                                            \
    TARGET static void tail_q_##SUF(int64_t n, const float *a, const float *b, int act, float slope, float *out,  \
                                    uint8_t *q, float scale, int32_t zp) {                                       \
        float lo = (float)-zp, hi = (float)(255 - zp);                                                          \
        _Pragma("clang loop vectorize(assume_safety)") for (int64_t i = 0; i < n; i++) {                        \
            float v = segc_act(a[i] + b[i], act, slope);                                                         \
            out[i] = v;                                                                                          \
            q[i] = segc_quantize_one(v, scale, lo, hi, zp);                                                      \
        }                                                                                                        \
    }

TAIL_LOOPS(scalar, )
#if defined(__x86_64__)
TAIL_LOOPS(avx2, __attribute__((target("avx2,fma"))))
TAIL_LOOPS(avx512, __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma"))))
#endif

void segc_qtail_apply(const segc_qconv_tail *t, int level, const float *y, int64_t co, int64_t e, int64_t n) {
    // `out` may be y or res exactly: element i is read before it is written (assume_safety).
    const float *c = y + e, *r = t->res + e;
    const float *a = t->conv_first ? c : r, *b = t->conv_first ? r : c;
    float slope = t->act == SEGC_ACT_PRELU ? t->slope[t->nslope == 1 ? 0 : co] : 0.0f;
    if (t->q) {
        uint8_t *q = t->q + e;
#if defined(__x86_64__)
        if (level >= 2) return tail_q_avx512(n, a, b, t->act, slope, t->out + e, q, t->q_scale, t->q_zp);
        if (level == 1) return tail_q_avx2(n, a, b, t->act, slope, t->out + e, q, t->q_scale, t->q_zp);
#endif
        return tail_q_scalar(n, a, b, t->act, slope, t->out + e, q, t->q_scale, t->q_zp);
    }
#if defined(__x86_64__)
    if (level >= 2) return tail_avx512(n, a, b, t->act, slope, t->out + e);
    if (level == 1) return tail_avx2(n, a, b, t->act, slope, t->out + e);
#endif
    (void)level;
    tail_scalar(n, a, b, t->act, slope, t->out + e);
}

typedef struct {
    const segc_qconv_tail *t;
    const float *y;
    int64_t hw, per;   // elements per channel, tasks per channel
    int level;
} tail_ctx;

#define TAIL_CHUNK (16 * 1024)

static void tail_task(void *vctx, int64_t k, int thread) {
    (void)thread;
    const tail_ctx *c = vctx;
    int64_t co = k / c->per, i0 = (k % c->per) * TAIL_CHUNK;
    segc_qtail_apply(c->t, c->level, c->y, co, co * c->hw + i0, SEGC_MIN(TAIL_CHUNK, c->hw - i0));
}

void segc_qtail_run(segc_pool *pool, const segc_qconv_tail *t, const segc_qconv_params *p, const float *y) {
    tail_ctx c = {t, y, p->oh * p->ow, segc_chunks(p->oh * p->ow, TAIL_CHUNK), segc_qlevel()};
    segc_pool_run(pool, tail_task, &c, p->cout * c.per);
}
