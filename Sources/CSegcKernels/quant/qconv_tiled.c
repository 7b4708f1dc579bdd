// The int8 conv at every level: implicit GEMM with output channels in registers and
// output pixels in vector lanes, so y stays NCHW and each register row is requantized
// and stored as it is (tile kernels: quant/qconv_scalar.c, arch/x86/qconv_*.c).
//
// The input is packed once per call into channel quads, u8 [quad][plane][row][col][4],
// with the padding already x_zp (quant/qconv.c folds −x_zp·Σw into the bias):
// * conv: one plane per stride phase (py, px); plane row j, column i hold input
//   (sh·(j + Y0) + py, sw·(i + X0) + px). Tap (ky, kx) of output (oy, ox) is then plane
//   ((ky·dh − pt) mod sh, (kx·dw − pl) mod sw) at (oy + fy − Y0, ox + fx − X0) with
//   fy = floor((ky·dh − pt)/sh): every tap is a constant offset from the output pixel, for
//   any stride and dilation (stride 1: one plane, offsets ky·dh rows + kx·dw columns).
// * conv_transpose: one plane; output phase (ry, rx) is a stride-1 correlation over the
//   phase grid (conv/conv_transpose2d.c), its taps read input (j + offy, i + offx).
// The packed input (quant/qconv_pack.c) is shared by all tasks; the API has only
// per-thread workspace, so it lives in thread 0's region (segc_qconv_ws counts it), and is
// built by a first parallel pass over fixed row chunks. Stride-1 convs with a small
// vertical halo instead pack each task's rows into that task's thread region
// (local_rows below).
//
// Tasks are (group, output-row chunk, output-channel chunk) with sizes from the shape
// only. Integer accumulation is exact and the requantization per element, so the result
// is the scalar level's whatever the tiling; the tiling only moves speed.
#include "qconv.h"
#include <string.h>

static int64_t round64(int64_t x) { return (x + 63) / 64 * 64; }

/// Output rows per task from the work per row: about 4M multiply-adds per task.
static int64_t task_rows(const segc_qconv_params *p, int transposed) {
    int64_t cout_g = p->cout / p->groups, c4 = (p->cin / p->groups + 3) / 4;
    int64_t total = transposed ? segc_qgrid(p->oh, p->sh, 0) : p->oh;
    int64_t depth = SEGC_MAX(32, c4 * 4 * p->kh * p->kw / (transposed ? p->sh * p->sw : 1));
    int64_t per_row = cout_g * p->ow * (transposed ? p->sh : 1) * depth;
    return SEGC_MAX(1, SEGC_MIN(total, ((int64_t)1 << 22) / SEGC_MAX(1, per_row)));
}

/// Stride-1 convs whose vertical halo is small next to a task's rows pack their own input
/// rows (all channels, halo included) into a per-thread buffer just before computing them:
/// the tiles then read L2-resident quads, and the input is never written out whole. The
/// rows per task (>= 4× the halo, so at most 25% of the rows are packed twice), or 0 when
/// the conv uses the shared packing (strided, transposed, large dilations, or too few tasks).
static int64_t local_rows(const segc_qconv_params *p, int transposed) {
    if (transposed || p->sh != 1 || p->sw != 1) return 0;
    int64_t halo = (p->kh - 1) * p->dh, rows = SEGC_MIN(p->oh, SEGC_MAX(task_rows(p, 0), 4 * halo));
    return p->groups * segc_chunks(p->oh, rows) >= 4 ? rows : 0;
}

/// The per-thread local buffer's quad stride (odd multiple of 64 bytes, as in the geometry).
static int64_t local_qstride(const segc_qconv_params *p, const segc_qin_geom *g, int64_t rows) {
    int64_t q = (rows + (p->kh - 1) * p->dh) * g->pitch;
    return (q / 64) % 2 == 0 ? q + 64 : q;
}

/// Per-thread bytes of the transposed conv's phase buffer (any mr <= 16, out_f32 or not).
static int64_t tmp_bytes(const segc_qconv_params *p, int transposed) {
    return transposed ? (p->cout / p->groups + 16) * p->sw * segc_qgrid(p->ow, p->sw, 0) * 4 : 0;
}

/// Byte offset of the phase buffer in each thread's region (after the packed input,
/// which only thread 0's region holds, and 64 bytes of alignment).
static int64_t tmp_offset(const segc_qconv_params *p, int transposed) {
    return 64 + round64(segc_qconv_geometry(p, transposed).bytes);
}

