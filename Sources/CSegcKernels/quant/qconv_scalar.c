// The scalar level of the int8 conv: the header's definition, loop by loop. Inputs
// outside the plane read x_zp (the bias already holds −x_zp·Σw, quant/qconv.c), sums
// are uint32 so overflow wraps like the SIMD adds. Tasks are (channel, row chunk).
#include "qconv.h"

int64_t segc_qconv_scalar_wbytes(const segc_qconv_params *p, int transposed) {
    (void)transposed;   // [cout][cin/g][kh][kw] or [cin][cout/g][kh][kw]: the same count
    return p->cout * (p->cin / p->groups) * p->kh * p->kw;
}

void segc_qconv_scalar_pack(const segc_qconv_params *p, int transposed, const int8_t *w, int8_t *dst) {
    int64_t n = segc_qconv_scalar_wbytes(p, transposed);
    for (int64_t i = 0; i < n; i++) dst[i] = w[i];
}

typedef struct {
    const segc_qconv_params *p;
    const uint8_t *x, *res;
    const int8_t *w;
    const int32_t *bias;   // folded, [phase][cout]
    const float *mult, *slope;
    void *y;
    int64_t rows, chunks;
} scalar_ctx;

static float slope_of(const segc_qconv_params *p, const float *slope, int64_t co) {
    return p->act == SEGC_ACT_PRELU ? slope[p->nslope == 1 ? 0 : co] : 0.0f;
}

static void conv_task(void *vctx, int64_t t, int thread) {
    (void)thread;
    const scalar_ctx *c = vctx;
    const segc_qconv_params *p = c->p;
    int64_t co = t / c->chunks, oy0 = (t % c->chunks) * c->rows, oy1 = SEGC_MIN(oy0 + c->rows, p->oh);
    int64_t cin_g = p->cin / p->groups, g = co / (p->cout / p->groups);
    const int8_t *wc = c->w + co * cin_g * p->kh * p->kw;
    float mult = c->mult[co], slope = slope_of(p, c->slope, co);
    uint32_t zp = (uint32_t)p->x_zp;
    for (int64_t oy = oy0; oy < oy1; oy++)
        for (int64_t ox = 0; ox < p->ow; ox++) {
            uint32_t acc = (uint32_t)c->bias[co];
            for (int64_t ci = 0; ci < cin_g; ci++) {
                const uint8_t *xp = c->x + (g * cin_g + ci) * p->h * p->w;
                const int8_t *wk = wc + ci * p->kh * p->kw;
                for (int64_t ky = 0; ky < p->kh; ky++) {
                    int64_t iy = oy * p->sh - p->pt + ky * p->dh;
                    for (int64_t kx = 0; kx < p->kw; kx++) {
                        int64_t ix = ox * p->sw - p->pl + kx * p->dw;
                        uint32_t xv = (iy >= 0 && iy < p->h && ix >= 0 && ix < p->w) ? xp[iy * p->w + ix] : zp;
                        acc += xv * (uint32_t)(int32_t)wk[ky * p->kw + kx];
                    }
                }
            }
            int64_t o = (co * p->oh + oy) * p->ow + ox;
            segc_qstore(p, c->y, o, segc_qreq_value(p, (int32_t)acc, mult, c->res ? c->res + o : NULL, slope));
        }
}

static void convt_task(void *vctx, int64_t t, int thread) {
    (void)thread;
    const scalar_ctx *c = vctx;
    const segc_qconv_params *p = c->p;
    int64_t co = t / c->chunks, oy0 = (t % c->chunks) * c->rows, oy1 = SEGC_MIN(oy0 + c->rows, p->oh);
    int64_t cin_g = p->cin / p->groups, cout_g = p->cout / p->groups, g = co / cout_g, cg = co % cout_g;
    float mult = c->mult[co], slope = slope_of(p, c->slope, co);
    uint32_t zp = (uint32_t)p->x_zp;
    int64_t ty[SEGC_QMAXK], offy[SEGC_QMAXK], tx[SEGC_QMAXK], offx[SEGC_QMAXK];
    for (int64_t oy = oy0; oy < oy1; oy++) {
        int64_t ry = oy % p->sh, jy = oy / p->sh;
        int64_t ny = segc_qphase_taps(p->kh, p->sh, p->dh, p->pt, ry, ty, offy);
        for (int64_t ox = 0; ox < p->ow; ox++) {
            int64_t rx = ox % p->sw, jx = ox / p->sw;
            int64_t nx = segc_qphase_taps(p->kw, p->sw, p->dw, p->pl, rx, tx, offx);
            uint32_t acc = (uint32_t)c->bias[(ry * p->sw + rx) * p->cout + co];
            for (int64_t ci = 0; ci < cin_g; ci++) {
                const uint8_t *xp = c->x + (g * cin_g + ci) * p->h * p->w;
                const int8_t *wk = c->w + ((g * cin_g + ci) * cout_g + cg) * p->kh * p->kw;
                for (int64_t a = 0; a < ny; a++) {
                    int64_t iy = jy + offy[a];
                    for (int64_t b = 0; b < nx; b++) {
                        int64_t ix = jx + offx[b];
                        uint32_t xv = (iy >= 0 && iy < p->h && ix >= 0 && ix < p->w) ? xp[iy * p->w + ix] : zp;
                        acc += xv * (uint32_t)(int32_t)wk[ty[a] * p->kw + tx[b]];
                    }
                }
            }
            int64_t o = (co * p->oh + oy) * p->ow + ox;
            segc_qstore(p, c->y, o, segc_qreq_value(p, (int32_t)acc, mult, c->res ? c->res + o : NULL, slope));
        }
    }
}

int segc_qconv_scalar_run(segc_pool *pool, const segc_qconv_params *p, int transposed, const uint8_t *x,
                          const segc_qpack_hdr *h, const float *mult, const uint8_t *residual, const float *slope,
                          void *y) {
    scalar_ctx c;
    c.p = p; c.x = x; c.res = residual; c.mult = mult; c.slope = slope; c.y = y;
    c.w = (const int8_t *)((const uint8_t *)h + h->w_off);
    c.bias = (const int32_t *)((const uint8_t *)h + h->bias_off);
    // About 4096 outputs per task, whole rows: depends on the shape only.
    c.rows = SEGC_MAX(1, 4096 / p->ow);
    c.chunks = segc_chunks(p->oh, c.rows);
    segc_pool_run(pool, transposed ? convt_task : conv_task, &c, p->cout * c.chunks);
    return SEGC_OK;
}
