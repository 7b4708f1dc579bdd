// Integer Winograd F(4,3) for the int8 3x1 and 1x3 convs, and F(2x2,3x3) for 3x3 ones,
// on CPUs without VNNI (the arithmetic: arch/x86/qconv_wino_avx2.c, qconv_wino2d_avx2.c).
// Here: which convs qualify, the transformed weights and the workspace.
//
// Why: without VNNI the exact int8 product is vpmaddwd on int16 pairs, about fp32 speed
// (ERFNet int8 1.09x its fp32 plan at plain AVX2). F(4,3) computes 4 outputs of a 3-tap
// 1-D conv from 6 products instead of 12. It is exact in integers: with the weight
// transform scaled by 24 (G·24 below) every value is an integer,
//   24·y_j = Σ_i AT[j][i] · Σ_c (G24·w_c)[i] · (BT·x_c)[i],
// |BT·x| <= 2040 and |G24·w| <= 3072 fit int16 (vpmaddwd operands), the int32 sums may
// wrap (two's complement is a ring), and 24·y is exact in int32 while |24·y| < 2^31:
// 24 · 3 · cin · 255 · 128 < 2^31 for cin <= 512 (the bound below). y = (24·y >> 3)·3⁻¹
// mod 2^32 is then the direct conv's accumulator, bit for bit; the requantization after
// it is the shared one. So results stay the scalar level's (tests compare every byte).
#include "qconv.h"

/// Lavin & Gray's F(4,3) (points 0, ±1, ±2, ∞), weight transform times 24.
const int8_t segc_wino_g24[6][3] = {{6, 0, 0}, {-4, -4, -4}, {-4, 4, -4}, {1, 2, 4}, {1, -2, 4}, {0, 0, 24}};

int segc_qwino_fits(const segc_qconv_params *p, int transposed) {
    if (transposed || p->groups != 1 || p->sh != 1 || p->sw != 1 || p->cin > 512) return 0;
    if (p->oh != p->h || p->ow != p->w) return 0;
    if (p->kh == 3 && p->kw == 1)   // vertical: tiles of 4 rows d apart, 16 columns per vector pair
        return p->pl == 0 && p->pt == p->dh && p->ow % 16 == 0 && p->oh % (4 * p->dh) == 0;
    if (p->kh == 1 && p->kw == 3)   // horizontal: 16 tiles (lanes) per vector pair, see the run
        return p->pt == 0 && p->pl == p->dw && p->ow % 64 == 0 &&
               (p->dw == 1 || p->dw == 2 || p->dw == 4 || (p->dw % 8 == 0 && p->ow % (4 * p->dw) == 0));
    if (p->kh == 3 && p->kw == 3)   // F(2x2,3x3): 2x2 output tiles, 16 per vector pair (32 columns)
        return p->dh == 1 && p->dw == 1 && p->pt == 1 && p->pl == 1 && p->oh % 2 == 0 && p->ow % 32 == 0;
    return 0;
}

/// F(2x2,3x3) (Lavin & Gray, points 0, ±1, ∞), weight transform times 2 per axis: U = G2·w·G2ᵀ
/// with |U| <= 9·128 = 1152; the input transform BT·x·B gives |V| <= 4·255 = 1020; 4·y =
/// AT·M·A is exact in int32 while 4·9·cin·255·128 < 2^31 (cin <= 512 above), y = 4·y >> 2.
const int8_t segc_wino2d_g2[4][3] = {{2, 0, 0}, {1, 1, 1}, {1, -1, 1}, {0, 0, 2}};

/// Transform points per tile: 6 (F(4,3)) or 16 (F(2x2,3x3)).
static int points(const segc_qconv_params *p) { return p->kh == 3 && p->kw == 3 ? 16 : 6; }

static int64_t nblocks(const segc_qconv_params *p) { return (p->cout + 3) / 4; }
static int64_t npairs(const segc_qconv_params *p) { return (p->cin + 1) / 2; }

int64_t segc_qwino_wbytes(const segc_qconv_params *p) { return nblocks(p) * points(p) * npairs(p) * 4 * 4; }

/// Transformed weight i of output channel o, input channel c.
static int16_t transformed(const segc_qconv_params *p, const int8_t *w, int64_t o, int64_t c, int i) {
    if (points(p) == 6) {
        const int8_t *wk = w + (o * p->cin + c) * 3;   // [cout][cin][3]: kh·kw = 3
        return (int16_t)(segc_wino_g24[i][0] * wk[0] + segc_wino_g24[i][1] * wk[1] + segc_wino_g24[i][2] * wk[2]);
    }
    const int8_t *wk = w + (o * p->cin + c) * 9;   // [cout][cin][3][3]
    int a = i / 4, b = i % 4, s = 0;
    for (int ky = 0; ky < 3; ky++)
        for (int kx = 0; kx < 3; kx++) s += segc_wino2d_g2[a][ky] * wk[ky * 3 + kx] * segc_wino2d_g2[b][kx];
    return (int16_t)s;
}

void segc_qwino_pack(const segc_qconv_params *p, const int8_t *w, int32_t *u) {
    // u[block][point][pair][row]: the int16 pair (U[2·pair], U[2·pair + 1]) of output
    // channel 4·block + row, one 32-bit broadcast per row in the kernel's K loop.
    int64_t nb = nblocks(p), np = npairs(p), npt = points(p);
    for (int64_t b = 0; b < nb; b++)
        for (int64_t i = 0; i < npt; i++)
            for (int64_t cp = 0; cp < np; cp++)
                for (int64_t r = 0; r < 4; r++) {
                    int64_t o = 4 * b + r;
                    int16_t v[2] = {0, 0};
                    for (int h = 0; h < 2; h++) {
                        int64_t c = 2 * cp + h;
                        if (o >= p->cout || c >= p->cin) continue;
                        v[h] = transformed(p, w, o, c, (int)i);
                    }
                    u[((b * npt + i) * np + cp) * 4 + r] = (int32_t)(((uint32_t)(uint16_t)v[1] << 16) | (uint16_t)v[0]);
                }
}

/// Lanes (tiles) of one task: vertical, the columns of its 4 output rows; horizontal, the
/// ow / 4 tiles of its output row; 3x3, the ow / 2 tiles of its 2 output rows.
int64_t segc_qwino_lanes(const segc_qconv_params *p) {
    return p->kh == 3 && p->kw == 3 ? p->ow / 2 : p->kh == 3 ? p->ow : p->ow / 4;
}

int64_t segc_qwino_ws(const segc_qconv_params *p) {
    int64_t v = points(p) * npairs(p) * segc_qwino_lanes(p) * 4;   // transformed input, int16 pairs
    int64_t row = 4 * (p->ow + 2 * p->dw + 64) * 4;                  // up to 4 padded rows of channel pairs
    return (64 + v + 64 + row + 64 + 3) / 4;
}
