// Pooling: max (−∞ padding, first maximum wins, optional int64 indices), average
// (PyTorch divisor rule), max unpool (checked indices), global average.
// Tasks are fixed channel chunks; each output row is built tap by tap over a
// contiguous range of output columns, which keeps the row-major window order.
#include "../internal.h"
#include <math.h>
#include <stdatomic.h>
#include <string.h>

static int64_t chan_chunk(int64_t plane) {
    int64_t c = (64 * 1024) / (plane > 0 ? plane : 1);
    return c < 1 ? 1 : c;
}

typedef struct {
    const segc_pool_params *p;
    const float *x;
    float *y;
    int64_t *idx;
    int64_t chunk;
} pool_ctx;

/// 2x2 windows, stride 2, inside the plane (ENet's index-returning pools, the
/// commonest pool): one pass over two input rows, the four taps in row-major window
/// order with the generic loop's rule (the first tap always, then strict >), so values
/// and indices are the generic loop's; written for the vectoriser (selects, no branches).
static int is_2x2_s2(const segc_pool_params *p) {
    return p->kh == 2 && p->kw == 2 && p->sh == 2 && p->sw == 2 && p->dh == 1 && p->dw == 1 && p->pt == 0 &&
           p->pl == 0 && 2 * p->oh <= p->h && 2 * p->ow <= p->w;
}

static void max_2x2_row(const float *r0, const float *r1, int64_t ow, int64_t base, int64_t w, float *y,
                        int64_t *idx) {
    if (!idx) {
        for (int64_t ox = 0; ox < ow; ox++) {
            float m = r0[2 * ox];
            m = r0[2 * ox + 1] > m ? r0[2 * ox + 1] : m;
            m = r1[2 * ox] > m ? r1[2 * ox] : m;
            m = r1[2 * ox + 1] > m ? r1[2 * ox + 1] : m;
            y[ox] = m;
        }
        return;
    }
    for (int64_t ox = 0; ox < ow; ox++) {
        float m = r0[2 * ox];
        int64_t i = base + 2 * ox;
        if (r0[2 * ox + 1] > m) { m = r0[2 * ox + 1]; i = base + 2 * ox + 1; }
        if (r1[2 * ox] > m) { m = r1[2 * ox]; i = base + w + 2 * ox; }
        if (r1[2 * ox + 1] > m) { m = r1[2 * ox + 1]; i = base + w + 2 * ox + 1; }
        y[ox] = m;
        idx[ox] = i;
    }
}

/// 3x3 windows, stride 2, no indices (BiSeNetV1's ResNet stem pool, 7 ms per frame through
/// the generic loop's nine strided passes): the max is separable, so each of the three
/// input rows is reduced over its three taps, then the three row results over the rows.
/// Both passes start at −∞ and keep the earlier of equal values (`v > m`), which makes the
/// result the row-major first maximum of the in-plane taps, as in the generic loop, bit
/// for bit (±0 and NaN included: a NaN tap never replaces anything).
static int is_3x3_s2(const segc_pool_params *p, const int64_t *idx) {
    return !idx && p->kh == 3 && p->kw == 3 && p->sh == 2 && p->sw == 2 && p->dh == 1 && p->dw == 1;
}

#define ROWMAX_COLS 256
/// The three taps of input row iy for output columns [o0, o0 + n), from −∞ (−∞ everywhere when
/// the row is padding).
static void max_3_cols(const segc_pool_params *p, const float *xp, int64_t iy, int64_t o0, int64_t n, float *hr) {
    for (int64_t j = 0; j < n; j++) hr[j] = -INFINITY;
    if (iy < 0 || iy >= p->h) return;
    const float *xr = xp + iy * p->w;
    for (int kx = 0; kx < 3; kx++) {
        int64_t lo, hi, base = kx - p->pl;
        segc_pool_col_range(p, kx, &lo, &hi);
        lo = SEGC_MAX(lo, o0);
        hi = SEGC_MIN(hi, o0 + n);
        for (int64_t ox = lo; ox < hi; ox++) {
            float v = xr[2 * ox + base];
            hr[ox - o0] = v > hr[ox - o0] ? v : hr[ox - o0];
        }
    }
}

/// One channel: output row oy takes input rows 2·oy − pt .. + 2, so each output row shares its
/// first input row's column maxima with the previous output row's last (computed once).
static void max_3x3_s2_plane(const segc_pool_params *p, const float *xp, float *yp) {
    for (int64_t o0 = 0; o0 < p->ow; o0 += ROWMAX_COLS) {
        int64_t n = SEGC_MIN(ROWMAX_COLS, p->ow - o0);
        float buf[3][ROWMAX_COLS];
        float *h0 = buf[0], *h1 = buf[1], *h2 = buf[2];
        for (int64_t oy = 0; oy < p->oh; oy++) {
            int64_t iy = oy * 2 - p->pt;
            if (oy == 0) max_3_cols(p, xp, iy, o0, n, h0);
            else { float *t = h0; h0 = h2; h2 = t; }   // the previous output row's third input row
            max_3_cols(p, xp, iy + 1, o0, n, h1);
            max_3_cols(p, xp, iy + 2, o0, n, h2);
            float *y = yp + oy * p->ow + o0;
            for (int64_t j = 0; j < n; j++) {
                float m = h0[j];
                m = h1[j] > m ? h1[j] : m;
                m = h2[j] > m ? h2[j] : m;
                y[j] = m;
            }
        }
    }
}

