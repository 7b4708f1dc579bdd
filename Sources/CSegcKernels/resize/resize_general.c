// ONNX Resize in full, following onnx's reference implementation (onnx/reference/ops/
// op_resize.py) step by step: per axis, each output index maps to a source coordinate
// x_ori (coordinate transformation mode, with the *given* scale factor), the taps are the
// n nearest source indices (edge-clamped), their weights the mode's coefficients of the
// fractional part (nearest / linear / cubic, antialiased when downsampling), optionally
// renormalised without the taps outside the input (exclude_outside). Tables are built in
// double, like the reference; the sums run in float. The fast path in resize.c stays for
// the plain modes the paper's networks use (its results are pinned by their tests).
#include "../internal.h"
#include <math.h>

static double cubic_w(double x, double a) {
    x = fabs(x);
    double x2 = x * x, x3 = x2 * x;
    if (x <= 1) return (a + 2) * x3 - (a + 3) * x2 + 1;
    if (x < 2) return a * x3 - 5 * a * x2 + 8 * a * x - 4 * a;
    return 0.0;
}

// Coefficients of `ratio` (in (0, 1]) for the mode; returns the tap count (<= cap).
static int64_t coeffs(const segc_resize_params *p, double ratio, double scale, double *c, int64_t cap) {
    if (p->mode == SEGC_RESIZE_NEAREST) {
        int up;  // 1: the right neighbour
        if (ratio == 1.0) up = 1;
        else switch (p->nearest) {
            case SEGC_NEAREST_ROUND_PREFER_FLOOR: up = ratio > 0.5; break;
            case SEGC_NEAREST_ROUND_PREFER_CEIL: up = ratio >= 0.5; break;
            case SEGC_NEAREST_FLOOR: up = 0; break;
            default: up = 1; break;
        }
        c[0] = up ? 0.0 : 1.0; c[1] = up ? 1.0 : 0.0;
        return 2;
    }
    double s = scale < 1.0 ? scale : 1.0;
    if (p->mode == SEGC_RESIZE_LINEAR) {
        if (!p->antialias) { c[0] = 1 - ratio; c[1] = ratio; return 2; }
        int64_t start = (int64_t)floor(-1.0 / s) + 1, n = 2 - 2 * start;
        if (n > cap) return 0;
        double sum = 0;
        for (int64_t i = 0; i < n; i++) {
            double v = 1 - fabs(((double)(start + i) - ratio) * s);
            c[i] = v < 0 ? 0 : (v > 1 ? 1 : v);
            sum += c[i];
        }
        for (int64_t i = 0; i < n; i++) c[i] /= sum;
        return n;
    }
    double a = p->cubic_a;
    if (!p->antialias) {
        double r = ratio, q = 1 - ratio;
        c[0] = ((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a;
        c[1] = ((a + 2) * r - (a + 3)) * r * r + 1;
        c[2] = ((a + 2) * q - (a + 3)) * q * q + 1;
        c[3] = ((a * (q + 1) - 5 * a) * (q + 1) + 8 * a) * (q + 1) - 4 * a;
        return 4;
    }
    int64_t start = (int64_t)floor(-2.0 / s) + 1, n = 2 - 2 * start;
    if (n > cap) return 0;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) { c[i] = cubic_w(s * ((double)(start + i) - ratio), a); sum += c[i]; }
    for (int64_t i = 0; i < n; i++) c[i] /= sum;
    return n;
}

int64_t segc_resize_general_taps(const segc_resize_params *p, int64_t in, float scale) {
    (void)in;
    if (!(scale > 0.0f) || !isfinite(scale)) return 0;
    if (p->mode == SEGC_RESIZE_NEAREST || (p->mode == SEGC_RESIZE_LINEAR && !p->antialias)) return 2;
    if (p->mode == SEGC_RESIZE_CUBIC && !p->antialias) return 4;
    double s = scale < 1.0f ? (double)scale : 1.0;
    double reach = p->mode == SEGC_RESIZE_LINEAR ? 1.0 : 2.0;
    double n = 2 - 2 * (floor(-reach / s) + 1);
    if (n > 4096) return 0;  // a downscale beyond 1:1000 is not a resize segc runs
    return (int64_t)n;
}

int64_t segc_resize_general_ws(const segc_resize_params *p, int64_t oh, int64_t ow) {
    // Per axis: taps indices (as int32 in float slots), weights, one extrapolation flag per output.
    int64_t th = segc_resize_general_taps(p, 0, p->scale_h), tw = segc_resize_general_taps(p, 0, p->scale_w);
    return 2 * (oh * th + ow * tw) + oh + ow;
}

// One axis: out entries of `taps` (index, weight) pairs and an extrapolation flag.
static int build_axis(const segc_resize_params *p, int64_t in, int64_t out, double scale, double roi0, double roi1,
                      int64_t taps, int32_t *idx, float *wt, float *extrap) {
    double c[4096];
    double outw = scale * (double)in;
    for (int64_t o = 0; o < out; o++) {
        double y = (double)o, x;
        extrap[o] = 0;
        switch (p->coord) {
        case SEGC_COORD_ALIGN_CORNERS: x = outw == 1 ? 0.0 : y * (double)(in - 1) / (outw - 1); break;
        case SEGC_COORD_ASYMMETRIC: x = y / scale; break;
        case SEGC_COORD_TF_CROP_AND_RESIZE:
            x = outw == 1 ? (roi1 - roi0) * (double)(in - 1) / 2 : y * (roi1 - roi0) * (double)(in - 1) / (outw - 1);
            x += roi0 * (double)(in - 1);
            if (x < 0 || x > (double)(in - 1)) extrap[o] = 1;
            break;
        case SEGC_COORD_PYTORCH_HALF_PIXEL: x = outw == 1 ? -0.5 : (y + 0.5) / scale - 0.5; break;
        case SEGC_COORD_HALF_PIXEL_SYMMETRIC: {
            double adjustment = (double)out / outw, center = (double)in / 2;
            x = center * (1 - adjustment) + (y + 0.5) / scale - 0.5;
            break;
        }
        default: x = (y + 0.5) / scale - 0.5; break;
        }
        if (!isfinite(x)) return SEGC_EINVAL;
        // A plan's scale may be tiny (x huge): bound x before any integer conversion. Beyond
        // in + 5000 every tap (at most 4096 wide) lies outside the input already, so the
        // taps (edge-clamped) and exclude_outside's zeros are the same as the reference's.
        double bound = (double)in + 5000.0;
        if (x > bound) x = bound;
        if (x < -bound) x = -bound;
        double fl = floor(x);
        double ratio = x == fl ? 1.0 : x - fl;
        int64_t n = coeffs(p, ratio, scale, c, 4096);
        if (n != taps) return SEGC_EINVAL;
        // The n nearest indices of the edge-padded input, ties to the smaller (reference's
        // _get_neighbor_idxes), then back to unpadded indices.
        int64_t pad = (n + 1) / 2;
        double xp = x + (double)pad, pp = floor(xp), frac = xp - pp;
        int64_t off = n % 2 == 0 ? (frac == 0 ? -(n / 2) : -(n / 2) + 1) : (frac <= 0.5 ? -((n - 1) / 2) : -((n - 1) / 2) + 1);
        int64_t start = (int64_t)pp + off - pad;
        if (p->exclude_outside) {
            double sum = 0;
            for (int64_t k = 0; k < n; k++) {
                int64_t i = start + k;
                if (i < 0 || i >= in) c[k] = 0;
                sum += c[k];
            }
            if (sum == 0) sum = 1;
            for (int64_t k = 0; k < n; k++) c[k] /= sum;
        }
        for (int64_t k = 0; k < n; k++) {
            int64_t i = start + k;
            idx[o * taps + k] = (int32_t)(i < 0 ? 0 : (i > in - 1 ? in - 1 : i));
            wt[o * taps + k] = (float)c[k];
        }
    }
    return SEGC_OK;
}

typedef struct {
    int64_t c, h, w, oh, ow, th, tw, chunk;
    float extrapolation;
    const float *x;
    float *y;
    const int32_t *yi, *xi;
    const float *yw, *xw, *ye, *xe;
} general_ctx;

static void general_task(void *vctx, int64_t t, int thread) {
    (void)thread;
    const general_ctx *r = vctx;
    int64_t c0 = t * r->chunk, c1 = SEGC_MIN(c0 + r->chunk, r->c);
    for (int64_t ch = c0; ch < c1; ch++) {
        const float *xp = r->x + ch * r->h * r->w;
        float *yp = r->y + ch * r->oh * r->ow;
        for (int64_t oy = 0; oy < r->oh; oy++) {
            for (int64_t ox = 0; ox < r->ow; ox++) {
                float acc = 0;
                if (r->ye[oy] != 0 || r->xe[ox] != 0) {
                    acc = r->extrapolation;
                } else {
                    for (int64_t a = 0; a < r->th; a++) {
                        const float *row = xp + (int64_t)r->yi[oy * r->th + a] * r->w;
                        float s = 0;
                        for (int64_t b = 0; b < r->tw; b++) s += r->xw[ox * r->tw + b] * row[r->xi[ox * r->tw + b]];
                        acc += r->yw[oy * r->th + a] * s;
                    }
                }
                yp[oy * r->ow + ox] = acc;
            }
        }
    }
}

int segc_resize_general(segc_pool *pool, int64_t c, int64_t h, int64_t w, int64_t oh, int64_t ow,
                        const segc_resize_params *p, const float *x, float *y, const segc_ws *ws) {
    if (!p || c <= 0 || h <= 0 || w <= 0 || oh <= 0 || ow <= 0) return SEGC_EINVAL;
    if (h > INT32_MAX || w > INT32_MAX) return SEGC_EUNSUP;
    if (p->mode < 0 || p->mode > 2 || p->coord < 0 || p->coord > 5 || p->nearest < 0 || p->nearest > 3) return SEGC_EINVAL;
    int64_t th = segc_resize_general_taps(p, h, p->scale_h), tw = segc_resize_general_taps(p, w, p->scale_w);
    if (th <= 0 || tw <= 0) return SEGC_EINVAL;
    if (!ws || !ws->shared || ws->shared_count < segc_resize_general_ws(p, oh, ow)) return SEGC_ENOSPC;
    float *s = ws->shared;
    int32_t *yi = (int32_t *)s;
    float *yw = s + oh * th;
    int32_t *xi = (int32_t *)(s + 2 * oh * th);
    float *xw = s + 2 * oh * th + ow * tw;
    float *ye = s + 2 * (oh * th + ow * tw), *xe = ye + oh;
    int rc = build_axis(p, h, oh, p->scale_h, p->roi_h0, p->roi_h1, th, yi, yw, ye);
    if (rc == SEGC_OK) rc = build_axis(p, w, ow, p->scale_w, p->roi_w0, p->roi_w1, tw, xi, xw, xe);
    if (rc != SEGC_OK) return rc;
    general_ctx r = {c, h, w, oh, ow, th, tw, 0, p->extrapolation, x, y, yi, xi, yw, xw, ye, xe};
    r.chunk = SEGC_MAX(1, (64 * 1024) / (oh * ow));
    segc_pool_run(pool, general_task, &r, segc_chunks(c, r.chunk));
    return SEGC_OK;
}
