// AVX-512 transposes of the horizontal Winograd bands (conv/conv1d_winograd.c): a band
// of 16 rows <-> xt[x][16]. The plain-C loops in dispatch/loops.h compile to one scalar
// load and store per element (the compiler does not vectorise a transpose): 20 % of
// ERFNet's conv time. Here a 16x16 block is 16 row loads, 64 in-register shuffles and 16
// stores. Pure data movement plus the same `(s + res)` then activation as loops.h, so
// the bits equal the scalar level's.
#include "../../internal.h"
#if defined(__x86_64__)
#include <immintrin.h>
#include "prefetch.h"

#define T512 __attribute__((target("avx512f,avx512dq")))

// r[i] (row i, 16 columns) -> r[j] (column j, 16 rows): unpack 32-bit, unpack 64-bit,
// then two rounds of 128-bit lane shuffles.
T512 static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    }
    // r[4b + c] now holds, in lane l (0..3) of 128 bits, rows 4b..4b+3 of column 4l + c.
    for (int h = 0; h < 16; h += 8)
        for (int c = 0; c < 4; c++) {
            t[h + c] = _mm512_shuffle_f32x4(r[h + c], r[h + 4 + c], 0x88);       // lanes 0, 2 of each
            t[h + 4 + c] = _mm512_shuffle_f32x4(r[h + c], r[h + 4 + c], 0xdd);   // lanes 1, 3 of each
        }
    for (int c = 0; c < 8; c++) {
        r[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);
        r[8 + c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xdd);
    }
}

// transpose16, then column j stored at dst + j·stride. The stores are issued straight from
// the last shuffles: with the array stored afterwards clang turned the 16 contiguous
// stores of band_in (stride 16) into a spill of the block plus a 1 KiB memcpy call.
T512 static inline void transpose16_store(__m512 r[16], float *dst, int64_t stride) {
    transpose16(r);
    for (int j = 0; j < 16; j++) _mm512_storeu_ps(dst + j * stride, r[j]);
}

// dst[x][r] = src[r·ld + x] for r < rows (zero above), x < w. Full blocks take a path
// with constant trip counts so the 16 vectors stay in registers (a variable row or
// column count made clang keep the block on the stack).
T512 void segc_band_in_avx512(int64_t rows, int64_t w, const float *src, int64_t ld, float *dst) {
    for (int64_t x0 = 0; x0 < w; x0 += 16) {
        __m512 r[16];
        if (rows == 16 && w - x0 >= 16) {
            // 16 row streams of a few KiB each: the hardware prefetcher falls behind, so
            // fetch 4 blocks ahead (past a row's end that is the next row's start: harmless).
            for (int i = 0; i < 16; i++) _mm_prefetch((const char *)(src + i * ld + x0 + 64), _MM_HINT_T0);
            for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + i * ld + x0);
            transpose16_store(r, dst + x0 * 16, 16);
            continue;
        }
        int64_t cols = SEGC_MIN(16, w - x0);
        __mmask16 m = (__mmask16)((1u << cols) - 1);
        for (int i = 0; i < 16; i++)
            r[i] = i < rows ? _mm512_maskz_loadu_ps(m, src + i * ld + x0) : _mm512_setzero_ps();
        transpose16(r);
        for (int j = 0; j < cols; j++) _mm512_storeu_ps(dst + (x0 + j) * 16, r[j]);
    }
}

// y[r·ld + x] = act(src[x][r] + res[r·ld + x]) for r < rows (res nullable, may alias y).
// Transposed 16x16 blocks go to a row-major stack buffer of XC columns first, then each row
// is finished in one sequential pass: storing 16 rows round-robin in 64-byte pieces while
// loading the residual rows made loads of row i+4 (4 KiB further on at w = 256) wait on the
// stores to row i (4K aliasing), slower than the scalar loop.
#define XC 256
T512 void segc_band_out_avx512(int64_t rows, int64_t w, const float *src, const float *res, int64_t ld, float *y,
                               int act, float slope) {
    const __m512 zero = _mm512_setzero_ps(), s = _mm512_set1_ps(slope);
    float buf[16][XC] __attribute__((aligned(64)));
    for (int64_t c0 = 0; c0 < w; c0 += XC) {
        int64_t cw = SEGC_MIN(XC, w - c0);
        // The rows about to be written (and their residual) are short streams that start
        // cold: request them all now, they arrive while the block is transposed.
        segc_prefetch_rows(y, res, rows, ld, c0, cw);
        for (int64_t x0 = 0; x0 < cw; x0 += 16) {
            __m512 r[16];
            if (cw - x0 >= 16)
                for (int j = 0; j < 16; j++) r[j] = _mm512_loadu_ps(src + (c0 + x0 + j) * 16);
            else
                for (int j = 0; j < 16; j++) r[j] = x0 + j < cw ? _mm512_loadu_ps(src + (c0 + x0 + j) * 16) : zero;
            transpose16(r);
            for (int i = 0; i < 16; i++) _mm512_store_ps(&buf[i][x0], r[i]);
        }
        for (int i = 0; i < rows; i++) {
            float *yr = y + i * ld + c0;
            const float *rr = res ? res + i * ld + c0 : NULL;
            for (int64_t x = 0; x < cw; x += 16) {
                __mmask16 m = (__mmask16)(cw - x >= 16 ? 0xffff : (1u << (cw - x)) - 1);
                __m512 v = _mm512_load_ps(&buf[i][x]);
                if (rr) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, rr + x));
                if (act == SEGC_ACT_RELU) v = _mm512_max_ps(v, zero);   // NaN and -0 -> +0, as segc_act
                else if (act == SEGC_ACT_PRELU)
                    v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ), _mm512_mul_ps(v, s), v);
                _mm512_mask_storeu_ps(yr + x, m, v);
            }
        }
    }
}
#endif
