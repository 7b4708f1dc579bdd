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
// 4 broadcast loads. Tiles shorter than 24 pixels (row tails: ERFNet's widths 512, 256,
// 128 leave 8 or 16) run the NV = 1 or 2 variant, so no lanes are computed for nothing.
// Requantization: arch/x86/qconv_ymm.h, shared with the vpmaddwd tiles.
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

#define DEFINE_AVXVNNI(MR, NV)                                                                                 \
    __attribute__((target(TVNNI))) static void avxvnni_##MR##x##NV(const segc_qtile *t) {                     \
        __m256i acc[MRMAX][NVMAX], out[MRMAX][NVMAX];                                                         \
        ymm_init_acc(t, MR, NV, acc);                                                                         \
        kloop_avxvnni(t, MR, NV, acc);                                                                        \
        for (int r = 0; r < MR; r++)                                                                          \
            for (int v = 0; v < NV; v++) _mm256_store_si256(&out[r][v], acc[r][v]);                           \
        ymm_epilogue(t, MR, NV, out);                                                                         \
    }

DEFINE_AVXVNNI(4, 1)
DEFINE_AVXVNNI(4, 2)
DEFINE_AVXVNNI(4, 3)

/// The level's tile entry: the variant with as many 8-pixel vectors as the tile has pixels.
static void avxvnni_tile(const segc_qtile *t) {
    if (t->n > 16) avxvnni_4x3(t);
    else if (t->n > 8) avxvnni_4x2(t);
    else avxvnni_4x1(t);
}

const segc_qkernel segc_qk_avxvnni = {avxvnni_tile, NULL, 4, 24, 4, 1};
#endif
