#pragma clang fp contract(off)   // requantization: multiply, then add (the scalar level's rounding)
// Integer Winograd F(4,3) for int8 3x1 / 1x3 convs without VNNI (the vpmaddwd kernels' levels): why it is
// exact and which convs qualify, quant/qconv_wino.c. One task per "tile row" (vertical:
// 4 output rows d apart, the columns are the lanes; horizontal: one output row, its ow/4
// tiles are the lanes):
//   1. input transform: for every channel pair, V[i][pair][lane] = BT·x (int16 pairs),
//      x the 6 input rows (vertical) or the 6 columns of each tile (horizontal, gathered),
//      x_zp outside the image as the direct kernels pad;
//   2. per 4 output channels × 16 lanes and each of the 6 points, the K loop over channel
//      pairs: M[i] = Σ vpmaddwd(V[i][pair], U[i][pair]) (the vpmaddwd tile of
//      qconv_avx2.c, 2 int16 products per instruction, no activation split);
//   3. output transform 24·y = AT·M, y = (24·y >> 3)·3⁻¹ (exact, mod 2^32), + the folded
//      bias, then the shared requantization (qconv_ymm.h) of the 4 output rows / columns.
#if defined(__x86_64__)
#include "qconv_wino_ymm.h"
#include <string.h>


/// V[0..5] = BT · X[0..5] on int16 lanes (|V| <= 2040: no overflow).
INLINE256 void input_transform(const __m256i X[6], __m256i V[6]) {
    __m256i x1x2 = _mm256_add_epi16(X[1], X[2]), x3x4 = _mm256_add_epi16(X[3], X[4]);
    V[0] = _mm256_add_epi16(_mm256_sub_epi16(_mm256_slli_epi16(_mm256_sub_epi16(X[0], X[2]), 2), X[2]), X[4]);
    V[1] = _mm256_sub_epi16(x3x4, _mm256_slli_epi16(x1x2, 2));   // −4x1 − 4x2 + x3 + x4
    __m256i x1mx3 = _mm256_sub_epi16(X[1], X[3]);
    V[2] = _mm256_add_epi16(_mm256_sub_epi16(_mm256_slli_epi16(_mm256_sub_epi16(X[1], X[2]), 2), X[3]), X[4]);
    V[3] = _mm256_sub_epi16(_mm256_sub_epi16(X[4], X[2]), _mm256_slli_epi16(x1mx3, 1));   // −2x1 − x2 + 2x3 + x4
    V[4] = _mm256_add_epi16(_mm256_sub_epi16(X[4], X[2]), _mm256_slli_epi16(x1mx3, 1));   // 2x1 − x2 − 2x3 + x4
    V[5] = _mm256_add_epi16(_mm256_sub_epi16(_mm256_slli_epi16(x1mx3, 2), X[3]), X[5]);   // 4x1 − 5x3 + x5
}


/// Step 1, vertical: tile rows base + j·d, inputs rows base + (i − 1)·d.
__attribute__((target(T256))) static void transform_vertical(const wino_ctx *c, int64_t base, int32_t *V,
                                                             const uint8_t *zprow) {
    const segc_qconv_params *p = c->p;
    for (int64_t cp = 0; cp < c->np; cp++) {
        const uint8_t *ra[6], *rb[6];
        for (int i = 0; i < 6; i++) {
            int64_t row = base + (i - 1) * c->d;
            int in = row >= 0 && row < p->h;
            ra[i] = in ? c->x + ((2 * cp) * p->h + row) * p->w : zprow;
            rb[i] = in && 2 * cp + 1 < p->cin ? c->x + ((2 * cp + 1) * p->h + row) * p->w : zprow;
        }
        for (int64_t l = 0; l < p->w; l += 8) {
            __m256i X[6], Vv[6];
            for (int i = 0; i < 6; i++) X[i] = pairs8(ra[i] + l, rb[i] + l);
            input_transform(X, Vv);
            for (int i = 0; i < 6; i++) _mm256_store_si256((__m256i *)(V + (i * c->np + cp) * c->nl + l), Vv[i]);
        }
    }
}

/// Horizontal lane geometry: the tiles of dilation d are the 4 columns q, q + d, q + 2d,
/// q + 3d of each 4d-column block. Lane group g (8 tiles) starts at column base(g); lane l's
/// tile has outputs base + off(l) + j·d and inputs base + off(l) + (i − 1)·d.
/// d = 1, 2, 4: the d tiles of 8 / d blocks, 32 columns (off = 4d·(l / d) + l % d);
/// d a multiple of 8: 8 adjacent tiles of one block (off = l).
static int64_t hgroup_base(const wino_ctx *c, int64_t g) {
    if (c->d < 8) return 32 * g;
    int64_t per = c->d / 8;
    return 4 * c->d * (g / per) + 8 * (g % per);
}
static int64_t hlane_off(const wino_ctx *c, int l) { return c->d < 8 ? 4 * c->d * (l / c->d) + l % c->d : l; }

