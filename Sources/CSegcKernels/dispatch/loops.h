// Inner loops instantiated once per ISA level by dispatch/cpu.c: SEGC_SUFFIX names the
// variant, SEGC_TARGET is its target attribute. Plain loops over restrict pointers so
// the compiler vectorises them for the target.
// Contraction off: x*s + b stays a multiply and an add, as in the reference
// interpreter, at every level (these loops are memory-bound; FMA buys nothing here).
#pragma clang fp contract(off)
#define SEGC_CAT2(a, b) a##_##b
#define SEGC_CAT(a, b) SEGC_CAT2(a, b)
#define SEGC_FN(name) SEGC_CAT(name, SEGC_SUFFIX)

SEGC_TARGET static void SEGC_FN(bin_vv)(int op, int64_t n, const float *a, const float *b, float *y) {
    switch (op) {
    case SEGC_BIN_ADD: for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i]; break;
    case SEGC_BIN_SUB: for (int64_t i = 0; i < n; i++) y[i] = a[i] - b[i]; break;
    case SEGC_BIN_MUL: for (int64_t i = 0; i < n; i++) y[i] = a[i] * b[i]; break;
    default: for (int64_t i = 0; i < n; i++) y[i] = a[i] / b[i]; break;
    }
}
SEGC_TARGET static void SEGC_FN(bin_vs)(int op, int64_t n, const float *a, float b, float *y) {
    switch (op) {
    case SEGC_BIN_ADD: for (int64_t i = 0; i < n; i++) y[i] = a[i] + b; break;
    case SEGC_BIN_SUB: for (int64_t i = 0; i < n; i++) y[i] = a[i] - b; break;
    case SEGC_BIN_MUL: for (int64_t i = 0; i < n; i++) y[i] = a[i] * b; break;
    default: for (int64_t i = 0; i < n; i++) y[i] = a[i] / b; break;
    }
}
SEGC_TARGET static void SEGC_FN(bin_sv)(int op, int64_t n, float a, const float *b, float *y) {
    switch (op) {
    case SEGC_BIN_ADD: for (int64_t i = 0; i < n; i++) y[i] = a + b[i]; break;
    case SEGC_BIN_SUB: for (int64_t i = 0; i < n; i++) y[i] = a - b[i]; break;
    case SEGC_BIN_MUL: for (int64_t i = 0; i < n; i++) y[i] = a * b[i]; break;
    default: for (int64_t i = 0; i < n; i++) y[i] = a / b[i]; break;
    }
}
SEGC_TARGET static void SEGC_FN(relu)(int64_t n, const float *x, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}
SEGC_TARGET static void SEGC_FN(affine)(int64_t n, const float *x, float s, float b, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * s + b;
}
SEGC_TARGET static void SEGC_FN(epilogue)(int64_t n, float *restrict y, float bias, int act, float slope) {
    if (act == SEGC_ACT_RELU) {
        for (int64_t i = 0; i < n; i++) { float v = y[i] + bias; y[i] = v > 0.0f ? v : 0.0f; }
    } else if (act == SEGC_ACT_PRELU) {
        for (int64_t i = 0; i < n; i++) { float v = y[i] + bias; y[i] = v > 0.0f ? v : v * slope; }
    } else if (bias != 0.0f) {
        for (int64_t i = 0; i < n; i++) y[i] += bias;
    }
}
// y = act((src + bias) + res): the reference interpreter's epilogue order (res may be NULL).
// y may be src or res exactly (never a shifted overlap: the conv kernels and PlanValidator
// see to it), so element i depends on slot i only and the loop is vectorised without the
// compiler's overlap test — which fails for y == src and sent ENet's conv tails (27 % of its
// samples) down the scalar loop.
SEGC_TARGET static void SEGC_FN(epilogue_res)(int64_t n, float *y, const float *src, float bias, const float *res,
                                              int act, float slope) {
    if (!res) {
#pragma clang loop vectorize(assume_safety)
        for (int64_t i = 0; i < n; i++) y[i] = segc_act(src[i] + bias, act, slope);
        return;
    }
    for (int64_t i0 = 0; i0 < n; i0 += 64) {
        for (int64_t d = 0; d < 64; d += 16) __builtin_prefetch(res + i0 + d + 1024);
        int64_t i1 = i0 + 64 < n ? i0 + 64 : n;
#pragma clang loop vectorize(assume_safety)
        for (int64_t i = i0; i < i1; i++) {
            float v = src[i] + bias;
            v = v + res[i];
            y[i] = segc_act(v, act, slope);
        }
    }
}
// A conv with a fused tail (conv/conv2d.c): y = act2((act(src + bias) + 0) + res) in one
// pass — the conv's epilogue, then the add and the activation exactly as segc_conv2d_tail
// defines them (epilogue_res with bias 0, so the "+ 0" stays: it turns −0 into +0).
SEGC_TARGET static void SEGC_FN(epilogue_tail)(int64_t n, float *y, const float *src, float bias, int act, float slope,
                                               const float *res, int act2, float slope2) {
#pragma clang loop vectorize(assume_safety)
    for (int64_t i = 0; i < n; i++) {
        float v = segc_act(src[i] + bias, act, slope);
        v = v + 0.0f;
        v = v + res[i];
        y[i] = segc_act(v, act2, slope2);
    }
}
// y[2i] = a[i], y[2i+1] = b[i] with non-temporal stores (y 8-byte aligned): a stride-2
// transposed conv writing a plane too large to stay in cache (ENet's and ERFNet's logits,
// 40 MiB) skips the read-for-ownership of every output line. The caller fences.
SEGC_TARGET static void SEGC_FN(interleave2_nt)(int64_t n, const float *restrict a, const float *restrict b,
                                                float *restrict y) {
    typedef float v4 __attribute__((ext_vector_type(4)));
    typedef float v8 __attribute__((ext_vector_type(8)));
    int64_t i = 0;
    for (; i < n && ((uintptr_t)(y + 2 * i) & 31); i++) { y[2 * i] = a[i]; y[2 * i + 1] = b[i]; }
    for (; i + 4 <= n; i += 4) {
        v4 va, vb;
        __builtin_memcpy(&va, a + i, sizeof va);
        __builtin_memcpy(&vb, b + i, sizeof vb);
        v8 v = __builtin_shufflevector(va, vb, 0, 4, 1, 5, 2, 6, 3, 7);
        __builtin_nontemporal_store(v, (v8 *)(y + 2 * i));
    }
    for (; i < n; i++) { y[2 * i] = a[i]; y[2 * i + 1] = b[i]; }
}
SEGC_TARGET static void SEGC_FN(max_rows)(int64_t n, const float *restrict x, float *restrict m) {
    for (int64_t i = 0; i < n; i++) m[i] = x[i] > m[i] ? x[i] : m[i];
}
SEGC_TARGET static void SEGC_FN(sum_exp)(int64_t n, const float *restrict x, const float *restrict m,
                                         float *restrict y, float *restrict s) {
    for (int64_t i = 0; i < n; i++) { float e = expf(x[i] - m[i]); y[i] = e; s[i] += e; }
}
SEGC_TARGET static void SEGC_FN(scale_rows)(int64_t n, float *restrict y, const float *restrict inv) {
    for (int64_t i = 0; i < n; i++) y[i] *= inv[i];
}
SEGC_TARGET static void SEGC_FN(sigmoid)(int64_t n, const float *x, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
}

