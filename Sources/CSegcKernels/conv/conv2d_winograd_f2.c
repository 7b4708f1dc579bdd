// 2-D Winograd F(2x2,3x3) for dense 3x3 stride-1 convolutions on small planes (BiSeNetV1's
// 512-channel stage at 16x32). A 2x2 output tile comes from a 4x4 input patch with 16
// multiplies per (cout, cin) pair instead of 36 (F(4x4,3x3) in conv2d_winograd.c does 36
// per 4x4 tile: fewer multiplies per output, but 36·cin·cout transformed weights). On a
// 16x32 plane F(4x4) has 32 tiles, so each transformed weight serves 32 multiplies and the
// conv is bound by writing and reading 36·512·512 floats; here 16·512·512 serve 128 tiles.
//
//   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A   (Lavin & Gray 2016; points 0, ±1, ∞; the matrices
//                                       are written out in dispatch/loops.h, wino23_* / wino22_*)
//
// The whole plane is one block, in four phases (each a pool run, tasks fixed by shapes, so
// any thread count gives the same bits):
//   1. U[ξ] = (G g Gᵀ)[ξ], 16 matrices cout x cin, straight into the GEMM's packed layout;
//   2. V[ξ][ci][tile] = (Bᵀ d B)[ξ], by blocks of input channels (rows first along x, then
//      across tiles on the two x phases, as conv2d_winograd.c does with four);
//   3. M[ξ] = U[ξ]·V[ξ], one GEMM per (ξ, block of output channels): U[ξ]'s block and V[ξ]
//      are read once, weight-stationary;
//   4. y = act(Aᵀ M A + bias + residual), by blocks of output channels.
// U, V and M live in the shared workspace (U prepared once instead when segc_conv2d_prepare
// has run). Never in exact mode: the rounding depends on a
// pixel's place in its tile.
#include "../internal.h"
#include <stdlib.h>
#include <string.h>

#define NX 16        // transformed values per tile
#define WPANEL 24    // weight-transform rows per task: a multiple of every level's mr (4, 6, 8)
#define CB 96        // output channels per GEMM task (a multiple of 24: whole row panels)
#define CI_TASK 16   // input channels per input-transform task
#define CO_TASK 8    // output channels per output-transform task
#define MIN_TILES 48
#define MAX_TILES 128     // V and M are 16·channels·tiles floats each
#define U_CAP (5 << 20)   // floats of U in the shared workspace, as conv2d_winograd.c bounds its own

typedef struct {
    const segc_conv_params *p;
    const float *x, *w, *bias, *res, *slope;
    float *y, *u, *v, *m;
    const segc_ws *ws;
    int64_t ntx, nty, tiles, ld;     // tile grid, GEMM width (tiles in whole NR panels)
    int64_t ustride, vs, ms;         // floats between the U[ξ], V[ξ], M[ξ]
} f2_ctx;

static int64_t tiles_of(const segc_conv_params *p) { return ((p->oh + 1) / 2) * ((p->ow + 1) / 2); }
static int64_t ld_max(const segc_conv_params *p) {
    return (tiles_of(p) + SEGC_GEMM_NR_MAX - 1) / SEGC_GEMM_NR_MAX * SEGC_GEMM_NR_MAX;
}
// Skewed by 64 bytes: the 16 planes are written (read) together and would share cache sets.
static int64_t ustride_of(const segc_conv_params *p) { return segc_sgemm_packed_size(p->cout, p->cin) + 16; }

static int segc_conv2d_winograd_f2_applies(const segc_conv_params *p) {
    if (p->exact || p->groups != 1 || p->kh != 3 || p->kw != 3) return 0;
    if (p->sh != 1 || p->sw != 1 || p->dh != 1 || p->dw != 1) return 0;
    if (p->cin < 16 || p->cout < 16) return 0;
    // Planes of 48-128 tiles (F(4x4) would have 12-32). One thread, avx512, per conv:
    // 512 -> 512 at 16x32 18.2 -> 13.9 ms, 512 -> 128 5.1 -> 3.7 ms; at 32x64 (512 tiles)
    // F(4x4) stays faster (256 -> 256: 11.8 vs 12.2 ms, 2 threads 4.2 vs 5.9 ms). Fewer
    // tiles leave most of each GEMM panel as padding (48 columns at avx512).
    if (tiles_of(p) < MIN_TILES || tiles_of(p) > MAX_TILES) return 0;
    return NX * ustride_of(p) <= U_CAP;
}

// V and M (shared by the tasks of phases 2-4).
static int64_t vm_floats(const segc_conv_params *p) {
    int64_t ld = ld_max(p);
    return NX * (p->cin * ld + 16) + NX * (p->cout * ld + 16);
}

static int64_t segc_conv2d_winograd_f2_shared(const segc_conv_params *p) {
    return (p->prepared ? 0 : NX * ustride_of(p)) + vm_floats(p);
}

