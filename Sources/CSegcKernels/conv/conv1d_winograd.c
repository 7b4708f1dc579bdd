// 1-D Winograd F(4,3) and F(6,3) for 3-tap convolutions along one axis: ERFNet's 3x1 and
// 1x3 convolutions (dilations 1-16), 95 % of its time. T = 4 (or 6) outputs spaced by
// the dilation d come from T + 2 inputs spaced by d, with T + 2 multiplies per (cout, cin)
// pair instead of 3T: 1.5 (1.33) multiplies per output instead of 3.
//
//   Y = Aᵀ [ (G g) ⊙ (Bᵀ x) ]   (Lavin & Gray 2016; F(4,3): points 0, ±1, ±2, ∞;
//                                 F(6,3): 0, ±1, ±2, ±1/2, ∞, NNPACK's matrices)
//
// F(6,3) does 11 % fewer multiplies and writes 11 % fewer transformed values per output,
// but tiles of 6d outputs fit a plane worse: per conv, the one with fewer multiplies per
// output over the padded plane is used (`pick_t`; ties go to F(4,3), whose rounding error
// is half: ~1.4e-6 vs ~2.9e-6 of max|y| for 128 channels of N(0,1) inputs).
//
// Layout: a *tile* is T outputs b, b+d, ..., b+(T-1)d along the axis (bases b = q·Td + r,
// r < d, so tiles of the same q interleave). Vertical (3x1): tiles are enumerated
// p = tile_row · w + x (the W axis contiguous) and cut into chunks of WINO_P tiles, one
// task each. Horizontal (1x3): one task per band of BAND rows (see wino_band_task). Per
// chunk: the input transform writes V[ξ][ci][p] (T + 2 planes), T + 2 GEMMs M[ξ] = U[ξ] · V[ξ]
// with U[ξ] = (G g)[ξ] (cout x cin, transformed and packed once per call into the shared
// workspace), then the output transform writes act(AᵀM + bias + residual). Bᵀ and Aᵀ are
// written out in the per-level transforms (`wino_*`, `wino6_*` in dispatch/loops.h).
//
// The rounding depends on a pixel's place in its tile, so this path is never used in
// exact mode (upstream of index-returning pools); elsewhere the error is a few ulps of
// the tile's inputs (tests: 5e-4·max|ref| and the argmax).
#include "../internal.h"
#include <stdlib.h>
#include <string.h>

// Tiles per GEMM: a multiple of every level's NR (16, 48). V and M of a chunk are
// 8·(cin + cout)·WINO_P floats: 1.5 MiB at 128 channels, within L2 with the packed U
// (384 tiles made them 3 MiB; in the harness 192 was ~2-4 % faster with F(6,3)).
#define WINO_P 192
#define BAND SEGC_WINO_BAND   // rows of a horizontal band (WINO_P / BAND tiles per GEMM)

#define NMAX 8   // input planes of the largest tile (F(6,3))

static const float G4[6][3] = {
    {1.0f / 4, 0, 0}, {-1.0f / 6, -1.0f / 6, -1.0f / 6}, {-1.0f / 6, 1.0f / 6, -1.0f / 6},
    {1.0f / 24, 1.0f / 12, 1.0f / 6}, {1.0f / 24, -1.0f / 12, 1.0f / 6}, {0, 0, 1},
};
static const float G6[8][3] = {
    {1, 0, 0}, {-2.0f / 9, -2.0f / 9, -2.0f / 9}, {-2.0f / 9, 2.0f / 9, -2.0f / 9},
    {1.0f / 90, 1.0f / 45, 2.0f / 45}, {1.0f / 90, -1.0f / 45, 2.0f / 45},
    {32.0f / 45, 16.0f / 45, 8.0f / 45}, {32.0f / 45, -16.0f / 45, 8.0f / 45}, {0, 0, 1},
};

typedef struct {
    const segc_conv_params *p;
    const float *x, *u, *bias, *res, *slope;
    float *y;
    const segc_ws *ws;
    int vertical;
    int t, nx;               // outputs per tile (4 or 6) and transformed planes (t + 2)
    // The level's transforms for this t (dispatch/loops.h).
    void (*bt)(int64_t, const float *const *, float *const *);
    void (*at)(int64_t, const float *const *, float *const *, int, float, const float *const *, int, float);
    void (*bt_band)(int64_t, const float *, const int64_t *, float *const *);
    void (*at_band)(int64_t, const float *const *, const int64_t *, float, float *);
    int64_t d, pad, len;     // dilation, leading pad and output length along the axis
    int64_t in_len;          // input length along the axis
    int64_t nbase;           // tile bases per line (q·td + r enumerated as i = q·d + r)
    int64_t across;          // vertical: w (vector axis); horizontal: h (lines)
    int64_t tiles;
} wino_ctx;

