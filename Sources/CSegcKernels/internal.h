// Internal declarations shared by the kernel files (not part of the public header).
#pragma once
#include "segc_kernels.h"
#include <stdint.h>
#include <string.h>
#include "gemm/gemm.h"

/// Rows per horizontal Winograd band (one AVX-512 vector).
#define SEGC_WINO_BAND 16

#define SEGC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SEGC_MAX(a, b) ((a) > (b) ? (a) : (b))

/// Inner loops with one implementation per ISA level (scalar, AVX2, AVX-512), all
/// plain C that the compiler vectorises under the function's target attribute.
typedef struct {
    void (*bin_vv)(int op, int64_t n, const float *a, const float *b, float *y);
    void (*bin_vs)(int op, int64_t n, const float *a, float b, float *y);      // a vector, b scalar
    void (*bin_sv)(int op, int64_t n, float a, const float *b, float *y);      // a scalar, b vector
    void (*relu)(int64_t n, const float *x, float *y);
    void (*affine)(int64_t n, const float *x, float s, float b, float *y);     // x*s + b
    /// Conv epilogue on one channel row: y = act(y + bias); act 0 none, 1 relu, 2 prelu(slope).
    void (*epilogue)(int64_t n, float *y, float bias, int act, float slope);
    /// Exact-mode conv epilogue: y = act((src + bias) + res), res nullable; y may be src or res.
    void (*epilogue_res)(int64_t n, float *y, const float *src, float bias, const float *res, int act, float slope);
    void (*max_rows)(int64_t n, const float *x, float *m);                    // m = max(m, x)
    void (*sum_exp)(int64_t n, const float *x, const float *m, float *y, float *s); // y=exp(x-m), s+=y
    void (*scale_rows)(int64_t n, float *y, const float *inv);                 // y *= inv
    void (*sigmoid)(int64_t n, const float *x, float *y);
    /// Simulated int8: y = clamp(nearbyintf(x / s), lo, hi) * s (NaN -> lo).
    void (*qdq)(int64_t n, const float *x, float s, float lo, float hi, float *y);
    /// Winograd F(4,3) input transform over runs of n: v[ξ][e] = Σ_k Bᵀ[ξ][k] r[k][e].
    void (*wino_bt)(int64_t n, const float *const *r, float *const *v);
    /// Winograd output transform + epilogue: y[o][e] = act((Aᵀ m)[o][e] + bias + res[o][e]), o < outs.
    void (*wino_at)(int64_t n, const float *const *m, float *const *y, int outs, float bias, const float *const *res,
                    int act, float slope);
    /// Horizontal Winograd bands of SEGC_WINO_BAND rows (see dispatch/loops.h).
    void (*wino_bt_band)(int64_t nt, const float *xt, const int64_t *off, float *const *v);
    void (*wino_at_band)(int64_t nt, const float *const *m, const int64_t *off, float bias, float *yt);
    /// The same four for Winograd F(6,3): 8 input planes, 6 outputs per tile.
    void (*wino6_bt)(int64_t n, const float *const *r, float *const *v);
    void (*wino6_at)(int64_t n, const float *const *m, float *const *y, int outs, float bias, const float *const *res,
                     int act, float slope);
    void (*wino6_bt_band)(int64_t nt, const float *xt, const int64_t *off, float *const *v);
    void (*wino6_at_band)(int64_t nt, const float *const *m, const int64_t *off, float bias, float *yt);
    void (*band_in)(int64_t rows, int64_t w, const float *src, int64_t ld, float *dst);
    void (*band_out)(int64_t rows, int64_t w, const float *src, const float *res, int64_t ld, float *y, int act,
                     float slope);
    /// 2-D Winograd F(4x4,3x3) row (de)interleaving (dispatch/loops.h, conv/conv2d_winograd.c).
    void (*wino2_split)(int64_t n, const float *t, float *const *ph);
    void (*wino2_merge)(int64_t n, const float *const *z, const float *res, float *y, int act, float slope);
    /// u[ξ·ldu + e] = (G g_e Gᵀ)[ξ], e < n, tap k of g_e at g[k·ldg + e] (F(4x4,3x3) weights).
    void (*wino2_wt)(int64_t n, const float *g, int64_t ldg, float *u, int64_t ldu);
    /// The same for 2-D Winograd F(2x2,3x3) (conv/conv2d_winograd_f2.c): 1-D F(2,3) input and
    /// output transforms (4 planes; the output with bias only), 2-phase split / merge, weights.
    void (*wino23_bt)(int64_t n, const float *const *r, float *const *v);
    void (*wino23_at)(int64_t n, const float *const *m, float *const *y, int outs, float bias);
    void (*wino22_split)(int64_t n, const float *t, float *const *ph);
    void (*wino22_merge)(int64_t n, const float *const *z, const float *res, float *y, int act, float slope);
    void (*wino22_wt)(int64_t n, const float *g, int64_t ldg, float *u, int64_t ldu);
    /// y[2i] = a[i], y[2i+1] = b[i], i < n, with non-temporal stores (y 8-byte aligned; the
    /// caller issues the store fence).
    void (*interleave2_nt)(int64_t n, const float *a, const float *b, float *y);
    /// y = act2((act(src + bias) + 0) + res): a conv's epilogue and its fused tail in one pass
    /// (y may be src or res exactly).
    void (*epilogue_tail)(int64_t n, float *y, const float *src, float bias, int act, float slope, const float *res,
                          int act2, float slope2);
    /// The level's GEMM micro-kernel (gemm/gemm.h); set by segc_dispatch_fill.
    const segc_gemm_arch *gemm;
} segc_dispatch;

