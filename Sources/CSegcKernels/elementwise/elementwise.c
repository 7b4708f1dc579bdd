// Elementwise kernels: broadcasting binary ops, activations, channel affine, prelu,
// concat (row copies), constant pad, softmax. Inner loops come from the dispatch
// table (vectorised per ISA); tasks are fixed-size chunks of rows.
#include "../internal.h"
#include <math.h>
#include <string.h>

#define CHUNK (32 * 1024)

// ---------------------------------------------------------------- binary
typedef struct {
    int32_t op;
    int64_t rank;              // collapsed rank (1..4)
    int64_t y[4], as[4], bs[4];  // shape and element strides (0 = broadcast)
    int64_t rows, inner, rows_per_task;
    const float *a, *b;
    float *out;
} bin_ctx;

static void bin_task(void *vctx, int64_t t, int thread) {
    (void)thread;
    const bin_ctx *c = vctx;
    int64_t r0 = t * c->rows_per_task, r1 = SEGC_MIN(r0 + c->rows_per_task, c->rows);
    int64_t n = c->inner, ia = c->as[3], ib = c->bs[3];
    for (int64_t r = r0; r < r1; r++) {
        // decompose r over dims 0..2
        int64_t i2 = r % c->y[2], i1 = (r / c->y[2]) % c->y[1], i0 = r / (c->y[2] * c->y[1]);
        const float *a = c->a + i0 * c->as[0] + i1 * c->as[1] + i2 * c->as[2];
        const float *b = c->b + i0 * c->bs[0] + i1 * c->bs[1] + i2 * c->bs[2];
        float *y = c->out + r * n;
        if (ia == 1 && ib == 1) segc_dt.bin_vv(c->op, n, a, b, y);
        else if (ia == 1) segc_dt.bin_vs(c->op, n, a, b[0], y);
        else if (ib == 1) segc_dt.bin_sv(c->op, n, a[0], b, y);
        else {
            float one = a[0];
            segc_dt.bin_vs(c->op, 1, &one, b[0], y);
            for (int64_t i = 1; i < n; i++) y[i] = y[0];
        }
    }
}

int segc_binary(segc_pool *pool, int32_t op, const int64_t yshape[4], const float *a, const int64_t ashape[4],
                const float *b, const int64_t bshape[4], float *y) {
    if (op < 0 || op > 3) return SEGC_EINVAL;
    int64_t ys[4], as_[4], bs_[4], sa = 1, sb = 1;
    int bca[4], bcb[4];
    for (int i = 3; i >= 0; i--) {
        if (yshape[i] <= 0) return SEGC_EINVAL;
        if (ashape[i] != yshape[i] && ashape[i] != 1) return SEGC_EINVAL;
        if (bshape[i] != yshape[i] && bshape[i] != 1) return SEGC_EINVAL;
        ys[i] = yshape[i];
        bca[i] = ashape[i] == 1 && yshape[i] != 1;
        bcb[i] = bshape[i] == 1 && yshape[i] != 1;
        as_[i] = bca[i] ? 0 : sa;
        bs_[i] = bcb[i] ? 0 : sb;
        sa *= ashape[i];
        sb *= bshape[i];
    }
    // Coalesce adjacent dims (numpy style): drop size-1 dims, merge a dim into the one
    // inside it when both operands step through them contiguously (or both broadcast).
    bin_ctx c = {0};
    c.op = op; c.a = a; c.b = b; c.out = y;
    int64_t ny = 0, dy[4], da[4], db[4];   // innermost first
    for (int i = 3; i >= 0; i--) {
        if (ys[i] == 1) continue;
        if (ny > 0 && as_[i] == da[ny - 1] * dy[ny - 1] && bs_[i] == db[ny - 1] * dy[ny - 1]) {
            dy[ny - 1] *= ys[i];
            continue;
        }
        dy[ny] = ys[i]; da[ny] = as_[i]; db[ny] = bs_[i]; ny++;
    }
    for (int i = 0; i < 4; i++) { c.y[i] = 1; c.as[i] = 0; c.bs[i] = 0; }
    for (int64_t k = 0; k < ny; k++) { c.y[3 - k] = dy[k]; c.as[3 - k] = da[k]; c.bs[3 - k] = db[k]; }
    if (ny == 0) { c.as[3] = 1; c.bs[3] = 1; }
    (void)bca; (void)bcb;
    c.inner = c.y[3];
    c.rows = c.y[0] * c.y[1] * c.y[2];
    c.rows_per_task = SEGC_MAX(1, CHUNK / c.inner);
    segc_pool_run(pool, bin_task, &c, segc_chunks(c.rows, c.rows_per_task));
    return SEGC_OK;
}

