// Dilated 3x3 convs ("same" padding, dilation d = 2..8; ENet's middle stages) as one
// undilated 3x3 conv over a mosaic of their d x d polyphase sub-planes, so they reach the
// 2-D Winograd paths instead of im2col. ENet's 32-channel convs at 64x128, avx2, 2 threads,
// per conv: d = 2, 4, 8 1.46-1.61 -> 1.19-1.40 ms (its undilated twins take 0.9 ms: the
// mosaic's copies and its 7-22 % more tiles cost the rest); d = 16 (81x145) stays on im2col.
//
// Output (a + d·u, b + d·v) of the dilated conv reads inputs (a + d·(u + i), b + d·(v + j)),
// i, j in {-1, 0, 1}: pixel (u + i, v + j) of sub-plane (a, b) = the rows ≡ a and columns
// ≡ b (mod d), with zeros outside — an undilated conv of that sub-plane with padding 1.
// The sub-planes (sh x sw each) sit in one mosaic plane, sub-plane (a, b) at row
// 1 + a·(sh + 1), column 1 + b·(sw + 1), with one zero row/column around and between them
// (each gutter is the padding of both its neighbours); the mosaic conv has no padding, and
// its outputs on gutters are computed and dropped. The residual is laid out as the
// output mosaic, so the Winograd epilogue (bias, residual, activation) is unchanged.
// Never in exact mode (Winograd rounding depends on the position in a tile).
#include "../internal.h"
#include <string.h>

#define DILATED_MAX_D 8

typedef struct {
    int64_t d, sh, sw;   // dilation, sub-plane size
    int64_t mh, mw;      // input mosaic (output mosaic: mh - 2 x mw - 2)
} mosaic_geom;

/// The mosaic conv q of p and the Winograd path that runs it, when p is a dilated conv this
/// path takes (NULL otherwise).
static const segc_conv_path *mosaic_of(const segc_conv_params *p, segc_conv_params *q, mosaic_geom *g) {
    if (p->exact || p->groups != 1 || p->kh != 3 || p->kw != 3 || p->sh != 1 || p->sw != 1) return 0;
    int64_t d = p->dh;
    if (d < 2 || d > DILATED_MAX_D || p->dw != d || p->pt != d || p->pl != d) return 0;
    if (p->oh != p->h || p->ow != p->w || p->h % d || p->w % d) return 0;
    mosaic_geom m = {d, p->h / d, p->w / d, 0, 0};
    m.mh = d * (m.sh + 1) + 1;
    m.mw = d * (m.sw + 1) + 1;
    segc_conv_params r = *p;
    r.h = m.mh; r.w = m.mw; r.oh = m.mh - 2; r.ow = m.mw - 2;
    r.pt = 0; r.pl = 0; r.dh = 1; r.dw = 1;
    const segc_conv_path *inner = segc_conv2d_winograd_f2_path.applies(&r)   ? &segc_conv2d_winograd_f2_path
                                  : segc_conv2d_winograd_path.applies(&r) ? &segc_conv2d_winograd_path
                                                                          : NULL;
    if (inner && q) *q = r;
    if (inner && g) *g = m;
    return inner;
}

static int segc_conv2d_dilated_applies(const segc_conv_params *p) { return mosaic_of(p, NULL, NULL) != NULL; }

static int64_t mosaic_in_floats(const segc_conv_params *p, const mosaic_geom *g) { return p->cin * g->mh * g->mw; }
static int64_t mosaic_out_floats(const segc_conv_params *p, const mosaic_geom *g) {
    return p->cout * (g->mh - 2) * (g->mw - 2);
}
static int64_t align16(int64_t n) { return (n + 15) / 16 * 16; }

static int64_t segc_conv2d_dilated_ws(const segc_conv_params *p) {
    segc_conv_params q;
    const segc_conv_path *inner = mosaic_of(p, &q, NULL);
    return inner ? inner->ws(&q) : 0;
}

/// Shared workspace: the inner Winograd conv's, then the input, residual and output mosaics.
static int64_t segc_conv2d_dilated_shared(const segc_conv_params *p) {
    segc_conv_params q;
    mosaic_geom g;
    const segc_conv_path *inner = mosaic_of(p, &q, &g);
    if (!inner) return 0;
    return align16(inner->shared(&q)) + align16(mosaic_in_floats(p, &g)) + 2 * align16(mosaic_out_floats(p, &g));
}

