// segc's own single-precision GEMM (gemm/gemm.c) and its per-level micro-kernels
// (gemm/gemm_scalar.c, arch/x86/gemm_avx2.c, arch/x86/gemm_avx512.c).
//
// Why not OpenBLAS: its kernel is chosen by OpenBLAS's own CPU detection, not by
// segc's dispatch level, so `--kernels` could not force it, results changed with the
// CPU (its SkylakeX/Cooperlake sgemm rounds edge columns differently from the main
// kernel: ENet broke at 512x1024 on AVX-512 machines, issue 13), and Debian's 0.3.21
// does not know newer CPUs at all (it runs a Sapphire Rapids as "Prescott", SSE3 only).
//
// The contract every level keeps — *position independence*: element C[m][n] is
// init + A[m][0]·B[0][n] + A[m][1]·B[1][n] + … in k order, one rounding per step
// (fused multiply-add at avx2/avx512, multiply then add at scalar), whatever m, n,
// the tile, the edge or the thread. Two output pixels with equal input columns get
// equal bits, which keeps the exact max-pool ties that ENet's index-returning pools
// depend on (networks.md §2). avx2 and avx512 give identical bits (lane-wise FMA).
#pragma once
#include <stdint.h>

/// Largest micro-tile of any level; workspace sizes use these so a session sized
/// at one level can run at another.
#define SEGC_GEMM_MR_MAX 12
#define SEGC_GEMM_NR_MAX 48
/// Largest depth of one k block (a B micro-panel KC x NR, 36 KiB at NR = 48, stays in L1).
#define SEGC_GEMM_KC 192

/// c[MR][NR] (row stride ldc) = (load_c ? c : 0) + Σ_k ap[k][MR]·bp[k·ldb + 0..NR).
/// B is read in place (ldb = the matrix's row stride) for full panels, or from a
/// zero-padded packed panel (ldb = NR) at the right edge.
typedef void (*segc_gemm_ukernel)(int64_t kc, const float *ap, const float *bp, int64_t ldb, float *c, int64_t ldc,
                                  int load_c);

typedef struct {
    segc_gemm_ukernel fused;   ///< fused multiply-add (scalar level: multiply then add)
    segc_gemm_ukernel exact;   ///< multiply then add: the reference interpreter's rounding
    int mr, nr;
    /// The same kernels for the last row panel of an M that mr does not divide:
    /// `[rows]` (1 ≤ rows < mr) reads the same packed panel (stride mr) and loads and stores
    /// only `rows` rows of C, in place. NULL: such tiles go through a scratch tile.
    const segc_gemm_ukernel *fused_rows, *exact_rows;
} segc_gemm_arch;

extern const segc_gemm_arch segc_gemm_scalar;
#if defined(__x86_64__)
extern const segc_gemm_arch segc_gemm_avx2;
extern const segc_gemm_arch segc_gemm_avx512;
#endif

/// Floats of scratch `segc_sgemm` needs for an M x K left operand (any level).
int64_t segc_sgemm_scratch(int64_t m, int64_t k);

/// A packed once for many calls (the current level's row panels): floats, and the packing.
/// Pack again after the level changes.
int64_t segc_sgemm_packed_size(int64_t m, int64_t k);
void segc_sgemm_pack_a(int64_t m, int64_t k, const float *a, int64_t lda, float *ap);
/// segc_sgemm with A from segc_sgemm_pack_a; `scratch` as for segc_sgemm.
void segc_sgemm_prepacked(int64_t m, int64_t n, int64_t k, const float *ap, const float *b, int64_t ldb, float *c,
                          int64_t ldc, int accumulate, int exact, float *scratch);

/// C[M x N] (ldc) = (accumulate ? C : 0) + A[M x K] (lda) · B[K x N] (ldb), all
/// row-major, single-threaded, with the level chosen by the dispatch table; `exact`
/// selects the multiply-then-add kernel (same bits at every level).
/// `scratch` holds `segc_sgemm_scratch(m, k)` floats.
void segc_sgemm(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                int64_t ldc, int accumulate, int exact, float *scratch);
