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
// The packed input is shared by all tasks; the API has only per-thread workspace, so it
// lives in thread 0's region (segc_qconv_ws counts it), and is built by a first parallel
// pass over fixed row chunks.
//
// Tasks are (group, output-row chunk, output-channel chunk) with sizes from the shape
// only. Integer accumulation is exact and the requantization per element, so the result
// is the scalar level's whatever the tiling; the tiling only moves speed.
#include "qconv.h"
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define SLACK 1024   // bytes after the packed input: the last tile's lanes past the row end

static int64_t grid(int64_t o, int64_t s, int64_t r) { return r < o ? (o - r + s - 1) / s : 0; }
static int64_t round64(int64_t x) { return (x + 63) / 64 * 64; }

/// Geometry of the packed input.
typedef struct {
    int64_t planes, rows, cols;   // planes per quad, rows and columns per plane
    int64_t y0, x0;               // input position of plane row/column 0 (see above)
    int64_t c4;                   // quads per group
    int64_t pitch;                // bytes per plane row (cols·4, padded; see below)
    int64_t qstride;              // bytes per quad (planes·rows·pitch, padded)
    int64_t bytes;                // whole buffer with slack
} in_geom;

static in_geom geometry(const segc_qconv_params *p, int transposed) {
    in_geom g;
    g.c4 = (p->cin / p->groups + 3) / 4;
    if (!transposed) {
        g.planes = p->sh * p->sw;
        g.y0 = segc_floordiv(-p->pt, p->sh);
        g.x0 = segc_floordiv(-p->pl, p->sw);
        g.rows = p->oh + segc_floordiv((p->kh - 1) * p->dh - p->pt, p->sh) - g.y0;
        g.cols = p->ow + segc_floordiv((p->kw - 1) * p->dw - p->pl, p->sw) - g.x0;
    } else {
        int64_t tap[SEGC_QMAXK], off[SEGC_QMAXK], lo = INT64_MAX, hi = INT64_MIN;
        for (int64_t r = 0; r < p->sh; r++) {
            int64_t n = segc_qphase_taps(p->kh, p->sh, p->dh, p->pt, r, tap, off);
            for (int64_t i = 0; i < n; i++) { lo = SEGC_MIN(lo, off[i]); hi = SEGC_MAX(hi, off[i]); }
        }
        g.y0 = lo;
        g.rows = grid(p->oh, p->sh, 0) + hi - lo;
        lo = INT64_MAX; hi = INT64_MIN;
        for (int64_t r = 0; r < p->sw; r++) {
            int64_t n = segc_qphase_taps(p->kw, p->sw, p->dw, p->pl, r, tap, off);
            for (int64_t i = 0; i < n; i++) { lo = SEGC_MIN(lo, off[i]); hi = SEGC_MAX(hi, off[i]); }
        }
        g.x0 = lo;
        g.cols = grid(p->ow, p->sw, 0) + hi - lo;
        g.planes = 1;
    }
    // A tile reads 64-byte lines at (quad·qstride + tap row·pitch + column) for every quad
    // and tap. With power-of-two strides those all fall into a few L1 sets (4 KiB apart)
    // and evict each other; odd multiples of 64 bytes spread them over all sets.
    g.pitch = (g.cols * 4 + 63) / 64 * 64;
    if ((g.pitch / 64) % 2 == 0) g.pitch += 64;
    g.qstride = g.planes * g.rows * g.pitch;
    if ((g.qstride / 64) % 2 == 0) g.qstride += 64;
    g.bytes = p->groups * g.c4 * g.qstride + SLACK;
    return g;
}

double segc_qconv_tiled_bytes_estimate(const segc_qconv_params *p, int transposed) {
    double c4 = (double)((p->cin / p->groups + 3) / 4) * (double)p->groups, rows, cols, planes;
    double ext_y = (double)(p->kh - 1) * (double)p->dh + (double)llabs(p->pt) + 2.0;
    double ext_x = (double)(p->kw - 1) * (double)p->dw + (double)llabs(p->pl) + 2.0;
    if (transposed) {
        planes = 1.0;
        rows = (double)p->oh / (double)p->sh + 2.0 + ext_y / (double)p->sh;
        cols = (double)p->ow / (double)p->sw + 2.0 + ext_x / (double)p->sw;
    } else {
        planes = (double)p->sh * (double)p->sw;
        rows = (double)p->oh + 2.0 + ext_y / (double)p->sh;
        cols = (double)p->ow + 2.0 + ext_x / (double)p->sw;
    }
    return c4 * planes * rows * (4.0 * cols + 128.0) + 64.0 * c4 + SLACK;
}

