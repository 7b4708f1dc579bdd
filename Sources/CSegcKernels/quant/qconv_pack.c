// Packing for the tiled int8 conv (quant/qconv_tiled.c): the weights, once per session,
// into the kernel's blocks; the input, once per call, into channel quads u8
// [quad][plane][row][col][4] with the padding already x_zp (layout: quant/qconv_tiled.c).
#include "qconv.h"
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// ------------------------------------------------------------------ geometry

segc_qin_geom segc_qconv_geometry(const segc_qconv_params *p, int transposed) {
    segc_qin_geom g;
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
        g.rows = segc_qgrid(p->oh, p->sh, 0) + hi - lo;
        lo = INT64_MAX; hi = INT64_MIN;
        for (int64_t r = 0; r < p->sw; r++) {
            int64_t n = segc_qphase_taps(p->kw, p->sw, p->dw, p->pl, r, tap, off);
            for (int64_t i = 0; i < n; i++) { lo = SEGC_MIN(lo, off[i]); hi = SEGC_MAX(hi, off[i]); }
        }
        g.x0 = lo;
        g.cols = segc_qgrid(p->ow, p->sw, 0) + hi - lo;
        g.planes = 1;
    }
    // A tile reads 64-byte lines at (quad·qstride + tap row·pitch + column) for every quad
    // and tap. With power-of-two strides those all fall into a few L1 sets (4 KiB apart)
    // and evict each other; odd multiples of 64 bytes spread them over all sets.
    g.pitch = (g.cols * 4 + 63) / 64 * 64;
    if ((g.pitch / 64) % 2 == 0) g.pitch += 64;
    g.qstride = g.planes * g.rows * g.pitch;
    if ((g.qstride / 64) % 2 == 0) g.qstride += 64;
    g.bytes = p->groups * g.c4 * g.qstride + SEGC_QIN_SLACK;
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
    return c4 * planes * rows * (4.0 * cols + 128.0) + 64.0 * c4 + SEGC_QIN_SLACK;
}

// ------------------------------------------------------------------ weights

int64_t segc_qconv_tiled_wbytes(const segc_qconv_params *p, int transposed, const segc_qkernel *k) {
    (void)transposed;   // transposed: the phases' taps partition the kh·kw taps
    return p->groups * segc_qblocks(p, k) * segc_qblock_bytes(p, k, p->kh * p->kw);
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
    int64_t cin_g = p->cin / p->groups, cout_g = p->cout / p->groups, c4 = (cin_g + 3) / 4, nb = segc_qblocks(p, k);
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
    segc_qin_geom g;
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
    const segc_qin_geom *g = &c->g;
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

void segc_qconv_pack_input(segc_pool *pool, const segc_qconv_params *p, int transposed, int level,
                           const segc_qin_geom *g, const uint8_t *x, uint8_t *in) {
    pack_ctx pc = {p, transposed, level, *g, x, in, 0, p->groups * g->c4 * g->planes * g->rows};
    pc.chunk = SEGC_MAX(1, (64 * 1024) / g->pitch);
    memset(in + p->groups * g->c4 * g->qstride, 0, SEGC_QIN_SLACK);
    segc_pool_run(pool, pack_task, &pc, segc_chunks(pc.nrows, pc.chunk));
}

void segc_qconv_pack_rows(const segc_qconv_params *p, int level, const segc_qin_geom *g, const uint8_t *x,
                          int64_t grp, int64_t j0, int64_t j1, uint8_t *dst, int64_t qstride) {
    pack_ctx pc = {p, 0, level, *g, x, NULL, 0, 0};
    for (int64_t q = 0; q < g->c4; q++)
        for (int64_t j = j0; j < j1; j++) {
            uint8_t *row = dst + q * qstride + (j - j0) * g->pitch;
            pack_row(&pc, grp * g->c4 + q, 0, j, row);
            memset(row + g->cols * 4, 0, (size_t)(g->pitch - g->cols * 4));
        }
}