static void max_task(void *vctx, int64_t t, int thread) {
    (void)thread;
    const pool_ctx *c = vctx;
    const segc_pool_params *p = c->p;
    int64_t c0 = t * c->chunk, c1 = SEGC_MIN(c0 + c->chunk, p->c);
    if (is_2x2_s2(p)) {
        for (int64_t ch = c0; ch < c1; ch++)
            for (int64_t oy = 0; oy < p->oh; oy++) {
                const float *r0 = c->x + (ch * p->h + 2 * oy) * p->w;
                int64_t o = (ch * p->oh + oy) * p->ow;
                max_2x2_row(r0, r0 + p->w, p->ow, 2 * oy * p->w, p->w, c->y + o, c->idx ? c->idx + o : NULL);
            }
        return;
    }
    if (is_3x3_s2(p, c->idx)) {
        for (int64_t ch = c0; ch < c1; ch++) max_3x3_s2_plane(p, c->x + ch * p->h * p->w, c->y + ch * p->oh * p->ow);
        return;
    }
    for (int64_t ch = c0; ch < c1; ch++) {
        const float *xp = c->x + ch * p->h * p->w;
        for (int64_t oy = 0; oy < p->oh; oy++) {
            float *yr = c->y + (ch * p->oh + oy) * p->ow;
            int64_t *ir = c->idx ? c->idx + (ch * p->oh + oy) * p->ow : NULL;
            for (int64_t ox = 0; ox < p->ow; ox++) yr[ox] = -INFINITY;
            if (ir) for (int64_t ox = 0; ox < p->ow; ox++) ir[ox] = -1;
            for (int64_t ky = 0; ky < p->kh; ky++) {
                int64_t iy = oy * p->sh - p->pt + ky * p->dh;
                if (iy < 0 || iy >= p->h) continue;
                const float *xr = xp + iy * p->w;
                for (int64_t kx = 0; kx < p->kw; kx++) {
                    int64_t lo, hi, base = kx * p->dw - p->pl;
                    segc_pool_col_range(p, kx, &lo, &hi);
                    if (ir) {
                        for (int64_t ox = lo; ox < hi; ox++) {
                            int64_t ix = ox * p->sw + base;
                            float v = xr[ix];
                            if (v > yr[ox] || (ir[ox] < 0)) { yr[ox] = v; ir[ox] = iy * p->w + ix; }
                        }
                    } else if (p->sw == 1) {
                        const float *xs = xr + base;
                        for (int64_t ox = lo; ox < hi; ox++) yr[ox] = xs[ox] > yr[ox] ? xs[ox] : yr[ox];
                    } else {
                        for (int64_t ox = lo; ox < hi; ox++) {
                            float v = xr[ox * p->sw + base];
                            yr[ox] = v > yr[ox] ? v : yr[ox];
                        }
                    }
                }
            }
        }
    }
}

int segc_max_pool2d(segc_pool *pool, const segc_pool_params *p, const float *x, float *y, int64_t *indices) {
    int e = segc_pool_check(p);
    if (e) return e;
    pool_ctx c = {p, x, y, indices, chan_chunk(p->oh * p->ow * p->kh * p->kw)};
    segc_pool_run(pool, max_task, &c, segc_chunks(p->c, c.chunk));
    return SEGC_OK;
}

/// Divisor factor along one axis for output o.
static int64_t avg_count(int64_t o, int64_t s, int64_t pad_lo, int64_t k, int64_t d, int64_t n, int64_t pad_hi,
                         int include_pad) {
    int64_t lo = include_pad ? -pad_lo : 0, hi = include_pad ? n + pad_hi : n, cnt = 0;
    for (int64_t kk = 0; kk < k; kk++) {
        int64_t i = o * s - pad_lo + kk * d;
        if (i >= lo && i < hi) cnt++;
    }
    return cnt;
}