extern segc_dispatch segc_dt;

#if defined(__x86_64__)
// Intrinsic band transposes (arch/x86/wino_band_*.c) that replace loops.h's at avx2/avx512.
void segc_band_in_avx2(int64_t rows, int64_t w, const float *src, int64_t ld, float *dst);
void segc_band_out_avx2(int64_t rows, int64_t w, const float *src, const float *res, int64_t ld, float *y, int act,
                        float slope);
void segc_band_in_avx512(int64_t rows, int64_t w, const float *src, int64_t ld, float *dst);
void segc_band_out_avx512(int64_t rows, int64_t w, const float *src, const float *res, int64_t ld, float *y, int act,
                          float slope);
#endif

/// The conv epilogue's activation on one value: relu, prelu(slope) or none.
static inline float segc_act(float v, int act, float slope) {
    return act == SEGC_ACT_RELU ? (v > 0.0f ? v : 0.0f) : act == SEGC_ACT_PRELU ? (v > 0.0f ? v : v * slope) : v;
}
void segc_dispatch_fill(int level);

/// Pool window geometry of `segc_pool_params` (pool/pool.c, pool/pool_u8.c): positive
/// sizes, kernel, stride and dilation; non-negative pads.
static inline int segc_pool_check(const segc_pool_params *p) {
    if (!p || p->c <= 0 || p->h <= 0 || p->w <= 0 || p->oh <= 0 || p->ow <= 0) return SEGC_EINVAL;
    if (p->kh <= 0 || p->kw <= 0 || p->sh <= 0 || p->sw <= 0 || p->dh <= 0 || p->dw <= 0) return SEGC_EINVAL;
    if (p->pt < 0 || p->pl < 0 || p->pb < 0 || p->pr < 0) return SEGC_EINVAL;
    return SEGC_OK;
}

/// Pool output columns [lo, hi) whose tap kx lands inside [0, w).
static inline void segc_pool_col_range(const segc_pool_params *p, int64_t kx, int64_t *lo, int64_t *hi) {
    int64_t base = kx * p->dw - p->pl;   // ix = ox*sw + base
    int64_t a = base >= 0 ? 0 : (-base + p->sw - 1) / p->sw;
    int64_t lim = p->w - 1 - base;       // ox*sw <= lim
    int64_t b = lim < 0 ? 0 : lim / p->sw + 1;
    if (b > p->ow) b = p->ow;
    if (a > b) a = b;
    *lo = a; *hi = b;
}

