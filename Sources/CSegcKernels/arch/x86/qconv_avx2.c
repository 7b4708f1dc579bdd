#pragma clang fp contract(off)   // requantization: multiply, then add (the scalar level's rounding)
// AVX2 int8 conv tiles without AVX-VNNI (quant/qconv_tiled.c): MR output channels × NV·8
// output pixels. The activation quads are split into their even and odd bytes
// zero-extended to int16 (vpand, vpsrlw) and multiplied with the sign-extended weight
// pairs (w0, w2), (w1, w3) by vpmaddwd: exact int32 pair sums, added with vpaddd.
// Not vpmaddubsw on raw u8 × s8 pairs: its int16 pair sums saturate (255·127·2 > 32767).
// CPUs with AVX-VNNI use arch/x86/qconv_avxvnni.c at this level instead (quant/qconv.c);
// SEGC_NO_VNNI=1 keeps this one. Init and requantization: arch/x86/qconv_ymm.h.
#if defined(__x86_64__)
#include "qconv_ymm.h"

/// acc += the tile's K loop: quads outside, taps inside (the weight block's order).
INLINE256 void kloop_madd(const segc_qtile *t, const int MR, const int NV, __m256i acc[MRMAX][NVMAX]) {
    const __m256i low = _mm256_set1_epi16(0x00FF);
    const int32_t *w = (const int32_t *)t->w;
    for (int64_t q = 0; q < t->nq; q++) {
        const uint8_t *aq = t->act + q * t->qstride;
        for (int64_t k = 0; k < t->ntaps; k++, w += 2 * MR) {
            const uint8_t *a = aq + t->toff[k];
            __m256i xe[NVMAX], xo[NVMAX];
            for (int v = 0; v < NV; v++) {
                __m256i x = _mm256_loadu_si256((const __m256i *)(a + 32 * v));
                xe[v] = _mm256_and_si256(x, low);   // bytes 0, 2 of each pixel
                xo[v] = _mm256_srli_epi16(x, 8);    // bytes 1, 3
            }
            for (int r = 0; r < MR; r++) {
                __m256i we = _mm256_set1_epi32(w[2 * r]), wo = _mm256_set1_epi32(w[2 * r + 1]);
                for (int v = 0; v < NV; v++)
                    acc[r][v] = _mm256_add_epi32(acc[r][v], _mm256_add_epi32(_mm256_madd_epi16(xe[v], we),
                                                                             _mm256_madd_epi16(xo[v], wo)));
            }
        }
    }
}

#define DEFINE_MADD(MR, NV)                                                                                       \
    __attribute__((target(T256))) static void madd_##MR##x##NV(const segc_qtile *t) {                         \
        __m256i acc[MRMAX][NVMAX];                                                                              \
        ymm_init_acc(t, MR, NV, acc);                                                                           \
        kloop_madd(t, MR, NV, acc);                                                                             \
        /* The epilogue indexes rows at run time: give it a copy, so acc stays in registers. */                \
        __m256i out[MRMAX][NVMAX];                                                                               \
        for (int r = 0; r < MR; r++)                                                                            \
            for (int v = 0; v < NV; v++) _mm256_store_si256(&out[r][v], acc[r][v]);                               \
        ymm_epilogue(t, MR, NV, out);                                                                               \
    }

DEFINE_MADD(4, 2)

DEFINE_YMM_PAIR(madd_pair, T256, kloop_madd)

const segc_qkernel segc_qk_avx2 = {madd_4x2, madd_pair, 4, 16, 8, 1, 0, 16};
#endif
