// 2-D Winograd F(4x4,3x3) for dense 3x3 stride-1 dilation-1 convolutions (ResNet-18 in
// BiSeNetV1: ~2/3 of its time was such convs through im2col + GEMM). A 4x4 output tile
// comes from a 6x6 input patch with 36 multiplies per (cout, cin) pair instead of 144.
//
//   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A   (Lavin & Gray 2016; points 0, ±1, ±2, ∞: the same
//                                       Bᵀ, G, Aᵀ as the 1-D F(4,3) of conv1d_winograd.c)
//
// Structure as in conv1d_winograd.c: U[ξ] = (G g Gᵀ)[ξ] (36 matrices cout x cin) is
// computed per call straight into the GEMM's packed layout in the shared workspace (in
// parallel, by row panels); tiles are enumerated row-major over the tile grid and cut into
// chunks of P tiles. Per chunk: the input transform writes V[ξ][ci][p], then for blocks of
// CB output channels 36 GEMMs M[ξ] = U[ξ]·V[ξ] and the output transform writes
// act(Aᵀ M A + bias + residual).
//
// Both transforms are separable and reuse the level's 1-D F(4,3) loops (segc_dt.wino_bt,
// segc_dt.wino_at), vectorised over x or over tiles: for a run of tiles in one tile row,
// Bᵀ runs down the six input rows along x (contiguous), each of the six results is split
// into its four x phases (t[4j + k]), and Bᵀ runs again across tiles on the phases
// {0, 1, 2, 3, 0', 1'} (' = the next tile). The output goes the other way: Aᵀ across the
// six ξx planes, Aᵀ across the six ξy, then the four phases are interleaved back into the
// output row with the residual and the activation.
//
// The rounding depends on a pixel's place in its tile, so this path is never used in
// exact mode (upstream of index-returning pools). Work is split by shapes only (chunks,
// channel blocks), so any thread count gives the same bits.
#include "../internal.h"
#include <stdlib.h>
#include <string.h>

#define NX 36          // transformed values per tile
#define WPANEL 24      // weight-transform rows per task: a multiple of every level's mr (4, 6, 8)

typedef struct {
    const segc_conv_params *p;
    const float *x, *w, *u, *bias, *res, *slope;
    float *y;
    const segc_ws *ws;
    int64_t ntx, nty, tiles, chunk, nchunks;   // tile grid, tiles per chunk
    int64_t pass0, passn;                       // output channels of this pass (see pass_rows)
    int64_t mrows, mchunks, cb;                 // output channels per task, per GEMM block
    int64_t ustride;                            // floats between the packed U[ξ]
} wino2_ctx;

// Tiles per chunk: a multiple of every level's NR (16, 48). V (36·cin·P floats) stays
// within ~0.9 MiB of L2 at 64 and 128 channels.
static int64_t chunk_tiles(const segc_conv_params *p) { return p->cin <= 64 ? 96 : 48; }
// Output channels per GEMM block (a multiple of 24, so blocks start on a row panel at
// every level): M (36·CB·P floats) ~1 MiB.
static int64_t block_rows(int64_t chunk) { return SEGC_MAX(24, (7168 / chunk) / 24 * 24); }

// U is 4x the weights; to bound the shared workspace (peak RSS) the output channels are
// done in passes of at most `pass_rows` (a multiple of 24), each transforming only its U.
// Only 512-channel convs split (512x512: 2 passes, 20 MB of U instead of 39 MB: peak RSS
// of BiSeNet must stay within half of ONNX Runtime's); each pass repeats the input
// transform, cheap on their small planes.
#define U_CAP (5 << 20)   // floats
static int64_t pass_rows(const segc_conv_params *p) {
    int64_t rows = p->cout;
    for (int64_t passes = 2; rows > 24 && NX * (segc_sgemm_packed_size(rows, p->cin) + 16) > U_CAP; passes++)
        rows = (segc_chunks(p->cout, passes) + 23) / 24 * 24;
    return rows;
}
// Floats between the packed U[ξ] (see weight_task).
static int64_t ustride(const segc_conv_params *p) { return segc_sgemm_packed_size(pass_rows(p), p->cin) + 16; }

