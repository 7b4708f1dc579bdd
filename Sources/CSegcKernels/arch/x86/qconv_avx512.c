#pragma clang fp contract(off)   // requantization: multiply, then add (the scalar level's rounding)
// AVX-512 int8 conv tiles (quant/qconv_tiled.c): MR output channels × NV·16 output
// pixels, one zmm accumulator per (channel, 16 pixels).
// * VNNI: vpdpbusd acc, act, {w quad}×16 — 16 pixels × 4 input channels per instruction;
//   the weight quad is a 32-bit broadcast from the packed block (one load per row).
// * no VNNI (level 2 only requires F/BW/VL/DQ): the activation quads are split into
//   their even and odd bytes, zero-extended to int16 (vpand, vpsrlw), and vpmaddwd with the
//   sign-extended weight pairs (w0, w2) and (w1, w3) packed beside them gives exact int32
//   pair sums (|255·128·2| < 2^31), added with vpaddd — the same integers as vpdpbusd.
// Requantization is the scalar's float formula lane-wise: cvtdq2ps, ·mult, + residual
// term, max/blend for relu/prelu, clamp to [−zp, 255 − zp] (max returns the bound for
// NaN, as the scalar's first compare), cvtps2dq (round half to even), + zp, to bytes
// (whole 64-pixel rows: vpackssdw/vpackuswb/vpermd and one store; else vpmovdb, masked).
// Transposed convs reach these tiles with ystep 1 (quant/qconv_tiled.c buffers or pairs
// the column phases); the strided stores remain for any other caller of segc_qtile.
#include "../../quant/qconv.h"
#if defined(__x86_64__)
#include <immintrin.h>
#include "prefetch.h"

#define T512 "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma"
#define INLINE512 static inline __attribute__((always_inline, target(T512)))
#define MRMAX 8
#define NVMAX 4

/// Lane mask of the first `cnt` (0..16) lanes.
INLINE512 __mmask16 lanes(int cnt) { return cnt >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (cnt > 0 ? cnt : 0)) - 1); }

/// Residual bytes of 16 pixels at step 1 or 2 (masked: never reads past the valid ones).
INLINE512 __m512i load_res(const uint8_t *rp, int64_t step, int cnt) {
    if (step == 1) return _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(lanes(cnt), rp));
    if (step == 2) {
        __mmask32 m = (__mmask32)(0x55555555u & (cnt >= 16 ? 0xFFFFFFFFu : ((1u << (2 * cnt)) - 1)));
        return _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi8(m, rp));
    }
    int32_t tmp[16] = {0};
    for (int i = 0; i < cnt; i++) tmp[i] = rp[i * step];
    return _mm512_loadu_si512(tmp);
}

INLINE512 void store_u8(uint8_t *yp, int64_t step, __m512i q, int cnt) {
    __m128i b = _mm512_cvtepi32_epi8(q);   // values are in [0, 255]
    if (step == 1) { _mm_mask_storeu_epi8(yp, lanes(cnt), b); return; }
    if (step == 2) {   // even bytes of the zero-extended vector: every other output pixel
        __mmask32 m = (__mmask32)(0x55555555u & (cnt >= 16 ? 0xFFFFFFFFu : ((1u << (2 * cnt)) - 1)));
        _mm256_mask_storeu_epi8(yp, m, _mm256_cvtepu8_epi16(b));
        return;
    }
    uint8_t tmp[16];
    _mm_storeu_si128((__m128i *)tmp, b);
    for (int i = 0; i < cnt; i++) yp[i * step] = tmp[i];
}

