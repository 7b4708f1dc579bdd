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
SEGC_TARGET static void SEGC_FN(epilogue_res)(int64_t n, float *y, const float *src, float bias, const float *res,
                                              int act, float slope) {
    for (int64_t i = 0; i < n; i++) {
        float v = src[i] + bias;
        if (res) v = v + res[i];
        y[i] = act == SEGC_ACT_RELU ? (v > 0.0f ? v : 0.0f) : act == SEGC_ACT_PRELU ? (v > 0.0f ? v : v * slope) : v;
    }
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

static const segc_dispatch SEGC_FN(table) = {
    SEGC_FN(bin_vv), SEGC_FN(bin_vs), SEGC_FN(bin_sv), SEGC_FN(relu), SEGC_FN(affine), SEGC_FN(epilogue),
    SEGC_FN(epilogue_res), SEGC_FN(max_rows), SEGC_FN(sum_exp), SEGC_FN(scale_rows), SEGC_FN(sigmoid), SEGC_FN(qdq),
};

#undef SEGC_FN
#undef SEGC_CAT
#undef SEGC_CAT2