static inline int64_t tile_base(const wino_ctx *c, int64_t i) { return (i / c->d) * c->t * c->d + i % c->d; }

// The transforms stream short runs (a row of a plane, ~0.5-1 KiB) of many planes; each
// run starts cold in L3 and the hardware prefetcher has no time to ramp up. Requesting
// the next channel's runs one run ahead keeps the misses in flight (in the harness of
// ERFNet's shapes, one thread: 64-channel 3x1 convs 6.2 -> 5.1 ms, 16-channel 3.9 -> 2.3 ms).
static inline void prefetch_run(const float *q, int64_t n) {
    for (int64_t e = 0; e < n; e += 16) __builtin_prefetch(q + e, 0, 3);
}

// GEMM width for n tiles: a whole number of the level's NR panels (<= WINO_P), so the
// GEMM never takes its edge path (a packed B panel and a scratch C tile per row panel,
// ~3 % of ERFNet's samples at NR = 48). The extra V columns are zeroed: their M columns
// are never read, but stale bits could be denormals or NaNs.
static int64_t gemm_cols(int64_t n) {
    int64_t nr = segc_dt.gemm->nr;
    return (n + nr - 1) / nr * nr;
}

static void zero_tail(float *v, int64_t rows, int64_t n, int64_t ncols) {
    if (ncols > n)
        for (int64_t r = 0; r < rows; r++) memset(v + r * WINO_P + n, 0, (size_t)(ncols - n) * sizeof(float));
}

static int segc_conv1d_winograd_applies(const segc_conv_params *p) {
    // Below 32 channels the per-ξ GEMMs are too small to pay for the transforms: ERFNet's
    // 16-channel 1x3 / 3x1 convs at 256x512 took 3.6 / 3.0 ms on one thread this way and
    // 2.7 / 2.4–2.9 ms through im2col or the vertical path; at 32 channels Winograd wins
    // (1.8 / 1.4 ms against 2.1 / 1.9).
    if (p->exact || p->groups != 1 || p->sh != 1 || p->sw != 1 || p->cin < 32 || p->cout < 32) return 0;
    if (p->kh == 3 && p->kw == 1) return p->pl == 0 && p->ow == p->w && p->dw == 1;
    // 1x3 (horizontal): tiles run along rows, so a band of BAND rows is transposed first and
    // the transforms run over the band's rows (a scalar per-tile transform cost more than the
    // multiplies it saved: 63 % of ERFNet's time).
    if (p->kh == 1 && p->kw == 3) return p->pt == 0 && p->oh == p->h && p->dh == 1;
    return 0;
}

// Tile size: multiplies per output are (t + 2)/t over the plane padded to whole blocks of
// t·d, so F(6,3) wins on long lines and loses on short dilated ones (64 rows at d = 8:
// 96 padded outputs instead of 64).
static int pick_t(const segc_conv_params *p) {
    int vertical = p->kh == 3;
    int64_t d = vertical ? p->dh : p->dw, len = vertical ? p->oh : p->ow;
    int64_t pad4 = (len + 4 * d - 1) / (4 * d) * 4 * d, pad6 = (len + 6 * d - 1) / (6 * d) * 6 * d;
    return 32 * pad6 < 36 * pad4 ? 6 : 4;   // 8/6 · pad6 < 6/4 · pad4
}

static void geometry(const segc_conv_params *p, wino_ctx *c) {
    c->vertical = p->kh == 3;
    c->t = pick_t(p);
    c->nx = c->t + 2;
    c->d = c->vertical ? p->dh : p->dw;
    c->pad = c->vertical ? p->pt : p->pl;
    c->len = c->vertical ? p->oh : p->ow;
    c->in_len = c->vertical ? p->h : p->w;
    c->nbase = (c->len + c->t * c->d - 1) / (c->t * c->d) * c->d;
    c->across = c->vertical ? p->w : p->h;
    c->tiles = c->nbase * c->across;
    if (c->t == 6) {
        c->bt = segc_dt.wino6_bt; c->at = segc_dt.wino6_at;
        c->bt_band = segc_dt.wino6_bt_band; c->at_band = segc_dt.wino6_at_band;
    } else {
        c->bt = segc_dt.wino_bt; c->at = segc_dt.wino_at;
        c->bt_band = segc_dt.wino_bt_band; c->at_band = segc_dt.wino_at_band;
    }
}