static int64_t segc_conv2d_winograd_f2_prepared(const segc_conv_params *p) { return NX * ustride_of(p); }

static int64_t segc_conv2d_winograd_f2_ws(const segc_conv_params *p) {
    int64_t ntx = (p->ow + 1) / 2;
    int64_t g = 9 * p->cin * SEGC_GEMM_MR_MAX;                        // weight taps of one row panel
    int64_t in = 4 * (2 * ntx + 4) + 2 * (ntx + 2) + p->w + 16;        // t rows, phases, zeros
    int64_t out = 8 * ntx + 4 * ntx;                                   // s, z
    return SEGC_MAX(g, SEGC_MAX(in, out) + segc_sgemm_scratch(0, 0));
}

// Phase 1, one task per WPANEL output channels (as conv2d_winograd.c's weight_task).
static void weight_task(void *vctx, int64_t t, int thread) {
    const f2_ctx *c = vctx;
    const segc_conv_params *p = c->p;
    const int64_t mr = segc_dt.gemm->mr, cin = p->cin;
    const int64_t co0 = t * WPANEL, rows = SEGC_MIN(WPANEL, p->cout - co0);
    const int64_t panels = (rows + mr - 1) / mr, n = cin * mr;
    float *g = segc_ws_thread(c->ws, thread);
    for (int64_t pi = 0; pi < panels; pi++) {
        segc_wino2_gather_taps(c->w + (co0 + pi * mr) * cin * 9, cin, mr, SEGC_MIN(mr, rows - pi * mr), g);
        segc_dt.wino22_wt(n, g, n, c->u + (co0 + pi * mr) * cin, c->ustride);
    }
}

// Phase 2: V[ξ][ci][ty·ntx + tx] for CI_TASK input channels; columns past the tiles zeroed
// (the GEMM reads whole panels; stale bits could be NaNs).
static void input_task(void *vctx, int64_t t, int thread) {
    const f2_ctx *c = vctx;
    const segc_conv_params *p = c->p;
    const int64_t ntx = c->ntx, tl = 2 * ntx + 4, plane = p->h * p->w;
    float *tb = segc_ws_thread(c->ws, thread), *ph0 = tb + 4 * tl, *zeros = ph0 + 2 * (ntx + 2);
    memset(zeros, 0, (size_t)p->w * sizeof(float));
    const int64_t xs = -p->pl, len = 2 * ntx + 2;                     // input columns xs .. xs + len
    const int64_t a = SEGC_MAX(xs, 0), b = SEGC_MIN(xs + len, p->w);
    for (int64_t ci = t * CI_TASK; ci < SEGC_MIN(p->cin, (t + 1) * CI_TASK); ci++) {
        const float *xc = c->x + ci * plane;
        for (int64_t ty = 0; ty < c->nty; ty++) {
            segc_wino2_rows_bt(segc_dt.wino23_bt, 4, xc, p->h, p->w, 2 * ty - p->pt, xs, len, a, b, zeros, tb, tl);
            for (int ky = 0; ky < 4; ky++) {
                float *ph[2] = {ph0, ph0 + (ntx + 2)};
                segc_dt.wino22_split(ntx + 1, tb + ky * tl, ph);
                const float *in[4] = {ph[0], ph[1], ph[0] + 1, ph[1] + 1};
                float *out[4];
                for (int kx = 0; kx < 4; kx++) out[kx] = c->v + (ky * 4 + kx) * c->vs + ci * c->ld + ty * ntx;
                segc_dt.wino23_bt(ntx, in, out);
            }
        }
        if (c->ld > c->tiles)
            for (int xi = 0; xi < NX; xi++)
                memset(c->v + xi * c->vs + ci * c->ld + c->tiles, 0, (size_t)(c->ld - c->tiles) * sizeof(float));
    }
}

// Phase 3: M[ξ][co0..co0+CB) = U[ξ]·V[ξ].
static void gemm_task(void *vctx, int64_t t, int thread) {
    const f2_ctx *c = vctx;
    const segc_conv_params *p = c->p;
    int64_t nb = segc_chunks(p->cout, CB), xi = t / nb, co0 = (t % nb) * CB, rows = SEGC_MIN(CB, p->cout - co0);
    float *scratch = segc_ws_thread(c->ws, thread);
    segc_sgemm_prepacked(rows, c->ld, p->cin, c->u + xi * c->ustride + co0 * p->cin, c->v + xi * c->vs, c->ld,
                         c->m + xi * c->ms + co0 * c->ld, c->ld, 0, 0, scratch);
}

