#pragma once
#pragma clang fp contract(off)   // requantization: multiply, then add (the scalar level's rounding)
// The ymm tiles' shared parts (arch/x86/qconv_avx2.c, arch/x86/qconv_avxvnni.c): MR output
// channels × NV·8 output pixels in __m256i int32 accumulators, and the requantization of
// a tile: the scalar's float formula lane-wise (see qconv_avx512.c); tails and strided
// outputs go through a small buffer (AVX2 has no byte-masked stores).
#include "../../quant/qconv.h"
#include <immintrin.h>

#define T256 "avx2,fma"
#define INLINE256 static inline __attribute__((always_inline, target(T256)))
#define MRMAX 8
#define NVMAX 4

/// Accumulators start at the folded bias (rows past `rows` at 0). The residual lines the
/// epilogue will read are prefetched while the K loop runs (one stream per output channel
/// is more than the hardware prefetcher tracks; see qconv_avx512.c).
INLINE256 void ymm_init_acc(const segc_qtile *t, const int MR, const int NV, __m256i acc[MRMAX][NVMAX]) {
    if (t->res)
        for (int r = 0; r < MR && r < t->rows; r++) {
            const uint8_t *rp = t->res + r * t->rstride;
            _mm_prefetch((const char *)rp, _MM_HINT_T0);
            _mm_prefetch((const char *)(rp + (t->n - 1) * t->rstep), _MM_HINT_T0);
        }
    for (int r = 0; r < MR; r++) {
        __m256i b = _mm256_set1_epi32(r < t->rows ? t->bias[r] : 0);
        for (int v = 0; v < NV; v++) acc[r][v] = b;
    }
}

/// Whole uint8 rows of 16 or 24 contiguous pixels (NV 2 or 3; the usual tile): the row's
/// vectors are packed to bytes together and stored as one 16- or 24-byte line (one thread,
/// ERFNet's convs with AVX-VNNI: 260 -> 232 ms in all).
INLINE256 void ymm_epilogue_rows(const segc_qtile *t, const int MR, const int NV, __m256i acc[MRMAX][NVMAX]) {
    const segc_qconv_params *p = t->p;
    const __m256 zero = _mm256_setzero_ps(), lo = _mm256_set1_ps((float)-p->y_zp),
                 hi = _mm256_set1_ps((float)(255 - p->y_zp)), rmul = _mm256_set1_ps(p->r_mul);
    const __m256i rzp = _mm256_set1_epi32(p->r_zp), zp16 = _mm256_set1_epi16((int16_t)p->y_zp);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const int act = p->act;
    for (int r = 0; r < MR; r++) {
        if (r >= t->rows) break;
        const __m256 m = _mm256_set1_ps(t->mult[r]);
        const __m256 s = _mm256_set1_ps(act == SEGC_ACT_PRELU ? t->slope[r * t->slope_step] : 0.0f);
        const uint8_t *rp = t->res ? t->res + r * t->rstride : NULL;
        __m256i q[NVMAX];
        for (int v = 0; v < NV; v++) {
            __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[r][v]), m);
            if (rp) {
                __m256i rr = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(rp + 8 * v)));
                f = _mm256_add_ps(f, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(rr, rzp)), rmul));
            }
            // After relu f >= 0 >= −zp (NaN already 0): the lower clamp is a no-op.
            if (act == SEGC_ACT_RELU) f = _mm256_max_ps(f, zero);
            else if (act == SEGC_ACT_PRELU)
                f = _mm256_max_ps(_mm256_blendv_ps(_mm256_mul_ps(f, s), f, _mm256_cmp_ps(f, zero, _CMP_GT_OQ)), lo);
            else f = _mm256_max_ps(f, lo);
            q[v] = _mm256_cvtps_epi32(_mm256_min_ps(f, hi));   // in [−zp, 255 − zp]
        }
        // packs/packus work per 128-bit lane: int16 (exact, |q| <= 255) + zp, then bytes as
        // dwords (lane 0: q0 q1 q2 q2 pixels 0-3, lane 1: their pixels 4-7); vpermd puts
        // them in pixel order.
        __m256i w01 = _mm256_add_epi16(_mm256_packs_epi32(q[0], q[1]), zp16);
        __m256i w2 = NV == 3 ? _mm256_add_epi16(_mm256_packs_epi32(q[2], q[2]), zp16) : w01;
        __m256i b = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(w01, w2), order);
        uint8_t *yp = (uint8_t *)t->y + r * t->ystride;
        _mm_storeu_si128((__m128i *)yp, _mm256_castsi256_si128(b));
        if (NV == 3) _mm_storel_epi64((__m128i *)(yp + 16), _mm256_extracti128_si256(b, 1));
    }
}