static void geometry(const segc_conv_params *p, wino2_ctx *c) {
    c->ntx = (p->ow + 3) / 4;
    c->nty = (p->oh + 3) / 4;
    c->tiles = c->ntx * c->nty;
    c->chunk = chunk_tiles(p);
    c->nchunks = segc_chunks(c->tiles, c->chunk);
    // Few chunks (small planes, many channels: 16x32 at 512 channels is one chunk of 32
    // tiles) leave a core idle: split the output channels too, in two parts of a multiple
    // of 24 rows. Each such task repeats the chunk's input transform (cin·P work against
    // cin·cout·P, but short runs: at 16x32 a tile row is 8 tiles); four parts, as conv2d.c
    // splits, measured 1.16x against im2col for 512x512 at 16x32, two parts 1.36x (and
    // 1.8-1.9x vs 2.2-2.3x at 256 channels on 32x64; 2 threads).
    c->mrows = c->passn;
    c->mchunks = 1;
    if (c->nchunks < 4 && c->passn >= 96) {
        int64_t want = SEGC_MIN(2, c->passn / 48);
        c->mrows = (segc_chunks(c->passn, want) + 23) / 24 * 24;
        c->mchunks = segc_chunks(c->passn, c->mrows);
    }
    c->cb = block_rows(c->chunk);
    c->ustride = ustride(p);
}

static int segc_conv2d_winograd_applies(const segc_conv_params *p) {
    if (p->exact || p->groups != 1 || p->kh != 3 || p->kw != 3) return 0;
    if (p->sh != 1 || p->sw != 1 || p->dh != 1 || p->dw != 1) return 0;
    // Thin convs: the transforms (per channel) weigh more against the multiplies saved (per
    // channel pair). 16 -> 16 on 128x256 still measured 1.7x; fewer channels were not tried.
    if (p->cin < 16 || p->cout < 16) return 0;
    // Small planes: the per-call weight transform (36·cin·cout values, 4x the weights) has
    // to be repaid by the tiles. Against im2col (2 threads, interleaved): 128 tiles (32x64
    // at 128-256 channels) 1.7-2.3x; 32 tiles (16x32 at 512 channels) 1.2-1.6x for
    // 512 -> 128 and 1.36x for 512 -> 512 (two passes). Fewer tiles were not measured.
    return ((p->oh + 3) / 4) * ((p->ow + 3) / 4) >= 32;
}

static int64_t segc_conv2d_winograd_shared(const segc_conv_params *p) {
    return p->prepared ? 0 : NX * ustride(p);
}

// Prepared once (segc_conv2d_prepare), U holds every output channel: one pass.
static int64_t ustride_full(const segc_conv_params *p) { return segc_sgemm_packed_size(p->cout, p->cin) + 16; }
static int64_t segc_conv2d_winograd_prepared(const segc_conv_params *p) { return NX * ustride_full(p); }

// The ξ planes of V and M are skewed by 64 bytes: the transforms write (read) all 36 at
// once, and at power-of-two-ish distances they would share cache sets.
static int64_t vstride(int64_t rows, int64_t chunk) { return rows * chunk + 16; }

// Per thread: V, M, the row buffers of the transforms, a zero row, the GEMM's scratch.
static int64_t ws_layout(const segc_conv_params *p, int64_t chunk, int64_t cb, int64_t *off) {
    int64_t o = 0;
    off[0] = o; o += NX * vstride(p->cin, chunk);   // V[ξ][ci][P]
    off[1] = o; o += NX * vstride(cb, chunk);       // M[ξ][co][P]
    off[2] = o; o += 6 * (4 * chunk + 8);          // t[6][4(P+1)]: Bᵀ down the rows
    off[3] = o; o += 4 * (chunk + 2);              // four phases of one t row
    off[4] = o; o += 24 * chunk;                   // s[ξy][ox][P]: Aᵀ across ξx
    off[5] = o; o += 16 * chunk;                   // z[oy][ox][P]: Aᵀ across ξy
    off[6] = o; o += p->w + 16;                    // zeros (rows outside the plane)
    off[7] = o; o += segc_sgemm_scratch(0, 0);      // GEMM edge panels
    return o;
}