INLINE512 void store_f32(float *yp, int64_t step, __m512 f, int cnt) {
    if (step == 1) { _mm512_mask_storeu_ps(yp, lanes(cnt), f); return; }
    if (step == 2) {
        const __m512i lo = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
        const __m512i hi = _mm512_setr_epi32(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
        int c0 = cnt < 8 ? cnt : 8, c1 = cnt - c0;
        _mm512_mask_storeu_ps(yp, (__mmask16)(0x5555u & ((1u << (2 * c0)) - 1)), _mm512_permutexvar_ps(lo, f));
        if (c1 > 0) _mm512_mask_storeu_ps(yp + 16, (__mmask16)(0x5555u & ((1u << (2 * c1)) - 1)), _mm512_permutexvar_ps(hi, f));
        return;
    }
    float tmp[16];
    _mm512_storeu_ps(tmp, f);
    for (int i = 0; i < cnt; i++) yp[i * step] = tmp[i];
}

/// Requantizes and stores the tile's valid rows and pixels.
INLINE512 void epilogue(const segc_qtile *t, const int MR, const int NV, __m512i acc[MRMAX][NVMAX]) {
    const segc_qconv_params *p = t->p;
    const __m512 zero = _mm512_setzero_ps(), lo = _mm512_set1_ps((float)-p->y_zp),
                 hi = _mm512_set1_ps((float)(255 - p->y_zp)), rmul = _mm512_set1_ps(p->r_mul);
    const __m512i yzp = _mm512_set1_epi32(p->y_zp), rzp = _mm512_set1_epi32(p->r_zp);
    const int act = p->act;
    // Whole rows of 16·NV contiguous uint8 pixels: no masks, and the 4 vectors of a row are
    // packed to bytes together (vpackusdw, vpackuswb, one vpermd) and stored as one line.
    const int fast = t->n == 16 * NV && t->ystep == 1 && (!t->res || t->rstep == 1) && !p->out_f32 && NV == 4;
    for (int r = 0; r < MR; r++) {
        if (r >= t->rows) break;
        const __m512 m = _mm512_set1_ps(t->mult[r]);
        const __m512 s = _mm512_set1_ps(act == SEGC_ACT_PRELU ? t->slope[r * t->slope_step] : 0.0f);
        if (fast) {
            const uint8_t *rp = t->res ? t->res + r * t->rstride : NULL;
            __m512i q[NVMAX];
            for (int v = 0; v < NV; v++) {
                __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[r][v]), m);
                if (rp) {
                    __m512i rr = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(rp + 16 * v))), rzp);
                    f = _mm512_add_ps(f, _mm512_mul_ps(_mm512_cvtepi32_ps(rr), rmul));
                }
                // After relu f >= 0 >= −zp (NaN already 0): the lower clamp is a no-op.
                if (act == SEGC_ACT_RELU) f = _mm512_max_ps(f, zero);
                else if (act == SEGC_ACT_PRELU)
                    f = _mm512_max_ps(_mm512_mask_blend_ps(_mm512_cmp_ps_mask(f, zero, _CMP_GT_OQ), _mm512_mul_ps(f, s), f), lo);
                else f = _mm512_max_ps(f, lo);
                q[v] = _mm512_cvtps_epi32(_mm512_min_ps(f, hi));   // in [−zp, 255 − zp]
            }
            // packs work per 128-bit lane: int16 (exact: |q| <= 255), + zp as words, then
            // bytes come out as lane-interleaved dwords of (q0, q1, q2, q3); vpermd puts the
            // 16 dwords back in pixel order.
            const __m512i zp16 = _mm512_set1_epi16((int16_t)p->y_zp);
            __m512i w01 = _mm512_add_epi16(_mm512_packs_epi32(q[0], q[1]), zp16);
            __m512i w23 = _mm512_add_epi16(_mm512_packs_epi32(q[2], q[3]), zp16);
            __m512i b = _mm512_packus_epi16(w01, w23);
            const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
            _mm512_storeu_si512((uint8_t *)t->y + r * t->ystride, _mm512_permutexvar_epi32(order, b));
            continue;
        }
        for (int v = 0; v < NV; v++) {
            int cnt = t->n - 16 * v;
            if (cnt <= 0) break;
            if (cnt > 16) cnt = 16;
            int64_t e = r * t->ystride + 16 * v * t->ystep;
            __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[r][v]), m);
            if (t->res) {
                __m512i rr = _mm512_sub_epi32(load_res(t->res + r * t->rstride + 16 * v * t->rstep, t->rstep, cnt), rzp);
                f = _mm512_add_ps(f, _mm512_mul_ps(_mm512_cvtepi32_ps(rr), rmul));
            }
            if (act == SEGC_ACT_RELU) f = _mm512_max_ps(f, zero);   // NaN, −0 -> +0 like v > 0 ? v : 0
            else if (act == SEGC_ACT_PRELU)
                f = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(f, zero, _CMP_GT_OQ), _mm512_mul_ps(f, s), f);
            if (p->out_f32) {
                if (cnt >= 16 && t->ystep == 1) _mm512_storeu_ps((float *)t->y + e, f);
                else store_f32((float *)t->y + e, t->ystep, f, cnt);
                continue;
            }
            f = _mm512_min_ps(_mm512_max_ps(f, lo), hi);   // clamp commutes with rounding to integers
            __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(f), yzp);
            store_u8((uint8_t *)t->y + e, t->ystep, q, cnt);
        }
    }
}

/// v = act(acc·mult (+ (residual − r_zp)·r_mul)) for one vector of `cnt` valid lanes whose
/// residual bytes are at rp with step rstep (rp NULL: none).
INLINE512 __m512 requant(const segc_qconv_params *p, __m512i acc, __m512 m, __m512 s, const uint8_t *rp,
                         int64_t rstep, int cnt) {
    __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), m);
    if (rp) {
        __m512i rr = _mm512_sub_epi32(load_res(rp, rstep, cnt), _mm512_set1_epi32(p->r_zp));
        f = _mm512_add_ps(f, _mm512_mul_ps(_mm512_cvtepi32_ps(rr), _mm512_set1_ps(p->r_mul)));
    }
    if (p->act == SEGC_ACT_RELU) f = _mm512_max_ps(f, _mm512_setzero_ps());
    else if (p->act == SEGC_ACT_PRELU)
        f = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(f, _mm512_setzero_ps(), _CMP_GT_OQ), _mm512_mul_ps(f, s), f);
    return f;
}