/// Per-thread bytes of the transposed conv's phase buffer (any mr <= 16, out_f32 or not).
static int64_t tmp_bytes(const segc_qconv_params *p, int transposed) {
    return transposed ? (p->cout / p->groups + 16) * p->sw * grid(p->ow, p->sw, 0) * 4 : 0;
}

/// Byte offset of the phase buffer in each thread's region (after the packed input,
/// which only thread 0's region holds, and 64 bytes of alignment).
static int64_t tmp_offset(const segc_qconv_params *p, int transposed) {
    return 64 + round64(geometry(p, transposed).bytes);
}

int64_t segc_qconv_tiled_ws(const segc_qconv_params *p, int transposed) {
    return (tmp_offset(p, transposed) + tmp_bytes(p, transposed) + 3) / 4;
}

// ------------------------------------------------------------------ weights

static int64_t nblocks(const segc_qconv_params *p, const segc_qkernel *k) {
    return (p->cout / p->groups + k->mr - 1) / k->mr;
}

/// Bytes of one group's weights for `taps` taps.
static int64_t block_bytes(const segc_qconv_params *p, const segc_qkernel *k, int64_t taps) {
    return ((p->cin / p->groups + 3) / 4) * taps * k->mr * k->wbytes;
}

int64_t segc_qconv_tiled_wbytes(const segc_qconv_params *p, int transposed, const segc_qkernel *k) {
    (void)transposed;   // transposed: the phases' taps partition the kh·kw taps
    return p->groups * nblocks(p, k) * block_bytes(p, k, p->kh * p->kw);
}

/// One (quad, tap, row) entry: the quad as int8, or the int16 pairs (w0, w2), (w1, w3)
/// that vpmaddwd multiplies with the activations' even and odd bytes.
static void put_quad(uint8_t *dst, const int8_t q[4], int wbytes) {
    if (wbytes == 4) {
        memcpy(dst, q, 4);
        return;
    }
    int16_t s[4] = {q[0], q[2], q[1], q[3]};
    memcpy(dst, s, 8);
}

/// Weight of (group g, output channel cg of the group, input channel ci of the group, ky, kx).
static int8_t weight_at(const segc_qconv_params *p, int transposed, const int8_t *w, int64_t g, int64_t cg,
                        int64_t ci, int64_t ky, int64_t kx) {
    int64_t cin_g = p->cin / p->groups, cout_g = p->cout / p->groups;
    int64_t plane = transposed ? ((g * cin_g + ci) * cout_g + cg) : ((g * cout_g + cg) * cin_g + ci);
    return w[(plane * p->kh + ky) * p->kw + kx];
}

/// Layout: [group][phase][block][quad][tap of the phase][mr][wbytes] (conv: one phase with
/// all taps, (ky, kx) row-major).
void segc_qconv_tiled_pack(const segc_qconv_params *p, int transposed, const segc_qkernel *k, const int8_t *w,
                           uint8_t *dst) {
    int64_t cin_g = p->cin / p->groups, cout_g = p->cout / p->groups, c4 = (cin_g + 3) / 4, nb = nblocks(p, k);
    int64_t nph = transposed ? p->sh * p->sw : 1;
    int64_t ty[SEGC_QMAXK], oy[SEGC_QMAXK], tx[SEGC_QMAXK], ox[SEGC_QMAXK];
    for (int64_t g = 0; g < p->groups; g++)
        for (int64_t ph = 0; ph < nph; ph++) {
            int64_t ny = p->kh, nx = p->kw;
            if (transposed) {
                ny = segc_qphase_taps(p->kh, p->sh, p->dh, p->pt, ph / p->sw, ty, oy);
                nx = segc_qphase_taps(p->kw, p->sw, p->dw, p->pl, ph % p->sw, tx, ox);
            } else {
                for (int64_t i = 0; i < ny; i++) ty[i] = i;
                for (int64_t i = 0; i < nx; i++) tx[i] = i;
            }
            for (int64_t b = 0; b < nb; b++)
                for (int64_t q = 0; q < c4; q++)
                    for (int64_t a = 0; a < ny; a++)
                        for (int64_t c = 0; c < nx; c++)
                            for (int r = 0; r < k->mr; r++) {
                                int8_t quad[4] = {0, 0, 0, 0};
                                int64_t cg = b * k->mr + r;
                                for (int e = 0; e < 4; e++)
                                    if (cg < cout_g && 4 * q + e < cin_g)
                                        quad[e] = weight_at(p, transposed, w, g, cg, 4 * q + e, ty[a], tx[c]);
                                put_quad(dst, quad, k->wbytes);
                                dst += k->wbytes;
                            }
        }
}

