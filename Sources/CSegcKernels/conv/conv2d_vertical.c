// Vertical convolutions (kernel kh x 1, stride 1, no horizontal padding: ERFNet's
// 3x1 convs with dilations 1–16) without im2col: for each tap ky the input plane
// shifted by ky·dh − pt rows is just a pointer offset, so the conv is kh segc_sgemm calls
// (K = cin) accumulating into the output tile; rows whose source row falls in the
// padding are left out of that tap's pixel range. The per-tap weight matrices
// [cout, cin] are gathered and packed for the GEMM once per call, in the shared workspace,
// or once at load (segc_conv2d_prepare).
#include "../internal.h"
#include <stdlib.h>
#include <string.h>

static int segc_conv2d_vertical_applies(const segc_conv_params *p) {
    // Not in exact mode: tap-major accumulation is not the reference's (ci, ky) order.
    return !p->exact && p->kw == 1 && p->kh > 1 && p->sh == 1 && p->sw == 1 && p->pl == 0 && p->dw == 1 && p->groups == 1 &&
           p->ow == p->w && p->cin >= 16;
}

static int64_t segc_conv2d_vertical_ws(const segc_conv_params *p) { return segc_sgemm_scratch(p->cout, p->cin); }
static int64_t segc_conv2d_vertical_prepared(const segc_conv_params *p) {
    return p->kh * segc_sgemm_packed_size(p->cout, p->cin);
}

// The unpacked taps (staging for the packing) that an unprepared call puts before the panels.
static int64_t tap_floats(const segc_conv_params *p) { return p->kh * p->cin * p->cout; }
static int64_t unprepared_shared(const segc_conv_params *p) { return tap_floats(p) + segc_conv2d_vertical_prepared(p); }

static int64_t segc_conv2d_vertical_shared(const segc_conv_params *p) { return p->prepared ? 0 : unprepared_shared(p); }

// w [cout, cin, kh, 1] -> taps[ky][cout][cin] -> GEMM panels, one block per tap.
static void pack_taps(const segc_conv_params *p, const float *w, float *taps, float *packed) {
    for (int64_t co = 0; co < p->cout; co++)
        for (int64_t ci = 0; ci < p->cin; ci++)
            for (int64_t ky = 0; ky < p->kh; ky++)
                taps[(ky * p->cout + co) * p->cin + ci] = w[(co * p->cin + ci) * p->kh + ky];
    for (int64_t ky = 0; ky < p->kh; ky++)
        segc_sgemm_pack_a(p->cout, p->cin, taps + ky * p->cout * p->cin, p->cin,
                          packed + ky * segc_sgemm_packed_size(p->cout, p->cin));
}

static int segc_conv2d_vertical_prepare(const segc_conv_params *p, const float *w, float *out) {
    float *taps = malloc((size_t)tap_floats(p) * sizeof(float));
    if (!taps) return SEGC_ENOMEM;
    pack_taps(p, w, taps, out);
    free(taps);
    return SEGC_OK;
}

typedef struct {
    const segc_conv_params *p;
    const float *x, *packed, *bias, *res, *slope;
    float *y;
    const segc_ws *ws;
    int64_t tile, ohw, hw;
} vert_ctx;

static void vert_task(void *vctx, int64_t t, int thread) {
    const vert_ctx *c = vctx;
    float *scratch = segc_ws_thread(c->ws, thread);
    const segc_conv_params *p = c->p;
    int64_t q0 = t * c->tile, q1 = SEGC_MIN(q0 + c->tile, c->ohw), n = q1 - q0;
    float *yt = c->y + q0;
    for (int64_t co = 0; co < p->cout; co++) {
        float *row = yt + co * c->ohw;
        if (c->res) {
            if (c->res != c->y) memcpy(row, c->res + co * c->ohw + q0, (size_t)n * sizeof(float));
        } else {
            memset(row, 0, (size_t)n * sizeof(float));
        }
    }
    for (int64_t ky = 0; ky < p->kh; ky++) {
        int64_t dy = ky * p->dh - p->pt;
        int64_t ylo = dy < 0 ? -dy : 0, yhi = SEGC_MIN(p->oh, p->h - dy);
        if (yhi <= ylo) continue;
        int64_t a = SEGC_MAX(q0, ylo * p->w), b = SEGC_MIN(q1, yhi * p->w);
        if (b <= a) continue;
        segc_sgemm_prepacked(p->cout, b - a, p->cin, c->packed + ky * segc_sgemm_packed_size(p->cout, p->cin),
                             c->x + a + dy * p->w, c->hw, c->y + a, c->ohw, 1, 0, scratch);
    }
    segc_conv_epilogue_rows(p, yt, c->ohw, n, 0, p->cout, c->bias, c->slope);
}

static int segc_conv2d_vertical(segc_pool *pool, const segc_conv_params *p, const float *x, const float *w,
                                const float *bias, const float *residual, const float *slope, float *y,
                                const segc_ws *ws) {
    const float *packed = segc_prep_data(p);
    if (!packed && (!ws || !ws->shared || ws->shared_count < unprepared_shared(p))) return SEGC_ENOSPC;
    if (!ws || !ws->base || ws->per_thread < segc_conv2d_vertical_ws(p) || ws->threads < segc_pool_threads(pool))
        return SEGC_ENOSPC;
    if (!packed) {
        pack_taps(p, w, ws->shared, ws->shared + tap_floats(p));
        packed = ws->shared + tap_floats(p);
    }
    vert_ctx c = {p, x, packed, bias, residual, slope, y, ws, 0, p->oh * p->ow, p->h * p->w};
    c.tile = segc_conv_tile(p->cin, c.ohw);
    segc_pool_run(pool, vert_task, &c, segc_chunks(c.ohw, c.tile));
    return SEGC_OK;
}

const segc_conv_path segc_conv2d_vertical_path = {
    .applies = segc_conv2d_vertical_applies,
    .ws = segc_conv2d_vertical_ws,
    .shared = segc_conv2d_vertical_shared,
    .prepared = segc_conv2d_vertical_prepared,
    .prepare = segc_conv2d_vertical_prepare,
    .run = segc_conv2d_vertical,
};