/// uint8 of a requantized vector: clamp to [−zp, 255 − zp], round (cvtps2dq), + zp.
INLINE512 __m512i to_u8(const segc_qconv_params *p, __m512 f) {
    f = _mm512_min_ps(_mm512_max_ps(f, _mm512_set1_ps((float)-p->y_zp)), _mm512_set1_ps((float)(255 - p->y_zp)));
    return _mm512_add_epi32(_mm512_cvtps_epi32(f), _mm512_set1_epi32(p->y_zp));
}

/// Epilogue of a phase pair: t0->n even-column and t1->n odd-column pixels (t1->n is
/// t0->n or one less), written as t0->n + t1->n contiguous outputs from t0->y.
INLINE512 void epilogue_pair(const segc_qtile *t0, const segc_qtile *t1, const int MR, __m512i a0[MRMAX][NVMAX],
                             __m512i a1[MRMAX][NVMAX]) {
    const segc_qconv_params *p = t0->p;
    const __m512i ilo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ihi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    for (int r = 0; r < MR; r++) {
        if (r >= t0->rows) break;
        const __m512 m = _mm512_set1_ps(t0->mult[r]);
        const __m512 s = _mm512_set1_ps(p->act == SEGC_ACT_PRELU ? t0->slope[r * t0->slope_step] : 0.0f);
        for (int v = 0; v < 2; v++) {
            int c0 = t0->n - 16 * v, c1 = t1->n - 16 * v;
            if (c0 <= 0) break;
            c0 = c0 > 16 ? 16 : c0;
            c1 = c1 > 16 ? 16 : c1 < 0 ? 0 : c1;
            const uint8_t *r0 = t0->res ? t0->res + r * t0->rstride + 32 * v : NULL;
            const uint8_t *r1 = t1->res ? t1->res + r * t1->rstride + 32 * v : NULL;
            __m512 f0 = requant(p, a0[r][v], m, s, r0, 2, c0), f1 = requant(p, a1[r][v], m, s, r1, 2, c1);
            int cnt = c0 + c1;   // outputs 32v .. 32v + cnt of the row
            int64_t e = r * t0->ystride + 32 * v;
            if (p->out_f32) {
                float *yp = (float *)t0->y + e;
                _mm512_mask_storeu_ps(yp, lanes(cnt), _mm512_permutex2var_ps(f0, ilo, f1));
                if (cnt > 16) _mm512_mask_storeu_ps(yp + 16, lanes(cnt - 16), _mm512_permutex2var_ps(f0, ihi, f1));
                continue;
            }
            __m512i q0 = to_u8(p, f0), q1 = to_u8(p, f1);
            uint8_t *yp = (uint8_t *)t0->y + e;
            _mm_mask_storeu_epi8(yp, lanes(cnt), _mm512_cvtepi32_epi8(_mm512_permutex2var_epi32(q0, ilo, q1)));
            if (cnt > 16)
                _mm_mask_storeu_epi8(yp + 16, lanes(cnt - 16), _mm512_cvtepi32_epi8(_mm512_permutex2var_epi32(q0, ihi, q1)));
        }
    }
}

/// Accumulators start at the folded bias (rows past `rows` at 0). The residual lines the
/// epilogue will read are prefetched now, while the K loop runs: one stream per output
/// channel is more than the hardware prefetcher tracks, and each miss would stall the
/// epilogue (1x3 64ch +residual: 2.04 -> 1.7 ms single-thread).
INLINE512 void init_acc(const segc_qtile *t, const int MR, const int NV, __m512i acc[MRMAX][NVMAX]) {
    segc_prefetch_residual_u8(t->res, MR < t->rows ? MR : t->rows, t->rstride, t->n, t->rstep);
    for (int r = 0; r < MR; r++) {
        __m512i b = _mm512_set1_epi32(r < t->rows ? t->bias[r] : 0);
        for (int v = 0; v < NV; v++) acc[r][v] = b;
    }
}

#define VNNI_TARGET __attribute__((target(T512 ",avx512vnni")))
#define VNNI_INLINE static inline __attribute__((always_inline, target(T512 ",avx512vnni")))