// ------------------------------------------------------------------ input packing

typedef struct {
    const segc_qconv_params *p;
    int transposed, level;
    in_geom g;
    const uint8_t *x;
    uint8_t *in;
    int64_t chunk, nrows;   // plane rows per task, plane rows in all
} pack_ctx;

/// dst[i][e] = src[e][i] for i < n (4 channel rows, 16 pixels per step: SSE2 unpacks,
/// baseline x86-64, so the scalar level uses it too).
static void interleave4_sse2(uint8_t *dst, const uint8_t *const src[4], int64_t n) {
    int64_t i = 0;
#if defined(__x86_64__)
    for (; i + 16 <= n; i += 16) {
        __m128i c0 = _mm_loadu_si128((const __m128i *)(src[0] + i)), c1 = _mm_loadu_si128((const __m128i *)(src[1] + i));
        __m128i c2 = _mm_loadu_si128((const __m128i *)(src[2] + i)), c3 = _mm_loadu_si128((const __m128i *)(src[3] + i));
        __m128i t0 = _mm_unpacklo_epi8(c0, c1), t1 = _mm_unpackhi_epi8(c0, c1);
        __m128i t2 = _mm_unpacklo_epi8(c2, c3), t3 = _mm_unpackhi_epi8(c2, c3);
        _mm_storeu_si128((__m128i *)(dst + 4 * i), _mm_unpacklo_epi16(t0, t2));
        _mm_storeu_si128((__m128i *)(dst + 4 * i + 16), _mm_unpackhi_epi16(t0, t2));
        _mm_storeu_si128((__m128i *)(dst + 4 * i + 32), _mm_unpacklo_epi16(t1, t3));
        _mm_storeu_si128((__m128i *)(dst + 4 * i + 48), _mm_unpackhi_epi16(t1, t3));
    }
#endif
    for (; i < n; i++)
        for (int e = 0; e < 4; e++) dst[4 * i + e] = src[e][i];
}

#if defined(__x86_64__)
/// The same, 32 pixels per step with AVX2 (levels >= 1): unpacks within 128-bit lanes,
/// then vperm2i128 puts the lanes' quads in pixel order.
__attribute__((target("avx2"))) static void interleave4_avx2(uint8_t *dst, const uint8_t *const src[4], int64_t n) {
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i c0 = _mm256_loadu_si256((const __m256i *)(src[0] + i));
        __m256i c1 = _mm256_loadu_si256((const __m256i *)(src[1] + i));
        __m256i c2 = _mm256_loadu_si256((const __m256i *)(src[2] + i));
        __m256i c3 = _mm256_loadu_si256((const __m256i *)(src[3] + i));
        __m256i t0 = _mm256_unpacklo_epi8(c0, c1), t1 = _mm256_unpackhi_epi8(c0, c1);
        __m256i t2 = _mm256_unpacklo_epi8(c2, c3), t3 = _mm256_unpackhi_epi8(c2, c3);
        // q0: pixels 0-3 | 16-19, q1: 4-7 | 20-23, q2: 8-11 | 24-27, q3: 12-15 | 28-31
        __m256i q0 = _mm256_unpacklo_epi16(t0, t2), q1 = _mm256_unpackhi_epi16(t0, t2);
        __m256i q2 = _mm256_unpacklo_epi16(t1, t3), q3 = _mm256_unpackhi_epi16(t1, t3);
        _mm256_storeu_si256((__m256i *)(dst + 4 * i), _mm256_permute2x128_si256(q0, q1, 0x20));
        _mm256_storeu_si256((__m256i *)(dst + 4 * i + 32), _mm256_permute2x128_si256(q2, q3, 0x20));
        _mm256_storeu_si256((__m256i *)(dst + 4 * i + 64), _mm256_permute2x128_si256(q0, q1, 0x31));
        _mm256_storeu_si256((__m256i *)(dst + 4 * i + 96), _mm256_permute2x128_si256(q2, q3, 0x31));
    }
    const uint8_t *rest[4] = {src[0] + i, src[1] + i, src[2] + i, src[3] + i};
    interleave4_sse2(dst + 4 * i, rest, n - i);
}
#endif