// nearbyintf rounds in the current mode (round half to even by default) and never sets
// errno, so it vectorises (roundps / vrndscaleps). `r > lo ? r : lo` maps NaN to lo.
SEGC_TARGET static void SEGC_FN(qdq)(int64_t n, const float *x, float s, float lo, float hi, float *y) {
    for (int64_t i = 0; i < n; i++) {
        float r = nearbyintf(x[i] / s);
        r = r > lo ? r : lo;
        r = r < hi ? r : hi;
        y[i] = r * s;
    }
}

// Winograd F(4,3) transforms over contiguous runs (conv/conv1d_winograd.c): v[ξ] = (Bᵀ r)[ξ].
SEGC_TARGET static void SEGC_FN(wino_bt)(int64_t n, const float *const *r, float *const *v) {
    const float *restrict r0 = r[0], *restrict r1 = r[1], *restrict r2 = r[2], *restrict r3 = r[3],
                *restrict r4 = r[4], *restrict r5 = r[5];
    float *restrict v0 = v[0], *restrict v1 = v[1], *restrict v2 = v[2], *restrict v3 = v[3], *restrict v4 = v[4],
          *restrict v5 = v[5];
    for (int64_t e = 0; e < n; e++) {
        float x0 = r0[e], x1 = r1[e], x2 = r2[e], x3 = r3[e], x4 = r4[e], x5 = r5[e];
        v0[e] = 4.0f * x0 - 5.0f * x2 + x4;
        v1[e] = -4.0f * x1 - 4.0f * x2 + x3 + x4;
        v2[e] = 4.0f * x1 - 4.0f * x2 - x3 + x4;
        v3[e] = -2.0f * x1 - x2 + 2.0f * x3 + x4;
        v4[e] = 2.0f * x1 - x2 - 2.0f * x3 + x4;
        v5[e] = 4.0f * x1 - 5.0f * x3 + x5;
    }
}
// y[o] = act((Aᵀ m)[o] + bias + res[o]) for o < outs (res[o] may be NULL or alias y[o]).
SEGC_TARGET static void SEGC_FN(wino_at)(int64_t n, const float *const *m, float *const *y, int outs, float bias,
                                         const float *const *res, int act, float slope) {
    const float *restrict m0 = m[0], *restrict m1 = m[1], *restrict m2 = m[2], *restrict m3 = m[3],
                *restrict m4 = m[4], *restrict m5 = m[5];
    if (outs == 4) {   // one pass: 6 loads, 4 stores per element
        float *restrict y0 = y[0], *restrict y1 = y[1], *restrict y2 = y[2], *restrict y3 = y[3];
        const float *q0 = res[0], *q1 = res[1], *q2 = res[2], *q3 = res[3];
        if (q0) {
            for (int64_t e = 0; e < n; e++) {
                float s12 = m1[e] + m2[e], d12 = m1[e] - m2[e], s34 = m3[e] + m4[e], d34 = m3[e] - m4[e];
                float a0 = (m0[e] + s12 + s34 + bias) + q0[e], a1 = (d12 + 2.0f * d34 + bias) + q1[e];
                float a2 = (s12 + 4.0f * s34 + bias) + q2[e], a3 = (d12 + 8.0f * d34 + m5[e] + bias) + q3[e];
                y0[e] = segc_act(a0, act, slope);
                y1[e] = segc_act(a1, act, slope);
                y2[e] = segc_act(a2, act, slope);
                y3[e] = segc_act(a3, act, slope);
            }
        } else {
            for (int64_t e = 0; e < n; e++) {
                float s12 = m1[e] + m2[e], d12 = m1[e] - m2[e], s34 = m3[e] + m4[e], d34 = m3[e] - m4[e];
                float a0 = m0[e] + s12 + s34 + bias, a1 = d12 + 2.0f * d34 + bias;
                float a2 = s12 + 4.0f * s34 + bias, a3 = d12 + 8.0f * d34 + m5[e] + bias;
                y0[e] = segc_act(a0, act, slope);
                y1[e] = segc_act(a1, act, slope);
                y2[e] = segc_act(a2, act, slope);
                y3[e] = segc_act(a3, act, slope);
            }
        }
        return;
    }
    for (int o = 0; o < outs; o++) {   // a tile cut by the plane's end
        float *yo = y[o];
        const float *ro = res[o];
        for (int64_t e = 0; e < n; e++) {
            float s12 = m1[e] + m2[e], d12 = m1[e] - m2[e], s34 = m3[e] + m4[e], d34 = m3[e] - m4[e];
            float v = o == 0 ? m0[e] + s12 + s34 : o == 1 ? d12 + 2.0f * d34 : o == 2 ? s12 + 4.0f * s34 : d12 + 8.0f * d34 + m5[e];
            v = v + bias;
            if (ro) v = v + ro[e];
            yo[e] = segc_act(v, act, slope);
        }
    }
}

