// Fused anomaly scores over planar logits [C, P] in float32 (product.md §3.3).
//
// Pixels are processed in blocks so that every inner loop runs over contiguous
// pixels of one class plane: the max/argmax becomes vector compares and blends, and
// expf/logf vectorise through glibc's libmvec (-fveclib=libmvec in Package.swift).
// The per-pixel arithmetic is the same as the plain definition; only expf/logf come
// from the vector library (≤ 4 ulp, well inside the metrics' tolerance).
#include "segc_image.h"
#include <math.h>

#define BLOCK 256

#define SCORES_BODY                                                                                            \
    if (!logits || classes < 1 || pixels < 0 || kind < 0 || kind > SEGC_SCORE_NONE) return SEGC_IMG_EINVAL;    \
    if (kind == SEGC_SCORE_MSP && !(temperature > 0.0f)) return SEGC_IMG_EINVAL;                               \
    float m[BLOCK], sum[BLOCK], e[BLOCK], h[BLOCK];                                                            \
    int32_t am[BLOCK];                                                                                         \
    for (int64_t i0 = 0; i0 < pixels; i0 += BLOCK) {                                                           \
        int64_t n = pixels - i0 < BLOCK ? pixels - i0 : BLOCK;                                                 \
        const float *l0 = logits + i0;                                                                         \
        for (int64_t j = 0; j < n; j++) { m[j] = l0[j]; am[j] = 0; }                                           \
        for (int64_t c = 1; c < classes; c++) {                                                                \
            const float *lc = l0 + c * pixels;                                                                 \
            for (int64_t j = 0; j < n; j++) {                                                                  \
                int gt = lc[j] > m[j]; /* strict: the first maximum wins, as torch.argmax */                   \
                m[j] = gt ? lc[j] : m[j];                                                                      \
                am[j] = gt ? (int32_t)c : am[j];                                                               \
            }                                                                                                  \
        }                                                                                                      \
        if (argmax) for (int64_t j = 0; j < n; j++) argmax[i0 + j] = am[j];                                    \
        if (!score || kind == SEGC_SCORE_NONE) continue;                                                       \
        float *s = score + i0;                                                                                 \
        switch (kind) {                                                                                        \
        case SEGC_SCORE_MAXLOGIT:                                                                              \
            for (int64_t j = 0; j < n; j++) s[j] = -m[j];                                                      \
            break;                                                                                             \
        case SEGC_SCORE_MSP: {                                                                                 \
            for (int64_t j = 0; j < n; j++) { sum[j] = 0.0f; m[j] = m[j] / temperature; }                      \
            for (int64_t c = 0; c < classes; c++) {                                                            \
                const float *lc = l0 + c * pixels;                                                             \
                for (int64_t j = 0; j < n; j++) sum[j] += expf(lc[j] / temperature - m[j]);                    \
            }                                                                                                  \
            for (int64_t j = 0; j < n; j++) s[j] = 1.0f - 1.0f / sum[j];                                       \
            break;                                                                                             \
        }                                                                                                      \
        case SEGC_SCORE_VOID: {                                                                                \
            for (int64_t j = 0; j < n; j++) sum[j] = 0.0f;                                                     \
            for (int64_t c = 0; c < classes; c++) {                                                            \
                const float *lc = l0 + c * pixels;                                                             \
                for (int64_t j = 0; j < n; j++) sum[j] += expf(lc[j] - m[j]);                                  \
            }                                                                                                  \
            const float *lv = l0 + (classes - 1) * pixels;                                                     \
            for (int64_t j = 0; j < n; j++) s[j] = expf(lv[j] - m[j]) / sum[j];                                \
            break;                                                                                             \
        }                                                                                                      \
        case SEGC_SCORE_MAXENTROPY: {                                                                          \
            for (int64_t j = 0; j < n; j++) { sum[j] = 0.0f; h[j] = 0.0f; }                                    \
            for (int64_t c = 0; c < classes; c++) {                                                            \
                const float *lc = l0 + c * pixels;                                                             \
                for (int64_t j = 0; j < n; j++) sum[j] += expf(lc[j] - m[j]);                                  \
            }                                                                                                  \
            for (int64_t c = 0; c < classes; c++) {                                                            \
                const float *lc = l0 + c * pixels;                                                             \
                for (int64_t j = 0; j < n; j++) {                                                              \
                    e[j] = expf(lc[j] - m[j]) / sum[j];                                                        \
                    h[j] += e[j] * logf(e[j] + 1e-10f);                                                        \
                }                                                                                              \
            }                                                                                                  \
            for (int64_t j = 0; j < n; j++) s[j] = -h[j];                                                      \
            break;                                                                                             \
        }                                                                                                      \
        default:                                                                                               \
            break;                                                                                             \
        }                                                                                                      \
    }                                                                                                          \
    return SEGC_IMG_OK;

static int scores_generic(const float *logits, int64_t classes, int64_t pixels, int32_t kind, float temperature,
                          float *score, int32_t *argmax) {
    SCORES_BODY
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static int scores_avx2(const float *logits, int64_t classes, int64_t pixels,
                                                          int32_t kind, float temperature, float *score,
                                                          int32_t *argmax) {
    SCORES_BODY
}
#endif

int segc_scores(const float *logits, int64_t classes, int64_t pixels, int32_t kind, float temperature,
                float *score, int32_t *argmax) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return scores_avx2(logits, classes, pixels, kind, temperature, score, argmax);
#endif
    return scores_generic(logits, classes, pixels, kind, temperature, score, argmax);
}