static int64_t segc_conv1d_winograd_prepared(const segc_conv_params *p) {
    return NMAX * segc_sgemm_packed_size(p->cout, p->cin);
}

// The unpacked U (staging for the packing) that an unprepared call puts before the packed U.
static int64_t unpacked_u(const segc_conv_params *p) { return NMAX * p->cout * p->cin; }
static int64_t unprepared_shared(const segc_conv_params *p) { return unpacked_u(p) + segc_conv1d_winograd_prepared(p); }

static int64_t segc_conv1d_winograd_shared(const segc_conv_params *p) { return p->prepared ? 0 : unprepared_shared(p); }

static int64_t segc_conv1d_winograd_ws(const segc_conv_params *p) {
    int64_t band = p->kh == 1 ? (p->cin * p->w + p->cout * p->ow) * BAND : 0;   // transposed band in and out
    return NMAX * (p->cin + p->cout) * WINO_P + SEGC_MAX(p->w, p->h) + band + segc_sgemm_scratch(p->cout, p->cin);
}

// Vertical tiles p0..p0+n: V[ξ][ci][j]. `zeros` holds `across` zeros (padding rows); a
// run of tiles shares its six input rows and the transform runs along x.
static void input_transform(const wino_ctx *c, int64_t p0, int64_t n, float *v, const float *zeros) {
    const segc_conv_params *p = c->p;
    const int64_t plane = p->h * p->w, vstride = p->cin * WINO_P;
    for (int64_t ci = 0; ci < p->cin; ci++) {
        const float *xc = c->x + ci * plane;
        float *V[NMAX];
        for (int k = 0; k < c->nx; k++) V[k] = v + k * vstride + ci * WINO_P;
        for (int64_t j = 0; j < n;) {
            int64_t t = p0 + j, i = t / c->across, a = t % c->across;
            int64_t run = SEGC_MIN(n - j, c->across - a);
            int64_t base = tile_base(c, i) - c->pad;
            const float *r[NMAX];
            for (int k = 0; k < c->nx; k++) {
                int64_t row = base + k * c->d;
                r[k] = (row >= 0 && row < c->in_len) ? xc + row * p->w + a : zeros;
            }
            if (ci + 1 < p->cin)
                for (int k = 0; k < c->nx; k++)
                    if (r[k] != zeros) prefetch_run(r[k] + plane, run);
            float *vj[NMAX];
            for (int k = 0; k < c->nx; k++) vj[k] = V[k] + j;
            c->bt(run, r, vj);
            j += run;
        }
    }
}

// y = act(AᵀM + bias + residual) for vertical tiles p0..p0+n. The residual may alias y: each
// element's residual is read just before the same element is written.
static void output_transform(const wino_ctx *c, int64_t p0, int64_t n, const float *m) {
    const segc_conv_params *p = c->p;
    const int64_t oplane = p->oh * p->ow, mstride = p->cout * WINO_P;
    for (int64_t co = 0; co < p->cout; co++) {
        const float *M[NMAX];
        for (int k = 0; k < c->nx; k++) M[k] = m + k * mstride + co * WINO_P;
        float b = c->bias ? c->bias[co] : 0.0f;
        float slope = segc_slope_of(p->act, c->slope, p->nslope, co);
        float *yc = c->y + co * oplane;
        const float *rc = c->res ? c->res + co * oplane : NULL;
        for (int64_t j = 0; j < n;) {
            int64_t t = p0 + j, i = t / c->across, a = t % c->across;
            int64_t run = SEGC_MIN(n - j, c->across - a);
            int64_t base = tile_base(c, i);
            int outs = (int)SEGC_MIN(c->t, (c->len - base + c->d - 1) / c->d);
            float *dst[NMAX];
            const float *rr[NMAX], *mj[NMAX];
            for (int o = 0; o < c->t; o++) {
                int64_t off = (base + (o < outs ? o : 0) * c->d) * p->ow + a;
                dst[o] = yc + off;
                rr[o] = rc ? rc + off : NULL;
            }
            if (co + 1 < p->cout)
                for (int o = 0; o < outs; o++) {
                    prefetch_run(dst[o] + oplane, run);
                    if (rr[o] && rr[o] != dst[o]) prefetch_run(rr[o] + oplane, run);
                }
            for (int k = 0; k < c->nx; k++) mj[k] = M[k] + j;
            c->at(run, mj, dst, outs, b, rr, p->act, slope);
            j += run;
        }
    }
}