// Horizontal Winograd bands (SEGC_WINO_BAND rows; conv/conv1d_winograd.c).
// Input: xt[x][r] (one channel); tile j's k-th input run starts at xt + off[6j+k], or is
// zero when off < 0; writes v[ξ] + j·BAND.
SEGC_TARGET static void SEGC_FN(wino_bt_band)(int64_t nt, const float *xt, const int64_t *off, float *const *v) {
    for (int64_t j = 0; j < nt; j++) {
        float x[6][SEGC_WINO_BAND];
        for (int k = 0; k < 6; k++) {
            int64_t o = off[6 * j + k];
            for (int r = 0; r < SEGC_WINO_BAND; r++) x[k][r] = o >= 0 ? xt[o + r] : 0.0f;
        }
        float *v0 = v[0] + j * SEGC_WINO_BAND, *v1 = v[1] + j * SEGC_WINO_BAND, *v2 = v[2] + j * SEGC_WINO_BAND,
              *v3 = v[3] + j * SEGC_WINO_BAND, *v4 = v[4] + j * SEGC_WINO_BAND, *v5 = v[5] + j * SEGC_WINO_BAND;
        for (int r = 0; r < SEGC_WINO_BAND; r++) {
            float x0 = x[0][r], x1 = x[1][r], x2 = x[2][r], x3 = x[3][r], x4 = x[4][r], x5 = x[5][r];
            v0[r] = 4.0f * x0 - 5.0f * x2 + x4;
            v1[r] = -4.0f * x1 - 4.0f * x2 + x3 + x4;
            v2[r] = 4.0f * x1 - 4.0f * x2 - x3 + x4;
            v3[r] = -2.0f * x1 - x2 + 2.0f * x3 + x4;
            v4[r] = 2.0f * x1 - x2 - 2.0f * x3 + x4;
            v5[r] = 4.0f * x1 - 5.0f * x3 + x5;
        }
    }
}
// Output: yt[x][r] (one channel) += nothing: yt + off[4j+o] = (Aᵀ m)[o] + bias for off >= 0.
SEGC_TARGET static void SEGC_FN(wino_at_band)(int64_t nt, const float *const *m, const int64_t *off, float bias,
                                              float *yt) {
    for (int64_t j = 0; j < nt; j++) {
        const float *m0 = m[0] + j * SEGC_WINO_BAND, *m1 = m[1] + j * SEGC_WINO_BAND, *m2 = m[2] + j * SEGC_WINO_BAND,
                    *m3 = m[3] + j * SEGC_WINO_BAND, *m4 = m[4] + j * SEGC_WINO_BAND, *m5 = m[5] + j * SEGC_WINO_BAND;
        float out[4][SEGC_WINO_BAND];
        for (int r = 0; r < SEGC_WINO_BAND; r++) {
            float s12 = m1[r] + m2[r], d12 = m1[r] - m2[r], s34 = m3[r] + m4[r], d34 = m3[r] - m4[r];
            out[0][r] = m0[r] + s12 + s34 + bias;
            out[1][r] = d12 + 2.0f * d34 + bias;
            out[2][r] = s12 + 4.0f * s34 + bias;
            out[3][r] = d12 + 8.0f * d34 + m5[r] + bias;
        }
        for (int o = 0; o < 4; o++) {
            int64_t q = off[4 * j + o];
            if (q < 0) continue;
            for (int r = 0; r < SEGC_WINO_BAND; r++) yt[q + r] = out[o][r];
        }
    }
}
// dst[x][r] = src[r·ld + x] for r < rows (zero above), x < w: a band of rows transposed.
SEGC_TARGET static void SEGC_FN(band_in)(int64_t rows, int64_t w, const float *src, int64_t ld, float *dst) {
    for (int64_t x = 0; x < w; x++)
        for (int r = 0; r < SEGC_WINO_BAND; r++) dst[x * SEGC_WINO_BAND + r] = r < rows ? src[r * ld + x] : 0.0f;
}
// y[r·ld + x] = act(src[x][r] + res[r·ld + x]) for r < rows (res nullable, may alias y).
SEGC_TARGET static void SEGC_FN(band_out)(int64_t rows, int64_t w, const float *src, const float *res, int64_t ld,
                                          float *y, int act, float slope) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t x = 0; x < w; x++) {
            float s = src[x * SEGC_WINO_BAND + r];
            if (res) s = s + res[r * ld + x];
            y[r * ld + x] = segc_act(s, act, slope);
        }
}

