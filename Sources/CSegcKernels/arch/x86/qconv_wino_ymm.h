#pragma once
#pragma clang fp contract(off)   // requantization: multiply, then add (the scalar level's rounding)
// Shared parts of the integer Winograd convs without VNNI (arch/x86/qconv_wino_avx2.c:
// F(4,3) for 3x1 / 1x3; arch/x86/qconv_wino2d_avx2.c: F(2x2,3x3)): the run's context, the
// channel-pair loads, the products over transformed channel pairs and the store through
// the shared requantization. Why the integer transforms are exact: quant/qconv_wino.c.
#include "qconv_ymm.h"

typedef struct {
    const segc_qconv_params *p;
    const uint8_t *x, *res;
    const int32_t *u, *bias;
    const float *mult, *slope;
    uint8_t *y;
    int64_t esize, np, nl, nb, d;
    int vertical;
    const segc_ws *ws;
} wino_ctx;

/// The F(2x2,3x3) run's task (tile row t: output rows 2t, 2t + 1), arch/x86/qconv_wino2d_avx2.c.
void segc_qwino2d_task(void *vctx, int64_t t, int thread);

/// 8 pixels of channels a and b as int16 pairs (a0 b0 a1 b1 …).
INLINE256 __m256i pairs8(const uint8_t *a, const uint8_t *b) {
    return _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)a), _mm_loadl_epi64((const __m128i *)b)));
}

/// Input row `row` of channels 2·cp and 2·cp + 1 as int16 pairs at out[pad … pad + w), with
/// x_zp pairs in the `pad` entries each side (the direct kernels' padding) and throughout
/// when the row is outside the input. A missing odd channel repeats the even one: its
/// transformed weights are 0.
INLINE256 void wino_pair_row(const wino_ctx *c, int64_t cp, int64_t row, int64_t pad, int32_t *out) {
    const segc_qconv_params *p = c->p;
    const int32_t zz = (int32_t)((uint32_t)p->x_zp << 16 | (uint32_t)p->x_zp);
    for (int64_t k = 0; k < pad; k++) out[k] = out[pad + p->w + k] = zz;
    if (row < 0 || row >= p->h) {
        for (int64_t i = 0; i < p->w; i++) out[pad + i] = zz;
        return;
    }
    const uint8_t *a = c->x + ((2 * cp) * p->h + row) * p->w;
    const uint8_t *b = 2 * cp + 1 < p->cin ? c->x + ((2 * cp + 1) * p->h + row) * p->w : a;
    for (int64_t l = 0; l < p->w; l += 8) _mm256_storeu_si256((__m256i *)(out + pad + l), pairs8(a + l, b + l));
}

/// Step 2: M[i][r][v] = Σ_pairs V[i][pair][l0 + 8v ..] · U[block][i][pair][r], r < 4, v < 2,
/// for the transform's `np_` points (6 for F(4,3), 16 for F(2x2,3x3)).
INLINE256 void wino_products(const wino_ctx *c, const int32_t *V, int64_t l0, int64_t blk, const int np_,
                             __m256i M[][4][2]) {
    for (int i = 0; i < np_; i++) {
        __m256i acc[4][2];
        for (int r = 0; r < 4; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
        const int32_t *u = c->u + (blk * np_ + i) * c->np * 4;
        const int32_t *v = V + i * c->np * c->nl + l0;
        for (int64_t cp = 0; cp < c->np; cp++, u += 4, v += c->nl) {
            __m256i v0 = _mm256_load_si256((const __m256i *)v), v1 = _mm256_load_si256((const __m256i *)(v + 8));
            for (int r = 0; r < 4; r++) {
                __m256i w = _mm256_set1_epi32(u[r]);
                acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(v0, w));
                acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(v1, w));
            }
        }
        for (int r = 0; r < 4; r++) { M[i][r][0] = acc[r][0]; M[i][r][1] = acc[r][1]; }
    }
}

/// Requantizes acc (rows × nv vectors of 8 lanes) into the output at element offset e.
INLINE256 void wino_store(const wino_ctx *c, int64_t blk, int rows, int64_t e, int n, const int nv,
                          __m256i acc[MRMAX][NVMAX]) {
    const segc_qconv_params *p = c->p;
    int64_t oc = 4 * blk, ohw = p->oh * p->ow;
    segc_qtile t = {0};
    t.rows = rows;
    t.n = n;
    t.mult = c->mult + oc;
    t.slope_step = p->act == SEGC_ACT_PRELU && p->nslope != 1;
    t.slope = p->act == SEGC_ACT_PRELU ? c->slope + (t.slope_step ? oc : 0) : NULL;
    t.res = c->res ? c->res + oc * ohw + e : NULL;
    t.rstride = t.ystride = ohw;
    t.rstep = t.ystep = 1;
    t.y = c->y + (oc * ohw + e) * c->esize;
    t.p = p;
    ymm_epilogue(&t, 4, nv, acc);
}

