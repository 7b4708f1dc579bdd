// AVX2 transposes of the horizontal Winograd bands (conv/conv1d_winograd.c): a band of
// 16 rows <-> xt[x][16], as two 8-row halves of 8x8 in-register transposes (see
// wino_band_avx512.c for why: the plain-C loops are one scalar load and store per
// element). Same `(s + res)` then activation as loops.h: the scalar level's bits.
#include "../../internal.h"
#if defined(__x86_64__)
#include <immintrin.h>
#include "prefetch.h"

#define T256 __attribute__((target("avx2,fma")))

// r[i] (row i, 8 columns) -> r[j] (column j, 8 rows).
T256 static inline void transpose8(__m256 r[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i + 0] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    // u[4b + c], 128-bit lane l: rows 4b..4b+3 of column 4l + c.
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
        r[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
    }
}

T256 static inline __m256i tail_mask(int64_t n) {   // lanes < n set
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// dst[x][r] = src[r·ld + x] for r < rows (zero above), x < w. Full blocks take a path with
// constant trip counts so the vectors stay in registers.
T256 void segc_band_in_avx2(int64_t rows, int64_t w, const float *src, int64_t ld, float *dst) {
    for (int64_t x0 = 0; x0 < w; x0 += 8) {
        int64_t cols = SEGC_MIN(8, w - x0);
        for (int h = 0; h < 16; h += 8) {
            __m256 r[8];
            if (h + 8 <= rows && cols == 8) {
                // 16 row streams of a few KiB each: the hardware prefetcher falls behind, so
                // fetch 8 blocks ahead (past a row's end is the next row's start: harmless).
                if (!(x0 & 15))
                    for (int i = 0; i < 8; i++) _mm_prefetch((const char *)(src + (h + i) * ld + x0 + 64), _MM_HINT_T0);
                for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + (h + i) * ld + x0);
                transpose8(r);
                for (int j = 0; j < 8; j++) _mm256_storeu_ps(dst + (x0 + j) * 16 + h, r[j]);
                continue;
            }
            __m256i m = tail_mask(cols);
            for (int i = 0; i < 8; i++)
                r[i] = h + i < rows ? _mm256_maskload_ps(src + (h + i) * ld + x0, m) : _mm256_setzero_ps();
            transpose8(r);
            for (int j = 0; j < cols; j++) _mm256_storeu_ps(dst + (x0 + j) * 16 + h, r[j]);
        }
    }
}

// y[r·ld + x] = act(src[x][r] + res[r·ld + x]) for r < rows (res nullable, may alias y).
// Through a row-major stack buffer of XC columns, then one sequential pass per row (see
// wino_band_avx512.c: round-robin row stores next to residual loads hit 4K aliasing).
#define XC 256
T256 void segc_band_out_avx2(int64_t rows, int64_t w, const float *src, const float *res, int64_t ld, float *y,
                             int act, float slope) {
    const __m256 zero = _mm256_setzero_ps(), s = _mm256_set1_ps(slope);
    float buf[16][XC] __attribute__((aligned(32)));
    for (int64_t c0 = 0; c0 < w; c0 += XC) {
        int64_t cw = SEGC_MIN(XC, w - c0);
        // The rows about to be written (and their residual) are short streams that start
        // cold: request them all now, they arrive while the block is transposed.
        segc_prefetch_rows(y, res, rows, ld, c0, cw);
        for (int64_t x0 = 0; x0 < cw; x0 += 8)
            for (int h = 0; h < 16; h += 8) {
                __m256 r[8];
                if (cw - x0 >= 8)
                    for (int j = 0; j < 8; j++) r[j] = _mm256_loadu_ps(src + (c0 + x0 + j) * 16 + h);
                else
                    for (int j = 0; j < 8; j++) r[j] = x0 + j < cw ? _mm256_loadu_ps(src + (c0 + x0 + j) * 16 + h) : zero;
                transpose8(r);
                for (int i = 0; i < 8; i++) _mm256_store_ps(&buf[h + i][x0], r[i]);
            }
        for (int i = 0; i < rows; i++) {
            float *yr = y + i * ld + c0;
            const float *rr = res ? res + i * ld + c0 : NULL;
            for (int64_t x = 0; x < cw; x += 8) {
                __m256i m = tail_mask(cw - x);
                __m256 v = _mm256_load_ps(&buf[i][x]);
                if (rr) v = _mm256_add_ps(v, _mm256_maskload_ps(rr + x, m));
                if (act == SEGC_ACT_RELU) v = _mm256_max_ps(v, zero);   // NaN and -0 -> +0, as segc_act
                else if (act == SEGC_ACT_PRELU)
                    v = _mm256_blendv_ps(_mm256_mul_ps(v, s), v, _mm256_cmp_ps(v, zero, _CMP_GT_OQ));
                if (cw - x >= 8) _mm256_storeu_ps(yr + x, v);
                else _mm256_maskstore_ps(yr + x, m, v);
            }
        }
    }
}
#endif