// Winograd F(6,3) transforms (points 0, ±1, ±2, ±1/2, ∞; conv/conv1d_winograd.c): eight
// inputs per tile of six outputs. v[ξ] = (Bᵀ r)[ξ], factored as in NNPACK so each pair of
// rows shares its two partial sums.
static inline void SEGC_FN(wino6_bt_one)(float d0, float d1, float d2, float d3, float d4, float d5, float d6,
                                         float d7, float *o) {
    o[0] = (d0 - d6) + 5.25f * (d4 - d2);
    o[7] = (d7 - d1) + 5.25f * (d3 - d5);
    float a = (d2 + d6) - 4.25f * d4, b = (d1 + d5) - 4.25f * d3;
    o[1] = a + b;
    o[2] = a - b;
    a = (d6 + 0.25f * d2) - 1.25f * d4;
    b = (0.5f * d1 - 2.5f * d3) + 2.0f * d5;
    o[3] = a + b;
    o[4] = a - b;
    a = (d6 + 4.0f * d2) - 5.0f * d4;
    b = (2.0f * d1 - 2.5f * d3) + 0.5f * d5;
    o[5] = a + b;
    o[6] = a - b;
}
// (Aᵀ m)[o] for o < 6.
static inline void SEGC_FN(wino6_at_one)(float m0, float m1, float m2, float m3, float m4, float m5, float m6,
                                         float m7, float *y) {
    float s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4, s56 = m5 + m6, d56 = m5 - m6;
    y[0] = ((m0 + s12) + s34) + s56;
    y[1] = (d12 + 2.0f * d34) + 0.5f * d56;
    y[2] = (s12 + 4.0f * s34) + 0.25f * s56;
    y[3] = (d12 + 8.0f * d34) + 0.125f * d56;
    y[4] = (s12 + 16.0f * s34) + 0.0625f * s56;
    y[5] = ((d12 + 32.0f * d34) + 0.03125f * d56) + m7;
}
SEGC_TARGET static void SEGC_FN(wino6_bt)(int64_t n, const float *const *r, float *const *v) {
    const float *restrict r0 = r[0], *restrict r1 = r[1], *restrict r2 = r[2], *restrict r3 = r[3],
                *restrict r4 = r[4], *restrict r5 = r[5], *restrict r6 = r[6], *restrict r7 = r[7];
    float *restrict v0 = v[0], *restrict v1 = v[1], *restrict v2 = v[2], *restrict v3 = v[3], *restrict v4 = v[4],
          *restrict v5 = v[5], *restrict v6 = v[6], *restrict v7 = v[7];
    for (int64_t e = 0; e < n; e++) {
        float o[8];
        SEGC_FN(wino6_bt_one)(r0[e], r1[e], r2[e], r3[e], r4[e], r5[e], r6[e], r7[e], o);
        v0[e] = o[0]; v1[e] = o[1]; v2[e] = o[2]; v3[e] = o[3];
        v4[e] = o[4]; v5[e] = o[5]; v6[e] = o[6]; v7[e] = o[7];
    }
}
// y[o] = act((Aᵀ m)[o] + bias + res[o]) for o < outs (res[o] may be NULL or alias y[o]).
SEGC_TARGET static void SEGC_FN(wino6_at)(int64_t n, const float *const *m, float *const *y, int outs, float bias,
                                          const float *const *res, int act, float slope) {
    const float *restrict m0 = m[0], *restrict m1 = m[1], *restrict m2 = m[2], *restrict m3 = m[3],
                *restrict m4 = m[4], *restrict m5 = m[5], *restrict m6 = m[6], *restrict m7 = m[7];
    if (outs == 6) {   // one pass: 8 loads, 6 stores per element
        float *restrict y0 = y[0], *restrict y1 = y[1], *restrict y2 = y[2], *restrict y3 = y[3],
              *restrict y4 = y[4], *restrict y5 = y[5];
        if (res[0]) {
            const float *q0 = res[0], *q1 = res[1], *q2 = res[2], *q3 = res[3], *q4 = res[4], *q5 = res[5];
            for (int64_t e = 0; e < n; e++) {
                float t[6];
                SEGC_FN(wino6_at_one)(m0[e], m1[e], m2[e], m3[e], m4[e], m5[e], m6[e], m7[e], t);
                float a0 = (t[0] + bias) + q0[e], a1 = (t[1] + bias) + q1[e], a2 = (t[2] + bias) + q2[e];
                float a3 = (t[3] + bias) + q3[e], a4 = (t[4] + bias) + q4[e], a5 = (t[5] + bias) + q5[e];
                y0[e] = segc_act(a0, act, slope); y1[e] = segc_act(a1, act, slope); y2[e] = segc_act(a2, act, slope);
                y3[e] = segc_act(a3, act, slope); y4[e] = segc_act(a4, act, slope); y5[e] = segc_act(a5, act, slope);
            }
        } else {
            for (int64_t e = 0; e < n; e++) {
                float t[6];
                SEGC_FN(wino6_at_one)(m0[e], m1[e], m2[e], m3[e], m4[e], m5[e], m6[e], m7[e], t);
                y0[e] = segc_act(t[0] + bias, act, slope); y1[e] = segc_act(t[1] + bias, act, slope);
                y2[e] = segc_act(t[2] + bias, act, slope); y3[e] = segc_act(t[3] + bias, act, slope);
                y4[e] = segc_act(t[4] + bias, act, slope); y5[e] = segc_act(t[5] + bias, act, slope);
            }
        }
        return;
    }
    for (int o = 0; o < outs; o++) {   // a tile cut by the plane's end
        float *yo = y[o];
        const float *ro = res[o];
        for (int64_t e = 0; e < n; e++) {
            float t[6];
            SEGC_FN(wino6_at_one)(m0[e], m1[e], m2[e], m3[e], m4[e], m5[e], m6[e], m7[e], t);
            float v = t[o] + bias;
            if (ro) v = v + ro[e];
            yo[e] = segc_act(v, act, slope);
        }
    }
}
// Horizontal bands (as wino_bt_band / wino_at_band): 8 input runs and 6 output runs per tile.
SEGC_TARGET static void SEGC_FN(wino6_bt_band)(int64_t nt, const float *xt, const int64_t *off, float *const *v) {
    for (int64_t j = 0; j < nt; j++) {
        float x[8][SEGC_WINO_BAND];
        for (int k = 0; k < 8; k++) {
            int64_t o = off[8 * j + k];
            for (int r = 0; r < SEGC_WINO_BAND; r++) x[k][r] = o >= 0 ? xt[o + r] : 0.0f;
        }
        float *vj[8];
        for (int k = 0; k < 8; k++) vj[k] = v[k] + j * SEGC_WINO_BAND;
        for (int r = 0; r < SEGC_WINO_BAND; r++) {
            float o[8];
            SEGC_FN(wino6_bt_one)(x[0][r], x[1][r], x[2][r], x[3][r], x[4][r], x[5][r], x[6][r], x[7][r], o);
            for (int k = 0; k < 8; k++) vj[k][r] = o[k];
        }
    }
}
SEGC_TARGET static void SEGC_FN(wino6_at_band)(int64_t nt, const float *const *m, const int64_t *off, float bias,
                                               float *yt) {
    for (int64_t j = 0; j < nt; j++) {
        const float *mj[8];
        for (int k = 0; k < 8; k++) mj[k] = m[k] + j * SEGC_WINO_BAND;
        float out[6][SEGC_WINO_BAND];
        for (int r = 0; r < SEGC_WINO_BAND; r++) {
            float t[6];
            SEGC_FN(wino6_at_one)(mj[0][r], mj[1][r], mj[2][r], mj[3][r], mj[4][r], mj[5][r], mj[6][r], mj[7][r], t);
            for (int o = 0; o < 6; o++) out[o][r] = t[o] + bias;
        }
        for (int o = 0; o < 6; o++) {
            int64_t q = off[6 * j + o];
            if (q < 0) continue;
            for (int r = 0; r < SEGC_WINO_BAND; r++) yt[q + r] = out[o][r];
        }
    }
}

