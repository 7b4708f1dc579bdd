// Portable micro-kernel (4 x 16): multiply then add, never contracted to FMA, so it
// gives the same bits on every compiler and CPU; plain loops the compiler vectorises
// across the 16 columns with the baseline ISA.
#include "gemm.h"

#pragma clang fp contract(off)

#define MR 4
#define NR 16

static void kernel_scalar(int64_t kc, const float *ap, const float *bp, int64_t ldb, float *c, int64_t ldc,
                          int load_c) {
    float acc[MR][NR];
    for (int r = 0; r < MR; r++)
        for (int q = 0; q < NR; q++) acc[r][q] = load_c ? c[r * ldc + q] : 0.0f;
    for (int64_t kk = 0; kk < kc; kk++, ap += MR, bp += ldb)
        for (int r = 0; r < MR; r++) {
            float av = ap[r];
            for (int q = 0; q < NR; q++) acc[r][q] = acc[r][q] + av * bp[q];
        }
    for (int r = 0; r < MR; r++)
        for (int q = 0; q < NR; q++) c[r * ldc + q] = acc[r][q];
}

const segc_gemm_arch segc_gemm_scalar = {kernel_scalar, kernel_scalar, MR, NR, 0, 0};