static void fill_u32(uint8_t *dst, int64_t n, uint32_t v) {
    for (int64_t i = 0; i < n; i++) memcpy(dst + 4 * i, &v, 4);
}

/// One packed row: quad (group gq, quad q), plane pl, row j.
static void pack_row(const pack_ctx *c, int64_t gq, int64_t pl, int64_t j, uint8_t *dst) {
    const segc_qconv_params *p = c->p;
    const in_geom *g = &c->g;
    int64_t cin_g = p->cin / p->groups, grp = gq / g->c4, q = gq % g->c4;
    int64_t sh = c->transposed ? 1 : p->sh, sw = c->transposed ? 1 : p->sw;
    int64_t py = pl / sw, px = pl % sw;
    int64_t iy = sh * (j + g->y0) + py;
    uint8_t zp = (uint8_t)p->x_zp;
    uint32_t zq = 0x01010101u * zp;
    if (iy < 0 || iy >= p->h) { fill_u32(dst, g->cols, zq); return; }
    // Columns i with input column ix = sw·(i + x0) + px inside [0, w).
    int64_t base = sw * g->x0 + px;   // ix = sw·i + base
    int64_t a = base >= 0 ? 0 : (-base + sw - 1) / sw;
    int64_t b = p->w - base <= 0 ? 0 : (p->w - base + sw - 1) / sw;
    a = SEGC_MIN(a, g->cols);
    b = SEGC_MAX(a, SEGC_MIN(b, g->cols));
    fill_u32(dst, a, zq);
    fill_u32(dst + 4 * b, g->cols - b, zq);
    const uint8_t *src[4];
    int nch = 0;
    for (int e = 0; e < 4; e++) {
        int64_t ci = 4 * q + e;
        if (ci < cin_g) { src[e] = c->x + ((grp * cin_g + ci) * p->h + iy) * p->w + base; nch++; }
        else src[e] = NULL;   // a padding channel: its weights are 0
    }
    if (sw == 1 && nch == 4) {
        const uint8_t *const from[4] = {src[0] + a, src[1] + a, src[2] + a, src[3] + a};
#if defined(__x86_64__)
        if (c->level >= 1) {
            interleave4_avx2(dst + 4 * a, from, b - a);
            return;
        }
#endif
        interleave4_sse2(dst + 4 * a, from, b - a);
        return;
    }
    // Strided convs (phase planes) and partial quads: one channel at a time, through
    // restrict locals so the byte stores do not force reloads.
    for (int e = 0; e < 4; e++) {
        uint8_t *restrict d = dst + 4 * a + e;
        int64_t n = b - a;
        if (!src[e]) {
            for (int64_t i = 0; i < n; i++) d[4 * i] = 0;
            continue;
        }
        const uint8_t *restrict sp = src[e] + sw * a;
        if (sw == 2)
            for (int64_t i = 0; i < n; i++) d[4 * i] = sp[2 * i];
        else
            for (int64_t i = 0; i < n; i++) d[4 * i] = sp[sw * i];
    }
}

static void pack_task(void *vctx, int64_t t, int thread) {
    (void)thread;
    const pack_ctx *c = vctx;
    int64_t r0 = t * c->chunk, r1 = SEGC_MIN(r0 + c->chunk, c->nrows);
    for (int64_t r = r0; r < r1; r++) {
        int64_t j = r % c->g.rows, pl = (r / c->g.rows) % c->g.planes, gq = r / (c->g.rows * c->g.planes);
        uint8_t *dst = c->in + gq * c->g.qstride + (pl * c->g.rows + j) * c->g.pitch;
        pack_row(c, gq, pl, j, dst);
        memset(dst + c->g.cols * 4, 0, (size_t)(c->g.pitch - c->g.cols * 4));   // defined bytes for lanes past the row
    }
}

