#pragma clang fp contract(off)   // requantization: multiply, then add (the scalar level's rounding)
// Integer Winograd F(2x2,3x3) for int8 3x3 stride-1 convs without VNNI (avx2 and avx512 levels): 16
// products per 2x2 output tile instead of 36. Exactness and which convs: quant/qconv_wino.c;
// the shared K loop and store: qconv_wino_ymm.h. One task per tile row (output rows 2t,
// 2t + 1); its ow / 2 tiles are the lanes:
//   1. input transform: per channel pair, the 4 padded input rows 2t − 1 … 2t + 2 as int16
//      pairs, each lane's 4x4 patch gathered (columns 2l − 1 … 2l + 2), V = BT·x·B;
//   2. per 4 output channels × 16 tiles and each of the 16 points, the vpmaddwd K loop;
//   3. 4·y = AT·M·A, y = 4·y >> 2 (exact) + the folded bias, the two output rows' pixels
//      interleaved from the tiles' columns, then the shared requantization.
#if defined(__x86_64__)
#include "qconv_wino_ymm.h"

/// F(2,3)'s BT along one axis: (x0 − x2, x1 + x2, x2 − x1, x1 − x3), int16 lanes.
INLINE256 void bt4(__m256i a, __m256i b, __m256i c, __m256i d, __m256i o[4]) {
    o[0] = _mm256_sub_epi16(a, c);
    o[1] = _mm256_add_epi16(b, c);
    o[2] = _mm256_sub_epi16(c, b);
    o[3] = _mm256_sub_epi16(b, d);
}

/// Step 1: V[4i + j][pair][lane] = (BT·x·B)[i][j] of every tile of tile row t.
__attribute__((target(T256))) static void transform(const wino_ctx *c, int64_t t, int32_t *V, int32_t *rows) {
    const int64_t pitch = c->p->w + 2 + 8;   // x_zp at columns −1 and w, slack after
    const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    for (int64_t cp = 0; cp < c->np; cp++) {
        for (int k = 0; k < 4; k++) wino_pair_row(c, cp, 2 * t - 1 + k, 1, rows + k * pitch);   // input rows 2t − 1 …
        for (int64_t g = 0; g < c->nl / 8; g++) {   // tiles 8g … 8g + 7: patch columns 16g + 2l + m
            __m256i T[4][4];   // T[i][m] = Σ_k BT[i][k]·x[k][m]
            __m256i X[4][4];
            for (int k = 0; k < 4; k++)
                for (int m = 0; m < 4; m++)
                    X[k][m] = _mm256_i32gather_epi32((const int *)(rows + k * pitch + 16 * g + m), even, 4);
            for (int m = 0; m < 4; m++) {
                __m256i o[4];
                bt4(X[0][m], X[1][m], X[2][m], X[3][m], o);
                for (int i = 0; i < 4; i++) T[i][m] = o[i];
            }
            for (int i = 0; i < 4; i++) {
                __m256i o[4];
                bt4(T[i][0], T[i][1], T[i][2], T[i][3], o);
                for (int j = 0; j < 4; j++)
                    _mm256_store_si256((__m256i *)(V + ((4 * i + j) * c->np + cp) * c->nl + 8 * g), o[j]);
            }
        }
    }
}

/// F(2,3)'s AT along one axis: (m0 + m1 + m2, m1 − m2 − m3), int32 lanes.
INLINE256 void at2(__m256i a, __m256i b, __m256i c, __m256i d, __m256i o[2]) {
    o[0] = _mm256_add_epi32(_mm256_add_epi32(a, b), c);
    o[1] = _mm256_sub_epi32(_mm256_sub_epi32(b, c), d);
}

__attribute__((target(T256))) void segc_qwino2d_task(void *vctx, int64_t t, int thread) {
    const wino_ctx *c = vctx;
    const segc_qconv_params *p = c->p;
    uint8_t *ws = (uint8_t *)(((uintptr_t)segc_ws_thread(c->ws, thread) + 63) & ~(uintptr_t)63);
    int32_t *V = (int32_t *)ws;
    int32_t *rows = (int32_t *)(ws + (16 * c->np * c->nl * 4 + 63) / 64 * 64);
    transform(c, t, V, rows);
    for (int64_t l0 = 0; l0 < c->nl; l0 += 16)
        for (int64_t blk = 0; blk < c->nb; blk++) {
            int nr = (int)SEGC_MIN(4, p->cout - 4 * blk);
            __m256i M[16][4][2];
            wino_products(c, V, l0, blk, 16, M);
            __m256i acc[2][MRMAX][NVMAX];   // output row a: 32 pixels (4 vectors) per channel
            for (int r = 0; r < 4; r++) {
                __m256i b = _mm256_set1_epi32(r < nr ? c->bias[4 * blk + r] : 0);
                for (int v = 0; v < 2; v++) {
                    __m256i S[2][4], Y[2][2];   // S[a][j] = Σ_i AT[a][i]·M[4i + j]
                    for (int j = 0; j < 4; j++) {
                        __m256i o[2];
                        at2(M[j][r][v], M[4 + j][r][v], M[8 + j][r][v], M[12 + j][r][v], o);
                        S[0][j] = o[0];
                        S[1][j] = o[1];
                    }
                    for (int a = 0; a < 2; a++) {
                        at2(S[a][0], S[a][1], S[a][2], S[a][3], Y[a]);
                        __m256i y0 = _mm256_add_epi32(_mm256_srai_epi32(Y[a][0], 2), b);
                        __m256i y1 = _mm256_add_epi32(_mm256_srai_epi32(Y[a][1], 2), b);
                        // lane l holds columns 2l (y0) and 2l + 1 (y1): interleave to pixels.
                        __m256i lo = _mm256_unpacklo_epi32(y0, y1), hi = _mm256_unpackhi_epi32(y0, y1);
                        acc[a][r][2 * v] = _mm256_permute2x128_si256(lo, hi, 0x20);
                        acc[a][r][2 * v + 1] = _mm256_permute2x128_si256(lo, hi, 0x31);
                    }
                }
            }
            for (int a = 0; a < 2; a++) wino_store(c, blk, nr, (2 * t + a) * p->ow + 2 * l0, 32, 4, acc[a]);
        }
}
#endif
