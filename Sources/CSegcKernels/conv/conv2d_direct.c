// Direct convolution for grouped convs with tiny reductions (K = cin/groups · kh · kw ≤ 32,
// whole blocks of DIRECT_CB channels per group); every ungrouped conv goes through the GEMM,
// whose exact mode has the same arithmetic (it was the path of ENet's exact K ≤ 32 convs until
// the GEMM's exact micro-kernels and a vectorised strided im2col made the GEMM faster there:
// ENet's first conv 3.7 → 2.2 ms, its 1x1 16→64 convs 2.1 → 1.7 ms, 2 threads).
//
// Why it exists: every output element is computed by the same sequence of rounded
// multiplies and adds (no FMA contraction), in (ci, ky, kx) order starting from 0,
// whatever its position, tile or thread — the reference interpreter's arithmetic.
// Equal input patches therefore give bit-equal outputs, as in PyTorch. ENet's first
// max pool keeps the indices of ties between such equal values (networks.md §2: 11
// tied windows in conv channels on the 128x256 reference frame, ~150 per channel at
// 512x1024); sgemm's position-dependent rounding broke those ties and moved unpooled
// values, an O(1) logit error. Separate multiply and add (rather than fmaf) also
// reproduces more of PyTorch's accidental ties between nearly equal patches.
//
// A task is one output row `oy` for a block of up to DIRECT_CB output channels, so a
// strided input row is split into its phases once and reused by every channel.
#include "../internal.h"
#include <math.h>

#pragma clang fp contract(off)

#define SEGC_DIRECT_MAX_OW 2048
#define SEGC_DIRECT_MAX_W 4096
#define SEGC_DIRECT_MAX_STRIDE 8
#define DIRECT_CB 8

typedef struct {
    const segc_conv_params *p;
    const float *x, *w, *bias, *res, *slope;
    float *y;
    int64_t cblocks;
    const segc_conv_tail *tail;   // nullable: y = act2(y + res2) after the epilogue
} direct_ctx;