/// Prepared conv weights (segc_conv2d_prepare): a 64-byte header naming the dispatch
/// level's GEMM row panel, then the path's data.
#define SEGC_PREP_HDR 16
#define SEGC_PREP_MAGIC 0x70726570
static inline void segc_prep_stamp(float *out) {
    int32_t *h = (int32_t *)out;
    for (int i = 0; i < SEGC_PREP_HDR; i++) h[i] = 0;
    h[0] = SEGC_PREP_MAGIC;
    h[1] = segc_dt.gemm->mr;
}
/// The prepared data of p when it matches the current level, else NULL (the call then
/// prepares its weights itself).
static inline const float *segc_prep_data(const segc_conv_params *p) {
    if (!p->prepared) return 0;
    const int32_t *h = (const int32_t *)p->prepared;
    return h[0] == SEGC_PREP_MAGIC && h[1] == segc_dt.gemm->mr ? p->prepared + SEGC_PREP_HDR : 0;
}

/// Per-thread workspace region.
static inline float *segc_ws_thread(const segc_ws *ws, int thread) {
    return ws->base + (int64_t)thread * ws->per_thread;
}

/// Splits n items into chunks of `chunk`: number of chunks.
static inline int64_t segc_chunks(int64_t n, int64_t chunk) { return n <= 0 ? 0 : (n + chunk - 1) / chunk; }

/// A chunk of at most `pref` items (a multiple of `align`) that splits n into nearly equal
/// chunks, as many as a multiple of `threads`, when rounding allows: the pool gives each
/// thread an equal number of tasks (threads/pool.c) and a job ends with its busiest thread
/// (ENet's 1x1 convs at 64x128 ran as 5 tiles of 1520 pixels and one of 592 on 2 threads;
/// 9 tiles of 4080 at 128x256 left one thread 5 and the other 4). Only task boundaries move, and
/// every path that uses it computes each output the same way in any task: bits do not
/// depend on the thread count.
int64_t segc_balanced_chunk(int64_t n, int64_t pref, int64_t align, int threads);

/// im2col gather of one plane: for grid pixels q in [q0, q1) of a grid `gw` wide,
/// dst[q - q0] = x[j*sy + oy, i*sx + ox] (j = q / gw, i = q % gw), 0 outside [0,h)x[0,w).
void segc_gather(const float *x, int64_t h, int64_t w, int64_t gw, int64_t sy, int64_t sx, int64_t oy,
                 int64_t ox, int64_t q0, int64_t q1, float *dst);
/// Output pixels per conv task for a GEMM with depth k (depends on shapes only).
int64_t segc_conv_tile(int64_t k, int64_t pixels);
/// segc_conv_tile balanced for `threads` (segc_balanced_chunk); never larger, so workspaces
/// sized by segc_conv_tile hold it.
int64_t segc_conv_tile_for(int64_t k, int64_t pixels, int threads);

// Direct conv for tiny reductions (conv/conv2d_direct.c): position-independent rounding.
int segc_conv2d_direct_applies(const segc_conv_params *p);
int segc_conv2d_direct(segc_pool *pool, const segc_conv_params *p, const float *x, const float *w, const float *bias,
                       const float *residual, const float *slope, const segc_conv_tail *tail, float *y);

// The special-case conv2d paths, tried in this order before im2col (conv/conv2d.c): dilated
// 3x3 as an undilated conv over a mosaic of its polyphase sub-planes (conv2d_dilated.c),
// 2-D Winograd F(2x2,3x3) on small planes (conv2d_winograd_f2.c) and F(4x4,3x3)
// (conv2d_winograd.c) for dense 3x3 stride-1 convs, 1-D Winograd for 3x1 / 1x3
// (conv1d_winograd.c), kh x 1 as kh shifted GEMMs (conv2d_vertical.c). None runs in exact mode.
// A path that `applies` sizes its per-thread and shared workspace (floats), its prepared
// weights (floats after the header), prepares them once per session, and runs.
typedef struct {
    int (*applies)(const segc_conv_params *p);
    int64_t (*ws)(const segc_conv_params *p);
    int64_t (*shared)(const segc_conv_params *p);
    int64_t (*prepared)(const segc_conv_params *p);
    int (*prepare)(const segc_conv_params *p, const float *w, float *out);
    int (*run)(segc_pool *pool, const segc_conv_params *p, const float *x, const float *w, const float *bias,
               const float *residual, const float *slope, float *y, const segc_ws *ws);
} segc_conv_path;
extern const segc_conv_path segc_conv2d_dilated_path, segc_conv2d_winograd_f2_path, segc_conv2d_winograd_path,
    segc_conv1d_winograd_path, segc_conv2d_vertical_path;

