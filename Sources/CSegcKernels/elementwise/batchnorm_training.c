// ONNX BatchNormalization in training mode (training_mode=1), as onnx's reference
// defines it: the batch's own per-channel statistics normalise the input, and the
// running statistics are updated with `momentum`. One task per channel.
#include "../internal.h"
#include <math.h>

typedef struct {
    int64_t n, c, hw;
    const float *x, *params;
    float eps, momentum;
    float *y, *stats;
} bnt_ctx;

static void bnt_task(void *vctx, int64_t ch, int thread) {
    (void)thread;
    const bnt_ctx *b = vctx;
    double sum = 0, count = (double)(b->n * b->hw);
    for (int64_t i = 0; i < b->n; i++) {
        const float *p = b->x + (i * b->c + ch) * b->hw;
        for (int64_t k = 0; k < b->hw; k++) sum += p[k];
    }
    double mean = sum / count, sq = 0;
    for (int64_t i = 0; i < b->n; i++) {
        const float *p = b->x + (i * b->c + ch) * b->hw;
        for (int64_t k = 0; k < b->hw; k++) { double d = p[k] - mean; sq += d * d; }
    }
    double var = sq / count;  // population variance, as the reference's np.var
    double scale = b->params[ch], bias = b->params[b->c + ch];
    double inv = 1.0 / sqrt(var + (double)b->eps);
    for (int64_t i = 0; i < b->n; i++) {
        const float *p = b->x + (i * b->c + ch) * b->hw;
        float *q = b->y + (i * b->c + ch) * b->hw;
        for (int64_t k = 0; k < b->hw; k++) q[k] = (float)((p[k] - mean) * inv * scale + bias);
    }
    double m = b->momentum;
    b->stats[ch] = (float)(b->params[2 * b->c + ch] * m + mean * (1 - m));
    b->stats[b->c + ch] = (float)(b->params[3 * b->c + ch] * m + var * (1 - m));
}

int segc_batchnorm_training(segc_pool *pool, int64_t n, int64_t c, int64_t hw, const float *x, const float *params,
                            float epsilon, float momentum, float *y, float *stats) {
    if (n <= 0 || c <= 0 || hw <= 0 || !x || !params || !y || !stats) return SEGC_EINVAL;
    if (!(epsilon >= 0) || !isfinite(momentum)) return SEGC_EINVAL;
    bnt_ctx b = {n, c, hw, x, params, epsilon, momentum, y, stats};
    segc_pool_run(pool, bnt_task, &b, c);
    return SEGC_OK;
}
