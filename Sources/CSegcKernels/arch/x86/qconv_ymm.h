#pragma once
#pragma clang fp contract(off)   // requantization: multiply, then add (the scalar level's rounding)
// The ymm tiles' shared parts (arch/x86/qconv_avx2.c, arch/x86/qconv_avxvnni.c): MR output
// channels × NV·8 output pixels in __m256i int32 accumulators, and the requantization of
// a tile: the scalar's float formula lane-wise (see qconv_avx512.c); tails and strided
// outputs go through a small buffer (AVX2 has no byte-masked stores).
#include "../../quant/qconv.h"
#include <immintrin.h>
#include "prefetch.h"

#define T256 "avx2,fma"
#define INLINE256 static inline __attribute__((always_inline, target(T256)))
#define MRMAX 8
#define NVMAX 4

/// Accumulators start at the folded bias (rows past `rows` at 0). The residual lines the
/// epilogue will read are prefetched while the K loop runs (one stream per output channel
/// is more than the hardware prefetcher tracks; see qconv_avx512.c).
INLINE256 void ymm_init_acc(const segc_qtile *t, const int MR, const int NV, __m256i acc[MRMAX][NVMAX]) {
    segc_prefetch_residual_u8(t->res, MR < t->rows ? MR : t->rows, t->rstride, t->n, t->rstep);
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

/// act(acc·mult (+ residual term)) of one vector of `cnt` pixels whose residual bytes are
/// rp[2i] (rp NULL: none). When both phases have 8 pixels here (`whole`: 16 outputs), it
/// loads rp − hi .. rp − hi + 15, those 16 outputs' bytes, and keeps byte hi of each pair
/// (even outputs hi 0, odd outputs hi 1): nothing outside the row is read.
INLINE256 __m256 ymm_requant_step2(const segc_qconv_params *p, __m256i acc, __m256 m, __m256 s, const uint8_t *rp,
                                   int hi, int cnt, int whole) {
    __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), m);
    if (rp) {
        __m256i rr;
        if (whole) {
            rr = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(rp - hi)));
            rr = hi ? _mm256_srli_epi32(rr, 8) : _mm256_and_si256(rr, _mm256_set1_epi32(0xFF));
        } else {
            int32_t tmp[8] = {0};
            for (int i = 0; i < cnt; i++) tmp[i] = rp[2 * i];
            rr = _mm256_loadu_si256((const __m256i *)tmp);
        }
        rr = _mm256_sub_epi32(rr, _mm256_set1_epi32(p->r_zp));
        f = _mm256_add_ps(f, _mm256_mul_ps(_mm256_cvtepi32_ps(rr), _mm256_set1_ps(p->r_mul)));
    }
    const __m256 zero = _mm256_setzero_ps();
    if (p->act == SEGC_ACT_RELU) f = _mm256_max_ps(f, zero);
    else if (p->act == SEGC_ACT_PRELU) f = _mm256_blendv_ps(_mm256_mul_ps(f, s), f, _mm256_cmp_ps(f, zero, _CMP_GT_OQ));
    return f;
}

/// Epilogue of a phase pair (segc_qpair_fn): t0->n even-column and t1->n odd-column pixels
/// (t1->n is t0->n or one less), NV vectors each, written as t0->n + t1->n contiguous
/// outputs from t0->y: the two phases' vectors are interleaved in registers.
INLINE256 void ymm_epilogue_pair(const segc_qtile *t0, const segc_qtile *t1, const int MR, const int NV,
                                 __m256i a0[MRMAX][NVMAX], __m256i a1[MRMAX][NVMAX]) {
    const segc_qconv_params *p = t0->p;
    for (int r = 0; r < MR; r++) {
        if (r >= t0->rows) break;
        const __m256 m = _mm256_set1_ps(t0->mult[r]);
        const __m256 s = _mm256_set1_ps(p->act == SEGC_ACT_PRELU ? t0->slope[r * t0->slope_step] : 0.0f);
        for (int v = 0; v < NV; v++) {
            int c0 = t0->n - 8 * v, c1 = t1->n - 8 * v;
            if (c0 <= 0) break;
            c0 = c0 > 8 ? 8 : c0;
            c1 = c1 > 8 ? 8 : c1 < 0 ? 0 : c1;
            const uint8_t *r0 = t0->res ? t0->res + r * t0->rstride + 16 * v : NULL;
            const uint8_t *r1 = t1->res ? t1->res + r * t1->rstride + 16 * v : NULL;
            int cnt = c0 + c1;   // outputs 16v .. 16v + cnt of the row
            __m256 f0 = ymm_requant_step2(p, a0[r][v], m, s, r0, 0, c0, cnt == 16);
            __m256 f1 = ymm_requant_step2(p, a1[r][v], m, s, r1, 1, c1, cnt == 16);
            int64_t e = r * t0->ystride + 16 * v;
            // unpack within lanes, then the lanes in order: outputs 0-7 and 8-15.
            __m256 lo = _mm256_unpacklo_ps(f0, f1), hi = _mm256_unpackhi_ps(f0, f1);
            __m256 o0 = _mm256_permute2f128_ps(lo, hi, 0x20), o1 = _mm256_permute2f128_ps(lo, hi, 0x31);
            if (p->out_f32 && cnt == 16) {
                _mm256_storeu_ps((float *)t0->y + e, o0);
                _mm256_storeu_ps((float *)t0->y + e + 8, o1);
                continue;
            }
            // Tails, and uint8 outputs (quant/qconv_tiled.c pairs float outputs only; uint8
            // ones take the phase buffer): per element, the scalar level's store.
            float tmp[16];
            _mm256_storeu_ps(tmp, o0);
            _mm256_storeu_ps(tmp + 8, o1);
            for (int i = 0; i < cnt; i++) segc_qstore(p, t0->y, e + i, tmp[i]);
        }
    }
}

/// A level's pair kernel (segc_qpair_fn) from its K loop `KLOOP(t, MR, NV, acc)`: two column
/// phases of a stride-2 transposed conv (t0: even output columns, t1: odd), 4 channels × 16
/// phase pixels each, interleaved in registers into 32 contiguous outputs, so float logits
/// are written once instead of through the phase buffer (quant/qconv_tiled.c). ERFNet's last
/// layer (T2x2/2 16->20 at 512x1024): 5.8 -> 4.3 ms at plain AVX2 on a Zen 4, 2 threads.
#define DEFINE_YMM_PAIR(NAME, TARGET, KLOOP)                                                                      \
    __attribute__((target(TARGET))) static void NAME(const segc_qtile *t0, const segc_qtile *t1) {             \
        __m256i a0[MRMAX][NVMAX], a1[MRMAX][NVMAX], o0[MRMAX][NVMAX], o1[MRMAX][NVMAX];                         \
        ymm_init_acc(t0, 4, 2, a0);                                                                             \
        ymm_init_acc(t1, 4, 2, a1);                                                                             \
        KLOOP(t0, 4, 2, a0);                                                                                    \
        KLOOP(t1, 4, 2, a1);                                                                                    \
        for (int r = 0; r < 4; r++)                                                                             \
            for (int v = 0; v < 2; v++) {                                                                       \
                _mm256_store_si256(&o0[r][v], a0[r][v]);                                                        \
                _mm256_store_si256(&o1[r][v], a1[r][v]);                                                        \
            }                                                                                                   \
        ymm_epilogue_pair(t0, t1, 4, 2, o0, o1);                                                                \
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
