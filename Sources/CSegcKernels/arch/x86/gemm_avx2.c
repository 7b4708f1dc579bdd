// AVX2 + FMA micro-kernel, 6 rows x 16 columns (BLIS's Haswell shape): 12 accumulators,
// 2 loads of B and 6 broadcasts of A per step, 15 of the 16 ymm registers. (4 x 24
// needed 17 and spilled an accumulator to the stack: 50 vs ~? GFLOP/s.)
#include "../../gemm/gemm.h"
#if defined(__x86_64__)
#include <immintrin.h>

#pragma clang fp contract(off)   // the exact kernel must stay multiply, then add

#define MR 6
#define NR 16

// One body, two arithmetic steps: FMA (fast) and multiply-then-add (exact; same bits
// as the scalar kernel and the reference interpreter).
#define KERNEL_BODY(STEP)                                                                                       \
    __m256 acc[MR][2];                                                                                        \
    for (int r = 0; r < MR; r++)                                                                               \
        for (int v = 0; v < 2; v++) acc[r][v] = load_c ? _mm256_loadu_ps(c + r * ldc + 8 * v) : _mm256_setzero_ps(); \
    for (int64_t kk = 0; kk < kc; kk++, ap += MR, bp += ldb) {                                                  \
        __m256 b0 = _mm256_loadu_ps(bp + 0), b1 = _mm256_loadu_ps(bp + 8);  \
        for (int r = 0; r < MR; r++) {                                                                          \
            __m256 av = _mm256_broadcast_ss(ap + r);                                                                                  \
            acc[r][0] = STEP(av, b0, acc[r][0]);  \
            acc[r][1] = STEP(av, b1, acc[r][1]);  \
        }                                                                                                      \
    }                                                                                                          \
    for (int r = 0; r < MR; r++)                                                                               \
        for (int v = 0; v < 2; v++) _mm256_storeu_ps(c + r * ldc + 8 * v, acc[r][v]);

#define STEP_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define STEP_EXACT(a, b, c) _mm256_add_ps(c, _mm256_mul_ps(a, b))

__attribute__((target("avx2,fma"))) static void fused_avx2(int64_t kc, const float *ap, const float *bp, int64_t ldb, float *c,
                                                          int64_t ldc, int load_c) {
    KERNEL_BODY(STEP_FMA)
}

__attribute__((target("avx2,fma"))) static void exact_avx2(int64_t kc, const float *ap, const float *bp, int64_t ldb, float *c,
                                                          int64_t ldc, int load_c) {
    KERNEL_BODY(STEP_EXACT)
}

const segc_gemm_arch segc_gemm_avx2 = {fused_avx2, exact_avx2, MR, NR};
#endif
