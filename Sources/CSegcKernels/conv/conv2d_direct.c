// Direct convolution for tiny reductions (K = cin/groups · kh · kw ≤ 32, e.g. the
// 3-channel first layers of ENet, ERFNet and MiDE-Net).
//
// Why it exists: every output element is computed by the same sequence of fmaf
// calls, in (ci, ky, kx) order, whatever its position, tile or thread. Equal input
// patches therefore give bit-equal outputs, which is what PyTorch gives too. ENet's
// first max pool keeps the indices of ties between such equal values (networks.md §2:
// 11 tied windows in conv channels on the 128x256 reference frame); sgemm's
// position-dependent rounding broke those ties and moved unpooled values, an O(1)
// logit error. fmaf is exactly rounded both when vectorised and in scalar tails.
#include "../internal.h"
#include <math.h>

#define SEGC_DIRECT_MAX_OW 4096

typedef struct {
    const segc_conv_params *p;
    const float *x, *w, *bias, *res, *slope;
    float *y;
} direct_ctx;

// Two builds of the same row kernel: with FMA hardware, fmaf compiles to an inline
// vfmadd (vectorised); without it, to libm's exactly rounded fmaf. Same bits either way.
static void direct_row_generic(void *vctx, int64_t t, int thread) {
    (void)thread;
    const direct_ctx *c = vctx;
    const segc_conv_params *p = c->p;
    int64_t co = t / p->oh, oy = t % p->oh;
    int64_t cin_g = p->cin / p->groups, cout_g = p->cout / p->groups, g = co / cout_g;
    float *yr = c->y + (co * p->oh + oy) * p->ow;
    // Accumulate in a private row so a residual that aliases y is still read intact.
    float acc[SEGC_DIRECT_MAX_OW];
    for (int64_t ox = 0; ox < p->ow; ox++) acc[ox] = 0.0f;
    const float *wc = c->w + co * cin_g * p->kh * p->kw;
    for (int64_t ci = 0; ci < cin_g; ci++) {
        const float *xc = c->x + (g * cin_g + ci) * p->h * p->w;
        for (int64_t ky = 0; ky < p->kh; ky++) {
            int64_t iy = oy * p->sh - p->pt + ky * p->dh;
            for (int64_t kx = 0; kx < p->kw; kx++) {
                float wv = wc[(ci * p->kh + ky) * p->kw + kx];
                if (iy < 0 || iy >= p->h) continue;  // zero padding: fmaf(w, 0, acc) == acc
                const float *xr = xc + iy * p->w;
                int64_t off = kx * p->dw - p->pl;
                // Columns whose input column ix = ox*sw + off lies inside the row.
                int64_t ox0 = off >= 0 ? 0 : (-off + p->sw - 1) / p->sw;
                int64_t ox1 = (p->w - off + p->sw - 1) / p->sw;
                if (ox1 > p->ow) ox1 = p->ow;
                for (int64_t ox = ox0; ox < ox1; ox++) acc[ox] = fmaf(wv, xr[ox * p->sw + off], acc[ox]);
            }
        }
    }
    float b = c->bias ? c->bias[co] : 0.0f;
    const float *rr = c->res ? c->res + (co * p->oh + oy) * p->ow : 0;
    float slope = p->act == SEGC_ACT_PRELU ? c->slope[p->nslope == 1 ? 0 : co] : 0.0f;
    for (int64_t ox = 0; ox < p->ow; ox++) {
        float v = acc[ox] + b;
        if (rr) v += rr[ox];
        if (p->act == SEGC_ACT_RELU) v = v > 0.0f ? v : 0.0f;
        else if (p->act == SEGC_ACT_PRELU) v = v > 0.0f ? v : v * slope;
        yr[ox] = v;
    }
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma")))
static void direct_row_fma(void *vctx, int64_t t, int thread) {
    (void)thread;
    const direct_ctx *c = vctx;
    const segc_conv_params *p = c->p;
    int64_t co = t / p->oh, oy = t % p->oh;
    int64_t cin_g = p->cin / p->groups, cout_g = p->cout / p->groups, g = co / cout_g;
    float *yr = c->y + (co * p->oh + oy) * p->ow;
    // Accumulate in a private row so a residual that aliases y is still read intact.
    float acc[SEGC_DIRECT_MAX_OW];
    for (int64_t ox = 0; ox < p->ow; ox++) acc[ox] = 0.0f;
    const float *wc = c->w + co * cin_g * p->kh * p->kw;
    for (int64_t ci = 0; ci < cin_g; ci++) {
        const float *xc = c->x + (g * cin_g + ci) * p->h * p->w;
        for (int64_t ky = 0; ky < p->kh; ky++) {
            int64_t iy = oy * p->sh - p->pt + ky * p->dh;
            for (int64_t kx = 0; kx < p->kw; kx++) {
                float wv = wc[(ci * p->kh + ky) * p->kw + kx];
                if (iy < 0 || iy >= p->h) continue;  // zero padding: fmaf(w, 0, acc) == acc
                const float *xr = xc + iy * p->w;
                int64_t off = kx * p->dw - p->pl;
                // Columns whose input column ix = ox*sw + off lies inside the row.
                int64_t ox0 = off >= 0 ? 0 : (-off + p->sw - 1) / p->sw;
                int64_t ox1 = (p->w - off + p->sw - 1) / p->sw;
                if (ox1 > p->ow) ox1 = p->ow;
                for (int64_t ox = ox0; ox < ox1; ox++) acc[ox] = fmaf(wv, xr[ox * p->sw + off], acc[ox]);
            }
        }
    }
    float b = c->bias ? c->bias[co] : 0.0f;
    const float *rr = c->res ? c->res + (co * p->oh + oy) * p->ow : 0;
    float slope = p->act == SEGC_ACT_PRELU ? c->slope[p->nslope == 1 ? 0 : co] : 0.0f;
    for (int64_t ox = 0; ox < p->ow; ox++) {
        float v = acc[ox] + b;
        if (rr) v += rr[ox];
        if (p->act == SEGC_ACT_RELU) v = v > 0.0f ? v : 0.0f;
        else if (p->act == SEGC_ACT_PRELU) v = v > 0.0f ? v : v * slope;
        yr[ox] = v;
    }
}
#endif

int segc_conv2d_direct_applies(const segc_conv_params *p) {
    return (p->cin / p->groups) * p->kh * p->kw <= 32 && p->ow <= SEGC_DIRECT_MAX_OW;
}

int segc_conv2d_direct(segc_pool *pool, const segc_conv_params *p, const float *x, const float *w, const float *bias,
                       const float *residual, const float *slope, float *y) {
    direct_ctx c = {p, x, w, bias, residual, slope, y};
    void (*row)(void *, int64_t, int) = direct_row_generic;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("fma") && __builtin_cpu_supports("avx2")) row = direct_row_fma;
#endif
    segc_pool_run(pool, row, &c, p->cout * p->oh);
    return SEGC_OK;
}
