// conv_transpose2d by output phases: for output rows oy ≡ ry (mod sh) only the taps
// ky with (ry + pt − ky·dh) ≡ 0 (mod sh) contribute, from input row
// (oy + pt − ky·dh)/sh = j + off(ky) where oy = ry + sh·j. Each (group, phase) is thus
// a stride-1 correlation over the phase grid: im2col (contiguous runs) + sgemm with a
// weight matrix re-arranged once by `segc_convt_pack`, then the epilogue and a store of the
// tile into y. One task computes all column phases of its rows when they share a grid
// width, so it writes whole output rows interleaved. Every output pixel is written by
// exactly one task.
#include "../internal.h"
#include <string.h>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#define MAXK 64
#define MAXPHASES 256

static int convt_check(const segc_convt_params *p) {
    if (p->cin <= 0 || p->h <= 0 || p->w <= 0 || p->cout <= 0 || p->oh <= 0 || p->ow <= 0) return SEGC_EINVAL;
    if (p->kh <= 0 || p->kw <= 0 || p->sh <= 0 || p->sw <= 0 || p->dh <= 0 || p->dw <= 0) return SEGC_EINVAL;
    if (p->groups <= 0 || p->cin % p->groups || p->cout % p->groups) return SEGC_EINVAL;
    if (p->act == SEGC_ACT_PRELU && p->nslope != 1 && p->nslope != p->cout) return SEGC_EINVAL;
    if (p->kh > MAXK || p->kw > MAXK || p->sh * p->sw > MAXPHASES) return SEGC_EUNSUP;
    return SEGC_OK;
}

/// Taps of phase r along one axis: returns the count, fills kernel index and input offset.
static int64_t phase_taps(int64_t k, int64_t s, int64_t d, int64_t pad, int64_t r, int64_t *tap, int64_t *off) {
    int64_t n = 0;
    for (int64_t kk = 0; kk < k; kk++) {
        int64_t v = r + pad - kk * d;
        if (((v % s) + s) % s == 0) { tap[n] = kk; off[n] = v / s; n++; }
    }
    return n;
}

static int64_t grid(int64_t o, int64_t s, int64_t r) { return r < o ? (o - r + s - 1) / s : 0; }

/// Floats of one group's packed matrices before phase (ry, rx), and the max depth.
static int64_t group_size(const segc_convt_params *p, int64_t upto_phase, int64_t *kmax) {
    int64_t tap[MAXK], off[MAXK], total = 0, cin_g = p->cin / p->groups, cout_g = p->cout / p->groups;
    if (kmax) *kmax = 0;
    for (int64_t ph = 0; ph < upto_phase; ph++) {
        int64_t ny = phase_taps(p->kh, p->sh, p->dh, p->pt, ph / p->sw, tap, off);
        int64_t nx = phase_taps(p->kw, p->sw, p->dw, p->pl, ph % p->sw, tap, off);
        total += cout_g * cin_g * ny * nx;
        if (kmax && cin_g * ny * nx > *kmax) *kmax = cin_g * ny * nx;
    }
    return total;
}

int64_t segc_convt_packed_size(const segc_convt_params *p) {
    int e = convt_check(p);
    if (e) return e;
    return p->groups * group_size(p, p->sh * p->sw, NULL);
}

int segc_convt_pack(const segc_convt_params *p, const float *w, float *packed) {
    int e = convt_check(p);
    if (e) return e;
    int64_t cin_g = p->cin / p->groups, cout_g = p->cout / p->groups;
    int64_t ty[MAXK], oy[MAXK], tx[MAXK], ox[MAXK];
    float *dst = packed;
    for (int64_t g = 0; g < p->groups; g++)
        for (int64_t ph = 0; ph < p->sh * p->sw; ph++) {
            int64_t ny = phase_taps(p->kh, p->sh, p->dh, p->pt, ph / p->sw, ty, oy);
            int64_t nx = phase_taps(p->kw, p->sw, p->dw, p->pl, ph % p->sw, tx, ox);
            int64_t k = cin_g * ny * nx;
            for (int64_t co = 0; co < cout_g; co++)
                for (int64_t ci = 0; ci < cin_g; ci++)
                    for (int64_t a = 0; a < ny; a++)
                        for (int64_t b = 0; b < nx; b++)
                            dst[co * k + (ci * ny + a) * nx + b] =
                                w[(((g * cin_g + ci) * cout_g + co) * p->kh + ty[a]) * p->kw + tx[b]];
            dst += cout_g * k;
        }
    return SEGC_OK;
}

