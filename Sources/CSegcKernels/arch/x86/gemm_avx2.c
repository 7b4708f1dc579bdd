// AVX2 + FMA micro-kernel, 6 rows x 16 columns (BLIS's Haswell shape): 12 accumulators,
// 2 loads of B and 6 broadcasts of A per step, 15 of the 16 ymm registers. (4 x 24
// needed 17 and spilled an accumulator to the stack: 50 vs ~? GFLOP/s.)
#include "../../gemm/gemm.h"
#include "gemm_rows.h"
#if defined(__x86_64__)
#include <immintrin.h>

#pragma clang fp contract(off)   // the exact kernel must stay multiply, then add

#define MR 6
#define NR 16

// One body, two arithmetic steps: FMA (fast) and multiply-then-add (exact; same bits
// as the scalar kernel and the reference interpreter).
#define KERNEL_BODY(STEP, ROWS)                                                                                       \
    __m256 acc[ROWS][2];                                                                                        \
    for (int r = 0; r < ROWS; r++)                                                                               \
        for (int v = 0; v < 2; v++) acc[r][v] = load_c ? _mm256_loadu_ps(c + r * ldc + 8 * v) : _mm256_setzero_ps(); \
    for (int64_t kk = 0; kk < kc; kk++, ap += MR, bp += ldb) {                                                  \
        __m256 b0 = _mm256_loadu_ps(bp + 0), b1 = _mm256_loadu_ps(bp + 8);  \
        for (int r = 0; r < ROWS; r++) {                                                                          \
            __m256 av = _mm256_broadcast_ss(ap + r);                                                                                  \
            acc[r][0] = STEP(av, b0, acc[r][0]);  \
            acc[r][1] = STEP(av, b1, acc[r][1]);  \
        }                                                                                                      \
    }                                                                                                          \
    for (int r = 0; r < ROWS; r++)                                                                               \
        for (int v = 0; v < 2; v++) _mm256_storeu_ps(c + r * ldc + 8 * v, acc[r][v]);

#define STEP_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define STEP_EXACT(a, b, c) _mm256_add_ps(c, _mm256_mul_ps(a, b))

SEGC_GEMM_ROW_KERNELS("avx2,fma", 1)
SEGC_GEMM_ROW_KERNELS("avx2,fma", 2)
SEGC_GEMM_ROW_KERNELS("avx2,fma", 3)
SEGC_GEMM_ROW_KERNELS("avx2,fma", 4)
SEGC_GEMM_ROW_KERNELS("avx2,fma", 5)
SEGC_GEMM_ROW_KERNELS("avx2,fma", 6)

static const segc_gemm_ukernel fused_rows[MR] = {0, fused_1, fused_2, fused_3, fused_4, fused_5};
static const segc_gemm_ukernel exact_rows[MR] = {0, exact_1, exact_2, exact_3, exact_4, exact_5};

const segc_gemm_arch segc_gemm_avx2 = {fused_6, exact_6, MR, NR, fused_rows, exact_rows};
#endif
