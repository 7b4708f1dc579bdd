// LD_PRELOAD shim that makes a process see an AVX2 CPU on an AVX-512 machine, so a peer
// (ONNX Runtime, whose MLAS picks its kernels from CPUID with no switch to cap them) can be
// measured at the same instruction-set level as `segc --kernels avx2`.
//
// How: Linux's CPUID faulting (arch_prctl ARCH_SET_CPUID, 0; needs the `cpuid_fault` CPU
// flag) turns every CPUID instruction of the process into a SIGSEGV. The handler re-enables
// CPUID for its own thread, executes it, disables it again, clears the feature bits of the
// capped level and steps over the 2-byte instruction. The setting is per thread and is
// inherited by threads created later; the constructor runs before the program's code.
//
// SEGC_CPUID_CAP=avx2       AVX-512 (all of leaf 7's AVX-512 bits, AMX) hidden; AVX-VNNI kept
// SEGC_CPUID_CAP=avx2-novnni the same, and AVX-VNNI hidden too (a Haswell–Zen 3 class CPU)
// SEGC_CPUID_CAP=avx512-novnni AVX-512 F/CD/BW/DQ/VL kept, VNNI (both kinds), BF16, IFMA, VBMI,
//                            VBMI2, BITALG, VPOPCNTDQ and AMX hidden (a Skylake-SP class CPU)
//
// Build: cc -O2 -shared -fPIC -o cpuid_cap.so cpuid_cap.c
// Used by scripts/bench.py and scripts/bench_int8.py (--peer-cap); a tool for measuring
// peers, not part of segc.
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef ARCH_GET_CPUID
#define ARCH_GET_CPUID 0x1011
#define ARCH_SET_CPUID 0x1012
#endif

static int hide_vnni;
static int keep_avx512;   // avx512-novnni: only the Skylake-SP subset of AVX-512 stays
static struct sigaction previous;

static long arch_prctl(int code, unsigned long arg) { return syscall(SYS_arch_prctl, code, arg); }

static void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4]) {
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

static void cap(uint32_t leaf, uint32_t sub, uint32_t r[4]) {
    if (leaf == 7 && sub == 0) {
        // EBX: avx512f 16, dq 17, ifma 21, pf 26, er 27, cd 28, bw 30, vl 31.
        uint32_t skx = (1u << 16) | (1u << 17) | (1u << 28) | (1u << 30) | (1u << 31);
        uint32_t kept = keep_avx512 ? r[1] & skx : 0;
        r[1] &= ~((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 30) | (1u << 31));
        r[1] |= kept;
        // ECX: vbmi 1, vbmi2 6, vnni 11, bitalg 12, vpopcntdq 14.
        r[2] &= ~((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14));
        // EDX: 4vnniw 2, 4fmaps 3, vp2intersect 8, amx-bf16 22, avx512-fp16 23, amx-tile 24, amx-int8 25.
        r[3] &= ~((1u << 2) | (1u << 3) | (1u << 8) | (1u << 22) | (1u << 23) | (1u << 24) | (1u << 25));
    } else if (leaf == 7 && sub == 1) {
        // EAX: avx-vnni 4, avx512-bf16 5.
        r[0] &= ~(1u << 5);
        if (hide_vnni) r[0] &= ~(1u << 4);
    }
}

static void on_segv(int sig, siginfo_t *info, void *vctx) {
    ucontext_t *uc = vctx;
    greg_t *g = uc->uc_mcontext.gregs;
    const unsigned char *ip = (const unsigned char *)g[REG_RIP];
    if (ip[0] != 0x0F || ip[1] != 0xA2) {
        // Not ours: the previous handler (or the default action) sees the same fault.
        sigaction(SIGSEGV, &previous, NULL);
        (void)sig; (void)info;
        return;
    }
    uint32_t r[4];
    uint32_t leaf = (uint32_t)g[REG_RAX], sub = (uint32_t)g[REG_RCX];
    arch_prctl(ARCH_SET_CPUID, 1);
    cpuid(leaf, sub, r);
    arch_prctl(ARCH_SET_CPUID, 0);
    cap(leaf, sub, r);
    g[REG_RAX] = r[0]; g[REG_RBX] = r[1]; g[REG_RCX] = r[2]; g[REG_RDX] = r[3];
    g[REG_RIP] += 2;
}

__attribute__((constructor)) static void install(void) {
    const char *level = getenv("SEGC_CPUID_CAP");
    if (!level || !*level) return;
    if (strcmp(level, "avx2") == 0) hide_vnni = 0;
    else if (strcmp(level, "avx2-novnni") == 0) hide_vnni = 1;
    else if (strcmp(level, "avx512-novnni") == 0) hide_vnni = 1, keep_avx512 = 1;
    else {
        fprintf(stderr, "cpuid_cap: unknown SEGC_CPUID_CAP '%s' (avx2, avx2-novnni, avx512-novnni)\n", level);
        _exit(2);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, &previous) != 0 || arch_prctl(ARCH_SET_CPUID, 0) != 0) {
        fprintf(stderr, "cpuid_cap: CPUID faulting is not available here (no cpuid_fault flag?)\n");
        _exit(2);
    }
}