static int64_t segc_conv2d_winograd_ws(const segc_conv_params *p) {
    int64_t off[8], chunk = chunk_tiles(p);
    return ws_layout(p, chunk, block_rows(chunk), off);
}

// U[ξ][co][ci] = (G g Gᵀ)[ξ] written straight into the level's packed layout (gemm.c:
// panels of mr rows, ap[panel][k][mr], rows past cout zero). One task per WPANEL output
// channels. A panel of one U[ξ] is [ci][r] contiguous, so the panel's taps are gathered as
// g[k][ci·mr + r] and one vectorised call (segc_dt.wino2_wt) writes each U[ξ]'s panel as a
// contiguous run. (Packing each U[ξ] with segc_sgemm_pack_a from an unpacked U cost ~90 ns
// per channel pair; one call per ci of 8 lanes ran half scalar.) The U[ξ] are `ustride`
// apart, skewed by 64 bytes: (cout + 12)·cin·4 bytes is 1 MiB + 24 KiB at 512 channels, a
// multiple of 4 KiB, and the 36 store streams would share one L1 set.
static void weight_task(void *vctx, int64_t t, int thread) {
    const wino2_ctx *c = vctx;
    const segc_conv_params *p = c->p;
    const int64_t mr = segc_dt.gemm->mr, cin = p->cin;
    const int64_t co0 = c->pass0 + t * WPANEL, rows = SEGC_MIN(WPANEL, c->pass0 + c->passn - co0);
    const int64_t panels = (rows + mr - 1) / mr;
    float *g = segc_ws_thread(c->ws, thread);
    float *u = (float *)c->u + (co0 - c->pass0) * cin;
    const int64_t n = cin * mr;
    for (int64_t pi = 0; pi < panels; pi++) {
        segc_wino2_gather_taps(c->w + (co0 + pi * mr) * cin * 9, cin, mr, SEGC_MIN(mr, rows - pi * mr), g);
        segc_dt.wino2_wt(n, g, n, u + pi * mr * cin, c->ustride);
    }
}

// V[ξ][ci][j] for tiles p0..p0+n.
static void input_transform(const wino2_ctx *c, int64_t p0, int64_t n, float *v, float *tb, float *ph0,
                            const float *zeros) {
    const segc_conv_params *p = c->p;
    const int64_t plane = p->h * p->w, chunk = c->chunk, tl = 4 * chunk + 8, vs = vstride(p->cin, chunk);
    for (int64_t ci = 0; ci < p->cin; ci++) {
        const float *xc = c->x + ci * plane;
        for (int64_t j = 0; j < n;) {
            int64_t t = p0 + j, ty = t / c->ntx, tx = t % c->ntx;
            int64_t run = SEGC_MIN(n - j, c->ntx - tx);
            // Input columns xs .. xs + 4·run + 2 (zero outside [0, w)); t rows hold 4(run + 1).
            int64_t xs = 4 * tx - p->pl, len = 4 * run + 4;
            int64_t a = SEGC_MAX(xs, 0), b = SEGC_MIN(xs + 4 * run + 2, p->w);
            segc_wino2_rows_bt(segc_dt.wino_bt, 6, xc, p->h, p->w, 4 * ty - p->pt, xs, len, a, b, zeros, tb, tl);
            for (int ky = 0; ky < 6; ky++) {
                float *ph[4] = {ph0, ph0 + (chunk + 2), ph0 + 2 * (chunk + 2), ph0 + 3 * (chunk + 2)};
                segc_dt.wino2_split(run + 1, tb + ky * tl, ph);
                const float *in[6] = {ph[0], ph[1], ph[2], ph[3], ph[0] + 1, ph[1] + 1};
                float *out[6];
                for (int kx = 0; kx < 6; kx++) out[kx] = v + (ky * 6 + kx) * vs + ci * chunk + j;
                segc_dt.wino_bt(run, in, out);
            }
            j += run;
        }
    }
}

