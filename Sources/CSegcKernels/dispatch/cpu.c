// CPU feature detection (CPUID + XGETBV for OS support of YMM/ZMM state) and the
// dispatch table of inner loops. Read once; `segc_set_cpu_level` exists for tests.
#include "../internal.h"
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#define SEGC_SUFFIX scalar
#define SEGC_TARGET
#include "loops.h"
#undef SEGC_SUFFIX
#undef SEGC_TARGET

#if defined(__x86_64__)
#define SEGC_SUFFIX avx2
#define SEGC_TARGET __attribute__((target("avx2,fma")))
#include "loops.h"
#undef SEGC_SUFFIX
#undef SEGC_TARGET

#define SEGC_SUFFIX avx512
#define SEGC_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))
#include "loops.h"
#undef SEGC_SUFFIX
#undef SEGC_TARGET
#endif

segc_dispatch segc_dt;
static int detected_level;   // what the CPU supports
static int current_level;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static int detect(void) {
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx || !fma) return 0;
    unsigned xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    (void)xhi;
    if ((xlo & 0x6) != 0x6) return 0;   // XMM and YMM state
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    int avx2 = (b >> 5) & 1;
    if (!avx2) return 0;
    int avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
    if (avx512f && avx512dq && avx512bw && avx512vl && (xlo & 0xe0) == 0xe0) return 2;   // opmask, ZMM state
    return 1;
#else
    return 0;
#endif
}

void segc_dispatch_fill(int level) {
#if defined(__x86_64__)
    if (level >= 2) {
        segc_dt = table_avx512;
        segc_dt.gemm = &segc_gemm_avx512;
        segc_dt.band_in = segc_band_in_avx512;
        segc_dt.band_out = segc_band_out_avx512;
        return;
    }
    if (level == 1) {
        segc_dt = table_avx2;
        segc_dt.gemm = &segc_gemm_avx2;
        segc_dt.band_in = segc_band_in_avx2;
        segc_dt.band_out = segc_band_out_avx2;
        return;
    }
#endif
    segc_dt = table_scalar;
    segc_dt.gemm = &segc_gemm_scalar;
}

// SEGC_CPU_CAP=scalar|avx2 caps detection, so tests (and users) can check what a
// machine without AVX-512 or AVX2 would do; it never raises the level.
static int capped(int level) {
    const char *cap = getenv("SEGC_CPU_CAP");
    if (!cap) return level;
    if (!strcmp(cap, "scalar")) return 0;
    if (!strcmp(cap, "avx2")) return level < 1 ? level : 1;
    return level;
}

static void init_impl(void) {
    detected_level = capped(detect());
    current_level = detected_level;
    segc_dispatch_fill(current_level);
}

void segc_kernels_init(void) { pthread_once(&init_once, init_impl); }

const char *segc_cpu_level(void) {
    segc_kernels_init();
    return current_level == 2 ? "avx512" : current_level == 1 ? "avx2" : "scalar";
}

int segc_detected_cpu_level(void) {
    segc_kernels_init();
    return detected_level;
}

int segc_set_cpu_level(int level) {
    segc_kernels_init();
    if (level < 0) level = 0;
    if (level > detected_level) level = detected_level;
    current_level = level;
    segc_dispatch_fill(level);
    return level;
}
