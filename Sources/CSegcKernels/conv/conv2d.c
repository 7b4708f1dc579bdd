// conv2d = im2col (per thread, per tile of output pixels; skipped for 1x1 stride-1
// unpadded convs) + segc_sgemm, with the epilogue (bias, residual, activation)
// applied on the tile while it is in cache. A residual is copied into the tile and
// the GEMM accumulates onto it. segc_sgemm is position-independent (gemm/gemm.h), so
// tiles may be ragged: equal input patches still give equal outputs.
// Special cases dispatched first: direct (tiny reductions), then the special paths of
// internal.h (segc_conv_path, in order: dilated mosaic, 2-D Winograd F(2x2) and F(4x4,3x3) —
// BiSeNet's ResNet-18, 2-3x faster than im2col on its shapes —, 1-D Winograd, vertical kh x 1).
// No Winograd path runs in exact mode: their rounding depends on the position in a tile.
#include "../internal.h"
#include <string.h>

typedef struct {
    const segc_conv_params *p;
    const segc_conv_tail *tail;   // nullable
    const float *x, *w, *bias, *res, *slope;
    const float *packed;   // weights packed per group (segc_sgemm_pack_a)
    float *y;
    const segc_ws *ws;
    int64_t tile, ntiles, k, cin_g, cout_g, ohw, hw;
    int64_t mrows, mchunks;   // output-channel chunks per tile (small planes, many channels)
    int pointwise;
    int copy_b;   // pointwise: B copied into the column buffer (plane stride aliases cache sets)
} conv_ctx;

static int conv_check(const segc_conv_params *p) {
    if (p->cin <= 0 || p->h <= 0 || p->w <= 0 || p->cout <= 0 || p->oh <= 0 || p->ow <= 0) return SEGC_EINVAL;
    if (p->kh <= 0 || p->kw <= 0 || p->sh <= 0 || p->sw <= 0 || p->dh <= 0 || p->dw <= 0) return SEGC_EINVAL;
    if (p->groups <= 0 || p->cin % p->groups || p->cout % p->groups) return SEGC_EINVAL;
    if (p->act == SEGC_ACT_PRELU && p->nslope != 1 && p->nslope != p->cout) return SEGC_EINVAL;
    return SEGC_OK;
}

static int is_pointwise(const segc_conv_params *p) {
    return p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 && p->pt == 0 && p->pl == 0 && p->oh == p->h &&
           p->ow == p->w;
}

/// A 1x1 conv reads its B operand (the input planes) in place, kc rows one plane apart. When
/// the plane is a multiple of 4 KiB (every power-of-two feature map: ENet's 128x256 is
/// 128 KiB) those rows share one L1 set and one L2 set, so the row panels of A re-fetch B
/// from L3 on every pass; the tile is then copied into the column buffer, whose row length
/// is an odd number of cache lines (segc_conv_tile).
static int pointwise_copies_b(const segc_conv_params *p) {
    int64_t k = p->cin / p->groups;
    return is_pointwise(p) && k >= 48 && (p->h * p->w) % 1024 == 0;
}

// The im2col path's weights: one packed GEMM operand per group (segc_sgemm_pack_a), made
// once per call in the shared workspace or once per session (segc_conv2d_prepare).
static int64_t gemm_weight_floats(const segc_conv_params *p) {
    return p->groups * segc_sgemm_packed_size(p->cout / p->groups, (p->cin / p->groups) * p->kh * p->kw);
}
static void pack_gemm_weights(const segc_conv_params *p, const float *w, float *out) {
    int64_t cout_g = p->cout / p->groups, k = (p->cin / p->groups) * p->kh * p->kw;
    for (int64_t g = 0; g < p->groups; g++)
        segc_sgemm_pack_a(cout_g, k, w + g * cout_g * k, k, out + g * segc_sgemm_packed_size(cout_g, k));
}

/// The special-case path that runs p (internal.h: segc_conv_path), or NULL for im2col. The
/// direct path is checked before this by every caller (its interface takes a tail).
static const segc_conv_path *special_path(const segc_conv_params *p) {
    static const segc_conv_path *const paths[] = {&segc_conv2d_dilated_path, &segc_conv2d_winograd_f2_path,
                                                  &segc_conv2d_winograd_path, &segc_conv1d_winograd_path,
                                                  &segc_conv2d_vertical_path};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (paths[i]->applies(p)) return paths[i];
    return NULL;
}

int64_t segc_conv2d_ws_shared(const segc_conv_params *p) {
    if (conv_check(p) || segc_conv2d_direct_applies(p)) return 0;
    const segc_conv_path *path = special_path(p);
    if (path) return path->shared(p);
    return p->prepared ? 0 : gemm_weight_floats(p);
}

int64_t segc_conv2d_prepared_size(const segc_conv_params *p) {
    if (conv_check(p) || segc_conv2d_direct_applies(p)) return 0;
    const segc_conv_path *path = special_path(p);
    return SEGC_PREP_HDR + (path ? path->prepared(p) : gemm_weight_floats(p));
}

