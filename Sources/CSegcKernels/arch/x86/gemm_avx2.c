// AVX2 + FMA micro-kernel, 4 rows x 24 columns: 12 accumulators, 3 loads of B and one
// broadcast of A per step, 16 ymm registers in all.
#include "../../gemm/gemm.h"
#if defined(__x86_64__)
#include <immintrin.h>

#pragma clang fp contract(off)   // the exact kernel must stay multiply, then add

#define MR 4
#define NR 24

// One body, two arithmetic steps: FMA (fast) and multiply-then-add (exact; same bits
// as the scalar kernel and the reference interpreter).
#define KERNEL_BODY(STEP)                                                                                       \
    __m256 acc[MR][3];                                                                                        \
    for (int r = 0; r < MR; r++)                                                                               \
        for (int v = 0; v < 3; v++) acc[r][v] = load_c ? _mm256_loadu_ps(c + r * ldc + 8 * v) : _mm256_setzero_ps(); \
    for (int64_t kk = 0; kk < kc; kk++, ap += MR, bp += NR) {                                                  \
        __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8), b2 = _mm256_loadu_ps(bp + 16);                                                                                           \
        for (int r = 0; r < MR; r++) {                                                                          \
            __m256 av = _mm256_broadcast_ss(ap + r);                                                                                  \
            acc[r][0] = STEP(av, b0, acc[r][0]);                                                   \
            acc[r][1] = STEP(av, b1, acc[r][1]);                                                   \
            acc[r][2] = STEP(av, b2, acc[r][2]);                                                   \
        }                                                                                                      \
    }                                                                                                          \
    for (int r = 0; r < MR; r++)                                                                               \
        for (int v = 0; v < 3; v++) _mm256_storeu_ps(c + r * ldc + 8 * v, acc[r][v]);

#define STEP_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define STEP_EXACT(a, b, c) _mm256_add_ps(c, _mm256_mul_ps(a, b))

__attribute__((target("avx2,fma"))) static void fused_avx2(int64_t kc, const float *ap, const float *bp, float *c,
                                                          int64_t ldc, int load_c) {
    KERNEL_BODY(STEP_FMA)
}

__attribute__((target("avx2,fma"))) static void exact_avx2(int64_t kc, const float *ap, const float *bp, float *c,
                                                          int64_t ldc, int load_c) {
    KERNEL_BODY(STEP_EXACT)
}

const segc_gemm_arch segc_gemm_avx2 = {fused_avx2, exact_avx2, MR, NR};
#endif
