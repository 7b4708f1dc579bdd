// Integer Winograd F(4,3) for the int8 3x1 and 1x3 convs on CPUs without VNNI (the
// arithmetic: arch/x86/qconv_wino_avx2.c). Here: which convs qualify, the transformed
// weights and the workspace.
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
    return 0;
}

static int64_t nblocks(const segc_qconv_params *p) { return (p->cout + 3) / 4; }
static int64_t npairs(const segc_qconv_params *p) { return (p->cin + 1) / 2; }

int64_t segc_qwino_wbytes(const segc_qconv_params *p) { return nblocks(p) * 6 * npairs(p) * 4 * 4; }

void segc_qwino_pack(const segc_qconv_params *p, const int8_t *w, int32_t *u) {
    // u[block][point][pair][row]: the int16 pair (U[2·pair], U[2·pair + 1]) of output
    // channel 4·block + row, one 32-bit broadcast per row in the kernel's K loop.
    int64_t nb = nblocks(p), np = npairs(p);
    for (int64_t b = 0; b < nb; b++)
        for (int64_t i = 0; i < 6; i++)
            for (int64_t cp = 0; cp < np; cp++)
                for (int64_t r = 0; r < 4; r++) {
                    int64_t o = 4 * b + r;
                    int16_t v[2] = {0, 0};
                    for (int h = 0; h < 2; h++) {
                        int64_t c = 2 * cp + h;
                        if (o >= p->cout || c >= p->cin) continue;
                        const int8_t *wk = w + (o * p->cin + c) * 3;   // [cout][cin][3]: kh·kw = 3
                        v[h] = (int16_t)(segc_wino_g24[i][0] * wk[0] + segc_wino_g24[i][1] * wk[1] +
                                         segc_wino_g24[i][2] * wk[2]);
                    }
                    u[((b * 6 + i) * np + cp) * 4 + r] = (int32_t)(((uint32_t)(uint16_t)v[1] << 16) | (uint16_t)v[0]);
                }
}

/// Lanes (tiles) of one task: vertical, the columns of its 4 output rows; horizontal, the
/// ow / 4 tiles of its output row.
int64_t segc_qwino_lanes(const segc_qconv_params *p) { return p->kh == 3 ? p->ow : p->ow / 4; }

int64_t segc_qwino_ws(const segc_qconv_params *p) {
    int64_t v = 6 * npairs(p) * segc_qwino_lanes(p) * 4;     // transformed input, int16 pairs
    int64_t row = (p->ow + 2 * p->dw + 64) * 4;               // one padded row of channel pairs
    return (64 + v + 64 + row + 64 + 6 * 8 * 32 + 64 + 3) / 4;   // + the 6 product tiles, alignment
}