static void wino_task(void *vctx, int64_t task, int thread) {
    const wino_ctx *c = vctx;
    const segc_conv_params *p = c->p;
    int64_t p0 = task * WINO_P, n = SEGC_MIN(WINO_P, c->tiles - p0);
    float *v = segc_ws_thread(c->ws, thread);
    float *m = v + NMAX * p->cin * WINO_P;
    float *zeros = m + NMAX * p->cout * WINO_P;
    float *scratch = zeros + c->across;
    memset(zeros, 0, (size_t)c->across * sizeof(float));
    input_transform(c, p0, n, v, zeros);
    int64_t ng = gemm_cols(n);
    zero_tail(v, c->nx * p->cin, n, ng);
    for (int xi = 0; xi < c->nx; xi++)
        segc_sgemm_prepacked(p->cout, ng, p->cin, c->u + xi * segc_sgemm_packed_size(p->cout, p->cin),
                             v + xi * p->cin * WINO_P, WINO_P, m + xi * p->cout * WINO_P, WINO_P, 0, 0, scratch);
    output_transform(c, p0, n, m);
}

// Horizontal (1x3): one task per band of BAND rows. The band is transposed to
// xt[ci][x][r], so a tile's t + 2 inputs are contiguous runs of BAND values and the
// vertical machinery applies; the outputs land in yt[co][x][r] (bias added) and are
// transposed back with the residual and the activation. (Transposing lazily, column
// ranges just ahead of each GEMM chunk so xt and yt stay in L2, was ~7 % slower: the
// short row pieces start cold in L3 more often than whole-band rows do.)
static void wino_band_task(void *vctx, int64_t band, int thread) {
    const wino_ctx *c = vctx;
    const segc_conv_params *p = c->p;
    const int64_t y0 = band * BAND, rows = SEGC_MIN(BAND, p->oh - y0);
    const int64_t per = WINO_P / BAND;   // tiles per GEMM
    float *v = segc_ws_thread(c->ws, thread);
    float *m = v + NMAX * p->cin * WINO_P;
    float *xt = m + NMAX * p->cout * WINO_P + SEGC_MAX(p->w, p->h);
    float *yt = xt + p->cin * p->w * BAND;
    float *scratch = yt + p->cout * p->ow * BAND;
    int64_t inoff[NMAX * (WINO_P / BAND)], outoff[(NMAX - 2) * (WINO_P / BAND)];
    for (int64_t ci = 0; ci < p->cin; ci++) {
        const float *src = c->x + (ci * p->h + y0) * p->w;
        // band_in prefetches ahead along its rows; the next channel's rows start cold.
        if (ci + 1 < p->cin)
            for (int64_t r = 0; r < rows; r++) prefetch_run(src + (p->h + r) * p->w, SEGC_MIN(64, p->w));
        segc_dt.band_in(rows, p->w, src, p->w, xt + ci * p->w * BAND);
    }
    for (int64_t i0 = 0; i0 < c->nbase; i0 += per) {
        int64_t nt = SEGC_MIN(per, c->nbase - i0), n = nt * BAND;
        for (int64_t j = 0; j < nt; j++) {
            int64_t base = tile_base(c, i0 + j);
            for (int k = 0; k < c->nx; k++) {
                int64_t pos = base - c->pad + k * c->d;
                inoff[c->nx * j + k] = (pos >= 0 && pos < c->in_len) ? pos * BAND : -1;
            }
            for (int o = 0; o < c->t; o++) {
                int64_t pos = base + o * c->d;
                outoff[c->t * j + o] = pos < c->len ? pos * BAND : -1;
            }
        }
        for (int64_t ci = 0; ci < p->cin; ci++) {
            float *dst[NMAX];
            for (int k = 0; k < c->nx; k++) dst[k] = v + (k * p->cin + ci) * WINO_P;
            c->bt_band(nt, xt + ci * p->w * BAND, inoff, dst);
        }
        int64_t ng = gemm_cols(n);
        zero_tail(v, c->nx * p->cin, n, ng);
        for (int xi = 0; xi < c->nx; xi++)
            segc_sgemm_prepacked(p->cout, ng, p->cin, c->u + xi * segc_sgemm_packed_size(p->cout, p->cin),
                                 v + xi * p->cin * WINO_P, WINO_P, m + xi * p->cout * WINO_P, WINO_P, 0, 0, scratch);
        for (int64_t co = 0; co < p->cout; co++) {
            const float *mj[NMAX];
            for (int k = 0; k < c->nx; k++) mj[k] = m + (k * p->cout + co) * WINO_P;
            c->at_band(nt, mj, outoff, c->bias ? c->bias[co] : 0.0f, yt + co * p->ow * BAND);
        }
    }
    for (int64_t co = 0; co < p->cout; co++) {
        float slope = segc_slope_of(p->act, c->slope, p->nslope, co);
        int64_t at = (co * p->oh + y0) * p->ow;
        segc_dt.band_out(rows, p->ow, yt + co * p->ow * BAND, c->res ? c->res + at : NULL, p->ow, c->y + at, p->act,
                         slope);
    }
}