static int64_t convt_tile(const segc_convt_params *p, int64_t *kmax_out) {
    int64_t kmax;
    group_size(p, p->sh * p->sw, &kmax);
    if (kmax_out) *kmax_out = kmax;
    int64_t gmax = grid(p->oh, p->sh, 0) * grid(p->ow, p->sw, 0);
    return segc_conv_tile(kmax, gmax);
}

/// Column phases computed by one task: all `sw` of them when they share one grid width
/// (ow % sw == 0), so the task writes whole output rows interleaved — each output cache line
/// once — instead of every phase revisiting every line with strided stores.
static int64_t phases_per_task(const segc_convt_params *p) { return p->ow % p->sw == 0 ? p->sw : 1; }

int64_t segc_convt_ws(const segc_convt_params *p) {
    if (convt_check(p)) return 0;
    int64_t kmax, t = convt_tile(p, &kmax);
    return (kmax + phases_per_task(p) * (p->cout / p->groups)) * t + segc_sgemm_scratch(p->cout / p->groups, kmax);
}

typedef struct {
    const segc_convt_params *p;
    const float *x, *w, *bias, *res, *slope;
    float *y;
    const segc_ws *ws;
    int64_t tile, ntiles, cin_g, cout_g, group_floats, nrx;
    int stream;   // output stored with non-temporal stores (larger than the caches)
} convt_ctx;

/// The phase (ry, rx) of group g on phase-grid positions [q0, q1): its GEMM, residual and
/// epilogue into `tmp` (cout_g rows of n = q1 − q0).
static void convt_phase(const convt_ctx *c, int64_t g, int64_t ry, int64_t rx, int64_t q0, int64_t q1,
                        float *col, float *tmp, float *scratch) {
    const segc_convt_params *p = c->p;
    int64_t n = q1 - q0, gh = grid(p->oh, p->sh, ry), gw = grid(p->ow, p->sw, rx), ph = ry * p->sw + rx;
    int64_t ty[MAXK], oy[MAXK], tx[MAXK], ox[MAXK];
    int64_t ny = phase_taps(p->kh, p->sh, p->dh, p->pt, ry, ty, oy);
    int64_t nx = phase_taps(p->kw, p->sw, p->dw, p->pl, rx, tx, ox);
    int64_t k = c->cin_g * ny * nx;
    if (k > 0) {
        const float *wa = c->w + g * c->group_floats + group_size(p, ph, NULL);
        const float *xg = c->x + g * c->cin_g * p->h * p->w;
        if (ny == 1 && nx == 1 && ox[0] == 0 && gw == p->w && oy[0] >= 0 && gh + oy[0] <= p->h) {
            // One tap whose grid is whole input rows (ERFNet's 2x2 output conv: all four
            // phases; 3x3 stride-2 upsamplers: phase (0, 0)): the im2col rows would be the
            // input planes themselves, so the GEMM reads them in place (same values, same
            // bits) instead of copying 8 MiB per phase.
            segc_sgemm(c->cout_g, n, k, wa, k, xg + oy[0] * p->w + q0, p->h * p->w, tmp, n, 0, p->exact, scratch);
        } else {
            int64_t r = 0;
            for (int64_t ci = 0; ci < c->cin_g; ci++) {
                const float *xp = xg + ci * p->h * p->w;
                for (int64_t a = 0; a < ny; a++)
                    for (int64_t b = 0; b < nx; b++, r++)
                        segc_gather(xp, p->h, p->w, gw, 1, 1, oy[a], ox[b], q0, q1, col + r * n);
            }
            segc_sgemm(c->cout_g, n, k, wa, k, col, n, tmp, n, 0, p->exact, scratch);
        }
    } else {
        memset(tmp, 0, (size_t)(c->cout_g * n) * sizeof(float));
    }
    int64_t ohw = p->oh * p->ow;
    for (int64_t co = 0; co < c->cout_g; co++) {
        int64_t oc = g * c->cout_g + co;
        float *tr = tmp + co * n;
        if (c->res) {
            const float *rp = c->res + oc * ohw;
            for (int64_t q = q0; q < q1; q++) {
                int64_t j = q / gw, i = q - j * gw;
                tr[q - q0] += rp[(ry + p->sh * j) * p->ow + rx + p->sw * i];
            }
        }
        segc_dt.epilogue(n, tr, c->bias ? c->bias[oc] : 0.0f, p->act, segc_slope_of(p->act, c->slope, p->nslope, oc));
    }
}