// 2-D Winograd F(4x4,3x3) (conv/conv2d_winograd.c) reuses wino_bt and wino_at along both
// axes; these two move a row between the plane's layout (4 values per tile, interleaved)
// and the per-tile-phase layout those transforms run over.
// ph[k][j] = t[4j + k] for j < n, k < 4.
SEGC_TARGET static void SEGC_FN(wino2_split)(int64_t n, const float *restrict t, float *const *ph) {
    float *restrict p0 = ph[0], *restrict p1 = ph[1], *restrict p2 = ph[2], *restrict p3 = ph[3];
    for (int64_t j = 0; j < n; j++) {
        p0[j] = t[4 * j]; p1[j] = t[4 * j + 1]; p2[j] = t[4 * j + 2]; p3[j] = t[4 * j + 3];
    }
}
// y[e] = act(z[e % 4][e / 4] + res[e]) for e < n (res nullable, may alias y: each residual
// is read just before the same element is written).
SEGC_TARGET static void SEGC_FN(wino2_merge)(int64_t n, const float *const *z, const float *res, float *y, int act,
                                             float slope) {
    const float *restrict z0 = z[0], *restrict z1 = z[1], *restrict z2 = z[2], *restrict z3 = z[3];
    int64_t full = n / 4;
    if (res) {
        for (int64_t j = 0; j < full; j++) {
            float a0 = z0[j] + res[4 * j], a1 = z1[j] + res[4 * j + 1], a2 = z2[j] + res[4 * j + 2],
                  a3 = z3[j] + res[4 * j + 3];
            y[4 * j] = segc_act(a0, act, slope); y[4 * j + 1] = segc_act(a1, act, slope);
            y[4 * j + 2] = segc_act(a2, act, slope); y[4 * j + 3] = segc_act(a3, act, slope);
        }
    } else {
        float *restrict yr = y;
        for (int64_t j = 0; j < full; j++) {
            yr[4 * j] = segc_act(z0[j], act, slope); yr[4 * j + 1] = segc_act(z1[j], act, slope);
            yr[4 * j + 2] = segc_act(z2[j], act, slope); yr[4 * j + 3] = segc_act(z3[j], act, slope);
        }
    }
    for (int64_t e = full * 4; e < n; e++) {
        float v = z[e % 4][e / 4];
        if (res) v = v + res[e];
        y[e] = segc_act(v, act, slope);
    }
}

