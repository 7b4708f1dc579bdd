// Software prefetches shared by the per-width kernels (ymm and zmm versions of the same
// loop). Where a kernel is about to touch many short streams at once (one per output
// row or channel), more than the hardware prefetcher tracks, it requests them up front.
#ifndef SEGC_ARCH_X86_PREFETCH_H
#define SEGC_ARCH_X86_PREFETCH_H
#include <stdint.h>
#include <immintrin.h>

/// Rows [0, rows) of y (and of res, unless absent or aliasing y), columns [c0, c0 + cw),
/// stride ld floats: one request per 64-byte line.
static inline void segc_prefetch_rows(const float *y, const float *res, int64_t rows, int64_t ld, int64_t c0,
                                      int64_t cw) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t x = 0; x < cw; x += 16) {
            _mm_prefetch((const char *)(y + i * ld + c0 + x), _MM_HINT_T0);
            if (res && res != y) _mm_prefetch((const char *)(res + i * ld + c0 + x), _MM_HINT_T0);
        }
}

/// First and last byte of each of `rows` uint8 residual lines (stride `rstride`, `n`
/// elements `rstep` apart) that an int8 tile's epilogue will read.
static inline void segc_prefetch_residual_u8(const uint8_t *res, int rows, int64_t rstride, int64_t n, int64_t rstep) {
    if (!res) return;
    for (int r = 0; r < rows; r++) {
        const uint8_t *rp = res + r * rstride;
        _mm_prefetch((const char *)rp, _MM_HINT_T0);
        _mm_prefetch((const char *)(rp + (n - 1) * rstep), _MM_HINT_T0);
    }
}
#endif
