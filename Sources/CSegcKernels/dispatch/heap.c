// Heap statistics for the runtime's no-allocation test (glibc mallinfo2).
#include "../internal.h"
#if defined(__GLIBC__)
#include <malloc.h>
#endif

void segc_heap_stats(uint64_t out[3]) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 m = mallinfo2();
    out[0] = m.uordblks; out[1] = m.hblkhd; out[2] = m.hblks;
#else
    out[0] = out[1] = out[2] = 0;
#endif
}