/// acc += the tile's K loop with vpdpbusd (16 pixels × 4 channels per instruction).
VNNI_INLINE void kloop_vnni(const segc_qtile *t, const int MR, const int NV, __m512i acc[MRMAX][NVMAX]) {
    const int32_t *w = (const int32_t *)t->w;
    for (int64_t q = 0; q < t->nq; q++) {
        const uint8_t *aq = t->act + q * t->qstride;
        for (int64_t k = 0; k < t->ntaps; k++, w += MR) {
            const uint8_t *a = aq + t->toff[k];
            __m512i x[NVMAX];
            for (int v = 0; v < NV; v++) x[v] = _mm512_loadu_si512(a + 64 * v);
            for (int r = 0; r < MR; r++) {
                __m512i b = _mm512_set1_epi32(w[r]);
                for (int v = 0; v < NV; v++) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], x[v], b);
            }
        }
    }
}

/// acc += the tile's K loop with vpmaddwd on the activations' even and odd bytes.
INLINE512 void kloop_madd(const segc_qtile *t, const int MR, const int NV, __m512i acc[MRMAX][NVMAX]) {
    const __m512i low = _mm512_set1_epi16(0x00FF);
    const int32_t *w = (const int32_t *)t->w;
    for (int64_t q = 0; q < t->nq; q++) {
        const uint8_t *aq = t->act + q * t->qstride;
        for (int64_t k = 0; k < t->ntaps; k++, w += 2 * MR) {
            const uint8_t *a = aq + t->toff[k];
            __m512i xe[NVMAX], xo[NVMAX];
            for (int v = 0; v < NV; v++) {
                __m512i x = _mm512_loadu_si512(a + 64 * v);
                xe[v] = _mm512_and_si512(x, low);   // bytes 0, 2 of each pixel
                xo[v] = _mm512_srli_epi16(x, 8);    // bytes 1, 3
            }
            for (int r = 0; r < MR; r++) {
                __m512i we = _mm512_set1_epi32(w[2 * r]), wo = _mm512_set1_epi32(w[2 * r + 1]);
                for (int v = 0; v < NV; v++)
                    acc[r][v] = _mm512_add_epi32(acc[r][v],
                                                 _mm512_add_epi32(_mm512_madd_epi16(xe[v], we), _mm512_madd_epi16(xo[v], wo)));
            }
        }
    }
}

/// One tile: K loop, then the epilogue on a copy of the accumulators (it indexes rows at
/// run time; indexing acc itself would keep it in memory, stored after every step).
#define DEFINE_TILE(NAME, TARGET, KLOOP, MR, NV)                                                                 \
    TARGET static void NAME(const segc_qtile *t) {                                                              \
        __m512i acc[MRMAX][NVMAX], out[MRMAX][NVMAX];                                                           \
        init_acc(t, MR, NV, acc);                                                                               \
        KLOOP(t, MR, NV, acc);                                                                                  \
        for (int r = 0; r < MR; r++)                                                                            \
            for (int v = 0; v < NV; v++) _mm512_store_si512(&out[r][v], acc[r][v]);                             \
        epilogue(t, MR, NV, out);                                                                               \
    }

/// Two column phases of a stride-2 transposed conv (t0: even output columns, t1: odd),
/// MR channels × 32 phase pixels each, interleaved in registers into 64 contiguous outputs.
#define DEFINE_PAIR(NAME, TARGET, KLOOP, MR)                                                                     \
    TARGET static void NAME(const segc_qtile *t0, const segc_qtile *t1) {                                       \
        __m512i a0[MRMAX][NVMAX], a1[MRMAX][NVMAX], o0[MRMAX][NVMAX], o1[MRMAX][NVMAX];                         \
        init_acc(t0, MR, 2, a0);                                                                                \
        init_acc(t1, MR, 2, a1);                                                                                \
        KLOOP(t0, MR, 2, a0);                                                                                   \
        KLOOP(t1, MR, 2, a1);                                                                                   \
        for (int r = 0; r < MR; r++)                                                                            \
            for (int v = 0; v < 2; v++) {                                                                       \
                _mm512_store_si512(&o0[r][v], a0[r][v]);                                                        \
                _mm512_store_si512(&o1[r][v], a1[r][v]);                                                        \
            }                                                                                                   \
        epilogue_pair(t0, t1, MR, o0, o1);                                                                      \
    }

DEFINE_TILE(vnni_4x4, VNNI_TARGET, kloop_vnni, 4, 4)
DEFINE_TILE(madd_4x4, __attribute__((target(T512))), kloop_madd, 4, 4)
DEFINE_PAIR(vnni_pair4, VNNI_TARGET, kloop_vnni, 4)
DEFINE_PAIR(madd_pair4, __attribute__((target(T512))), kloop_madd, 4)

const segc_qkernel segc_qk_vnni512 = {vnni_4x4, vnni_pair4, 4, 64, 4, 2};
const segc_qkernel segc_qk_madd512 = {madd_4x4, madd_pair4, 4, 64, 8, 2};
#endif