// G (6x3) applied to one 3-vector: F(4,3)'s weight transform (points 0, ±1, ±2, ∞).
static inline void SEGC_FN(wino2_g)(float x0, float x1, float x2, float *o) {
    o[0] = x0 * 0.25f;
    o[1] = ((x0 + x1) + x2) * (-1.0f / 6);
    o[2] = ((x0 - x1) + x2) * (-1.0f / 6);
    o[3] = (x0 * (1.0f / 24) + x1 * (1.0f / 12)) + x2 * (1.0f / 6);
    o[4] = (x0 * (1.0f / 24) - x1 * (1.0f / 12)) + x2 * (1.0f / 6);
    o[5] = x2;
}
// u[ξ·ldu + e] = (G g_e Gᵀ)[ξ] for e < n, ξ < 36, with tap k of g_e at g[k·ldg + e].
// Blocks of 16 through local arrays: written directly over 36 output streams the loop
// stayed scalar (6 % of BiSeNet's samples).
SEGC_TARGET static void SEGC_FN(wino2_wt)(int64_t n, const float *restrict g, int64_t ldg, float *restrict u,
                                          int64_t ldu) {
    for (int64_t e0 = 0; e0 < n; e0 += 16) {
        int64_t m = n - e0 < 16 ? n - e0 : 16;
        float x[9][16], out[36][16];
        for (int k = 0; k < 9; k++)
            for (int e = 0; e < 16; e++) x[k][e] = e < m ? g[k * ldg + e0 + e] : 0.0f;
        for (int e = 0; e < 16; e++) {
            float tg[6][3], o[6];
            for (int j = 0; j < 3; j++) {
                SEGC_FN(wino2_g)(x[j][e], x[3 + j][e], x[6 + j][e], o);
                for (int a = 0; a < 6; a++) tg[a][j] = o[a];
            }
            for (int a = 0; a < 6; a++) {
                SEGC_FN(wino2_g)(tg[a][0], tg[a][1], tg[a][2], o);
                for (int b = 0; b < 6; b++) out[a * 6 + b][e] = o[b];
            }
        }
        if (m == 16)   // constant trip count: one vector store per row, not a memcpy call
            for (int xi = 0; xi < 36; xi++)
                for (int e = 0; e < 16; e++) u[xi * ldu + e0 + e] = out[xi][e];
        else
            for (int xi = 0; xi < 36; xi++)
                for (int e = 0; e < m; e++) u[xi * ldu + e0 + e] = out[xi][e];
    }
}