/// Output rows of phase positions [q0, q1) (grid width gw) for `nrx` column phases from
/// rx0, each phase's tile `tiles[r]` (cout_g rows of n): a plain copy for stride 1, two
/// interleaved rows for the common stride 2, a strided loop otherwise.
static void convt_store(const convt_ctx *c, int64_t g, int64_t ry, int64_t rx0, int64_t gw, int64_t q0, int64_t q1,
                        float *const *tiles) {
    const segc_convt_params *p = c->p;
    int64_t n = q1 - q0, ohw = p->oh * p->ow, sw = p->sw;
    for (int64_t co = 0; co < c->cout_g; co++) {
        float *yp = c->y + (g * c->cout_g + co) * ohw;
        for (int64_t q = q0; q < q1;) {
            int64_t j = q / gw, i0 = q - j * gw, i1 = SEGC_MIN(gw, i0 + (q1 - q)), len = i1 - i0;
            float *restrict yr = yp + (ry + p->sh * j) * p->ow + rx0 + sw * i0;
            int64_t at = co * n + (q - q0);
            if (sw == 1) {
                memcpy(yr, tiles[0] + at, (size_t)len * sizeof(float));
            } else if (c->nrx == 2 && c->stream && !((uintptr_t)yr & 7)) {
                segc_dt.interleave2_nt(len, tiles[0] + at, tiles[1] + at, yr);
            } else if (c->nrx == 2) {
                const float *restrict a = tiles[0] + at, *restrict b = tiles[1] + at;
                for (int64_t i = 0; i < len; i++) { yr[2 * i] = a[i]; yr[2 * i + 1] = b[i]; }
            } else {
                for (int64_t r = 0; r < c->nrx; r++) {
                    const float *src = tiles[r] + at;
                    for (int64_t i = 0; i < len; i++) yr[sw * i + r] = src[i];
                }
            }
            q += len;
        }
    }
}

static void convt_task(void *vctx, int64_t t, int thread) {
    const convt_ctx *c = vctx;
    const segc_convt_params *p = c->p;
    int64_t groups_x = p->sw / c->nrx;
    int64_t tile_i = t % c->ntiles, rest = t / c->ntiles;
    int64_t rxg = rest % groups_x, ry = (rest / groups_x) % p->sh, g = rest / (groups_x * p->sh);
    int64_t rx0 = rxg * c->nrx;
    // With nrx > 1 every column phase has the same grid width (ow % sw == 0).
    int64_t gh = grid(p->oh, p->sh, ry), gw = grid(p->ow, p->sw, rx0);
    int64_t q0 = tile_i * c->tile, q1 = SEGC_MIN(q0 + c->tile, gh * gw);
    if (q1 <= q0) return;
    int64_t kmax;
    group_size(p, p->sh * p->sw, &kmax);
    float *col = segc_ws_thread(c->ws, thread);
    float *tiles[MAXPHASES];
    for (int64_t r = 0; r < c->nrx; r++) tiles[r] = col + kmax * c->tile + r * c->cout_g * c->tile;
    float *scratch = col + kmax * c->tile + c->nrx * c->cout_g * c->tile;
    for (int64_t r = 0; r < c->nrx; r++) convt_phase(c, g, ry, rx0 + r, q0, q1, col, tiles[r], scratch);
    convt_store(c, g, ry, rx0, gw, q0, q1, tiles);
#if defined(__x86_64__)
    if (c->stream) _mm_sfence();   // non-temporal stores are weakly ordered: drain before the pool's barrier
#endif
}

int segc_conv_transpose2d(segc_pool *pool, const segc_convt_params *p, const float *x, const float *packed,
                          const float *bias, const float *residual, const float *slope, float *y,
                          const segc_ws *ws) {
    int e = convt_check(p);
    if (e) return e;
    if (p->act == SEGC_ACT_PRELU && !slope) return SEGC_EINVAL;
    convt_ctx c = {0};
    c.p = p; c.x = x; c.w = packed; c.bias = bias; c.res = residual; c.slope = slope; c.y = y; c.ws = ws;
    c.cin_g = p->cin / p->groups;
    c.cout_g = p->cout / p->groups;
    c.group_floats = group_size(p, p->sh * p->sw, NULL);
    c.nrx = phases_per_task(p);
    // The output would not stay in the caches for its consumer anyway (16 MiB; ENet's and
    // ERFNet's logits are 40 MiB at 512x1024).
    c.stream = (double)p->cout * (double)p->oh * (double)p->ow * sizeof(float) >= 16.0 * 1024 * 1024;
    int64_t kmax;
    c.tile = convt_tile(p, &kmax);
    if (!ws || !ws->base || ws->per_thread < segc_convt_ws(p) || ws->threads < segc_pool_threads(pool))
        return SEGC_ENOSPC;
    c.ntiles = segc_chunks(grid(p->oh, p->sh, 0) * grid(p->ow, p->sw, 0), c.tile);
    segc_pool_run(pool, convt_task, &c, p->groups * p->sh * (p->sw / c.nrx) * c.ntiles);
    return SEGC_OK;
}