// ------------------------------------------------------------------ tiles

typedef struct {
    const segc_qconv_params *p;
    int transposed;
    const segc_qkernel *k;
    in_geom g;
    const uint8_t *in, *res, *w;
    const int32_t *bias;
    const float *mult, *slope;
    uint8_t *y;
    int64_t esize;                 // bytes per output element
    int64_t rows, rchunks;         // output rows (conv) / phase-grid rows (transposed) per task
    int64_t cchunk, cchunks;       // output channels per task (a multiple of mr)
    int64_t ntaps[SEGC_QMAXPHASES], tap0[SEGC_QMAXPHASES];   // per phase: taps, first in toff
    int64_t wph[SEGC_QMAXPHASES];  // per phase: byte offset of its weights in a group
    int64_t gwbytes;               // bytes of one group's weights
    int64_t toff[SEGC_QMAXK * SEGC_QMAXK];
    const segc_ws *ws;
    int64_t tmp_off;               // bytes: per-thread phase buffer (transposed) in each region
} run_ctx;

/// Tiles of one output row of a (phase) grid: pixels [0, n) of the row read act (input)
/// and the residual at element offset yoff with step ystep. They are stored there too,
/// or, with `tmp`, at tmp + (channel − co0)·n·esize (a buffer the caller interleaves).
static void row_tiles(const run_ctx *c, int64_t grp, int64_t ph, int64_t co0, int64_t co1, const uint8_t *act,
                      int64_t n, int64_t yoff, int64_t ystep, uint8_t *tmp) {
    const segc_qconv_params *p = c->p;
    const segc_qkernel *k = c->k;
    int64_t cout_g = p->cout / p->groups, ohw = p->oh * p->ow, bb = block_bytes(p, k, c->ntaps[ph]);
    segc_qtile t;
    t.qstride = c->g.qstride;
    t.nq = c->g.c4;
    t.ntaps = c->ntaps[ph];
    t.toff = c->toff + c->tap0[ph];
    t.rstride = ohw;
    t.rstep = ystep;
    t.ystride = tmp ? n : ohw;
    t.ystep = tmp ? 1 : ystep;
    t.p = p;
    t.slope_step = p->act == SEGC_ACT_PRELU && p->nslope != 1;
    const uint8_t *wg = c->w + grp * c->gwbytes + c->wph[ph];
    for (int64_t x0 = 0; x0 < n; x0 += k->nr) {
        t.act = act + 4 * x0;
        t.n = (int)SEGC_MIN(k->nr, n - x0);
        for (int64_t cb = co0; cb < co1; cb += k->mr) {
            int64_t oc = grp * cout_g + cb;
            t.rows = (int)SEGC_MIN(k->mr, co1 - cb);
            t.w = wg + (cb / k->mr) * bb;
            t.bias = c->bias + ph * p->cout + oc;
            t.mult = c->mult + oc;
            t.slope = p->act == SEGC_ACT_PRELU ? c->slope + (t.slope_step ? oc : 0) : NULL;
            int64_t e = oc * ohw + yoff + x0 * ystep;
            t.res = c->res ? c->res + e : NULL;
            t.y = tmp ? tmp + ((cb - co0) * n + x0) * c->esize : c->y + e * c->esize;
            k->fn(&t);
        }
    }
}