// 2-D Winograd F(2x2,3x3) (conv/conv2d_winograd_f2.c), points 0, ±1, ∞:
// Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1],
// Aᵀ = [1 1 1 0; 0 1 -1 -1]. v[ξ][e] = Σ_k Bᵀ[ξ][k] r[k][e].
SEGC_TARGET static void SEGC_FN(wino23_bt)(int64_t n, const float *const *r, float *const *v) {
    const float *restrict r0 = r[0], *restrict r1 = r[1], *restrict r2 = r[2], *restrict r3 = r[3];
    float *restrict v0 = v[0], *restrict v1 = v[1], *restrict v2 = v[2], *restrict v3 = v[3];
    for (int64_t e = 0; e < n; e++) {
        float x0 = r0[e], x1 = r1[e], x2 = r2[e], x3 = r3[e];
        v0[e] = x0 - x2;
        v1[e] = x1 + x2;
        v2[e] = x2 - x1;
        v3[e] = x1 - x3;
    }
}
// y[o][e] = (Aᵀ m)[o][e] + bias for o < outs (1 or 2).
SEGC_TARGET static void SEGC_FN(wino23_at)(int64_t n, const float *const *m, float *const *y, int outs, float bias) {
    const float *restrict m0 = m[0], *restrict m1 = m[1], *restrict m2 = m[2], *restrict m3 = m[3];
    float *restrict y0 = y[0];
    if (outs == 2) {
        float *restrict y1 = y[1];
        for (int64_t e = 0; e < n; e++) {
            y0[e] = (m0[e] + m1[e] + m2[e]) + bias;
            y1[e] = (m1[e] - m2[e] - m3[e]) + bias;
        }
    } else {
        for (int64_t e = 0; e < n; e++) y0[e] = (m0[e] + m1[e] + m2[e]) + bias;
    }
}
// ph[k][j] = t[2j + k] for j < n, k < 2.
SEGC_TARGET static void SEGC_FN(wino22_split)(int64_t n, const float *restrict t, float *const *ph) {
    float *restrict p0 = ph[0], *restrict p1 = ph[1];
    for (int64_t j = 0; j < n; j++) { p0[j] = t[2 * j]; p1[j] = t[2 * j + 1]; }
}
// y[e] = act(z[e % 2][e / 2] + res[e]) for e < n (res nullable, may alias y: each residual is
// read just before the same element is written).
SEGC_TARGET static void SEGC_FN(wino22_merge)(int64_t n, const float *const *z, const float *res, float *y, int act,
                                              float slope) {
    const float *restrict z0 = z[0], *restrict z1 = z[1];
    int64_t full = n / 2;
    if (res) {
        for (int64_t j = 0; j < full; j++) {
            float a0 = z0[j] + res[2 * j], a1 = z1[j] + res[2 * j + 1];
            y[2 * j] = segc_act(a0, act, slope); y[2 * j + 1] = segc_act(a1, act, slope);
        }
    } else {
        float *restrict yr = y;
        for (int64_t j = 0; j < full; j++) {
            yr[2 * j] = segc_act(z0[j], act, slope); yr[2 * j + 1] = segc_act(z1[j], act, slope);
        }
    }
    if (n % 2) {
        float v = z0[full];
        if (res) v = v + res[n - 1];
        y[n - 1] = segc_act(v, act, slope);
    }
}
// G (4x3) applied to one 3-vector: F(2,3)'s weight transform.
static inline void SEGC_FN(wino22_g)(float x0, float x1, float x2, float *o) {
    o[0] = x0;
    o[1] = ((x0 + x1) + x2) * 0.5f;
    o[2] = ((x0 - x1) + x2) * 0.5f;
    o[3] = x2;
}
// u[ξ·ldu + e] = (G g_e Gᵀ)[ξ] for e < n, ξ < 16, tap k of g_e at g[k·ldg + e] (as wino2_wt).
SEGC_TARGET static void SEGC_FN(wino22_wt)(int64_t n, const float *restrict g, int64_t ldg, float *restrict u,
                                           int64_t ldu) {
    for (int64_t e0 = 0; e0 < n; e0 += 16) {
        int64_t m = n - e0 < 16 ? n - e0 : 16;
        float x[9][16], out[16][16];
        for (int k = 0; k < 9; k++)
            for (int e = 0; e < 16; e++) x[k][e] = e < m ? g[k * ldg + e0 + e] : 0.0f;
        for (int e = 0; e < 16; e++) {
            float tg[4][3], o[4];
            for (int j = 0; j < 3; j++) {
                SEGC_FN(wino22_g)(x[j][e], x[3 + j][e], x[6 + j][e], o);
                for (int a = 0; a < 4; a++) tg[a][j] = o[a];
            }
            for (int a = 0; a < 4; a++) {
                SEGC_FN(wino22_g)(tg[a][0], tg[a][1], tg[a][2], o);
                for (int b = 0; b < 4; b++) out[a * 4 + b][e] = o[b];
            }
        }
        if (m == 16)
            for (int xi = 0; xi < 16; xi++)
                for (int e = 0; e < 16; e++) u[xi * ldu + e0 + e] = out[xi][e];
        else
            for (int xi = 0; xi < 16; xi++)
                for (int e = 0; e < m; e++) u[xi * ldu + e0 + e] = out[xi][e];
    }
}