int64_t segc_qconv_tiled_ws(const segc_qconv_params *p, int transposed) {
    int64_t lr = local_rows(p, transposed);
    if (lr) {
        segc_qin_geom g = segc_qconv_geometry(p, transposed);
        return (64 + g.c4 * local_qstride(p, &g, lr) + SEGC_QIN_SLACK + 3) / 4;
    }
    return (tmp_offset(p, transposed) + tmp_bytes(p, transposed) + 3) / 4;
}

// ------------------------------------------------------------------ tiles

typedef struct {
    const segc_qconv_params *p;
    int transposed;
    const segc_qkernel *k;
    segc_qin_geom g;
    const uint8_t *in, *res, *w;
    const int32_t *bias;
    const float *mult, *slope;
    uint8_t *y;
    int64_t esize;                 // bytes per output element
    int64_t rows, rchunks;         // output rows (conv) / phase-grid rows (transposed) per task
    int64_t cchunk, cchunks;       // output channels per task (a multiple of mr)
    int64_t ntaps[SEGC_QMAXPHASES], tap0[SEGC_QMAXPHASES];   // per phase: taps, first in toff
    int64_t wph[SEGC_QMAXPHASES];  // per phase: byte offset of its weights in a group
    int64_t bbytes[SEGC_QMAXPHASES];   // per phase: bytes of one mr-row weight block
    int64_t cout_g;                // output channels per group
    int64_t gwbytes;               // bytes of one group's weights
    int64_t toff[SEGC_QMAXK * SEGC_QMAXK];
    const segc_ws *ws;
    int64_t tmp_off;               // bytes: per-thread phase buffer (transposed) in each region
    const uint8_t *x;
    int64_t local_qstride;         // > 0: per-task packing (local_rows), quad stride of its buffer
    const segc_qconv_tail *tail;   // nullable: applied by each conv task to its outputs
    int tail_level;                // the tail loops' level (segc_qlevel, read once per call)
} run_ctx;

/// Tile fields that depend on the phase only.
static void tile_phase(const run_ctx *c, int64_t ph, segc_qtile *t) {
    const segc_qconv_params *p = c->p;
    t->qstride = c->g.qstride;
    t->nq = c->g.c4;
    t->ntaps = c->ntaps[ph];
    t->toff = c->toff + c->tap0[ph];
    t->rstride = t->ystride = p->oh * p->ow;
    t->p = p;
    t->slope_step = p->act == SEGC_ACT_PRELU && p->nslope != 1;
}

/// Tile fields of output channels [cb, cb + rows) of group grp, phase ph; cb is weight
/// block blk·mr (passed in: a division per tile showed in the profile).
static void tile_block(const run_ctx *c, int64_t grp, int64_t ph, int64_t cb, int64_t blk, int64_t co1,
                       segc_qtile *t) {
    const segc_qconv_params *p = c->p;
    int64_t oc = grp * c->cout_g + cb;
    t->rows = (int)SEGC_MIN(c->k->mr, co1 - cb);
    t->w = c->w + grp * c->gwbytes + c->wph[ph] + blk * c->bbytes[ph];
    t->bias = c->bias + ph * p->cout + oc;
    t->mult = c->mult + oc;
    t->slope = p->act == SEGC_ACT_PRELU ? c->slope + (t->slope_step ? oc : 0) : NULL;
}

/// Tiles of one output row of a (phase) grid: pixels [0, n) of the row read act (input)
/// and the residual at element offset yoff with step ystep. They are stored there too,
/// or, with `tmp`, at tmp + (channel − co0)·n·esize (a buffer the caller interleaves).
static void row_tiles(const run_ctx *c, int64_t grp, int64_t ph, int64_t co0, int64_t co1, const uint8_t *act,
                      int64_t qstride, int64_t n, int64_t yoff, int64_t ystep, uint8_t *tmp) {
    const segc_qconv_params *p = c->p;
    int64_t cout_g = c->cout_g, ohw = p->oh * p->ow, mr = c->k->mr;
    segc_qtile t;
    tile_phase(c, ph, &t);
    t.qstride = qstride;
    t.rstep = ystep;
    t.ystride = tmp ? n : ohw;
    t.ystep = tmp ? 1 : ystep;
    for (int64_t x0 = 0, nt; x0 < n; x0 += nt) {
        nt = segc_qtile_width(c->k, n - x0);
        t.act = act + 4 * x0;
        t.n = (int)SEGC_MIN(nt, n - x0);
        for (int64_t cb = co0, blk = co0 / mr; cb < co1; cb += mr, blk++) {
            tile_block(c, grp, ph, cb, blk, co1, &t);
            int64_t e = (grp * cout_g + cb) * ohw + yoff + x0 * ystep;
            t.res = c->res ? c->res + e : NULL;
            t.y = tmp ? tmp + ((cb - co0) * n + x0) * c->esize : c->y + e * c->esize;
            c->k->fn(&t);
        }
    }
}

