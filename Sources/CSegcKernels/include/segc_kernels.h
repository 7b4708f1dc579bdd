// CSegcKernels: the C kernels of segc. One header lists every entry point;
// each is bounds-checked by its caller (the plan is verified before it runs).
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// CRC32C (Castagnoli, reflected polynomial 0x82F63B78) of `len` bytes,
/// continuing from `crc` (start with 0). Uses SSE4.2 when the CPU has it.
uint32_t segc_crc32c(uint32_t crc, const void *data, size_t len);

#ifdef __cplusplus
}
#endif