static const segc_dispatch SEGC_FN(table) = {
    SEGC_FN(bin_vv), SEGC_FN(bin_vs), SEGC_FN(bin_sv), SEGC_FN(relu), SEGC_FN(affine), SEGC_FN(epilogue),
    SEGC_FN(epilogue_res), SEGC_FN(max_rows), SEGC_FN(sum_exp), SEGC_FN(scale_rows), SEGC_FN(sigmoid), SEGC_FN(qdq), SEGC_FN(wino_bt), SEGC_FN(wino_at),
    SEGC_FN(wino_bt_band), SEGC_FN(wino_at_band), SEGC_FN(wino6_bt), SEGC_FN(wino6_at), SEGC_FN(wino6_bt_band),
    SEGC_FN(wino6_at_band), SEGC_FN(band_in), SEGC_FN(band_out), SEGC_FN(wino2_split), SEGC_FN(wino2_merge),
    SEGC_FN(wino2_wt), SEGC_FN(wino23_bt), SEGC_FN(wino23_at), SEGC_FN(wino22_split), SEGC_FN(wino22_merge),
    SEGC_FN(wino22_wt), SEGC_FN(interleave2_nt), SEGC_FN(epilogue_tail),
};

#undef SEGC_FN
#undef SEGC_CAT
#undef SEGC_CAT2
