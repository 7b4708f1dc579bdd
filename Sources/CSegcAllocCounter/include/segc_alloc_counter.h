// Heap allocation counter for `segc bench` (allocations_per_run). The segc
// executable interposes malloc/calloc/realloc/free/posix_memalign/aligned_alloc/
// memalign and forwards to glibc's __libc_* entry points; counting is off
// unless enabled, and costs one relaxed atomic load per call otherwise.
#pragma once
#include <stdint.h>

/// 0 when the counter is compiled out (AddressSanitizer builds own malloc).
int segc_alloc_counting_available(void);
void segc_alloc_counting(int enabled);
uint64_t segc_alloc_count(void);
uint64_t segc_alloc_bytes(void);