// ---------------------------------------------------------------- unary
typedef struct {
    int kind;   // 0 relu, 1 sigmoid
    int64_t n;
    const float *x;
    float *y;
} un_ctx;

static void un_task(void *vctx, int64_t t, int thread) {
    (void)thread;
    const un_ctx *c = vctx;
    int64_t i0 = t * CHUNK, n = SEGC_MIN(CHUNK, c->n - i0);
    if (c->kind == 0) segc_dt.relu(n, c->x + i0, c->y + i0);
    else segc_dt.sigmoid(n, c->x + i0, c->y + i0);
}

int segc_relu(segc_pool *pool, int64_t n, const float *x, float *y) {
    if (n < 0) return SEGC_EINVAL;
    un_ctx c = {0, n, x, y};
    segc_pool_run(pool, un_task, &c, segc_chunks(n, CHUNK));
    return SEGC_OK;
}

int segc_sigmoid(segc_pool *pool, int64_t n, const float *x, float *y) {
    if (n < 0) return SEGC_EINVAL;
    un_ctx c = {1, n, x, y};
    segc_pool_run(pool, un_task, &c, segc_chunks(n, CHUNK));
    return SEGC_OK;
}

// ---------------------------------------------------------------- per-channel
typedef struct {
    int kind;   // 0 prelu, 1 affine
    int64_t c, hw, nslope, chunk;   // chunk: elements of one task inside a channel
    const float *x, *s, *b;
    float *y;
} ch_ctx;

static void ch_task(void *vctx, int64_t t, int thread) {
    (void)thread;
    const ch_ctx *c = vctx;
    int64_t per = segc_chunks(c->hw, c->chunk);
    int64_t ch = t / per, i0 = (t % per) * c->chunk, n = SEGC_MIN(c->chunk, c->hw - i0);
    const float *x = c->x + ch * c->hw + i0;
    float *y = c->y + ch * c->hw + i0;
    if (c->kind == 0) {
        // One pass, x -> y (a copy then an in-place pass read and wrote y twice).
        segc_dt.epilogue_res(n, y, x, 0.0f, NULL, SEGC_ACT_PRELU, c->s[c->nslope == 1 ? 0 : ch]);
    } else {
        segc_dt.affine(n, x, c->s[ch], c->b[ch], y);
    }
}

int segc_prelu(segc_pool *pool, int64_t c, int64_t hw, const float *x, const float *slope, int64_t nslope, float *y) {
    if (c <= 0 || hw <= 0 || (nslope != 1 && nslope != c)) return SEGC_EINVAL;
    ch_ctx k = {0, c, hw, nslope, CHUNK, x, slope, NULL, y};
    segc_pool_run(pool, ch_task, &k, c * segc_chunks(hw, CHUNK));
    return SEGC_OK;
}

int segc_channel_affine(segc_pool *pool, int64_t c, int64_t hw, const float *x, const float *scale,
                        const float *bias, float *y) {
    if (c <= 0 || hw <= 0) return SEGC_EINVAL;
    ch_ctx k = {1, c, hw, c, CHUNK, x, scale, bias, y};
    segc_pool_run(pool, ch_task, &k, c * segc_chunks(hw, CHUNK));
    return SEGC_OK;
}

// ---------------------------------------------------------------- copies
typedef struct {
    int64_t outer, inner, dst_inner, offset, chunk;   // chunk: floats per task within a row
    const float *src;
    float *dst;
} copy_ctx;

static void copy_task(void *vctx, int64_t t, int thread) {
    (void)thread;
    const copy_ctx *c = vctx;
    int64_t per = segc_chunks(c->inner, c->chunk);
    int64_t r = t / per, i0 = (t % per) * c->chunk, n = SEGC_MIN(c->chunk, c->inner - i0);
    memcpy(c->dst + r * c->dst_inner + c->offset + i0, c->src + r * c->inner + i0, (size_t)n * sizeof(float));
}

int segc_copy_rows(segc_pool *pool, int64_t outer, int64_t inner, const float *src, float *dst, int64_t dst_inner,
                   int64_t offset) {
    if (outer < 0 || inner < 0 || offset < 0 || offset + inner > dst_inner) return SEGC_EINVAL;
    if (outer == 0 || inner == 0) return SEGC_OK;
    if (src + offset == dst && inner == dst_inner) return SEGC_OK;   // already in place
    copy_ctx c = {outer, inner, dst_inner, offset, CHUNK * 4, src, dst};
    segc_pool_run(pool, copy_task, &c, outer * segc_chunks(inner, c.chunk));
    return SEGC_OK;
}