/// Step 1, horizontal: output row `row`; a padded row of channel pairs, then the gathers.
__attribute__((target(T256))) static void transform_horizontal(const wino_ctx *c, int64_t row, int32_t *V,
                                                               int32_t *prow) {
    const int64_t d = c->d;
    int32_t off[8];
    for (int l = 0; l < 8; l++) off[l] = (int32_t)hlane_off(c, l);
    const __m256i lanes = _mm256_loadu_si256((const __m256i *)off);
    for (int64_t cp = 0; cp < c->np; cp++) {
        wino_pair_row(c, cp, row, d, prow);
        for (int64_t g = 0; g < c->nl / 8; g++) {
            const int32_t *at = prow + d + hgroup_base(c, g);
            __m256i X[6], Vv[6];
            for (int i = 0; i < 6; i++)
                X[i] = d < 8 ? _mm256_i32gather_epi32((const int *)(at + (i - 1) * d), lanes, 4)
                             : _mm256_loadu_si256((const __m256i *)(at + (i - 1) * d));
            input_transform(X, Vv);
            for (int i = 0; i < 6; i++) _mm256_store_si256((__m256i *)(V + (i * c->np + cp) * c->nl + 8 * g), Vv[i]);
        }
    }
}

/// Step 3's integer part: Y[j][r][v] = AT·M / 24 + bias (exact: see quant/qconv_wino.c).
INLINE256 void output_transform(__m256i M[6][4][2], const int32_t *bias, int rows, __m256i Y[4][4][2]) {
    const __m256i inv3 = _mm256_set1_epi32((int32_t)0xAAAAAAABu);   // 3·0xAAAAAAAB = 1 mod 2^32
    for (int r = 0; r < 4; r++) {
        __m256i b = _mm256_set1_epi32(r < rows ? bias[r] : 0);
        for (int v = 0; v < 2; v++) {
            __m256i t1 = _mm256_add_epi32(M[1][r][v], M[2][r][v]), t2 = _mm256_sub_epi32(M[1][r][v], M[2][r][v]);
            __m256i t3 = _mm256_add_epi32(M[3][r][v], M[4][r][v]), t4 = _mm256_sub_epi32(M[3][r][v], M[4][r][v]);
            __m256i y24[4] = {_mm256_add_epi32(_mm256_add_epi32(M[0][r][v], t1), t3),
                              _mm256_add_epi32(t2, _mm256_slli_epi32(t4, 1)),
                              _mm256_add_epi32(t1, _mm256_slli_epi32(t3, 2)),
                              _mm256_add_epi32(_mm256_add_epi32(t2, _mm256_slli_epi32(t4, 3)), M[5][r][v])};
            for (int j = 0; j < 4; j++)
                Y[j][r][v] = _mm256_add_epi32(_mm256_mullo_epi32(_mm256_srai_epi32(y24[j], 3), inv3), b);
        }
    }
}

/// 4x8 int32 transpose: lane l of a[j] (tile l, output j) to o[l / 2] lane 4·(l % 2) + j.
INLINE256 void transpose4x8(const __m256i a[4], __m256i o[4]) {
    __m256i t0 = _mm256_unpacklo_epi32(a[0], a[1]), t1 = _mm256_unpackhi_epi32(a[0], a[1]);
    __m256i t2 = _mm256_unpacklo_epi32(a[2], a[3]), t3 = _mm256_unpackhi_epi32(a[2], a[3]);
    __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
    __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
    o[0] = _mm256_permute2x128_si256(u0, u1, 0x20);
    o[1] = _mm256_permute2x128_si256(u2, u3, 0x20);
    o[2] = _mm256_permute2x128_si256(u0, u1, 0x31);
    o[3] = _mm256_permute2x128_si256(u2, u3, 0x31);
}