// y = act(Aᵀ M A + bias + residual) for tiles p0..p0+n and channels co0..co0+cb (M rows 0..cb).
static void output_transform(const wino2_ctx *c, int64_t p0, int64_t n, int64_t co0, int64_t cb, const float *m,
                             float *s, float *z) {
    const segc_conv_params *p = c->p;
    const int64_t oplane = p->oh * p->ow, chunk = c->chunk, ms = vstride(c->cb, chunk);
    const float *nores[4] = {NULL, NULL, NULL, NULL};
    for (int64_t cj = 0; cj < cb; cj++) {
        int64_t co = co0 + cj;
        float bias = c->bias ? c->bias[co] : 0.0f;
        float slope = segc_slope_of(p->act, c->slope, p->nslope, co);
        float *yc = c->y + co * oplane;
        const float *rc = c->res ? c->res + co * oplane : NULL;
        for (int64_t j = 0; j < n;) {
            int64_t t = p0 + j, ty = t / c->ntx, tx = t % c->ntx;
            int64_t run = SEGC_MIN(n - j, c->ntx - tx);
            // s[ξy][ox] = Σ_ξx Aᵀ[ox][ξx] M[ξy·6 + ξx]
            for (int ky = 0; ky < 6; ky++) {
                const float *mi[6];
                float *so[4];
                for (int kx = 0; kx < 6; kx++) mi[kx] = m + (ky * 6 + kx) * ms + cj * chunk + j;
                for (int ox = 0; ox < 4; ox++) so[ox] = s + (ky * 4 + ox) * chunk;
                segc_dt.wino_at(run, mi, so, 4, 0.0f, nores, SEGC_ACT_NONE, 0.0f);
            }
            // z[oy][ox] = Σ_ξy Aᵀ[oy][ξy] s[ξy][ox] + bias
            int outs = (int)SEGC_MIN(4, p->oh - 4 * ty);
            for (int ox = 0; ox < 4; ox++) {
                const float *si[6];
                float *zo[4];
                for (int ky = 0; ky < 6; ky++) si[ky] = s + (ky * 4 + ox) * chunk;
                for (int oy = 0; oy < 4; oy++) zo[oy] = z + (oy * 4 + ox) * chunk;
                segc_dt.wino_at(run, si, zo, outs, bias, nores, SEGC_ACT_NONE, 0.0f);
            }
            int64_t cols = SEGC_MIN(4 * run, p->ow - 4 * tx);
            for (int oy = 0; oy < outs; oy++) {
                int64_t off = (4 * ty + oy) * p->ow + 4 * tx;
                const float *zi[4] = {z + (oy * 4) * chunk, z + (oy * 4 + 1) * chunk, z + (oy * 4 + 2) * chunk,
                                      z + (oy * 4 + 3) * chunk};
                segc_dt.wino2_merge(cols, zi, rc ? rc + off : NULL, yc + off, p->act, slope);
            }
            j += run;
        }
    }
}

