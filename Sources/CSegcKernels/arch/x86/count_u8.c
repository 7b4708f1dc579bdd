// Counting one byte value (the range guard, quant/quantize.c): compare 32 / 64 bytes at a
// time, keep per-byte counts (subtracting the all-ones compare mask) for at most 255 vectors,
// then sum them into 64-bit lanes with vpsadbw. One compare, one subtract per vector: the
// loop runs at load speed, where the auto-vectorised loop widened every mask to 32 bits.
#include "../../quant/qconv.h"
#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2"))) int64_t segc_count_u8_avx2(int64_t n, uint8_t v, const uint8_t *x) {
    const __m256i want = _mm256_set1_epi8((char)v), zero = _mm256_setzero_si256();
    __m256i total = zero;
    int64_t i = 0;
    while (n - i >= 32) {
        int64_t vectors = (n - i) / 32 < 255 ? (n - i) / 32 : 255;
        __m256i bytes = zero;
        for (int64_t k = 0; k < vectors; k++, i += 32)
            bytes = _mm256_sub_epi8(bytes, _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(x + i)), want));
        total = _mm256_add_epi64(total, _mm256_sad_epu8(bytes, zero));
    }
    int64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes, total);
    int64_t c = lanes[0] + lanes[1] + lanes[2] + lanes[3];
    for (; i < n; i++) c += x[i] == v;
    return c;
}

__attribute__((target("avx512f,avx512bw"))) int64_t segc_count_u8_avx512(int64_t n, uint8_t v, const uint8_t *x) {
    const __m512i want = _mm512_set1_epi8((char)v), zero = _mm512_setzero_si512();
    __m512i total = zero;
    int64_t i = 0;
    while (n - i >= 64) {
        int64_t vectors = (n - i) / 64 < 255 ? (n - i) / 64 : 255;
        __m512i bytes = zero;
        for (int64_t k = 0; k < vectors; k++, i += 64) {
            __mmask64 m = _mm512_cmpeq_epi8_mask(_mm512_loadu_si512((const void *)(x + i)), want);
            bytes = _mm512_mask_sub_epi8(bytes, m, bytes, _mm512_set1_epi8(-1));
        }
        total = _mm512_add_epi64(total, _mm512_sad_epu8(bytes, zero));
    }
    int64_t c = _mm512_reduce_add_epi64(total);
    for (; i < n; i++) c += x[i] == v;
    return c;
}
#endif
