// The executor's per-descriptor switch (see `segc_op` in the header).
#include "../internal.h"

int segc_exec(segc_pool *pool, const segc_op *o, const segc_ws *ws) {
    const int64_t *d = o->d;
    switch (o->kind) {
    case SEGC_OP_CONV:
        if (o->tail.res) return segc_conv2d_tail(pool, &o->conv, o->in0, o->w0, o->w1, o->w2, &o->tail, o->out0, ws);
        return segc_conv2d(pool, &o->conv, o->in0, o->w0, o->w1, o->in1, o->w2, o->out0, ws);
    case SEGC_OP_CONVT:
        return segc_conv_transpose2d(pool, &o->conv, o->in0, o->w0, o->w1, o->in1, o->w2, o->out0, ws);
    case SEGC_OP_MAXPOOL: return segc_max_pool2d(pool, &o->pool, o->in0, o->out0, o->out_idx);
    case SEGC_OP_AVGPOOL: return segc_avg_pool2d(pool, &o->pool, o->in0, o->out0);
    case SEGC_OP_UNPOOL: return segc_max_unpool2d(pool, d[0], d[1], d[2], d[3], d[4], o->in0, o->in_idx, o->out0);
    case SEGC_OP_GAP: return segc_global_avg_pool(pool, d[0], d[1], o->in0, o->out0);
    case SEGC_OP_RESIZE:
        return segc_resize(pool, d[0], d[1], d[2], d[3], d[4], (int32_t)d[5], (int32_t)d[6], (int32_t)d[7], o->in0,
                           o->out0, ws);
    case SEGC_OP_BINARY: return segc_binary(pool, o->sub, d, o->in0, d + 4, o->in1, d + 8, o->out0);
    case SEGC_OP_RELU: return segc_relu(pool, d[0], o->in0, o->out0);
    case SEGC_OP_SIGMOID: return segc_sigmoid(pool, d[0], o->in0, o->out0);
    case SEGC_OP_PRELU: return segc_prelu(pool, d[0], d[1], o->in0, o->w0, d[2], o->out0);
    case SEGC_OP_AFFINE: return segc_channel_affine(pool, d[0], d[1], o->in0, o->w0, o->w1, o->out0);
    case SEGC_OP_COPY_ROWS: return segc_copy_rows(pool, d[0], d[1], o->in0, o->out0, d[2], d[3]);
    case SEGC_OP_PAD: return segc_pad(pool, d, d + 4, o->fval, o->in0, o->out0);
    case SEGC_OP_SOFTMAX: return segc_softmax(pool, d[0], d[1], d[2], o->in0, o->out0, ws);
    case SEGC_OP_RESIZE_GENERAL: return segc_resize_general(pool, d[0], d[1], d[2], d[3], d[4], &o->resize, o->in0, o->out0, ws);
    case SEGC_OP_BN_TRAINING:
        return segc_batchnorm_training(pool, d[0], d[1], d[2], o->in0, o->w0, o->fval, o->fval2, o->out0, o->out1);
    case SEGC_OP_QDQ: return segc_quantize_dequantize(pool, d[0], o->fval, d[1], d[2], d[3], o->in0, o->out0);
    case SEGC_OP_QCONV:
        if (o->qtail.res)
            return segc_qconv2d_tail(pool, &o->qconv, (const uint8_t *)o->in0, o->w0, o->w1, o->w2, o->out0, &o->qtail,
                                     ws);
        return segc_qconv2d(pool, &o->qconv, o->sub, (const uint8_t *)o->in0, o->w0, o->w1, (const uint8_t *)o->in1,
                            o->w2, o->out0, ws);
    case SEGC_OP_QUANTIZE: return segc_quantize_u8(pool, d[0], o->fval, (int32_t)d[1], o->in0, (uint8_t *)o->out0);
    case SEGC_OP_DEQUANTIZE:
        return segc_dequantize_u8(pool, d[0], o->fval, (int32_t)d[1], (const uint8_t *)o->in0, o->out0);
    case SEGC_OP_QAFFINE:
        return segc_qaffine_u8(pool, d[0], d[1], (int32_t)d[2], (int32_t)d[3], (int32_t)d[4], (const uint8_t *)o->in0,
                               o->w0, o->w1, (uint8_t *)o->out0);
    case SEGC_OP_MAXPOOL_U8:
        return segc_max_pool2d_u8(pool, &o->pool, (const uint8_t *)o->in0, (uint8_t *)o->out0, o->out_idx);
    case SEGC_OP_COPY_ROWS_U8:
        return segc_copy_rows_u8(pool, d[0], d[1], (const uint8_t *)o->in0, (uint8_t *)o->out0, d[2], d[3]);
    default: return SEGC_EINVAL;
    }
}
