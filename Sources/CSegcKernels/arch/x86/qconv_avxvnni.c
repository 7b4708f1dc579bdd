#pragma clang fp contract(off)   // requantization: multiply, then add (the scalar level's rounding)
// AVX-VNNI int8 conv tiles for the avx2 level (quant/qconv_tiled.c): VEX-encoded vpdpbusd
// on ymm, for CPUs that have AVX-VNNI without (or besides) AVX-512 — Alder Lake and later,
// Sapphire Rapids, Zen 5 (CPUID leaf 7 subleaf 1, EAX bit 4; quant/qconv.c checks it).
//
// vpdpbusd acc, act, {w quad}×8 adds, per lane, the four u8 × s8 products of one pixel's
// channel quad and one output channel's weight quad to the int32 accumulator: exact (each
// product fits 16 bits, the sum is taken in 32 bits, no intermediate saturation — unlike
// vpmaddubsw), so the result is the same integers as the scalar level's. The weight
// layout is the AVX-512 VNNI one: [quad][tap][mr][4] int8, one 32-bit broadcast per row.
//
// Tile: MR = 4 output channels × NV·8 pixels, NV <= 3: 12 accumulators + 3 activation
// vectors + 1 broadcast = the 16 ymm registers. Per (quad, tap) step that is 12 vpdpbusd
// (two ports, latency 5: 12 independent chains keep both busy) for 3 activation loads and
// 4 broadcast loads. Tiles shorter than 24 pixels run the NV = 1 or 2 variant, so no lanes
// are computed for nothing; rows end on 16-pixel tiles rather than an 8-pixel one where
// they can (nr2, quant/qconv.h: ERFNet's widths 512 and 128 would leave 8).
// Requantization: arch/x86/qconv_ymm.h, shared with the vpmaddwd tiles.
//
// Measured (Sapphire Rapids VM, 2 threads, loaded machine; QuantConvTimingTests, before the
// pair kernel): ERFNet's convs in all 232 ms against 722 ms with vpmaddwd and 856 ms in fp32
// at this level; the AVX-512 VNNI tiles 127 ms. A ymm vpdpbusd does half a zmm one's work at
// no higher rate here (bare loops: ~100-140 against ~220-230 GMAC/s on one core), and the
// 4x3 K loop on 128 channels reaches ~125 GMAC/s on one core: about that bound.
#if defined(__x86_64__)
#include "qconv_ymm.h"

#define TVNNI T256 ",avxvnni"
#define VNNI_INLINE static inline __attribute__((always_inline, target(TVNNI)))

/// acc += the tile's K loop: quads outside, taps inside (the weight block's order).
VNNI_INLINE void kloop_avxvnni(const segc_qtile *t, const int MR, const int NV, __m256i acc[MRMAX][NVMAX]) {
    const int32_t *w = (const int32_t *)t->w;
    for (int64_t q = 0; q < t->nq; q++) {
        const uint8_t *aq = t->act + q * t->qstride;
        for (int64_t k = 0; k < t->ntaps; k++, w += MR) {
            const uint8_t *a = aq + t->toff[k];
            __m256i x[NVMAX];
            for (int v = 0; v < NV; v++) x[v] = _mm256_loadu_si256((const __m256i *)(a + 32 * v));
            for (int r = 0; r < MR; r++) {
                __m256i b = _mm256_set1_epi32(w[r]);
                for (int v = 0; v < NV; v++) acc[r][v] = _mm256_dpbusd_avx_epi32(acc[r][v], x[v], b);
            }
        }
    }
}