static void conv_task(void *vctx, int64_t t, int thread) {
    (void)thread;
    const run_ctx *c = vctx;
    const segc_qconv_params *p = c->p;
    int64_t cc = t % c->cchunks, rc = (t / c->cchunks) % c->rchunks, grp = t / (c->cchunks * c->rchunks);
    int64_t cout_g = p->cout / p->groups, co0 = cc * c->cchunk, co1 = SEGC_MIN(co0 + c->cchunk, cout_g);
    int64_t oy0 = rc * c->rows, oy1 = SEGC_MIN(oy0 + c->rows, p->oh);
    const uint8_t *in = c->in + grp * c->g.c4 * c->g.qstride;
    for (int64_t oy = oy0; oy < oy1; oy++)
        row_tiles(c, grp, 0, co0, co1, in + oy * c->g.pitch, p->ow, oy * p->ow, 1, NULL);
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

/// Tile fields of output channels [cb, cb + rows) of group grp, phase ph.
static void tile_block(const run_ctx *c, int64_t grp, int64_t ph, int64_t cb, int64_t co1, segc_qtile *t) {
    const segc_qconv_params *p = c->p;
    int64_t oc = grp * (p->cout / p->groups) + cb;
    t->rows = (int)SEGC_MIN(c->k->mr, co1 - cb);
    t->w = c->w + grp * c->gwbytes + c->wph[ph] + (cb / c->k->mr) * block_bytes(p, c->k, c->ntaps[ph]);
    t->bias = c->bias + ph * p->cout + oc;
    t->mult = c->mult + oc;
    t->slope = p->act == SEGC_ACT_PRELU ? c->slope + (t->slope_step ? oc : 0) : NULL;
}

/// Output row oy of a stride-2 transposed conv through the level's pair kernel: both column
/// phases of 32 grid pixels per call, written as contiguous outputs.
static void row_pairs(const run_ctx *c, int64_t grp, int64_t ry, int64_t co0, int64_t co1, const uint8_t *act,
                      int64_t oy) {
    const segc_qconv_params *p = c->p;
    int64_t cout_g = p->cout / p->groups, ohw = p->oh * p->ow, half = c->k->nr / 2;
    int64_t gw0 = grid(p->ow, 2, 0), gw1 = grid(p->ow, 2, 1);
    segc_qtile t0, t1;
    tile_phase(c, ry * 2, &t0);
    tile_phase(c, ry * 2 + 1, &t1);
    t0.ystep = t1.ystep = 1;
    t0.rstep = t1.rstep = 2;
    for (int64_t x0 = 0; x0 < gw0; x0 += half) {
        t0.act = t1.act = act + 4 * x0;
        t0.n = (int)SEGC_MIN(half, gw0 - x0);
        t1.n = (int)SEGC_MAX(0, SEGC_MIN(half, gw1 - x0));
        for (int64_t cb = co0; cb < co1; cb += c->k->mr) {
            tile_block(c, grp, ry * 2, cb, co1, &t0);
            tile_block(c, grp, ry * 2 + 1, cb, co1, &t1);
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
    int64_t cout_g = p->cout / p->groups, co0 = cc * c->cchunk, co1 = SEGC_MIN(co0 + c->cchunk, cout_g);
    int64_t j0 = rc * c->rows, j1 = SEGC_MIN(j0 + c->rows, grid(p->oh, p->sh, 0));
    const uint8_t *in = c->in + grp * c->g.c4 * c->g.qstride;
    // The column phases of an output row go to a per-thread buffer first, then are
    // interleaved into y: whole contiguous rows instead of every-sw-th-element stores.
    uint8_t *tmp = (uint8_t *)segc_ws_thread(c->ws, thread) + c->tmp_off;
    int64_t gw0 = grid(p->ow, p->sw, 0), phase_bytes = c->cchunk * gw0 * c->esize;
    const uint8_t *phs[SEGC_QMAXPHASES];
    for (int64_t j = j0; j < j1; j++)
        for (int64_t ry = 0; ry < p->sh; ry++) {
            if (j >= grid(p->oh, p->sh, ry)) continue;
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
                int64_t gw = grid(p->ow, p->sw, rx);
                phs[rx] = tmp + rx * phase_bytes;
                if (gw > 0) row_tiles(c, grp, ry * p->sw + rx, co0, co1, in + j * c->g.pitch, gw, oy * p->ow + rx,
                                      p->sw, tmp + rx * phase_bytes);
            }
            for (int64_t co = co0; co < co1; co++) {
                const uint8_t *rows[SEGC_QMAXPHASES];
                for (int64_t rx = 0; rx < p->sw; rx++)
                    rows[rx] = phs[rx] + (co - co0) * grid(p->ow, p->sw, rx) * c->esize;
                interleave_row(c->y + ((grp * cout_g + co) * p->oh + oy) * p->ow * c->esize, rows, p->sw, p->ow,
                               c->esize);
            }
        }
}

/// Byte offsets of the taps in the packed input and the per-phase tables.
static void tap_tables(run_ctx *c) {
    const segc_qconv_params *p = c->p;
    const in_geom *g = &c->g;
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
        return;
    }
    int64_t ty[SEGC_QMAXK], oy[SEGC_QMAXK], tx[SEGC_QMAXK], ox[SEGC_QMAXK], n = 0, wb = 0;
    for (int64_t ph = 0; ph < p->sh * p->sw; ph++) {
        int64_t ny = segc_qphase_taps(p->kh, p->sh, p->dh, p->pt, ph / p->sw, ty, oy);
        int64_t nx = segc_qphase_taps(p->kw, p->sw, p->dw, p->pl, ph % p->sw, tx, ox);
        c->tap0[ph] = n;
        c->ntaps[ph] = ny * nx;
        c->wph[ph] = wb;
        wb += nblocks(p, c->k) * block_bytes(p, c->k, ny * nx);
        for (int64_t a = 0; a < ny; a++)
            for (int64_t b = 0; b < nx; b++) c->toff[n++] = (oy[a] - g->y0) * g->pitch + (ox[b] - g->x0) * 4;
    }
}

int segc_qconv_tiled_run(segc_pool *pool, const segc_qconv_params *p, int transposed, const uint8_t *x,
                         const segc_qpack_hdr *h, const segc_qkernel *k, const float *mult, const uint8_t *residual,
                         const float *slope, void *y, const segc_ws *ws) {
    int64_t need = segc_qconv_tiled_ws(p, transposed);
    if (!ws || !ws->base || ws->per_thread < need || ws->threads < segc_pool_threads(pool)) return SEGC_ENOSPC;
    run_ctx c;   // ~40 KiB: tap tables for kernels up to 64x64
    c.p = p;
    c.transposed = transposed;
    c.k = k;
    c.g = geometry(p, transposed);
    c.in = (uint8_t *)(((uintptr_t)segc_ws_thread(ws, 0) + 63) & ~(uintptr_t)63);
    c.res = residual;
    c.w = (const uint8_t *)h + h->w_off;
    c.bias = (const int32_t *)((const uint8_t *)h + h->bias_off);
    c.mult = mult;
    c.slope = slope;
    c.y = y;
    c.esize = p->out_f32 ? 4 : 1;
    c.gwbytes = nblocks(p, k) * block_bytes(p, k, p->kh * p->kw);
    c.ws = ws;
    c.tmp_off = tmp_offset(p, transposed);
    tap_tables(&c);

    // Pass 1: the packed input (fixed row chunks of ~64 KiB).
    pack_ctx pc = {p, transposed, k->level, c.g, x, (uint8_t *)c.in, 0, p->groups * c.g.c4 * c.g.planes * c.g.rows};
    pc.chunk = SEGC_MAX(1, (64 * 1024) / c.g.pitch);
    memset((uint8_t *)c.in + p->groups * c.g.c4 * c.g.qstride, 0, SLACK);
    segc_pool_run(pool, pack_task, &pc, segc_chunks(pc.nrows, pc.chunk));

    // Pass 2: tiles. About 4M multiply-adds per task (rows of the output or of the phase
    // grid); when that leaves fewer than 8 tasks, the output channels are split too.
    int64_t cout_g = p->cout / p->groups, nb = nblocks(p, k);
    int64_t total_rows = transposed ? grid(p->oh, p->sh, 0) : p->oh;
    int64_t depth = SEGC_MAX(32, c.g.c4 * 4 * p->kh * p->kw / (transposed ? p->sh * p->sw : 1));
    int64_t per_row = cout_g * p->ow * (transposed ? p->sh : 1) * depth;
    c.rows = SEGC_MAX(1, SEGC_MIN(total_rows, ((int64_t)1 << 22) / SEGC_MAX(1, per_row)));
    c.rchunks = segc_chunks(total_rows, c.rows);
    int64_t split = SEGC_MIN(nb, segc_chunks(8, p->groups * c.rchunks));
    c.cchunk = segc_chunks(nb, SEGC_MAX(1, split)) * k->mr;
    c.cchunks = segc_chunks(cout_g, c.cchunk);
    segc_pool_run(pool, transposed ? convt_task : conv_task, &c, p->groups * c.rchunks * c.cchunks);
    return SEGC_OK;
}