int segc_conv2d_prepare(const segc_conv_params *p, const float *weight, float *prepared) {
    int e = conv_check(p);
    if (e) return e;
    if (segc_conv2d_direct_applies(p) || !weight || !prepared) return SEGC_EINVAL;
    float *out = prepared + SEGC_PREP_HDR;
    const segc_conv_path *path = special_path(p);
    if (path) e = path->prepare(p, weight, out);
    else pack_gemm_weights(p, weight, out);
    if (e == SEGC_OK) segc_prep_stamp(prepared);
    return e;
}

int64_t segc_conv2d_ws(const segc_conv_params *p) {
    if (conv_check(p)) return 0;
    if (segc_conv2d_direct_applies(p)) return 0;
    int64_t k = (p->cin / p->groups) * p->kh * p->kw, cout_g = p->cout / p->groups;
    const segc_conv_path *path = special_path(p);
    if (path) return path->ws(p);
    // Exact mode with a residual that aliases y: the GEMM writes into a tile-sized buffer.
    int64_t exact_tile = p->exact ? cout_g * segc_conv_tile(k, p->oh * p->ow) : 0;
    if (is_pointwise(p) && !pointwise_copies_b(p)) return exact_tile + segc_sgemm_scratch(cout_g, k);
    return k * segc_conv_tile(k, p->oh * p->ow) + exact_tile + segc_sgemm_scratch(cout_g, k);
}

static void conv_task(void *vctx, int64_t t, int thread) {
    const conv_ctx *c = vctx;
    const segc_conv_params *p = c->p;
    int64_t per_group = c->ntiles * c->mchunks, g = t / per_group, rem = t % per_group;
    int64_t q0 = (rem / c->mchunks) * c->tile, m0 = (rem % c->mchunks) * c->mrows;
    int64_t q1 = SEGC_MIN(q0 + c->tile, c->ohw), n = q1 - q0, mc = SEGC_MIN(c->mrows, c->cout_g - m0);
    float *yt = c->y + (g * c->cout_g + m0) * c->ohw + q0;
    float *scratch = segc_ws_thread(c->ws, thread);
    const float *b;
    int64_t ldb;
    if (c->pointwise && !c->copy_b) {
        b = c->x + g * c->cin_g * c->hw + q0;
        ldb = c->hw;
    } else if (c->pointwise) {
        float *col = scratch;
        const float *xg = c->x + g * c->cin_g * c->hw + q0;
        for (int64_t ci = 0; ci < c->cin_g; ci++) memcpy(col + ci * n, xg + ci * c->hw, (size_t)n * sizeof(float));
        b = col;
        ldb = n;
        scratch += c->k * c->tile;
    } else {
        float *col = scratch;
        int64_t r = 0;
        for (int64_t ci = 0; ci < c->cin_g; ci++) {
            const float *xp = c->x + (g * c->cin_g + ci) * c->hw;
            for (int64_t ky = 0; ky < p->kh; ky++)
                for (int64_t kx = 0; kx < p->kw; kx++, r++)
                    segc_gather(xp, p->h, p->w, p->ow, p->sh, p->sw, ky * p->dh - p->pt, kx * p->dw - p->pl, q0, q1,
                                col + r * n);
        }
        b = col;
        ldb = n;
        scratch += c->k * c->tile;
    }
    // Row panels are mr rows and m0 is a multiple of 24, so rows m0.. start a panel at any level.
    const float *ap = c->packed + g * segc_sgemm_packed_size(c->cout_g, c->k) + m0 * c->k;
    if (p->exact || c->tail) {
        // Exact: ((Σ from 0) + bias) + residual, then the activation — the reference's order.
        // With a tail (no residual of its own): then y = tail.act(that + tail.res). The GEMM
        // writes a tile buffer when y is also an operand still to be read (residual or tail).
        float *dst = yt;
        int64_t ldd = c->ohw;
        if (c->res == c->y || (c->tail && c->tail->res == c->y)) { dst = scratch; ldd = n; scratch += c->cout_g * c->tile; }
        segc_sgemm_prepacked(mc, n, c->k, ap, b, ldb, dst, ldd, 0, p->exact, scratch);
        if (c->tail) {   // one pass: the conv's epilogue, then the tail's add and activation
            const segc_conv_tail *t = c->tail;
            for (int64_t co = 0; co < mc; co++) {
                int64_t oc = g * c->cout_g + m0 + co;
                segc_dt.epilogue_tail(n, yt + co * c->ohw, dst + co * ldd, c->bias ? c->bias[oc] : 0.0f, p->act,
                                      segc_slope_of(p->act, c->slope, p->nslope, oc), t->res + oc * c->ohw + q0,
                                      t->act, segc_slope_of(t->act, t->slope, t->nslope, oc));
            }
            return;
        }
        for (int64_t co = 0; co < mc; co++) {
            int64_t oc = g * c->cout_g + m0 + co;
            float bias = c->bias ? c->bias[oc] : 0.0f;
            float slope = segc_slope_of(p->act, c->slope, p->nslope, oc);
            segc_dt.epilogue_res(n, yt + co * c->ohw, dst + co * ldd, bias, c->res ? c->res + oc * c->ohw + q0 : NULL,
                                 p->act, slope);
        }
        return;
    }
    if (c->res && c->res != c->y)
        for (int64_t co = 0; co < mc; co++)
            memcpy(yt + co * c->ohw, c->res + (g * c->cout_g + m0 + co) * c->ohw + q0, (size_t)n * sizeof(float));
    segc_sgemm_prepacked(mc, n, c->k, ap, b, ldb, yt, c->ohw, c->res != NULL, 0, scratch);
    segc_conv_epilogue_rows(p, yt, c->ohw, n, g * c->cout_g + m0, mc, c->bias, c->slope);
}