/// 2-D Winograd weight transforms (F(4x4) and F(2x2)): the 3x3 taps of one row panel of mr
/// output channels (w points at the first; rows from `live` on are zero) gathered as
/// g[k][ci·mr + r], so segc_dt.wino2_wt / wino22_wt write each U[ξ]'s panel as one run.
static inline void segc_wino2_gather_taps(const float *w, int64_t cin, int64_t mr, int64_t live, float *g) {
    const int64_t n = cin * mr;
    for (int64_t ci = 0; ci < cin; ci++)
        for (int64_t r = 0; r < mr; r++)
            for (int k = 0; k < 9; k++) g[k * n + ci * mr + r] = r < live ? w[(r * cin + ci) * 9 + k] : 0.0f;
}

/// 2-D Winograd input transforms: the columns of a transformed row t[0..len) (input columns
/// xs .. xs + len) outside the plane's [a, b) are zero (all of them when b <= a).
static inline void segc_wino2_zero_outside(float *t, int64_t xs, int64_t len, int64_t a, int64_t b) {
    if (b <= a) { memset(t, 0, (size_t)len * sizeof(float)); return; }
    if (a > xs) memset(t, 0, (size_t)(a - xs) * sizeof(float));
    if (xs + len > b) memset(t + (b - xs), 0, (size_t)(xs + len - b) * sizeof(float));
}

/// 2-D Winograd input transforms, first pass: `bt` (the level's 1-D Bᵀ, F(4,3) or F(2,3))
/// down the `nrows` input rows from `top` of plane xc (h x w; rows outside it read `zeros`),
/// over input columns [a, b), into the t rows tb + k·tl, each covering input columns
/// xs .. xs + len; the columns outside [a, b) are zero.
static inline void segc_wino2_rows_bt(void (*bt)(int64_t, const float *const *, float *const *), int nrows,
                                      const float *xc, int64_t h, int64_t w, int64_t top, int64_t xs, int64_t len,
                                      int64_t a, int64_t b, const float *zeros, float *tb, int64_t tl) {
    const float *r[6];
    float *tr[6];
    for (int k = 0; k < nrows; k++) {
        int64_t row = top + k;
        r[k] = (row >= 0 && row < h) ? xc + row * w + a : zeros;
        tr[k] = tb + k * tl + (a - xs);
    }
    if (b > a) bt(b - a, r, tr);
    for (int k = 0; k < nrows; k++) segc_wino2_zero_outside(tb + k * tl, xs, len, a, b);
}

/// The PReLU slope of output channel co for activation `act` (0 when it is not prelu):
/// shared (nslope = 1) or per channel.
static inline float segc_slope_of(int act, const float *slope, int64_t nslope, int64_t co) {
    return act == SEGC_ACT_PRELU ? slope[nslope == 1 ? 0 : co] : 0.0f;
}

/// Conv epilogue over `count` output-channel rows of a tile: row j (channel co0 + j)
/// starts at yt + j·ld and has n pixels; adds the bias, applies relu/prelu.
static inline void segc_conv_epilogue_rows(const segc_conv_params *p, float *yt, int64_t ld, int64_t n, int64_t co0,
                                           int64_t count, const float *bias, const float *slope) {
    for (int64_t j = 0; j < count; j++) {
        int64_t oc = co0 + j;
        float b = bias ? bias[oc] : 0.0f;
        float s = segc_slope_of(p->act, slope, p->nslope, oc);
        segc_dt.epilogue(n, yt + j * ld, b, p->act, s);
    }
}
