// The GEMM driver: packs A (all of it, MR-row panels), reads B in place (only the
// right-edge panel is copied, zero-padded), and runs the level's micro-kernel over the
// tiles. The last row panel of an M that MR does not divide runs the level's kernel for
// that many rows (same per-element steps); other edge tiles go through a full MR x NR
// scratch tile, so the arithmetic is the same for every element (see gemm.h: position
// independence).
#include "gemm.h"
#include "../internal.h"
#include <string.h>

static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
/// Keeps every packed region 64-byte aligned (scratch itself is 64-byte aligned).
static int64_t align16(int64_t floats) { return round_up(floats, 16); }

int64_t segc_sgemm_scratch(int64_t m, int64_t k) {
    // round_up(m, mr) < m + MR_MAX for any level's mr <= MR_MAX.
    return align16((m + SEGC_GEMM_MR_MAX) * k) + align16(SEGC_GEMM_KC * SEGC_GEMM_NR_MAX) +
           align16(SEGC_GEMM_MR_MAX * SEGC_GEMM_NR_MAX);
}

// ap[panel][k][mr]: rows past m are zero.
static void pack_a(int64_t m, int64_t k, const float *a, int64_t lda, int mr, float *ap) {
    for (int64_t m0 = 0; m0 < m; m0 += mr) {
        int64_t rows = SEGC_MIN(mr, m - m0);
        for (int64_t kk = 0; kk < k; kk++) {
            float *dst = ap + (m0 * k) + kk * mr;
            int64_t r = 0;
            for (; r < rows; r++) dst[r] = a[(m0 + r) * lda + kk];
            for (; r < mr; r++) dst[r] = 0.0f;
        }
    }
}

// A panel of B (cols <= nr columns), contiguous and zero-padded to nr: bp[kk][nr].
static void pack_b_panel(int64_t kc, int64_t cols, const float *b, int64_t ldb, int nr, float *bp) {
    for (int64_t kk = 0; kk < kc; kk++) {
        memcpy(bp + kk * nr, b + kk * ldb, (size_t)cols * sizeof(float));
        memset(bp + kk * nr + cols, 0, (size_t)(nr - cols) * sizeof(float));
    }
}

int64_t segc_sgemm_packed_size(int64_t m, int64_t k) { return (m + SEGC_GEMM_MR_MAX) * k; }

void segc_sgemm_pack_a(int64_t m, int64_t k, const float *a, int64_t lda, float *ap) {
    pack_a(m, k, a, lda, segc_dt.gemm->mr, ap);
}

static void gemm_packed(int64_t m, int64_t n, int64_t k, const float *ap, const float *b, int64_t ldb, float *c,
                        int64_t ldc, int accumulate, int exact, float *scratch);

void segc_sgemm(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                int64_t ldc, int accumulate, int exact, float *scratch) {
    if (m <= 0 || n <= 0) return;
    if (k > 0) pack_a(m, k, a, lda, segc_dt.gemm->mr, scratch);
    gemm_packed(m, n, k, scratch, b, ldb, c, ldc, accumulate, exact, scratch + align16((m + SEGC_GEMM_MR_MAX) * k));
}

void segc_sgemm_prepacked(int64_t m, int64_t n, int64_t k, const float *ap, const float *b, int64_t ldb, float *c,
                          int64_t ldc, int accumulate, int exact, float *scratch) {
    gemm_packed(m, n, k, ap, b, ldb, c, ldc, accumulate, exact, scratch);
}

static void gemm_packed(int64_t m, int64_t n, int64_t k, const float *ap, const float *b, int64_t ldb, float *c,
                        int64_t ldc, int accumulate, int exact, float *scratch) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        if (!accumulate)
            for (int64_t i = 0; i < m; i++) memset(c + i * ldc, 0, (size_t)n * sizeof(float));
        return;
    }
    const segc_gemm_arch *arch = segc_dt.gemm;
    const int mr = arch->mr, nr = arch->nr;
    const segc_gemm_ukernel kernel = exact ? arch->exact : arch->fused;
    const segc_gemm_ukernel *rows_kernels = exact ? arch->exact_rows : arch->fused_rows;
    float *bp = scratch;
    float *edge = bp + align16(SEGC_GEMM_KC * SEGC_GEMM_NR_MAX);
    // As few k blocks as fit a B panel (kc x NR) in L1, of equal depth (k = 147 is one
    // block, not 128 + 19): every block beyond the first reloads the C tiles.
    int64_t nkb = (k + SEGC_GEMM_KC - 1) / SEGC_GEMM_KC, kstep = (k + nkb - 1) / nkb;
    // k blocks outside, so a B panel stays in L1 while every row panel of A (packed, from L2)
    // passes over it.
    for (int64_t k0 = 0; k0 < k; k0 += kstep) {
        int64_t kc = SEGC_MIN(kstep, k - k0);
        int load_c = accumulate || k0 > 0;
        for (int64_t j0 = 0; j0 < n; j0 += nr) {
            int64_t cols = SEGC_MIN(nr, n - j0);
            // The right-edge panel is copied, zero-padded; full panels are read in place.
            // (Copying each panel whose rows alias cache sets here — ldb a multiple of 1 KiB —
            // won 10 % on BiSeNetV1's 1x1 256->256 alone but lost 4 % on ENet. conv2d.c copies
            // the whole tile of such a 1x1 conv instead, when K >= 48: pointwise_copies_b.)
            const float *bpanel = b + k0 * ldb + j0;
            int64_t bstride = ldb;
            if (cols < nr) {
                pack_b_panel(kc, cols, bpanel, ldb, nr, bp);
                bpanel = bp;
                bstride = nr;
            }
            for (int64_t m0 = 0; m0 < m; m0 += mr) {
                int64_t rows = SEGC_MIN(mr, m - m0);
                const float *apanel = ap + m0 * k + k0 * mr;
                float *ct = c + m0 * ldc + j0;
                if (rows == mr && cols == nr) {
                    kernel(kc, apanel, bpanel, bstride, ct, ldc, load_c);
                    continue;
                }
                if (cols == nr && rows_kernels) {
                    rows_kernels[rows](kc, apanel, bpanel, bstride, ct, ldc, load_c);
                    continue;
                }
                // Edge tile: same kernel on a full scratch tile, valid part copied.
                for (int64_t r = 0; r < mr; r++)
                    for (int64_t q = 0; q < nr; q++)
                        edge[r * nr + q] = (load_c && r < rows && q < cols) ? ct[r * ldc + q] : 0.0f;
                kernel(kc, apanel, bpanel, bstride, edge, nr, load_c);
                for (int64_t r = 0; r < rows; r++) memcpy(ct + r * ldc, edge + r * nr, (size_t)cols * sizeof(float));
            }
        }
    }
}
