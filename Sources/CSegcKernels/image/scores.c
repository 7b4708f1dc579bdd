// Fused anomaly scores over planar logits [C, P] in float32 (product.md §3.3).
#include "segc_image.h"
#include <math.h>

int segc_scores(const float *logits, int64_t classes, int64_t pixels, int32_t kind, float temperature,
                float *score, int32_t *argmax) {
    if (!logits || classes < 1 || pixels < 0 || kind < 0 || kind > SEGC_SCORE_NONE) return SEGC_IMG_EINVAL;
    if (kind == SEGC_SCORE_MSP && !(temperature > 0.0f)) return SEGC_IMG_EINVAL;
    for (int64_t i = 0; i < pixels; i++) {
        float m = logits[i];
        int32_t am = 0;
        for (int64_t c = 1; c < classes; c++) {
            float v = logits[c * pixels + i];
            if (v > m) { m = v; am = (int32_t)c; }
        }
        if (argmax) argmax[i] = am;
        if (!score || kind == SEGC_SCORE_NONE) continue;
        switch (kind) {
        case SEGC_SCORE_MAXLOGIT:
            score[i] = -m;
            break;
        case SEGC_SCORE_MSP: {
            float mt = m / temperature, sum = 0.0f;
            for (int64_t c = 0; c < classes; c++) sum += expf(logits[c * pixels + i] / temperature - mt);
            score[i] = 1.0f - 1.0f / sum;
            break;
        }
        case SEGC_SCORE_VOID: {
            float sum = 0.0f;
            for (int64_t c = 0; c < classes; c++) sum += expf(logits[c * pixels + i] - m);
            score[i] = expf(logits[(classes - 1) * pixels + i] - m) / sum;
            break;
        }
        case SEGC_SCORE_MAXENTROPY: {
            float sum = 0.0f;
            for (int64_t c = 0; c < classes; c++) sum += expf(logits[c * pixels + i] - m);
            float h = 0.0f;
            for (int64_t c = 0; c < classes; c++) {
                float p = expf(logits[c * pixels + i] - m) / sum;
                h += p * logf(p + 1e-10f);
            }
            score[i] = -h;
            break;
        }
        default:
            break;
        }
    }
    return SEGC_IMG_OK;
}