/// Requantizes and stores the tile's valid rows and pixels from acc (a copy in memory: the
/// loop indexes rows at run time, and indexing the live accumulators would keep them in
/// memory, stored after every K step).
INLINE256 void ymm_epilogue(const segc_qtile *t, const int MR, const int NV, __m256i acc[MRMAX][NVMAX]) {
    const segc_qconv_params *p = t->p;
    if ((NV == 2 || NV == 3) && t->n == 8 * NV && t->ystep == 1 && (!t->res || t->rstep == 1) && !p->out_f32) {
        ymm_epilogue_rows(t, MR, NV, acc);
        return;
    }
    const __m256 zero = _mm256_setzero_ps(), lo = _mm256_set1_ps((float)-p->y_zp),
                 hi = _mm256_set1_ps((float)(255 - p->y_zp)), rmul = _mm256_set1_ps(p->r_mul);
    const __m256i yzp = _mm256_set1_epi32(p->y_zp), rzp = _mm256_set1_epi32(p->r_zp);
    for (int r = 0; r < MR; r++) {
        if (r >= t->rows) break;
        const __m256 m = _mm256_set1_ps(t->mult[r]);
        const __m256 s = _mm256_set1_ps(p->act == SEGC_ACT_PRELU ? t->slope[r * t->slope_step] : 0.0f);
        for (int v = 0; v < NV; v++) {
            int cnt = t->n - 8 * v;
            if (cnt <= 0) break;
            int full = cnt >= 8 && t->ystep == 1, rfull = cnt >= 8 && t->rstep == 1;
            if (cnt > 8) cnt = 8;
            int64_t e = r * t->ystride + 8 * v * t->ystep;
            __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[r][v]), m);
            if (t->res) {
                __m256i rr;
                const uint8_t *rp = t->res + r * t->rstride + 8 * v * t->rstep;
                if (rfull) {
                    rr = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)rp));
                } else {
                    int32_t tmp[8] = {0};
                    for (int i = 0; i < cnt; i++) tmp[i] = rp[i * t->rstep];
                    rr = _mm256_loadu_si256((const __m256i *)tmp);
                }
                rr = _mm256_sub_epi32(rr, rzp);
                f = _mm256_add_ps(f, _mm256_mul_ps(_mm256_cvtepi32_ps(rr), rmul));
            }
            if (p->act == SEGC_ACT_RELU) f = _mm256_max_ps(f, zero);   // NaN, −0 -> +0 like v > 0 ? v : 0
            else if (p->act == SEGC_ACT_PRELU)
                f = _mm256_blendv_ps(_mm256_mul_ps(f, s), f, _mm256_cmp_ps(f, zero, _CMP_GT_OQ));
            if (p->out_f32) {
                float *yp = (float *)t->y + e;
                if (full) {
                    _mm256_storeu_ps(yp, f);
                } else {
                    float tmp[8];
                    _mm256_storeu_ps(tmp, f);
                    for (int i = 0; i < cnt; i++) yp[i * t->ystep] = tmp[i];
                }
                continue;
            }
            f = _mm256_min_ps(_mm256_max_ps(f, lo), hi);   // clamp commutes with rounding to integers
            __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(f), yzp);
            // 8 int32 in [0, 255] -> 8 bytes (pack within lanes, then gather the two halves).
            __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
            __m128i b8 = _mm_packus_epi16(w16, w16);
            uint8_t *yp = (uint8_t *)t->y + e;
            if (full) {
                _mm_storel_epi64((__m128i *)yp, b8);
            } else {
                uint8_t tmp[16];
                _mm_storeu_si128((__m128i *)tmp, b8);
                for (int i = 0; i < cnt; i++) yp[i * t->ystep] = tmp[i];
            }
        }
    }
}
