// AVX-512 micro-kernel, 8 rows x 48 columns: 24 zmm accumulators, 3 loads of B and 8
// broadcasts of A per step (28 of 32 registers; FMA-bound on two 512-bit FMA ports).
// 8 rows divide the channel counts of the segmentation nets (16, 64, 128, ...): 12 x 32
// padded 64 rows to 72 and 16 to 24, so ERFNet's 64-channel Winograd GEMMs ran at ~140
// instead of ~160 GFLOP/s and its 16-channel ones at ~80 instead of ~150 (one core).
#include "../../gemm/gemm.h"
#include "gemm_rows.h"
#if defined(__x86_64__)
#include <immintrin.h>

#pragma clang fp contract(off)   // the exact kernel must stay multiply, then add

#define MR 8
#define NR 48

// One body, two arithmetic steps: FMA (fast) and multiply-then-add (exact; same bits
// as the scalar kernel and the reference interpreter).
#define KERNEL_BODY(STEP, ROWS)                                                                                       \
    __m512 acc[ROWS][3];                                                                                        \
    for (int r = 0; r < ROWS; r++)                                                                               \
        for (int v = 0; v < 3; v++) acc[r][v] = load_c ? _mm512_loadu_ps(c + r * ldc + 16 * v) : _mm512_setzero_ps(); \
    for (int64_t kk = 0; kk < kc; kk++, ap += MR, bp += ldb) {                                                  \
        __m512 b0 = _mm512_loadu_ps(bp + 0), b1 = _mm512_loadu_ps(bp + 16), b2 = _mm512_loadu_ps(bp + 32);  \
        for (int r = 0; r < ROWS; r++) {                                                                          \
            __m512 av = _mm512_set1_ps(ap[r]);                                                                  \
            acc[r][0] = STEP(av, b0, acc[r][0]);                                                               \
            acc[r][1] = STEP(av, b1, acc[r][1]);                                                               \
            acc[r][2] = STEP(av, b2, acc[r][2]);                                                               \
        }                                                                                                      \
    }                                                                                                          \
    for (int r = 0; r < ROWS; r++)                                                                               \
        for (int v = 0; v < 3; v++) _mm512_storeu_ps(c + r * ldc + 16 * v, acc[r][v]);

#define STEP_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define STEP_EXACT(a, b, c) _mm512_add_ps(c, _mm512_mul_ps(a, b))

SEGC_GEMM_ROW_KERNELS("avx512f", 1)
SEGC_GEMM_ROW_KERNELS("avx512f", 2)
SEGC_GEMM_ROW_KERNELS("avx512f", 3)
SEGC_GEMM_ROW_KERNELS("avx512f", 4)
SEGC_GEMM_ROW_KERNELS("avx512f", 5)
SEGC_GEMM_ROW_KERNELS("avx512f", 6)
SEGC_GEMM_ROW_KERNELS("avx512f", 7)
SEGC_GEMM_ROW_KERNELS("avx512f", 8)

static const segc_gemm_ukernel fused_rows[MR] = {0, fused_1, fused_2, fused_3, fused_4, fused_5, fused_6, fused_7};
static const segc_gemm_ukernel exact_rows[MR] = {0, exact_1, exact_2, exact_3, exact_4, exact_5, exact_6, exact_7};

const segc_gemm_arch segc_gemm_avx512 = {fused_8, exact_8, MR, NR, fused_rows, exact_rows};
#endif