static void wino2_task(void *vctx, int64_t task, int thread) {
    const wino2_ctx *c = vctx;
    const segc_conv_params *p = c->p;
    int64_t ch = task / c->mchunks, m0 = (task % c->mchunks) * c->mrows;
    int64_t mc = SEGC_MIN(c->mrows, c->passn - m0);
    int64_t p0 = ch * c->chunk, n = SEGC_MIN(c->chunk, c->tiles - p0);
    int64_t off[8];
    ws_layout(p, c->chunk, c->cb, off);
    float *base = segc_ws_thread(c->ws, thread);
    float *v = base + off[0], *m = base + off[1], *tb = base + off[2], *ph = base + off[3];
    float *s = base + off[4], *z = base + off[5], *zeros = base + off[6], *scratch = base + off[7];
    memset(zeros, 0, (size_t)p->w * sizeof(float));
    input_transform(c, p0, n, v, tb, ph, zeros);
    // GEMM width: whole NR panels (no edge path); the extra V columns are zeroed (stale bits
    // could be NaNs; their M columns are never read).
    int64_t nr = segc_dt.gemm->nr, ng = (n + nr - 1) / nr * nr;
    const int64_t vs = vstride(p->cin, c->chunk), ms = vstride(c->cb, c->chunk);
    if (ng > n)
        for (int xi = 0; xi < NX; xi++)
            for (int64_t ci = 0; ci < p->cin; ci++)
                memset(v + xi * vs + ci * c->chunk + n, 0, (size_t)(ng - n) * sizeof(float));
    for (int64_t b0 = 0; b0 < mc; b0 += c->cb) {
        int64_t cb = SEGC_MIN(c->cb, mc - b0), co0 = m0 + b0;   // relative to the pass
        for (int xi = 0; xi < NX; xi++)
            segc_sgemm_prepacked(cb, ng, p->cin, c->u + xi * c->ustride + co0 * p->cin, v + xi * vs,
                                 c->chunk, m + xi * ms, c->chunk, 0, 0, scratch);
        output_transform(c, p0, n, c->pass0 + co0, cb, m, s, z);
    }
}

static int segc_conv2d_winograd_prepare(const segc_conv_params *p, const float *w, float *out) {
    // weight_task's tap buffer: 9·cin·mr floats, one thread.
    float *g = malloc((size_t)(9 * p->cin * SEGC_GEMM_MR_MAX) * sizeof(float));
    if (!g) return SEGC_ENOMEM;
    segc_ws ws = {g, 9 * p->cin * SEGC_GEMM_MR_MAX, 1, NULL, 0};
    wino2_ctx c = {0};
    c.p = p; c.w = w; c.u = out; c.ws = &ws; c.pass0 = 0; c.passn = p->cout; c.ustride = ustride_full(p);
    segc_pool_run(NULL, weight_task, &c, segc_chunks(p->cout, WPANEL));
    free(g);
    return SEGC_OK;
}

static int segc_conv2d_winograd(segc_pool *pool, const segc_conv_params *p, const float *x, const float *w,
                         const float *bias, const float *residual, const float *slope, float *y, const segc_ws *ws) {
    const float *prepared = segc_prep_data(p);
    if (!prepared && (!ws || !ws->shared || ws->shared_count < NX * ustride(p))) return SEGC_ENOSPC;
    if (!ws || !ws->base || ws->per_thread < segc_conv2d_winograd_ws(p) || ws->threads < segc_pool_threads(pool))
        return SEGC_ENOSPC;
    wino2_ctx c = {0};
    c.p = p; c.x = x; c.w = w; c.u = ws->shared; c.bias = bias; c.res = residual; c.slope = slope; c.y = y; c.ws = ws;
    if (prepared) {
        c.u = prepared;
        c.pass0 = 0;
        c.passn = p->cout;
        geometry(p, &c);
        c.ustride = ustride_full(p);
        segc_pool_run(pool, wino2_task, &c, c.nchunks * c.mchunks);
        return SEGC_OK;
    }
    const int64_t rows = pass_rows(p);
    for (int64_t pass0 = 0; pass0 < p->cout; pass0 += rows) {
        c.pass0 = pass0;
        c.passn = SEGC_MIN(rows, p->cout - pass0);
        geometry(p, &c);
        segc_pool_run(pool, weight_task, &c, segc_chunks(c.passn, WPANEL));
        segc_pool_run(pool, wino2_task, &c, c.nchunks * c.mchunks);
    }
    return SEGC_OK;
}

const segc_conv_path segc_conv2d_winograd_path = {
    .applies = segc_conv2d_winograd_applies,
    .ws = segc_conv2d_winograd_ws,
    .shared = segc_conv2d_winograd_shared,
    .prepared = segc_conv2d_winograd_prepared,
    .prepare = segc_conv2d_winograd_prepare,
    .run = segc_conv2d_winograd,
};
