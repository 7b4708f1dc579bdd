// Internal declarations of the int8 convolution (quant/qconv.c, quant/qconv_scalar.c,
// arch/x86/qconv_*.c): the packed-weight header, the phase geometry of transposed convs
// and the scalar requantization every level reproduces bit for bit.
#pragma once
#pragma clang fp contract(off)   // v·mult and the residual term stay multiply-then-add
#include "../internal.h"
#include <math.h>

#define SEGC_QPACK_MAGIC 0x38714353u   // "SCq8"
/// Bytes reserved for the header at the start of a packed buffer (keeps what follows
/// 64-byte aligned).
#define SEGC_QPACK_HDR 192
/// Largest kernel extent and phase count of a transposed conv (as conv/conv_transpose2d.c).
#define SEGC_QMAXK 64
#define SEGC_QMAXPHASES 256

/// Which inner kernel a packed buffer was laid out for (index into segc_qkernels).
enum {
    SEGC_QK_SCALAR = 0,
    SEGC_QK_AVX2 = 1,      ///< avx2: vpmaddwd on zero-extended activation / sign-extended weight pairs
    SEGC_QK_MADD512 = 2,   ///< avx512 without VNNI: the same pairs, 512-bit
    SEGC_QK_VNNI512 = 3,   ///< avx512 with VNNI: vpdpbusd on activation quads × weight quads
    SEGC_QK_AVXVNNI = 4,   ///< avx2 with AVX-VNNI: VEX vpdpbusd on ymm, VNNI512's weight layout
    SEGC_QK_COUNT
};

/// One output tile of the SIMD kernels: `rows` (<= mr) output channels × `n` (<= nr)
/// output pixels. The activations are the packed input (u8 quads: [quad][pixel][4]
/// channels, padding already x_zp); pixel p of the tile reads, for tap t of quad q,
/// act + q·qstride + toff[t] + 4p. The K loop is quads outside, taps inside, matching the
/// weight block [quad][tap][mr][wbytes]. The epilogue requantizes row r into
/// y + r·ystride + p·ystep (elements of y's type), reading residual res + r·rstride + p·rstep.
typedef struct {
    const uint8_t *act;
    int64_t qstride, nq, ntaps;
    const int64_t *toff;
    const uint8_t *w;
    int rows, n;
    const int32_t *bias;       ///< folded, one per row
    const float *mult;         ///< one per row
    const float *slope;        ///< prelu: slope[r·slope_step]
    int slope_step;
    const uint8_t *res;        ///< nullable
    int64_t rstride, rstep;
    void *y;
    int64_t ystride, ystep;
    const segc_qconv_params *p;
} segc_qtile;

typedef void (*segc_qtile_fn)(const segc_qtile *t);
/// Two column phases of a stride-2 transposed conv, mr rows × nr/2 pixels each (t0: even
/// output columns, t1: odd), stored interleaved as contiguous outputs from t0->y.
typedef void (*segc_qpair_fn)(const segc_qtile *t0, const segc_qtile *t1);

/// A level's tile kernel: mr rows × nr pixels, wbytes bytes of weights per (quad, tap, row):
/// 4 (the quad, int8) or 8 (int16 pairs (w0, w2), (w1, w3) for vpmaddwd). `pair` may be NULL.
typedef struct {
    segc_qtile_fn fn;
    segc_qpair_fn pair;
    int mr, nr, wbytes;
    int level;   ///< dispatch level of the code (the input packing uses AVX2 from level 1)
    /// 0, or a narrower tile width the kernel runs at full speed where a short last tile
    /// would not (segc_qtile_width).
    int nr2;
    int pair_n;   ///< pixels per phase of a `pair` call (0: nr/2)
} segc_qkernel;

/// Pixels of the next tile of a row with `left` pixels to go: nr, except that a row
/// ending in a short tile ends on two nr2 tiles instead when that covers it (AVX-VNNI:
/// 128 = 4·24 + 2·16, not 5·24 + 8, whose 8-pixel tile has 4 dependency chains for 2
/// ports and latency 5). The split depends on the width only, so results cannot change.
static inline int64_t segc_qtile_width(const segc_qkernel *k, int64_t left) {
    return k->nr2 && left > k->nr && left <= 2 * k->nr2 ? k->nr2 : k->nr;
}

extern const segc_qkernel segc_qk_scalar;
#if defined(__x86_64__)
extern const segc_qkernel segc_qk_avx2, segc_qk_avxvnni, segc_qk_madd512, segc_qk_vnni512;