int segc_conv2d_tail_supported(const segc_conv_params *p) {
    if (conv_check(p)) return 0;
    return segc_conv2d_direct_applies(p) || !special_path(p);
}

int64_t segc_conv2d_tail_ws(const segc_conv_params *p) {
    if (conv_check(p)) return 0;
    int64_t ws = segc_conv2d_ws(p);
    if (segc_conv2d_direct_applies(p) || p->exact) return ws;   // exact: the tile buffer is counted already
    int64_t k = (p->cin / p->groups) * p->kh * p->kw;
    return ws + (p->cout / p->groups) * segc_conv_tile(k, p->oh * p->ow);
}

static int conv2d_run(segc_pool *pool, const segc_conv_params *p, const float *x, const float *weight,
                      const float *bias, const float *residual, const float *slope, const segc_conv_tail *tail,
                      float *y, const segc_ws *ws) {
    int e = conv_check(p);
    if (e) return e;
    if (p->act == SEGC_ACT_PRELU && !slope) return SEGC_EINVAL;
    if (segc_conv2d_direct_applies(p))
        return segc_conv2d_direct(pool, p, x, weight, bias, residual, slope, tail, y);
    const segc_conv_path *path = special_path(p);
    if (path) return path->run(pool, p, x, weight, bias, residual, slope, y, ws);
    conv_ctx c = {0};
    c.p = p; c.tail = tail; c.x = x; c.w = weight; c.bias = bias; c.res = residual; c.slope = slope; c.y = y; c.ws = ws;
    c.cin_g = p->cin / p->groups;
    c.cout_g = p->cout / p->groups;
    c.k = c.cin_g * p->kh * p->kw;
    c.ohw = p->oh * p->ow;
    c.hw = p->h * p->w;
    c.pointwise = is_pointwise(p);
    c.copy_b = pointwise_copies_b(p);
    c.tile = segc_conv_tile_for(c.k, c.ohw, segc_pool_threads(pool));
    c.ntiles = segc_chunks(c.ohw, c.tile);
    // A small plane gives fewer pixel tiles than a machine has cores (ResNet-18's 16x32
    // stage: one tile, one busy thread); then the output channels are split too, in chunks
    // of a multiple of 24 rows (whole micro-panels at every level). Shapes alone decide,
    // so results stay bit-identical for any thread count.
    c.mrows = c.cout_g;
    c.mchunks = 1;
    if (c.ntiles * p->groups < 4 && c.cout_g >= 96) {
        int64_t want = SEGC_MIN(4, c.cout_g / 48);
        c.mrows = (segc_chunks(c.cout_g, want) + 23) / 24 * 24;
        c.mchunks = segc_chunks(c.cout_g, c.mrows);
    }
    {
        int64_t need = (c.pointwise && !c.copy_b ? 0 : c.k * c.tile) + ((p->exact || tail) ? c.cout_g * c.tile : 0) +
                       segc_sgemm_scratch(c.cout_g, c.k);
        if (!ws || !ws->base || ws->per_thread < need || ws->threads < segc_pool_threads(pool)) return SEGC_ENOSPC;
    }
    c.packed = segc_prep_data(p);
    if (!c.packed) {
        if (!ws->shared || ws->shared_count < gemm_weight_floats(p)) return SEGC_ENOSPC;
        pack_gemm_weights(p, weight, ws->shared);
        c.packed = ws->shared;
    }
    segc_pool_run(pool, conv_task, &c, p->groups * c.ntiles * c.mchunks);
    return SEGC_OK;
}

int segc_conv2d(segc_pool *pool, const segc_conv_params *p, const float *x, const float *weight, const float *bias,
                const float *residual, const float *slope, float *y, const segc_ws *ws) {
    return conv2d_run(pool, p, x, weight, bias, residual, slope, NULL, y, ws);
}

int segc_conv2d_tail(segc_pool *pool, const segc_conv_params *p, const float *x, const float *weight,
                     const float *bias, const float *slope, const segc_conv_tail *tail, float *y, const segc_ws *ws) {
    if (!tail) return conv2d_run(pool, p, x, weight, bias, NULL, slope, NULL, y, ws);
    if (!segc_conv2d_tail_supported(p) || !tail->res) return SEGC_EINVAL;
    if (tail->act == SEGC_ACT_PRELU && (!tail->slope || (tail->nslope != 1 && tail->nslope != p->cout))) return SEGC_EINVAL;
    return conv2d_run(pool, p, x, weight, bias, NULL, slope, tail, y, ws);
}