static void conv_task(void *vctx, int64_t t, int thread) {
    const run_ctx *c = vctx;
    const segc_qconv_params *p = c->p;
    int64_t cc = t % c->cchunks, rc = (t / c->cchunks) % c->rchunks, grp = t / (c->cchunks * c->rchunks);
    int64_t cout_g = c->cout_g, co0 = cc * c->cchunk, co1 = SEGC_MIN(co0 + c->cchunk, cout_g);
    int64_t oy0 = rc * c->rows, oy1 = SEGC_MIN(oy0 + c->rows, p->oh);
    if (c->local_qstride) {   // plane row j = output row + tap offset: rows [oy0, oy1 + halo)
        uint8_t *in = (uint8_t *)(((uintptr_t)segc_ws_thread(c->ws, thread) + 63) & ~(uintptr_t)63);
        segc_qconv_pack_rows(p, c->k->level, &c->g, c->x, grp, oy0, oy1 + c->g.rows - p->oh, in, c->local_qstride);
        for (int64_t oy = oy0; oy < oy1; oy++)
            row_tiles(c, grp, 0, co0, co1, in + (oy - oy0) * c->g.pitch, c->local_qstride, p->ow, oy * p->ow, 1, NULL);
    } else {
        const uint8_t *in = c->in + grp * c->g.c4 * c->g.qstride;
        for (int64_t oy = oy0; oy < oy1; oy++)
            row_tiles(c, grp, 0, co0, co1, in + oy * c->g.pitch, c->g.qstride, p->ow, oy * p->ow, 1, NULL);
    }
    // The tail on this task's outputs (channel rows oy0 … oy1, contiguous per channel).
    if (c->tail)
        for (int64_t co = grp * cout_g + co0; co < grp * cout_g + co1; co++)
            segc_qtail_apply(c->tail, c->tail_level, (const float *)c->y, co, co * p->oh * p->ow + oy0 * p->ow,
                             (oy1 - oy0) * p->ow);
}

/// y[rx + sw·i] = phase rx's i-th value, for the sw phase rows of one output row.
static void interleave_row(uint8_t *y, const uint8_t *const *ph, int64_t sw, int64_t ow, int64_t esize) {
    if (sw == 2 && esize == 1) {
        const uint8_t *a = ph[0], *b = ph[1];
        for (int64_t i = 0; i < ow / 2; i++) { y[2 * i] = a[i]; y[2 * i + 1] = b[i]; }
        if (ow % 2) y[ow - 1] = a[ow / 2];
        return;
    }
    if (sw == 2 && esize == 4) {
        const float *a = (const float *)ph[0], *b = (const float *)ph[1];
        float *yf = (float *)y;
        for (int64_t i = 0; i < ow / 2; i++) { yf[2 * i] = a[i]; yf[2 * i + 1] = b[i]; }
        if (ow % 2) yf[ow - 1] = a[ow / 2];
        return;
    }
    for (int64_t o = 0; o < ow; o++) memcpy(y + o * esize, ph[o % sw] + (o / sw) * esize, (size_t)esize);
}