/// Bytes equal to v among n (arch/x86/count_u8.c; the range guard's count).
int64_t segc_count_u8_avx2(int64_t n, uint8_t v, const uint8_t *x);
int64_t segc_count_u8_avx512(int64_t n, uint8_t v, const uint8_t *x);
#endif

/// Header at the start of every packed buffer. The geometry fields the packing depends
/// on are recorded so `segc_qconv2d` can reject a buffer packed for other parameters.
typedef struct {
    uint32_t magic;
    int32_t level;        ///< dispatch level packed for (0 scalar, 1 avx2, 2 avx512)
    int32_t kernel;       ///< SEGC_QK_*
    int32_t transposed;
    int64_t cin, cout, kh, kw, groups, sh, sw, dh, dw, pt, pl;
    int32_t x_zp;
    int32_t mr;           ///< output channels per weight block (SIMD layouts)
    int64_t nphase;       ///< 1 (conv) or sh·sw (transposed): folded-bias sets
    int64_t bias_off;     ///< int32 [nphase][cout] folded bias
    int64_t w_off;        ///< weights (layout per kernel)
    int64_t total;        ///< bytes of the whole buffer
    int64_t wino_off;     ///< 0, or the integer Winograd weights (the vpmaddwd kernels, quant/qconv_wino.c)
} segc_qpack_hdr;

/// Integer Winograd F(4,3) for 3x1 / 1x3 convs and F(2x2,3x3) for 3x3 ones at plain AVX2
/// (quant/qconv_wino.c, arch/x86/qconv_wino*_avx2.c): whether a conv qualifies, its transformed weights'
/// bytes and layout, lanes per task and per-thread workspace (in 4-byte units).
int segc_qwino_fits(const segc_qconv_params *p, int transposed);
int64_t segc_qwino_wbytes(const segc_qconv_params *p);
void segc_qwino_pack(const segc_qconv_params *p, const int8_t *w, int32_t *u);
int64_t segc_qwino_lanes(const segc_qconv_params *p);
int64_t segc_qwino_ws(const segc_qconv_params *p);
#if defined(__x86_64__)
int segc_qwino_run(segc_pool *pool, const segc_qconv_params *p, const uint8_t *x, const segc_qpack_hdr *h,
                   const float *mult, const uint8_t *residual, const float *slope, void *y, const segc_ws *ws);
#endif

/// Taps of output phase r along one axis of a transposed conv: count, kernel indices and
/// input offsets (output o = r + s·j reads input j + off[t] through tap tap[t]).
static inline int64_t segc_qphase_taps(int64_t k, int64_t s, int64_t d, int64_t pad, int64_t r, int64_t *tap,
                                       int64_t *off) {
    int64_t n = 0;
    for (int64_t kk = 0; kk < k; kk++) {
        int64_t v = r + pad - kk * d;
        if (((v % s) + s) % s == 0) {
            tap[n] = kk;
            off[n] = v >= 0 ? v / s : -((-v) / s);   // exact: s divides v
            n++;
        }
    }
    return n;
}

/// Floor division (b > 0).
static inline int64_t segc_floordiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/// The header's requantization of one accumulator (the definition every level matches):
/// v = acc·mult (+ (res − r_zp)·r_mul), activation, then float out or clamp/round to u8.
static inline float segc_qreq_value(const segc_qconv_params *p, int32_t acc, float mult, const uint8_t *res,
                                    float slope) {
    float v = (float)acc * mult;
    if (res) v = v + (float)((int32_t)*res - p->r_zp) * p->r_mul;
    if (p->act == SEGC_ACT_RELU) v = v > 0.0f ? v : 0.0f;
    else if (p->act == SEGC_ACT_PRELU) v = v > 0.0f ? v : v * slope;
    return v;
}

/// clamp(nearbyintf(v), −zp, 255 − zp) + zp; NaN -> 0 (the first comparison fails).
static inline uint8_t segc_qround_u8(float v, int32_t zp) {
    float r = nearbyintf(v), lo = (float)-zp, hi = (float)(255 - zp);
    r = r > lo ? r : lo;
    r = r < hi ? r : hi;
    return (uint8_t)((int32_t)r + zp);
}

/// Stores requantized output i of a row: y is uint8 or float per p->out_f32.
static inline void segc_qstore(const segc_qconv_params *p, void *y, int64_t i, float v) {
    if (p->out_f32) ((float *)y)[i] = v;
    else ((uint8_t *)y)[i] = segc_qround_u8(v, p->y_zp);
}