static void avg_task(void *vctx, int64_t t, int thread) {
    (void)thread;
    const pool_ctx *c = vctx;
    const segc_pool_params *p = c->p;
    int64_t c0 = t * c->chunk, c1 = SEGC_MIN(c0 + c->chunk, p->c);
    for (int64_t ch = c0; ch < c1; ch++) {
        const float *xp = c->x + ch * p->h * p->w;
        for (int64_t oy = 0; oy < p->oh; oy++) {
            float *yr = c->y + (ch * p->oh + oy) * p->ow;
            for (int64_t ox = 0; ox < p->ow; ox++) yr[ox] = 0.0f;
            for (int64_t ky = 0; ky < p->kh; ky++) {
                int64_t iy = oy * p->sh - p->pt + ky * p->dh;
                if (iy < 0 || iy >= p->h) continue;
                const float *xr = xp + iy * p->w;
                for (int64_t kx = 0; kx < p->kw; kx++) {
                    int64_t lo, hi, base = kx * p->dw - p->pl;
                    segc_pool_col_range(p, kx, &lo, &hi);
                    for (int64_t ox = lo; ox < hi; ox++) yr[ox] += xr[ox * p->sw + base];
                }
            }
            int64_t cy = avg_count(oy, p->sh, p->pt, p->kh, p->dh, p->h, p->pb, p->count_include_pad);
            for (int64_t ox = 0; ox < p->ow; ox++) {
                int64_t cx = avg_count(ox, p->sw, p->pl, p->kw, p->dw, p->w, p->pr, p->count_include_pad);
                int64_t cnt = cy * cx;
                yr[ox] = cnt > 0 ? yr[ox] / (float)cnt : 0.0f;
            }
        }
    }
}

int segc_avg_pool2d(segc_pool *pool, const segc_pool_params *p, const float *x, float *y) {
    int e = segc_pool_check(p);
    if (e) return e;
    pool_ctx c = {p, x, y, NULL, chan_chunk(p->oh * p->ow * p->kh * p->kw)};
    segc_pool_run(pool, avg_task, &c, segc_chunks(p->c, c.chunk));
    return SEGC_OK;
}

typedef struct {
    int64_t c, hw, ohw, chunk;
    const float *x;
    const int64_t *idx;
    float *y;
    _Atomic int bad;
} unpool_ctx;

static void unpool_check_task(void *vctx, int64_t t, int thread) {
    (void)thread;
    unpool_ctx *c = vctx;
    int64_t c0 = t * c->chunk, c1 = SEGC_MIN(c0 + c->chunk, c->c);
    const int64_t *ip = c->idx + c0 * c->hw;
    int64_t n = (c1 - c0) * c->hw, lim = c->ohw;
    int bad = 0;
    for (int64_t i = 0; i < n; i++) bad |= (ip[i] < 0) | (ip[i] >= lim);
    if (bad) atomic_store(&c->bad, 1);
}

static void unpool_write_task(void *vctx, int64_t t, int thread) {
    (void)thread;
    unpool_ctx *c = vctx;
    int64_t c0 = t * c->chunk, c1 = SEGC_MIN(c0 + c->chunk, c->c);
    memset(c->y + c0 * c->ohw, 0, (size_t)((c1 - c0) * c->ohw) * sizeof(float));
    for (int64_t ch = c0; ch < c1; ch++) {
        const float *xp = c->x + ch * c->hw;
        const int64_t *ip = c->idx + ch * c->hw;
        float *yp = c->y + ch * c->ohw;
        for (int64_t i = 0; i < c->hw; i++) yp[ip[i]] = xp[i];
    }
}

int segc_max_unpool2d(segc_pool *pool, int64_t c, int64_t h, int64_t w, int64_t oh, int64_t ow, const float *x,
                      const int64_t *indices, float *y) {
    if (c <= 0 || h <= 0 || w <= 0 || oh <= 0 || ow <= 0) return SEGC_EINVAL;
    unpool_ctx u = {0};
    u.c = c; u.hw = h * w; u.ohw = oh * ow; u.x = x; u.idx = indices; u.y = y;
    u.chunk = chan_chunk(u.ohw);
    atomic_init(&u.bad, 0);
    int64_t nt = segc_chunks(c, u.chunk);
    segc_pool_run(pool, unpool_check_task, &u, nt);
    if (atomic_load(&u.bad)) return SEGC_ERANGE;
    segc_pool_run(pool, unpool_write_task, &u, nt);
    return SEGC_OK;
}

typedef struct {
    int64_t c, hw, chunk;
    const float *x;
    float *y;
} gap_ctx;

static void gap_task(void *vctx, int64_t t, int thread) {
    (void)thread;
    const gap_ctx *g = vctx;
    int64_t c0 = t * g->chunk, c1 = SEGC_MIN(c0 + g->chunk, g->c);
    for (int64_t ch = c0; ch < c1; ch++) {
        const float *xp = g->x + ch * g->hw;
        float acc[16] = {0};
        int64_t i = 0;
        for (; i + 16 <= g->hw; i += 16)
            for (int k = 0; k < 16; k++) acc[k] += xp[i + k];
        float s = 0.0f;
        for (; i < g->hw; i++) s += xp[i];
        for (int k = 0; k < 16; k++) s += acc[k];
        g->y[ch] = s / (float)g->hw;
    }
}

int segc_global_avg_pool(segc_pool *pool, int64_t c, int64_t hw, const float *x, float *y) {
    if (c <= 0 || hw <= 0) return SEGC_EINVAL;
    gap_ctx g = {c, hw, chan_chunk(hw), x, y};
    segc_pool_run(pool, gap_task, &g, segc_chunks(c, g.chunk));
    return SEGC_OK;
}