// Phase 4: y = act(Aᵀ M A + bias + residual) for CO_TASK output channels. The residual may
// alias y: each element's residual is read just before the element is written.
static void output_task(void *vctx, int64_t t, int thread) {
    const f2_ctx *c = vctx;
    const segc_conv_params *p = c->p;
    const int64_t ntx = c->ntx, oplane = p->oh * p->ow;
    float *s = segc_ws_thread(c->ws, thread), *z = s + 8 * ntx;
    for (int64_t co = t * CO_TASK; co < SEGC_MIN(p->cout, (t + 1) * CO_TASK); co++) {
        float bias = c->bias ? c->bias[co] : 0.0f;
        float slope = segc_slope_of(p->act, c->slope, p->nslope, co);
        for (int64_t ty = 0; ty < c->nty; ty++) {
            // s[ξy][ox] = Σ_ξx Aᵀ[ox][ξx] M[ξy·4 + ξx]
            for (int ky = 0; ky < 4; ky++) {
                const float *mi[4];
                float *so[2] = {s + (ky * 2) * ntx, s + (ky * 2 + 1) * ntx};
                for (int kx = 0; kx < 4; kx++) mi[kx] = c->m + (ky * 4 + kx) * c->ms + co * c->ld + ty * ntx;
                segc_dt.wino23_at(ntx, mi, so, 2, 0.0f);
            }
            // z[oy][ox] = Σ_ξy Aᵀ[oy][ξy] s[ξy][ox] + bias
            int outs = (int)SEGC_MIN(2, p->oh - 2 * ty);
            for (int ox = 0; ox < 2; ox++) {
                const float *si[4] = {s + ox * ntx, s + (2 + ox) * ntx, s + (4 + ox) * ntx, s + (6 + ox) * ntx};
                float *zo[2] = {z + ox * ntx, z + (2 + ox) * ntx};
                segc_dt.wino23_at(ntx, si, zo, outs, bias);
            }
            for (int oy = 0; oy < outs; oy++) {
                int64_t off = co * oplane + (2 * ty + oy) * p->ow;
                const float *zi[2] = {z + (oy * 2) * ntx, z + (oy * 2 + 1) * ntx};
                segc_dt.wino22_merge(p->ow, zi, c->res ? c->res + off : NULL, c->y + off, p->act, slope);
            }
        }
    }
}

static int segc_conv2d_winograd_f2_prepare(const segc_conv_params *p, const float *w, float *out) {
    float *g = malloc((size_t)(9 * p->cin * SEGC_GEMM_MR_MAX) * sizeof(float));
    if (!g) return SEGC_ENOMEM;
    segc_ws ws = {g, 9 * p->cin * SEGC_GEMM_MR_MAX, 1, NULL, 0};
    f2_ctx c = {0};
    c.p = p; c.w = w; c.u = out; c.ws = &ws; c.ustride = ustride_of(p);
    segc_pool_run(NULL, weight_task, &c, segc_chunks(p->cout, WPANEL));
    free(g);
    return SEGC_OK;
}

static int segc_conv2d_winograd_f2(segc_pool *pool, const segc_conv_params *p, const float *x, const float *w,
                            const float *bias, const float *residual, const float *slope, float *y, const segc_ws *ws) {
    const float *prepared = segc_prep_data(p);
    if (!ws || !ws->shared || ws->shared_count < (prepared ? 0 : NX * ustride_of(p)) + vm_floats(p)) return SEGC_ENOSPC;
    if (!ws->base || ws->per_thread < segc_conv2d_winograd_f2_ws(p) || ws->threads < segc_pool_threads(pool))
        return SEGC_ENOSPC;
    f2_ctx c = {0};
    c.p = p; c.x = x; c.w = w; c.bias = bias; c.res = residual; c.slope = slope; c.y = y; c.ws = ws;
    c.ntx = (p->ow + 1) / 2;
    c.nty = (p->oh + 1) / 2;
    c.tiles = c.ntx * c.nty;
    const int64_t nr = segc_dt.gemm->nr;
    c.ld = (c.tiles + nr - 1) / nr * nr;
    c.ustride = ustride_of(p);
    c.vs = p->cin * c.ld + 16;
    c.ms = p->cout * c.ld + 16;
    c.u = prepared ? (float *)prepared : ws->shared;   // read only when prepared
    c.v = prepared ? ws->shared : c.u + NX * c.ustride;
    c.m = c.v + NX * c.vs;
    if (!prepared) segc_pool_run(pool, weight_task, &c, segc_chunks(p->cout, WPANEL));
    segc_pool_run(pool, input_task, &c, segc_chunks(p->cin, CI_TASK));
    segc_pool_run(pool, gemm_task, &c, NX * segc_chunks(p->cout, CB));
    segc_pool_run(pool, output_task, &c, segc_chunks(p->cout, CO_TASK));
    return SEGC_OK;
}

const segc_conv_path segc_conv2d_winograd_f2_path = {
    .applies = segc_conv2d_winograd_f2_applies,
    .ws = segc_conv2d_winograd_f2_ws,
    .shared = segc_conv2d_winograd_f2_shared,
    .prepared = segc_conv2d_winograd_f2_prepared,
    .prepare = segc_conv2d_winograd_f2_prepare,
    .run = segc_conv2d_winograd_f2,
};
