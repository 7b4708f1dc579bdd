// Simulated int8 ("fake quantization"): ONNX QuantizeLinear followed by
// DequantizeLinear with the same per-tensor scale and zero point, computed in
// float32 as ONNX Runtime does (x / scale, round half to even, saturate). The inner
// loop comes from the dispatch table (vectorised per ISA); tasks are fixed-size
// chunks, so results do not depend on the thread count.
#include "../internal.h"
#include <math.h>

#define QDQ_CHUNK (32 * 1024)

typedef struct {
    int64_t n;
    float scale, lo, hi;
    const float *x;
    float *y;
} qdq_ctx;

static void qdq_task(void *vctx, int64_t t, int thread) {
    (void)thread;
    const qdq_ctx *c = vctx;
    int64_t i0 = t * QDQ_CHUNK, n = SEGC_MIN(QDQ_CHUNK, c->n - i0);
    segc_dt.qdq(n, c->x + i0, c->scale, c->lo, c->hi, c->y + i0);
}

int segc_quantize_dequantize(segc_pool *pool, int64_t n, float scale, int64_t zero_point, int64_t qmin, int64_t qmax,
                             const float *x, float *y) {
    if (n < 0 || !(isfinite(scale) && scale > 0.0f)) return SEGC_EINVAL;
    if (qmin >= qmax || zero_point < qmin || zero_point > qmax || qmin < -65536 || qmax > 65536) return SEGC_EINVAL;
    qdq_ctx c = {n, scale, (float)(qmin - zero_point), (float)(qmax - zero_point), x, y};
    segc_pool_run(pool, qdq_task, &c, segc_chunks(n, QDQ_CHUNK));
    return SEGC_OK;
}