static int64_t segc_conv2d_dilated_prepared(const segc_conv_params *p) {
    segc_conv_params q;
    const segc_conv_path *inner = mosaic_of(p, &q, NULL);
    return inner ? inner->prepared(&q) : 0;
}

static int segc_conv2d_dilated_prepare(const segc_conv_params *p, const float *w, float *out) {
    segc_conv_params q;
    const segc_conv_path *inner = mosaic_of(p, &q, NULL);
    return inner ? inner->prepare(&q, w, out) : SEGC_EINVAL;
}

typedef struct {
    const mosaic_geom *g;
    const float *src;
    float *dst;
    int scatter;   // 0: plane -> mosaic (gather), 1: output mosaic -> plane
    int64_t border;   // gather: 1 (the input mosaic has an outer gutter), 0 for the output layout
} mosaic_copy_ctx;

/// One channel: gather writes every mosaic element (gutters zero), scatter every plane element.
static void mosaic_copy_task(void *vctx, int64_t c, int thread) {
    (void)thread;
    const mosaic_copy_ctx *x = vctx;
    const mosaic_geom *g = x->g;
    const int64_t d = g->d, h = g->sh * d, w = g->sw * d, b = x->border;
    const int64_t mh = g->mh - 2 + 2 * b, mw = g->mw - 2 + 2 * b;   // this mosaic's size
    const float *src = x->src + c * (x->scatter ? mh * mw : h * w);
    float *dst = x->dst + c * (x->scatter ? h * w : mh * mw);
    if (!x->scatter && b) memset(dst, 0, (size_t)(mh * mw) * sizeof(float));
    for (int64_t y = 0; y < h; y++) {
        int64_t a = y % d, u = y / d;
        int64_t mrow = b + a * (g->sh + 1) + u;
        for (int64_t bb = 0; bb < d; bb++) {
            int64_t mcol = b + bb * (g->sw + 1);
            if (x->scatter) {
                const float *s = src + mrow * mw + mcol;
                float *t = dst + y * w + bb;
                for (int64_t v = 0; v < g->sw; v++) t[v * d] = s[v];
            } else {
                const float *s = src + y * w + bb;
                float *t = dst + mrow * mw + mcol;
                for (int64_t v = 0; v < g->sw; v++) t[v] = s[v * d];
            }
        }
    }
}

static void mosaic_copy(segc_pool *pool, const mosaic_geom *g, int64_t channels, const float *src, float *dst,
                        int scatter, int64_t border) {
    mosaic_copy_ctx c = {g, src, dst, scatter, border};
    segc_pool_run(pool, mosaic_copy_task, &c, channels);
}

static int segc_conv2d_dilated(segc_pool *pool, const segc_conv_params *p, const float *x, const float *w,
                        const float *bias, const float *residual, const float *slope, float *y, const segc_ws *ws) {
    segc_conv_params q;
    mosaic_geom g;
    const segc_conv_path *inner = mosaic_of(p, &q, &g);
    if (!inner) return SEGC_EINVAL;
    if (!ws || !ws->shared || ws->shared_count < segc_conv2d_dilated_shared(p)) return SEGC_ENOSPC;
    float *min = ws->shared + align16(inner->shared(&q)), *mres = min + align16(mosaic_in_floats(p, &g));
    float *mout = mres + align16(mosaic_out_floats(p, &g));
    mosaic_copy(pool, &g, p->cin, x, min, 0, 1);
    // The residual may be y itself: it is read into its mosaic before y is written.
    if (residual) mosaic_copy(pool, &g, p->cout, residual, mres, 0, 0);
    segc_ws inner_ws = *ws;
    inner_ws.shared_count = inner->shared(&q);
    q.prepared = p->prepared;
    int e = inner->run(pool, &q, min, w, bias, residual ? mres : NULL, slope, mout, &inner_ws);
    if (e) return e;
    mosaic_copy(pool, &g, p->cout, mout, y, 1, 0);
    return SEGC_OK;
}

const segc_conv_path segc_conv2d_dilated_path = {
    .applies = segc_conv2d_dilated_applies,
    .ws = segc_conv2d_dilated_ws,
    .shared = segc_conv2d_dilated_shared,
    .prepared = segc_conv2d_dilated_prepared,
    .prepare = segc_conv2d_dilated_prepare,
    .run = segc_conv2d_dilated,
};