/// Geometry of the packed input (quant/qconv_pack.c; layout in quant/qconv_tiled.c).
typedef struct {
    int64_t planes, rows, cols;   ///< planes per quad, rows and columns per plane
    int64_t y0, x0;               ///< input position of plane row/column 0
    int64_t c4;                   ///< quads per group
    int64_t pitch;                ///< bytes per plane row (cols·4, padded)
    int64_t qstride;              ///< bytes per quad (planes·rows·pitch, padded)
    int64_t bytes;                ///< whole buffer with slack
} segc_qin_geom;

/// Bytes after the packed input: the last tile's lanes past the row end read there.
#define SEGC_QIN_SLACK 1024

/// Output-phase grid size: outputs o ≡ r (mod s) below `o`.
static inline int64_t segc_qgrid(int64_t o, int64_t s, int64_t r) { return r < o ? (o - r + s - 1) / s : 0; }

/// Weight blocks (of mr output channels) per group, and bytes of one block for `taps` taps.
static inline int64_t segc_qblocks(const segc_qconv_params *p, const segc_qkernel *k) {
    return (p->cout / p->groups + k->mr - 1) / k->mr;
}
static inline int64_t segc_qblock_bytes(const segc_qconv_params *p, const segc_qkernel *k, int64_t taps) {
    return ((p->cin / p->groups + 3) / 4) * taps * k->mr * k->wbytes;
}

/// Packing (quant/qconv_pack.c): the weights for a kernel, and the input once per call.
segc_qin_geom segc_qconv_geometry(const segc_qconv_params *p, int transposed);
/// An upper bound of the packed input's bytes, in double (checked before any int64 math).
double segc_qconv_tiled_bytes_estimate(const segc_qconv_params *p, int transposed);
int64_t segc_qconv_tiled_wbytes(const segc_qconv_params *p, int transposed, const segc_qkernel *k);
void segc_qconv_tiled_pack(const segc_qconv_params *p, int transposed, const segc_qkernel *k, const int8_t *w,
                           uint8_t *dst);
/// Fills `in` (64-byte aligned, g->bytes) from x with a parallel pass over fixed row chunks.
void segc_qconv_pack_input(segc_pool *pool, const segc_qconv_params *p, int transposed, int level,
                           const segc_qin_geom *g, const uint8_t *x, uint8_t *in);

/// Plane rows [j0, j1) of group grp's quads of a stride-1 conv into dst[quad][row][pitch]
/// (quad stride `qstride`): the per-task packing of convs with a small vertical halo.
void segc_qconv_pack_rows(const segc_qconv_params *p, int level, const segc_qin_geom *g, const uint8_t *x,
                          int64_t grp, int64_t j0, int64_t j1, uint8_t *dst, int64_t qstride);

/// The tiled driver (quant/qconv_tiled.c), every level: per-thread workspace floats, run.
int64_t segc_qconv_tiled_ws(const segc_qconv_params *p, int transposed);
int segc_qconv_tiled_run(segc_pool *pool, const segc_qconv_params *p, int transposed, const uint8_t *x,
                         const segc_qpack_hdr *h, const segc_qkernel *k, const float *mult, const uint8_t *residual,
                         const float *slope, void *y, const segc_qconv_tail *tail, const segc_ws *ws);

/// The float tail (quant/qconv_tail.c) on n contiguous outputs of channel co starting at
/// element offset e (y: the conv's float output), with the loops of `level` (`segc_qlevel`,
/// read once per conv by the caller; every level gives the same bits).
void segc_qtail_apply(const segc_qconv_tail *t, int level, const float *y, int64_t co, int64_t e, int64_t n);
/// The tail over the whole output as its own parallel pass (paths that do not apply it per task).
void segc_qtail_run(segc_pool *pool, const segc_qconv_tail *t, const segc_qconv_params *p, const float *y);

/// One float32 → uint8 as `segc_quantize_u8` defines it, with lo = −zp and hi = 255 − zp:
/// x / scale rounded half to even, clamped (NaN → lo), + zp. Shared by quantize.c and the
/// fused tail (qconv_tail.c), so the two cannot drift apart; inlined into their vectorised loops.
static inline uint8_t segc_quantize_one(float x, float scale, float lo, float hi, int32_t zp) {
    float r = nearbyintf(x / scale);
    r = r > lo ? r : lo;
    r = r < hi ? r : hi;
    return (uint8_t)((int32_t)r + zp);
}

/// The dispatch level in effect (0 scalar, 1 avx2, 2 avx512).
static inline int segc_qlevel(void) {
    const char *s = segc_cpu_level();   // initialises on first use
    return s[0] == 's' ? 0 : s[3] == '5' ? 2 : 1;
}
