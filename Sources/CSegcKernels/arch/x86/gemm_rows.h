// The micro-kernels of an x86 GEMM level, one pair (fused, exact) per row count: the full
// tile (MR rows) and the last row panel of an M that MR does not divide (ENet's 16-, 20- and
// 32-channel convs, the odd channel counts dead-channel removal leaves), which otherwise went
// through a scratch tile copied in and out of C. The including file defines MR,
// KERNEL_BODY(STEP, ROWS), STEP_FMA and STEP_EXACT; SEGC_GEMM_ROW_KERNELS(TARGET, ROWS)
// defines fused_ROWS and exact_ROWS for that level's target attribute.
#pragma once

#define SEGC_GEMM_ROW_KERNELS(TARGET, ROWS)                                                                \
    __attribute__((target(TARGET))) static void fused_##ROWS(int64_t kc, const float *ap, const float *bp,   \
                                                             int64_t ldb, float *c, int64_t ldc, int load_c) { \
        KERNEL_BODY(STEP_FMA, ROWS)                                                                          \
    }                                                                                                        \
    __attribute__((target(TARGET))) static void exact_##ROWS(int64_t kc, const float *ap, const float *bp,   \
                                                             int64_t ldb, float *c, int64_t ldc, int load_c) { \
        KERNEL_BODY(STEP_EXACT, ROWS)                                                                        \
    }
