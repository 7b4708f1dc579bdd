// Task sizes that fill every thread of the pool (internal.h: segc_balanced_chunk).
#include "../internal.h"

int64_t segc_balanced_chunk(int64_t n, int64_t pref, int64_t align, int threads) {
    if (pref < 1) pref = 1;
    if (align < 1) align = 1;
    if (n <= 0 || threads <= 1) return pref;
    // The fewest multiple of `threads` tasks of at most `pref`, made equal: the chunk, rounded
    // up to `align`, must still give that many (rounding can merge the last one away).
    int64_t tasks = segc_chunks(n, pref);
    for (int64_t want = (tasks + threads - 1) / threads * threads; want <= tasks + 2 * threads; want += threads) {
        int64_t c = (segc_chunks(n, want) + align - 1) / align * align;
        if (c <= pref && segc_chunks(n, c) % threads == 0) return c;
    }
    return pref;
}