/// Output row oy of a stride-2 transposed conv through the level's pair kernel: both column
/// phases of `half` grid pixels per call (32 at avx512, 16 at avx2), written as contiguous outputs.
static void row_pairs(const run_ctx *c, int64_t grp, int64_t ry, int64_t co0, int64_t co1, const uint8_t *act,
                      int64_t oy) {
    const segc_qconv_params *p = c->p;
    int64_t cout_g = c->cout_g, ohw = p->oh * p->ow, half = c->k->pair_n ? c->k->pair_n : c->k->nr / 2;
    int64_t gw0 = segc_qgrid(p->ow, 2, 0), gw1 = segc_qgrid(p->ow, 2, 1);
    segc_qtile t0, t1;
    tile_phase(c, ry * 2, &t0);
    tile_phase(c, ry * 2 + 1, &t1);
    t0.ystep = t1.ystep = 1;
    t0.rstep = t1.rstep = 2;
    for (int64_t x0 = 0; x0 < gw0; x0 += half) {
        t0.act = t1.act = act + 4 * x0;
        t0.n = (int)SEGC_MIN(half, gw0 - x0);
        t1.n = (int)SEGC_MAX(0, SEGC_MIN(half, gw1 - x0));
        for (int64_t cb = co0, blk = co0 / c->k->mr; cb < co1; cb += c->k->mr, blk++) {
            tile_block(c, grp, ry * 2, cb, blk, co1, &t0);
            tile_block(c, grp, ry * 2 + 1, cb, blk, co1, &t1);
            int64_t e = (grp * cout_g + cb) * ohw + oy * p->ow + 2 * x0;
            t0.res = c->res ? c->res + e : NULL;
            t1.res = c->res ? c->res + e + 1 : NULL;
            t0.y = c->y + e * c->esize;
            c->k->pair(&t0, &t1);
        }
    }
}

static void convt_task(void *vctx, int64_t t, int thread) {
    const run_ctx *c = vctx;
    const segc_qconv_params *p = c->p;
    int64_t cc = t % c->cchunks, rc = (t / c->cchunks) % c->rchunks, grp = t / (c->cchunks * c->rchunks);
    int64_t cout_g = c->cout_g, co0 = cc * c->cchunk, co1 = SEGC_MIN(co0 + c->cchunk, cout_g);
    int64_t j0 = rc * c->rows, j1 = SEGC_MIN(j0 + c->rows, segc_qgrid(p->oh, p->sh, 0));
    const uint8_t *in = c->in + grp * c->g.c4 * c->g.qstride;
    // The column phases of an output row go to a per-thread buffer first, then are
    // interleaved into y: whole contiguous rows instead of every-sw-th-element stores.
    uint8_t *tmp = (uint8_t *)segc_ws_thread(c->ws, thread) + c->tmp_off;
    int64_t gw0 = segc_qgrid(p->ow, p->sw, 0), phase_bytes = c->cchunk * gw0 * c->esize;
    const uint8_t *phs[SEGC_QMAXPHASES];
    for (int64_t j = j0; j < j1; j++)
        for (int64_t ry = 0; ry < p->sh; ry++) {
            if (j >= segc_qgrid(p->oh, p->sh, ry)) continue;
            int64_t oy = ry + p->sh * j;
            // float outputs: the pair kernel writes them once, in place (T2x2/2 16->20 at
            // 256x512: 9.6 -> 5.8 ms single-thread, the 42 MB of logits dominate). uint8
            // outputs are 4x smaller and the phase buffer's whole-row epilogue wins
            // (T3x3/2 128->64: 2.3 ms buffered, 3.1 ms paired).
            if (c->k->pair && p->sw == 2 && p->out_f32) {
                row_pairs(c, grp, ry, co0, co1, in + j * c->g.pitch, oy);
                continue;
            }
            for (int64_t rx = 0; rx < p->sw; rx++) {
                int64_t gw = segc_qgrid(p->ow, p->sw, rx);
                phs[rx] = tmp + rx * phase_bytes;
                if (gw > 0) row_tiles(c, grp, ry * p->sw + rx, co0, co1, in + j * c->g.pitch, c->g.qstride, gw,
                                      oy * p->ow + rx, p->sw, tmp + rx * phase_bytes);
            }
            for (int64_t co = co0; co < co1; co++) {
                const uint8_t *rows[SEGC_QMAXPHASES];
                for (int64_t rx = 0; rx < p->sw; rx++)
                    rows[rx] = phs[rx] + (co - co0) * segc_qgrid(p->ow, p->sw, rx) * c->esize;
                interleave_row(c->y + ((grp * cout_g + co) * p->oh + oy) * p->ow * c->esize, rows, p->sw, p->ow,
                               c->esize);
            }
        }
}

