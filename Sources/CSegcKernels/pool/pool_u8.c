// Max pooling on uint8 with the semantics of segc_max_pool2d (pool/pool.c): padding never
// wins, the first maximum in row-major window order wins (strict >), optional int64
// indices (flat position in the input plane). A window with no input element gives 0
// and index −1 (the float kernel's −∞ has no uint8 counterpart). Tasks: channel chunks.
#include "../internal.h"

typedef struct {
    const segc_pool_params *p;
    const uint8_t *x;
    uint8_t *y;
    int64_t *idx;
    int64_t chunk;
} pool_ctx;

/// 2x2 stride-2 windows without padding or indices (the downsamplers' pool): each output
/// is the max of two pairs of adjacent bytes; restrict locals let it vectorise (through
/// uint8_t pointers the compiler would otherwise reload everything after each store).
static void max_2x2(const uint8_t *restrict x0, const uint8_t *restrict x1, uint8_t *restrict y, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        uint8_t a = x0[2 * i] > x0[2 * i + 1] ? x0[2 * i] : x0[2 * i + 1];
        uint8_t b = x1[2 * i] > x1[2 * i + 1] ? x1[2 * i] : x1[2 * i + 1];
        y[i] = a > b ? a : b;
    }
}

static void max_task(void *vctx, int64_t t, int thread) {
    (void)thread;
    const pool_ctx *c = vctx;
    const segc_pool_params pp = *c->p, *p = &pp;   // a local copy: no aliasing with the byte stores
    int64_t c0 = t * c->chunk, c1 = SEGC_MIN(c0 + c->chunk, p->c);
    int simple = !c->idx && p->kh == 2 && p->kw == 2 && p->sh == 2 && p->sw == 2 && p->dh == 1 && p->dw == 1 &&
                 p->pt == 0 && p->pl == 0 && 2 * p->oh <= p->h && 2 * p->ow <= p->w;
    for (int64_t ch = c0; ch < c1; ch++) {
        const uint8_t *xp = c->x + ch * p->h * p->w;
        for (int64_t oy = 0; oy < p->oh; oy++) {
            uint8_t *restrict yr = c->y + (ch * p->oh + oy) * p->ow;
            if (simple) {
                max_2x2(xp + 2 * oy * p->w, xp + (2 * oy + 1) * p->w, yr, p->ow);
                continue;
            }
            int64_t *restrict ir = c->idx ? c->idx + (ch * p->oh + oy) * p->ow : NULL;
            // Without indices a 0 start is exact: the first valid value >= 0 replaces it
            // or equals it.
            for (int64_t ox = 0; ox < p->ow; ox++) yr[ox] = 0;
            if (ir)
                for (int64_t ox = 0; ox < p->ow; ox++) ir[ox] = -1;
            for (int64_t ky = 0; ky < p->kh; ky++) {
                int64_t iy = oy * p->sh - p->pt + ky * p->dh;
                if (iy < 0 || iy >= p->h) continue;
                const uint8_t *restrict xr = xp + iy * p->w;
                for (int64_t kx = 0; kx < p->kw; kx++) {
                    int64_t lo, hi, base = kx * p->dw - p->pl, sw = p->sw;
                    segc_pool_col_range(p, kx, &lo, &hi);
                    if (ir) {
                        for (int64_t ox = lo; ox < hi; ox++) {
                            int64_t ix = ox * sw + base;
                            uint8_t v = xr[ix];
                            if (v > yr[ox] || ir[ox] < 0) { yr[ox] = v; ir[ox] = iy * p->w + ix; }
                        }
                    } else {
                        for (int64_t ox = lo; ox < hi; ox++) {
                            uint8_t v = xr[ox * sw + base];
                            yr[ox] = v > yr[ox] ? v : yr[ox];
                        }
                    }
                }
            }
        }
    }
}

int segc_max_pool2d_u8(segc_pool *pool, const segc_pool_params *p, const uint8_t *x, uint8_t *y, int64_t *indices) {
    int e = segc_pool_check(p);
    if (e) return e;
    if (!x || !y) return SEGC_EINVAL;
    int64_t work = p->oh * p->ow * p->kh * p->kw;
    int64_t chunk = (256 * 1024) / (work > 0 ? work : 1);
    pool_ctx c = {p, x, y, indices, chunk < 1 ? 1 : chunk};
    segc_pool_run(pool, max_task, &c, segc_chunks(p->c, c.chunk));
    return SEGC_OK;
}