typedef struct {
    int64_t x[4], y[4], pads[8];
    float value;
    const float *src;
    float *dst;
} pad_ctx;

static void pad_task(void *vctx, int64_t t, int thread) {
    (void)thread;
    const pad_ctx *c = vctx;
    // t = output row (i0, i1, i2)
    int64_t i2 = t % c->y[2], i1 = (t / c->y[2]) % c->y[1], i0 = t / (c->y[2] * c->y[1]);
    float *d = c->dst + t * c->y[3];
    int64_t s0 = i0 - c->pads[0], s1 = i1 - c->pads[1], s2 = i2 - c->pads[2];
    int inside = s0 >= 0 && s0 < c->x[0] && s1 >= 0 && s1 < c->x[1] && s2 >= 0 && s2 < c->x[2];
    if (!inside) {
        for (int64_t i = 0; i < c->y[3]; i++) d[i] = c->value;
        return;
    }
    const float *s = c->src + ((s0 * c->x[1] + s1) * c->x[2] + s2) * c->x[3];
    // Output column j reads source column j - lo; a negative pad crops (lo < 0 or a
    // negative end pad), so copy only the overlap and fill the rest.
    int64_t lo = c->pads[3];
    int64_t start = lo > 0 ? lo : 0, end = SEGC_MIN(c->y[3], lo + c->x[3]);
    if (end < start) end = start;
    for (int64_t i = 0; i < start; i++) d[i] = c->value;
    if (end > start) memcpy(d + start, s + (start - lo), (size_t)(end - start) * sizeof(float));
    for (int64_t i = end; i < c->y[3]; i++) d[i] = c->value;
}

int segc_pad(segc_pool *pool, const int64_t xshape[4], const int64_t pads[8], float value, const float *x, float *y) {
    pad_ctx c;
    for (int i = 0; i < 4; i++) {
        // Negative pads crop; every output dimension must stay >= 1.
        if (xshape[i] <= 0 || pads[i] < -xshape[i] || pads[4 + i] < -xshape[i]) return SEGC_EINVAL;
        c.x[i] = xshape[i];
        c.y[i] = xshape[i] + pads[i] + pads[4 + i];
        if (c.y[i] <= 0) return SEGC_EINVAL;
    }
    for (int i = 0; i < 8; i++) c.pads[i] = pads[i];
    c.value = value; c.src = x; c.dst = y;
    segc_pool_run(pool, pad_task, &c, c.y[0] * c.y[1] * c.y[2]);
    return SEGC_OK;
}

// ---------------------------------------------------------------- softmax
#define SM_TILE 1024

int64_t segc_softmax_ws(void) { return 2 * SM_TILE; }

typedef struct {
    int64_t outer, c, inner, per;
    const float *x;
    float *y;
    const segc_ws *ws;
} sm_ctx;

static void sm_task(void *vctx, int64_t t, int thread) {
    const sm_ctx *c = vctx;
    int64_t o = t / c->per, i0 = (t % c->per) * SM_TILE, n = SEGC_MIN(SM_TILE, c->inner - i0);
    float *m = segc_ws_thread(c->ws, thread), *s = m + SM_TILE;
    const float *x = c->x + o * c->c * c->inner + i0;
    float *y = c->y + o * c->c * c->inner + i0;
    for (int64_t i = 0; i < n; i++) { m[i] = -INFINITY; s[i] = 0.0f; }
    for (int64_t k = 0; k < c->c; k++) segc_dt.max_rows(n, x + k * c->inner, m);
    for (int64_t k = 0; k < c->c; k++) segc_dt.sum_exp(n, x + k * c->inner, m, y + k * c->inner, s);
    for (int64_t i = 0; i < n; i++) s[i] = 1.0f / s[i];
    for (int64_t k = 0; k < c->c; k++) segc_dt.scale_rows(n, y + k * c->inner, s);
}

int segc_softmax(segc_pool *pool, int64_t outer, int64_t c, int64_t inner, const float *x, float *y,
                 const segc_ws *ws) {
    if (outer <= 0 || c <= 0 || inner <= 0) return SEGC_EINVAL;
    if (!ws || !ws->base || ws->per_thread < segc_softmax_ws() || ws->threads < segc_pool_threads(pool))
        return SEGC_ENOSPC;
    sm_ctx k = {outer, c, inner, segc_chunks(inner, SM_TILE), x, y, ws};
    segc_pool_run(pool, sm_task, &k, outer * k.per);
    return SEGC_OK;
}