__attribute__((target(T256))) static void wino_task(void *vctx, int64_t task, int thread) {
    const wino_ctx *c = vctx;
    const segc_qconv_params *p = c->p;
    uint8_t *ws = (uint8_t *)(((uintptr_t)segc_ws_thread(c->ws, thread) + 63) & ~(uintptr_t)63);
    int32_t *V = (int32_t *)ws;
    uint8_t *rowbuf = ws + (6 * c->np * c->nl * 4 + 63) / 64 * 64;
    int64_t base = 0;
    if (c->vertical) {
        base = 4 * c->d * (task / c->d) + task % c->d;   // tile rows base + j·d
        memset(rowbuf, p->x_zp, (size_t)p->w);
        transform_vertical(c, base, V, rowbuf);
    } else {
        transform_horizontal(c, task, V, (int32_t *)rowbuf);
    }
    for (int64_t l0 = 0; l0 < c->nl; l0 += 16)
        for (int64_t blk = 0; blk < c->nb; blk++) {
            int rows = (int)SEGC_MIN(4, p->cout - 4 * blk);
            __m256i M[6][4][2], Y[4][4][2];
            wino_products(c, V, l0, blk, 6, M);
            output_transform(M, c->bias + 4 * blk, rows, Y);
            __m256i acc[MRMAX][NVMAX];
            if (c->vertical) {
                for (int j = 0; j < 4; j++) {
                    for (int r = 0; r < 4; r++) { acc[r][0] = Y[j][r][0]; acc[r][1] = Y[j][r][1]; }
                    wino_store(c, blk, rows, (base + j * c->d) * p->ow + l0, 16, 2, acc);
                }
            } else if (c->d == 1) {   // lanes are tiles of 4 adjacent columns: transpose to pixels
                for (int v = 0; v < 2; v++) {
                    for (int r = 0; r < 4; r++) {
                        __m256i a[4] = {Y[0][r][v], Y[1][r][v], Y[2][r][v], Y[3][r][v]};
                        transpose4x8(a, acc[r]);
                    }
                    wino_store(c, blk, rows, task * p->ow + 4 * (l0 + 8 * v), 32, 4, acc);
                }
            } else if (c->d < 8) {   // d = 2, 4: put the 4 outputs of 8 tiles in column order via memory
                for (int v = 0; v < 2; v++) {
                    int32_t tmp[4][32] __attribute__((aligned(32)));
                    for (int r = 0; r < 4; r++) {
                        int32_t lanes[4][8] __attribute__((aligned(32)));
                        for (int j = 0; j < 4; j++) _mm256_store_si256((__m256i *)lanes[j], Y[j][r][v]);
                        for (int l = 0; l < 8; l++)
                            for (int j = 0; j < 4; j++) tmp[r][hlane_off(c, l) + j * c->d] = lanes[j][l];
                        for (int k = 0; k < 4; k++) acc[r][k] = _mm256_load_si256((const __m256i *)(tmp[r] + 8 * k));
                    }
                    wino_store(c, blk, rows, task * p->ow + 32 * (l0 / 8 + v), 32, 4, acc);
                }
            } else {   // lanes are 8 adjacent columns of each of the 4 outputs
                for (int v = 0; v < 2; v++)
                    for (int j = 0; j < 4; j++) {
                        for (int r = 0; r < 4; r++) acc[r][0] = Y[j][r][v];
                        wino_store(c, blk, rows, task * p->ow + hgroup_base(c, l0 / 8 + v) + j * c->d, 8, 1, acc);
                    }
            }
        }
}

int segc_qwino_run(segc_pool *pool, const segc_qconv_params *p, const uint8_t *x, const segc_qpack_hdr *h,
                   const float *mult, const uint8_t *residual, const float *slope, void *y, const segc_ws *ws) {
    if (!ws || !ws->base || ws->per_thread < segc_qwino_ws(p) || ws->threads < segc_pool_threads(pool))
        return SEGC_ENOSPC;
    wino_ctx c;
    c.p = p;
    c.x = x;
    c.res = residual;
    c.u = (const int32_t *)((const uint8_t *)h + h->wino_off);
    c.bias = (const int32_t *)((const uint8_t *)h + h->bias_off);
    c.mult = mult;
    c.slope = slope;
    c.y = y;
    c.esize = p->out_f32 ? 4 : 1;
    c.np = (p->cin + 1) / 2;
    c.nl = segc_qwino_lanes(p);
    c.nb = (p->cout + 3) / 4;
    c.vertical = p->kh == 3;
    c.d = c.vertical ? p->dh : p->dw;
    c.ws = ws;
    if (p->kh == 3 && p->kw == 3) segc_pool_run(pool, segc_qwino2d_task, &c, p->oh / 2);
    else segc_pool_run(pool, wino_task, &c, c.vertical ? p->oh / 4 : p->oh);
    return SEGC_OK;
}
#endif