// The body, compiled twice below (AVX2 and baseline); contraction is off, so both
// give the same bits.
#define DIRECT_BODY                                                                                            \
    const direct_ctx *c = vctx;                                                                                \
    const segc_conv_params *p = c->p;                                                                          \
    int64_t oy = t / c->cblocks, cb = t % c->cblocks;                                                          \
    int64_t cin_g = p->cin / p->groups, cout_g = p->cout / p->groups;                                          \
    int64_t co0 = cb * DIRECT_CB, co1 = SEGC_MIN(co0 + DIRECT_CB, p->cout);                                    \
    /* A block never straddles groups: blocks are cut inside each group (see cblocks). */                      \
    float acc[DIRECT_CB][SEGC_DIRECT_MAX_OW];                                                                  \
    float phases[SEGC_DIRECT_MAX_W + SEGC_DIRECT_MAX_STRIDE];                                                  \
    int64_t nco = co1 - co0;                                                                                   \
    for (int64_t j = 0; j < nco; j++)                                                                          \
        for (int64_t ox = 0; ox < p->ow; ox++) acc[j][ox] = 0.0f;                                              \
    int64_t g = co0 / cout_g;                                                                                  \
    int64_t plen = (p->w + p->sw - 1) / p->sw;                                                                 \
    for (int64_t ci = 0; ci < cin_g; ci++) {                                                                   \
        const float *xc = c->x + (g * cin_g + ci) * p->h * p->w;                                               \
        for (int64_t ky = 0; ky < p->kh; ky++) {                                                               \
            int64_t iy = oy * p->sh - p->pt + ky * p->dh;                                                      \
            if (iy < 0 || iy >= p->h) continue; /* zero padding: fmaf(w, 0, acc) == acc */                     \
            const float *xr = xc + iy * p->w;                                                                  \
            const float *src = xr;                                                                             \
            if (p->sw > 1) {                                                                                   \
                for (int64_t ph = 0; ph < p->sw; ph++) {                                                       \
                    float *dst = phases + ph * plen;                                                           \
                    int64_t n = (p->w - ph + p->sw - 1) / p->sw;                                               \
                    for (int64_t j = 0; j < n; j++) dst[j] = xr[j * p->sw + ph];                               \
                }                                                                                              \
                src = phases;                                                                                  \
            }                                                                                                  \
            for (int64_t kx = 0; kx < p->kw; kx++) {                                                           \
                int64_t off = kx * p->dw - p->pl;                                                              \
                /* Columns whose input column ix = ox*sw + off lies inside the row. */                        \
                int64_t ox0 = off >= 0 ? 0 : (-off + p->sw - 1) / p->sw;                                       \
                int64_t ox1 = (p->w - off + p->sw - 1) / p->sw;                                                \
                if (ox1 > p->ow) ox1 = p->ow;                                                                  \
                const float *xs;                                                                               \
                if (p->sw == 1) xs = src + off;                                                                \
                else {                                                                                         \
                    int64_t ph = ((off % p->sw) + p->sw) % p->sw;                                              \
                    xs = src + ph * plen + (off - ph) / p->sw; /* xs[ox] = xr[ox*sw + off] */                  \
                }                                                                                              \
                for (int64_t j = 0; j < nco; j++) {                                                            \
                    float wv = c->w[(((co0 + j) * cin_g + ci) * p->kh + ky) * p->kw + kx];                     \
                    float *a = acc[j];                                                                         \
                    for (int64_t ox = ox0; ox < ox1; ox++) a[ox] = a[ox] + wv * xs[ox];                    \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
    }                                                                                                          \
    for (int64_t j = 0; j < nco; j++) {                                                                        \
        int64_t co = co0 + j;                                                                                  \
        float *yr = c->y + (co * p->oh + oy) * p->ow;                                                          \
        float b = c->bias ? c->bias[co] : 0.0f;                                                                \
        const float *rr = c->res ? c->res + (co * p->oh + oy) * p->ow : 0;                                     \
        float slope = segc_slope_of(p->act, c->slope, p->nslope, co);                                          \
        const segc_conv_tail *tl = c->tail;                                                                    \
        const float *tr = tl ? tl->res + (co * p->oh + oy) * p->ow : 0;                                        \
        float tslope = tl ? segc_slope_of(tl->act, tl->slope, tl->nslope, co) : 0.0f;                          \
        for (int64_t ox = 0; ox < p->ow; ox++) {                                                               \
            float v = acc[j][ox] + b;                                                                          \
            if (rr) v += rr[ox]; /* read before the write of the same element: aliasing y is fine */          \
            if (p->act == SEGC_ACT_RELU) v = v > 0.0f ? v : 0.0f;                                              \
            else if (p->act == SEGC_ACT_PRELU) v = v > 0.0f ? v : v * slope;                                   \
            if (tr) v = segc_act((v + 0.0f) + tr[ox], tl->act, tslope); /* as epilogue_res: the tail's bits */ \
            yr[ox] = v;                                                                                        \
        }                                                                                                      \
    }

static void direct_task_generic(void *vctx, int64_t t, int thread) {
    (void)thread;
    DIRECT_BODY
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) static void direct_task_fma(void *vctx, int64_t t, int thread) {
    (void)thread;
    DIRECT_BODY
}
#endif

int segc_conv2d_direct_applies(const segc_conv_params *p) {
    int64_t cout_g = p->groups > 0 ? p->cout / p->groups : 0;
    // An ungrouped conv is faster as GEMM, exact or not (see the top); grouped ones (tiny
    // cout per group) stay direct.
    if (p->groups == 1) return 0;
    return (p->cin / p->groups) * p->kh * p->kw <= 32 && p->ow <= SEGC_DIRECT_MAX_OW && p->w <= SEGC_DIRECT_MAX_W &&
           p->sw <= SEGC_DIRECT_MAX_STRIDE && cout_g % DIRECT_CB == 0;
}

int segc_conv2d_direct(segc_pool *pool, const segc_conv_params *p, const float *x, const float *w, const float *bias,
                       const float *residual, const float *slope, const segc_conv_tail *tail, float *y) {
    direct_ctx c = {p, x, w, bias, residual, slope, y, (p->cout + DIRECT_CB - 1) / DIRECT_CB, tail};
    void (*task)(void *, int64_t, int) = direct_task_generic;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) task = direct_task_fma;
#endif
    segc_pool_run(pool, task, &c, p->oh * c.cblocks);
    return SEGC_OK;
}