// U[ξ][co][ci] = Σ_k G[ξ][k] · w[co][ci][k] (the three taps are contiguous for 3x1 and
// 1x3) into `u`, then each U[ξ] packed for the GEMM into `packed`.
static void transform_weights(const segc_conv_params *p, int t, const float *w, float *u, float *packed) {
    const float(*G)[3] = t == 6 ? G6 : G4;
    const int nx = t + 2;
    for (int64_t co = 0; co < p->cout; co++)
        for (int64_t ci = 0; ci < p->cin; ci++) {
            const float *g = w + (co * p->cin + ci) * 3;
            for (int xi = 0; xi < nx; xi++)
                u[(xi * p->cout + co) * p->cin + ci] = G[xi][0] * g[0] + G[xi][1] * g[1] + G[xi][2] * g[2];
        }
    for (int xi = 0; xi < nx; xi++)
        segc_sgemm_pack_a(p->cout, p->cin, u + xi * p->cout * p->cin, p->cin,
                          packed + xi * segc_sgemm_packed_size(p->cout, p->cin));
}

static int segc_conv1d_winograd_prepare(const segc_conv_params *p, const float *w, float *out) {
    float *u = malloc((size_t)unpacked_u(p) * sizeof(float));
    if (!u) return SEGC_ENOMEM;
    transform_weights(p, pick_t(p), w, u, out);
    free(u);
    return SEGC_OK;
}

static int segc_conv1d_winograd(segc_pool *pool, const segc_conv_params *p, const float *x, const float *w,
                         const float *bias, const float *residual, const float *slope, float *y, const segc_ws *ws) {
    const float *prepared = segc_prep_data(p);
    if (!prepared && (!ws || !ws->shared || ws->shared_count < unprepared_shared(p))) return SEGC_ENOSPC;
    if (!ws || !ws->base || ws->per_thread < segc_conv1d_winograd_ws(p) || ws->threads < segc_pool_threads(pool))
        return SEGC_ENOSPC;
    wino_ctx c = {0};
    geometry(p, &c);
    // Each U[ξ] packed once for every task's GEMM: at load (segc_conv2d_prepare) or here.
    const float *packed = prepared;
    if (!packed) {
        transform_weights(p, c.t, w, ws->shared, ws->shared + unpacked_u(p));
        packed = ws->shared + unpacked_u(p);
    }
    c.p = p; c.x = x; c.u = packed; c.bias = bias; c.res = residual; c.slope = slope; c.y = y; c.ws = ws;
    if (c.vertical) segc_pool_run(pool, wino_task, &c, segc_chunks(c.tiles, WINO_P));
    else segc_pool_run(pool, wino_band_task, &c, segc_chunks(p->oh, BAND));
    return SEGC_OK;
}

const segc_conv_path segc_conv1d_winograd_path = {
    .applies = segc_conv1d_winograd_applies,
    .ws = segc_conv1d_winograd_ws,
    .shared = segc_conv1d_winograd_shared,
    .prepared = segc_conv1d_winograd_prepared,
    .prepare = segc_conv1d_winograd_prepare,
    .run = segc_conv1d_winograd,
};