/// The 4 × 3 K loop with each step's broadcasts and 12 vpdpbusd in one asm statement: the
/// accumulators, activations and the broadcast take all 16 ymm registers, and clang (21),
/// given the intrinsics, spilled an accumulator to the stack and back every step, a store
/// and reload in that chain (measured, one thread, ERFNet's convs: 341 -> 252 ms in all;
/// 4 × 2 tiles without asm: 275 ms). `%{vex%}`: the VEX form (EVEX would need AVX-512 VL).
VNNI_INLINE void kloop_avxvnni_4x3(const segc_qtile *t, __m256i acc[MRMAX][NVMAX]) {
    const int32_t *w = (const int32_t *)t->w;
    __m256i c00 = acc[0][0], c01 = acc[0][1], c02 = acc[0][2], c10 = acc[1][0], c11 = acc[1][1], c12 = acc[1][2];
    __m256i c20 = acc[2][0], c21 = acc[2][1], c22 = acc[2][2], c30 = acc[3][0], c31 = acc[3][1], c32 = acc[3][2];
    for (int64_t q = 0; q < t->nq; q++) {
        const uint8_t *aq = t->act + q * t->qstride;
        for (int64_t k = 0; k < t->ntaps; k++, w += 4) {
            const uint8_t *a = aq + t->toff[k];
            __m256i x0 = _mm256_loadu_si256((const __m256i *)a), x1 = _mm256_loadu_si256((const __m256i *)(a + 32));
            __m256i x2 = _mm256_loadu_si256((const __m256i *)(a + 64)), b;
            __asm__("vpbroadcastd (%[w]), %[b]\n\t"
                    "%{vex%} vpdpbusd %[b], %[x0], %[c00]\n\t"
                    "%{vex%} vpdpbusd %[b], %[x1], %[c01]\n\t"
                    "%{vex%} vpdpbusd %[b], %[x2], %[c02]\n\t"
                    "vpbroadcastd 4(%[w]), %[b]\n\t"
                    "%{vex%} vpdpbusd %[b], %[x0], %[c10]\n\t"
                    "%{vex%} vpdpbusd %[b], %[x1], %[c11]\n\t"
                    "%{vex%} vpdpbusd %[b], %[x2], %[c12]\n\t"
                    "vpbroadcastd 8(%[w]), %[b]\n\t"
                    "%{vex%} vpdpbusd %[b], %[x0], %[c20]\n\t"
                    "%{vex%} vpdpbusd %[b], %[x1], %[c21]\n\t"
                    "%{vex%} vpdpbusd %[b], %[x2], %[c22]\n\t"
                    "vpbroadcastd 12(%[w]), %[b]\n\t"
                    "%{vex%} vpdpbusd %[b], %[x0], %[c30]\n\t"
                    "%{vex%} vpdpbusd %[b], %[x1], %[c31]\n\t"
                    "%{vex%} vpdpbusd %[b], %[x2], %[c32]"
                    : [c00] "+x"(c00), [c01] "+x"(c01), [c02] "+x"(c02), [c10] "+x"(c10), [c11] "+x"(c11),
                      [c12] "+x"(c12), [c20] "+x"(c20), [c21] "+x"(c21), [c22] "+x"(c22), [c30] "+x"(c30),
                      [c31] "+x"(c31), [c32] "+x"(c32), [b] "=&x"(b)
                    : [x0] "x"(x0), [x1] "x"(x1), [x2] "x"(x2), [w] "r"(w), "m"(*(const int32_t(*)[4])w));
        }
    }
    acc[0][0] = c00; acc[0][1] = c01; acc[0][2] = c02; acc[1][0] = c10; acc[1][1] = c11; acc[1][2] = c12;
    acc[2][0] = c20; acc[2][1] = c21; acc[2][2] = c22; acc[3][0] = c30; acc[3][1] = c31; acc[3][2] = c32;
}

/// The K loop of an MR × NV tile (the 4 × 3 one in asm, see above).
#define KLOOP(t, MR, NV, acc) ((MR) == 4 && (NV) == 3 ? kloop_avxvnni_4x3(t, acc) : kloop_avxvnni(t, MR, NV, acc))

#define DEFINE_AVXVNNI(MR, NV)                                                                                 \
    __attribute__((target(TVNNI))) static void avxvnni_##MR##x##NV(const segc_qtile *t) {                     \
        __m256i acc[MRMAX][NVMAX], out[MRMAX][NVMAX];                                                         \
        ymm_init_acc(t, MR, NV, acc);                                                                         \
        KLOOP(t, MR, NV, acc);                                                                                \
        for (int r = 0; r < MR; r++)                                                                          \
            for (int v = 0; v < NV; v++) _mm256_store_si256(&out[r][v], acc[r][v]);                           \
        ymm_epilogue(t, MR, NV, out);                                                                         \
    }

/// The pair kernel for ERFNet's last layer (qconv_ymm.h): its 42 MB of float logits written once.
DEFINE_YMM_PAIR(avxvnni_pair, TVNNI, kloop_avxvnni)

DEFINE_AVXVNNI(4, 1)
DEFINE_AVXVNNI(4, 2)
DEFINE_AVXVNNI(4, 3)

/// The level's tile entry: the variant with as many 8-pixel vectors as the tile has pixels.
static void avxvnni_tile(const segc_qtile *t) {
    if (t->n > 16) avxvnni_4x3(t);
    else if (t->n > 8) avxvnni_4x2(t);
    else avxvnni_4x1(t);
}

const segc_qkernel segc_qk_avxvnni = {avxvnni_tile, avxvnni_pair, 4, 24, 4, 1, 16, 16};
#endif
