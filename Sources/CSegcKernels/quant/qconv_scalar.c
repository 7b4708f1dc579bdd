#pragma clang fp contract(off)   // the requantization (segc_qreq_value) is multiply, then add
// The scalar level's tile kernel for the tiled driver (quant/qconv_tiled.c): 4 output
// channels × 8 pixels. On x86-64 the K loop uses SSE2 (the baseline every x86-64 CPU has,
// as the fp32 scalar level's loops are auto-vectorised to it): pmaddwd on the activation
// quads' even and odd bytes, the AVX2 kernel's scheme at 128 bits. Elsewhere it is plain
// C over the same weight layout. The epilogue is segc_qreq_value per element: the
// header's definition, which the SIMD epilogues reproduce lane-wise.
// (Measured, 3x1 128ch conv at 64x128, one thread: a direct loop over the definition
// 1.37 s, plain C tiles 155 ms, these SSE2 tiles 22 ms; the fp32 scalar level 21 ms.)
#include "qconv.h"
#if defined(__x86_64__)
#include <emmintrin.h>
#endif

#define MR 4
#define NR 8

/// Requantizes and stores the tile from acc[r][i] (uint32, wrapped like the SIMD adds).
static void store_tile(const segc_qtile *t, const uint32_t acc[MR][NR]) {
    const segc_qconv_params *p = t->p;
    for (int r = 0; r < t->rows; r++) {
        float slope = p->act == SEGC_ACT_PRELU ? t->slope[r * t->slope_step] : 0.0f;
        for (int i = 0; i < t->n; i++) {
            const uint8_t *res = t->res ? t->res + r * t->rstride + i * t->rstep : NULL;
            float v = segc_qreq_value(p, (int32_t)acc[r][i], t->mult[r], res, slope);
            segc_qstore(p, t->y, r * t->ystride + i * t->ystep, v);
        }
    }
}

static void tile_scalar(const segc_qtile *t) {
    uint32_t out[MR][NR];
#if defined(__x86_64__)
    // Weights per (quad, tap, row): int16 pairs (w0, w2), (w1, w3), as for vpmaddwd.
    __m128i acc[MR][2];
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm_set1_epi32(r < t->rows ? t->bias[r] : 0);
    const __m128i low = _mm_set1_epi16(0x00FF);
    const int32_t *w = (const int32_t *)t->w;
    for (int64_t q = 0; q < t->nq; q++) {
        const uint8_t *aq = t->act + q * t->qstride;
        for (int64_t k = 0; k < t->ntaps; k++, w += 2 * MR) {
            const uint8_t *a = aq + t->toff[k];
            __m128i x0 = _mm_loadu_si128((const __m128i *)a), x1 = _mm_loadu_si128((const __m128i *)(a + 16));
            __m128i e0 = _mm_and_si128(x0, low), o0 = _mm_srli_epi16(x0, 8);
            __m128i e1 = _mm_and_si128(x1, low), o1 = _mm_srli_epi16(x1, 8);
            for (int r = 0; r < MR; r++) {
                __m128i we = _mm_set1_epi32(w[2 * r]), wo = _mm_set1_epi32(w[2 * r + 1]);
                acc[r][0] = _mm_add_epi32(acc[r][0], _mm_add_epi32(_mm_madd_epi16(e0, we), _mm_madd_epi16(o0, wo)));
                acc[r][1] = _mm_add_epi32(acc[r][1], _mm_add_epi32(_mm_madd_epi16(e1, we), _mm_madd_epi16(o1, wo)));
            }
        }
    }
    for (int r = 0; r < MR; r++) {
        _mm_storeu_si128((__m128i *)out[r], acc[r][0]);
        _mm_storeu_si128((__m128i *)(out[r] + 4), acc[r][1]);
    }
#else
    // Weights per (quad, tap, row): the quad, int8.
    for (int r = 0; r < MR; r++)
        for (int i = 0; i < NR; i++) out[r][i] = r < t->rows ? (uint32_t)t->bias[r] : 0;
    const int8_t *w = (const int8_t *)t->w;
    for (int64_t q = 0; q < t->nq; q++) {
        const uint8_t *aq = t->act + q * t->qstride;
        for (int64_t k = 0; k < t->ntaps; k++, w += 4 * MR) {
            const uint8_t *a = aq + t->toff[k];
            for (int r = 0; r < MR; r++)
                for (int i = 0; i < NR; i++)
                    out[r][i] += (uint32_t)(a[4 * i] * w[4 * r] + a[4 * i + 1] * w[4 * r + 1] +
                                            a[4 * i + 2] * w[4 * r + 2] + a[4 * i + 3] * w[4 * r + 3]);
        }
    }
#endif
    store_tile(t, out);
}

#if defined(__x86_64__)
const segc_qkernel segc_qk_scalar = {tile_scalar, NULL, MR, NR, 8, 0};
#else
const segc_qkernel segc_qk_scalar = {tile_scalar, NULL, MR, NR, 4, 0};
#endif
