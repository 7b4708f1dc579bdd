// Resize (nearest and bilinear) over NCHW planes. Source coordinates follow the ONNX
// coordinate transformation modes, computed in float32 like PyTorch's CPU kernels;
// per-row and per-column neighbour tables are built once per call in the shared
// workspace, then channel chunks run in parallel.
#include "../internal.h"
#include <math.h>

// Same arithmetic in every path below (no FMA contraction): the cached-row path and the
// direct path give identical bits.
#pragma clang fp contract(off)

/// Widest output row whose horizontally interpolated source rows are cached on the stack.
#define RESIZE_ROW_CACHE 4096

int64_t segc_resize_ws(int64_t oh, int64_t ow) { return 3 * (oh + ow); }

static float src_coord(int64_t o, int64_t in, int64_t out, int32_t coord) {
    float x = (float)o;
    switch (coord) {
    case SEGC_COORD_HALF_PIXEL: return ((float)in / (float)out) * (x + 0.5f) - 0.5f;
    case SEGC_COORD_PYTORCH_HALF_PIXEL: return out > 1 ? ((float)in / (float)out) * (x + 0.5f) - 0.5f : 0.0f;
    case SEGC_COORD_ALIGN_CORNERS: return out > 1 ? ((float)(in - 1) / (float)(out - 1)) * x : 0.0f;
    default: return ((float)in / (float)out) * x;
    }
}

static void build_table(int64_t in, int64_t out, int32_t mode, int32_t coord, int32_t nearest, int32_t *i0,
                        int32_t *i1, float *lam) {
    for (int64_t o = 0; o < out; o++) {
        float s = src_coord(o, in, out, coord);
        if (mode == SEGC_RESIZE_NEAREST) {
            float r;
            switch (nearest) {
            case SEGC_NEAREST_CEIL: r = ceilf(s); break;
            case SEGC_NEAREST_ROUND_PREFER_FLOOR: r = (s == floorf(s) + 0.5f) ? floorf(s) : roundf(s); break;
            case SEGC_NEAREST_ROUND_PREFER_CEIL: r = floorf(s + 0.5f); break;
            default: r = floorf(s); break;
            }
            int64_t k = (int64_t)r;
            if (r < 0.0f) k = 0;
            if (k > in - 1) k = in - 1;
            i0[o] = (int32_t)k; i1[o] = (int32_t)k; lam[o] = 0.0f;
        } else {
            if (s < 0.0f) s = 0.0f;
            int64_t k = (int64_t)s;
            if (k > in - 1) k = in - 1;
            float l = s - (float)k;
            if (l > 1.0f) l = 1.0f;
            i0[o] = (int32_t)k;
            i1[o] = (int32_t)(k < in - 1 ? k + 1 : k);
            lam[o] = l;
        }
    }
}

typedef struct {
    int64_t c, h, w, oh, ow, chunk;
    int32_t mode;
    const float *x;
    float *y;
    const int32_t *yi0, *yi1, *xi0, *xi1;
    const float *yl, *xl;
} resize_ctx;

static void resize_task(void *vctx, int64_t t, int thread) {
    (void)thread;
    const resize_ctx *r = vctx;
    int64_t c0 = t * r->chunk, c1 = SEGC_MIN(c0 + r->chunk, r->c);
    float ha[RESIZE_ROW_CACHE], hb[RESIZE_ROW_CACHE];
    for (int64_t ch = c0; ch < c1; ch++) {
        int32_t cached[2] = {-1, -1};   // source rows held in ha / hb for this channel
        const float *xp = r->x + ch * r->h * r->w;
        float *yp = r->y + ch * r->oh * r->ow;
        for (int64_t oy = 0; oy < r->oh; oy++) {
            float *yr = yp + oy * r->ow;
            const float *a = xp + (int64_t)r->yi0[oy] * r->w;
            if (r->mode == SEGC_RESIZE_NEAREST) {
                for (int64_t ox = 0; ox < r->ow; ox++) yr[ox] = a[r->xi0[ox]];
            } else if (r->ow <= RESIZE_ROW_CACHE) {
                // Upsampling reuses each source row for several output rows: interpolate a
                // source row horizontally once (a gather), then blend two cached rows per
                // output row (contiguous, vectorised).
                int32_t y0 = r->yi0[oy], y1 = r->yi1[oy];
                if (y0 != cached[0]) {
                    if (y0 == cached[1]) {
                        for (int64_t ox = 0; ox < r->ow; ox++) ha[ox] = hb[ox];
                    } else {
                        const float *src = xp + (int64_t)y0 * r->w;
                        for (int64_t ox = 0; ox < r->ow; ox++)
                            ha[ox] = (1.0f - r->xl[ox]) * src[r->xi0[ox]] + r->xl[ox] * src[r->xi1[ox]];
                    }
                    cached[0] = y0;
                }
                if (y1 != cached[1]) {
                    const float *src = xp + (int64_t)y1 * r->w;
                    for (int64_t ox = 0; ox < r->ow; ox++)
                        hb[ox] = (1.0f - r->xl[ox]) * src[r->xi0[ox]] + r->xl[ox] * src[r->xi1[ox]];
                    cached[1] = y1;
                }
                float l1 = r->yl[oy], l0 = 1.0f - l1;
                for (int64_t ox = 0; ox < r->ow; ox++) yr[ox] = l0 * ha[ox] + l1 * hb[ox];
            } else {
                const float *b = xp + (int64_t)r->yi1[oy] * r->w;
                float l1 = r->yl[oy], l0 = 1.0f - l1;
                for (int64_t ox = 0; ox < r->ow; ox++) {
                    float m1 = r->xl[ox], m0 = 1.0f - m1;
                    int32_t j0 = r->xi0[ox], j1 = r->xi1[ox];
                    yr[ox] = l0 * (m0 * a[j0] + m1 * a[j1]) + l1 * (m0 * b[j0] + m1 * b[j1]);
                }
            }
        }
    }
}

int segc_resize(segc_pool *pool, int64_t c, int64_t h, int64_t w, int64_t oh, int64_t ow, int32_t mode,
                int32_t coord, int32_t nearest, const float *x, float *y, const segc_ws *ws) {
    if (c <= 0 || h <= 0 || w <= 0 || oh <= 0 || ow <= 0) return SEGC_EINVAL;
    if (h > INT32_MAX || w > INT32_MAX) return SEGC_EUNSUP;
    if (mode < 0 || mode > 1 || coord < 0 || coord > 3 || nearest < 0 || nearest > 3) return SEGC_EINVAL;
    if (!ws || !ws->shared || ws->shared_count < segc_resize_ws(oh, ow)) return SEGC_ENOSPC;
    float *s = ws->shared;
    int32_t *yi0 = (int32_t *)s, *yi1 = (int32_t *)(s + oh);
    float *yl = s + 2 * oh;
    int32_t *xi0 = (int32_t *)(s + 3 * oh), *xi1 = (int32_t *)(s + 3 * oh + ow);
    float *xl = s + 3 * oh + 2 * ow;
    build_table(h, oh, mode, coord, nearest, yi0, yi1, yl);
    build_table(w, ow, mode, coord, nearest, xi0, xi1, xl);
    resize_ctx r = {c, h, w, oh, ow, 0, mode, x, y, yi0, yi1, xi0, xi1, yl, xl};
    int64_t plane = oh * ow;
    r.chunk = SEGC_MAX(1, (64 * 1024) / plane);
    segc_pool_run(pool, resize_task, &r, segc_chunks(c, r.chunk));
    return SEGC_OK;
}