/// Byte offsets of the taps in the packed input and the per-phase tables.
static void tap_tables(run_ctx *c) {
    const segc_qconv_params *p = c->p;
    const segc_qin_geom *g = &c->g;
    if (!c->transposed) {
        int64_t n = 0;
        for (int64_t ky = 0; ky < p->kh; ky++)
            for (int64_t kx = 0; kx < p->kw; kx++) {
                int64_t vy = ky * p->dh - p->pt, vx = kx * p->dw - p->pl;
                int64_t fy = segc_floordiv(vy, p->sh), fx = segc_floordiv(vx, p->sw);
                int64_t plane = (vy - fy * p->sh) * p->sw + (vx - fx * p->sw);
                c->toff[n++] = (plane * g->rows + fy - g->y0) * g->pitch + (fx - g->x0) * 4;
            }
        c->ntaps[0] = n;
        c->tap0[0] = 0;
        c->wph[0] = 0;
        c->bbytes[0] = segc_qblock_bytes(p, c->k, n);
        return;
    }
    int64_t ty[SEGC_QMAXK], oy[SEGC_QMAXK], tx[SEGC_QMAXK], ox[SEGC_QMAXK], n = 0, wb = 0;
    for (int64_t ph = 0; ph < p->sh * p->sw; ph++) {
        int64_t ny = segc_qphase_taps(p->kh, p->sh, p->dh, p->pt, ph / p->sw, ty, oy);
        int64_t nx = segc_qphase_taps(p->kw, p->sw, p->dw, p->pl, ph % p->sw, tx, ox);
        c->tap0[ph] = n;
        c->ntaps[ph] = ny * nx;
        c->wph[ph] = wb;
        c->bbytes[ph] = segc_qblock_bytes(p, c->k, ny * nx);
        wb += segc_qblocks(p, c->k) * c->bbytes[ph];
        for (int64_t a = 0; a < ny; a++)
            for (int64_t b = 0; b < nx; b++) c->toff[n++] = (oy[a] - g->y0) * g->pitch + (ox[b] - g->x0) * 4;
    }
}

int segc_qconv_tiled_run(segc_pool *pool, const segc_qconv_params *p, int transposed, const uint8_t *x,
                         const segc_qpack_hdr *h, const segc_qkernel *k, const float *mult, const uint8_t *residual,
                         const float *slope, void *y, const segc_qconv_tail *tail, const segc_ws *ws) {
    if (tail && transposed) return SEGC_EUNSUP;
    int64_t need = segc_qconv_tiled_ws(p, transposed);
    if (!ws || !ws->base || ws->per_thread < need || ws->threads < segc_pool_threads(pool)) return SEGC_ENOSPC;
    run_ctx c;   // ~40 KiB: tap tables for kernels up to 64x64
    c.p = p;
    c.transposed = transposed;
    c.k = k;
    c.g = segc_qconv_geometry(p, transposed);
    c.in = (uint8_t *)(((uintptr_t)segc_ws_thread(ws, 0) + 63) & ~(uintptr_t)63);
    c.res = residual;
    c.w = (const uint8_t *)h + h->w_off;
    c.bias = (const int32_t *)((const uint8_t *)h + h->bias_off);
    c.mult = mult;
    c.slope = slope;
    c.y = y;
    c.esize = p->out_f32 ? 4 : 1;
    c.gwbytes = segc_qblocks(p, k) * segc_qblock_bytes(p, k, p->kh * p->kw);
    c.ws = ws;
    c.tmp_off = tmp_offset(p, transposed);
    c.cout_g = p->cout / p->groups;
    c.tail = tail;
    c.tail_level = tail ? segc_qlevel() : 0;
    tap_tables(&c);

    c.x = x;
    int64_t cout_g = c.cout_g, nb = segc_qblocks(p, k);
    int64_t total_rows = transposed ? segc_qgrid(p->oh, p->sh, 0) : p->oh, lr = local_rows(p, transposed);
    c.local_qstride = lr ? local_qstride(p, &c.g, lr) : 0;
    // Pass 1: the shared packed input (fixed row chunks of ~64 KiB), unless tasks pack their own.
    if (!lr) segc_qconv_pack_input(pool, p, transposed, k->level, &c.g, x, (uint8_t *)c.in);

    // Pass 2: tiles. About 4M multiply-adds per task (rows of the output or of the phase
    // grid); when that leaves fewer than 8 tasks, the output channels are split too (not
    // with per-task packing: each chunk would pack the same rows again).
    c.rows = lr ? lr : task_rows(p, transposed);
    c.rchunks = segc_chunks(total_rows, c.rows);
    int64_t split = lr ? 1 : SEGC_MIN(nb, segc_chunks(8, p->groups * c.rchunks));
    c.cchunk = segc_chunks(nb, SEGC_MAX(1, split)) * k->mr;
    c.cchunks = segc_chunks(cout_g, c.cchunk);
    segc_pool_run(pool, transposed ? convt_task : conv_task, &c, p->groups * c.rchunks * c.cchunks);
    return SEGC_OK;
}
