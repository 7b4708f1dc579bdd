#include "segc_alloc_counter.h"
#include <stdatomic.h>
#include <stddef.h>
#include <errno.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SEGC_NO_INTERPOSE 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SEGC_NO_INTERPOSE 1
#endif

#ifdef SEGC_NO_INTERPOSE
// Under AddressSanitizer the sanitizer owns malloc; interposing it would hand ASan
// pointers it does not know. Counting is then unavailable (reported as such).
int segc_alloc_counting_available(void) { return 0; }
void segc_alloc_counting(int enabled) { (void)enabled; }
uint64_t segc_alloc_count(void) { return 0; }
uint64_t segc_alloc_bytes(void) { return 0; }
#else
int segc_alloc_counting_available(void) { return 1; }

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

static atomic_int counting;
static atomic_uint_fast64_t count;
static atomic_uint_fast64_t bytes;

static inline void note(size_t n) {
    if (atomic_load_explicit(&counting, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&bytes, n, memory_order_relaxed);
    }
}

void segc_alloc_counting(int enabled) {
    if (enabled) { atomic_store(&count, 0); atomic_store(&bytes, 0); }
    atomic_store(&counting, enabled);
}
uint64_t segc_alloc_count(void) { return atomic_load(&count); }
uint64_t segc_alloc_bytes(void) { return atomic_load(&bytes); }

void *malloc(size_t n) { note(n); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { note(a * b); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { note(n); return __libc_realloc(p, n); }
void free(void *p) { __libc_free(p); }
void *memalign(size_t a, size_t n) { note(n); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { note(n); return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
    note(n);
    void *p = __libc_memalign(a, n);
    if (!p && n) return ENOMEM;
    *out = p;
    return 0;
}
#endif
