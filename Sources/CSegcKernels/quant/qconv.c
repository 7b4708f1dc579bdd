// Quantized conv2d / conv_transpose2d: parameter checks, the packed-weight header,
// the folded bias, workspace sizes and the dispatch to the kernel the buffer was packed
// for. The arithmetic (header: int32 accumulation, float32 requantization) is the same
// at every level; only the packed weight layout and the inner kernel differ.
//
// Folding: Σ_valid (x − x_zp)·w = Σ_all x'·w − x_zp·Σ_all w where x' is x inside the
// input and x_zp outside (int32, modulo 2^32 like every level's adds). So every kernel
// pads with x_zp and starts from bias − x_zp·Σw. A transposed conv has sh·sw output
// phases with different tap sets, hence one folded bias per (phase, channel).
#include "qconv.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

static int qconv_check(const segc_qconv_params *p, int transposed) {
    if (!p || (transposed != 0 && transposed != 1)) return SEGC_EINVAL;
    if (p->cin <= 0 || p->h <= 0 || p->w <= 0 || p->cout <= 0 || p->oh <= 0 || p->ow <= 0) return SEGC_EINVAL;
    if (p->kh <= 0 || p->kw <= 0 || p->sh <= 0 || p->sw <= 0 || p->dh <= 0 || p->dw <= 0) return SEGC_EINVAL;
    if (p->groups <= 0 || p->cin % p->groups || p->cout % p->groups) return SEGC_EINVAL;
    if (p->act != SEGC_ACT_NONE && p->act != SEGC_ACT_RELU && p->act != SEGC_ACT_PRELU) return SEGC_EINVAL;
    if (p->act == SEGC_ACT_PRELU && p->nslope != 1 && p->nslope != p->cout) return SEGC_EINVAL;
    if (p->out_f32 != 0 && p->out_f32 != 1) return SEGC_EINVAL;
    if (p->x_zp < 0 || p->x_zp > 255 || p->y_zp < 0 || p->y_zp > 255 || p->r_zp < 0 || p->r_zp > 255)
        return SEGC_EINVAL;
    // Offsets are int64 products of these; keep them far from overflow.
    const int64_t big = (int64_t)1 << 24;
    if (p->cin > big || p->cout > big || p->h > big || p->w > big || p->oh > big || p->ow > big) return SEGC_EINVAL;
    if (p->kh > SEGC_QMAXK || p->kw > SEGC_QMAXK || p->sh > big || p->sw > big || p->dh > big || p->dw > big)
        return SEGC_EUNSUP;
    if (p->pt < -big || p->pt > big || p->pl < -big || p->pl > big) return SEGC_EINVAL;
    if (transposed && p->sh * p->sw > SEGC_QMAXPHASES) return SEGC_EUNSUP;
    // Tensor and packed-input sizes (with the halo of a large dilation or padding) stay far
    // below 2^63, so no offset computation can overflow.
    const double lim = (double)((int64_t)1 << 40);
    if ((double)p->cin * (double)p->h * (double)p->w > lim || (double)p->cout * (double)p->oh * (double)p->ow > lim ||
        segc_qconv_tiled_bytes_estimate(p, transposed) > lim)
        return SEGC_EUNSUP;
    return SEGC_OK;
}

static int64_t round64(int64_t x) { return (x + 63) / 64 * 64; }

static int64_t nphase(const segc_qconv_params *p, int transposed) { return transposed ? p->sh * p->sw : 1; }

/// The CPU's dot-product instructions (CPUID, read once: CPUID exits to the hypervisor in
/// a VM, tens of µs, and every qconv call checks them). AVX-512 VNNI: leaf 7 ECX bit 11.
/// AVX-VNNI (the VEX ymm/xmm forms, no AVX-512 needed): leaf 7 subleaf 1 EAX bit 4. OS
/// support of the registers is the dispatch level's check (XGETBV, dispatch/cpu.c).
enum { VNNI512 = 1, AVXVNNI = 2 };
static int detect_vnni(void) {
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    int f = (c >> 11) & 1 ? VNNI512 : 0;
    if (a >= 1) {   // leaf 7's highest subleaf
        __cpuid_count(7, 1, a, b, c, d);
        if ((a >> 4) & 1) f |= AVXVNNI;
    }
    return f;
#else
    return 0;
#endif
}
static int vnni_flags;
static pthread_once_t vnni_once = PTHREAD_ONCE_INIT;
static void vnni_init(void) { vnni_flags = detect_vnni(); }

/// What the CPU itself has (whatever SEGC_NO_VNNI says): which buffers can run.
static int vnni_cpu(void) {
    pthread_once(&vnni_once, vnni_init);
    return vnni_flags;
}

/// What new packings use: SEGC_NO_VNNI=1 hides both kinds, so tests run the levels'
/// vpmaddwd kernels on a VNNI machine. Read at packing time: the buffer records the choice.
static int vnni_for_packing(void) {
    const char *off = getenv("SEGC_NO_VNNI");
    return off && off[0] == '1' ? 0 : vnni_cpu();
}

/// The level a new packing uses and its kernel.
static int pack_kernel(int *level) {
    *level = segc_qlevel();
#if defined(__x86_64__)
    int f = vnni_for_packing();
    if (*level >= 2) return f & VNNI512 ? SEGC_QK_VNNI512 : SEGC_QK_MADD512;
    if (*level == 1) return f & AVXVNNI ? SEGC_QK_AVXVNNI : SEGC_QK_AVX2;
#endif
    return SEGC_QK_SCALAR;
}

static const segc_qkernel *tile_kernel(int kernel) {
#if defined(__x86_64__)
    switch (kernel) {
    case SEGC_QK_AVX2: return &segc_qk_avx2;
    case SEGC_QK_AVXVNNI: return &segc_qk_avxvnni;
    case SEGC_QK_MADD512: return &segc_qk_madd512;
    case SEGC_QK_VNNI512: return &segc_qk_vnni512;
    default: break;
    }
#endif
    (void)kernel;
    return &segc_qk_scalar;
}

const char *segc_qconv_kernel(void) {
    static const char *const names[SEGC_QK_COUNT] = {
        [SEGC_QK_SCALAR] = "scalar", [SEGC_QK_AVX2] = "avx2/vpmaddwd", [SEGC_QK_AVXVNNI] = "avx2/avx-vnni",
        [SEGC_QK_MADD512] = "avx512/vpmaddwd", [SEGC_QK_VNNI512] = "avx512/vnni"};
    int level;
    return names[pack_kernel(&level)];
}

/// The vpmaddwd kernels (no VNNI), whose qualifying convs run the integer Winograd (ymm,
/// AVX2 — every AVX-512 CPU has it): with VNNI the direct vpdpbusd tiles are faster than any
/// int16 scheme, but without it the zmm vpmaddwd tiles do twice the products of F(4,3)
/// (ERFNet int8 at avx512 with SEGC_NO_VNNI=1 on a Zen 4: 149.8 ms direct, see Notes
/// session 11 for the Winograd figure).
static int winograd_kernel(int kernel) { return kernel == SEGC_QK_AVX2 || kernel == SEGC_QK_MADD512; }

/// Whether a packing for `kernel` adds the Winograd weights.
static int with_wino(const segc_qconv_params *p, int transposed, int kernel) {
    return winograd_kernel(kernel) && segc_qwino_fits(p, transposed);
}

static int64_t weight_bytes(const segc_qconv_params *p, int transposed, int kernel) {
    int64_t b = segc_qconv_tiled_wbytes(p, transposed, tile_kernel(kernel));
    return with_wino(p, transposed, kernel) ? round64(b) + round64(segc_qwino_wbytes(p)) : b;
}

int64_t segc_qconv_packed_bytes(const segc_qconv_params *p, int transposed) {
    int e = qconv_check(p, transposed);
    if (e) return e;
    int level, kernel = pack_kernel(&level);
    return SEGC_QPACK_HDR + round64(nphase(p, transposed) * p->cout * 4) + round64(weight_bytes(p, transposed, kernel));
}

/// bias − x_zp·Σw per (phase, output channel), modulo 2^32.
static void fold_bias(const segc_qconv_params *p, int transposed, const int8_t *w, const int32_t *bias,
                      int32_t *out) {
    int64_t cin_g = p->cin / p->groups, cout_g = p->cout / p->groups, khw = p->kh * p->kw;
    if (!transposed) {
        for (int64_t co = 0; co < p->cout; co++) {
            uint32_t s = 0;
            const int8_t *wr = w + co * cin_g * khw;
            for (int64_t i = 0; i < cin_g * khw; i++) s += (uint32_t)(int32_t)wr[i];
            out[co] = (int32_t)((uint32_t)(bias ? bias[co] : 0) - (uint32_t)p->x_zp * s);
        }
        return;
    }
    int64_t ty[SEGC_QMAXK], oy[SEGC_QMAXK], tx[SEGC_QMAXK], ox[SEGC_QMAXK];
    for (int64_t ph = 0; ph < p->sh * p->sw; ph++) {
        int64_t ny = segc_qphase_taps(p->kh, p->sh, p->dh, p->pt, ph / p->sw, ty, oy);
        int64_t nx = segc_qphase_taps(p->kw, p->sw, p->dw, p->pl, ph % p->sw, tx, ox);
        for (int64_t co = 0; co < p->cout; co++) {
            int64_t g = co / cout_g, cg = co % cout_g;
            uint32_t s = 0;
            for (int64_t ci = 0; ci < cin_g; ci++) {
                const int8_t *wk = w + ((g * cin_g + ci) * cout_g + cg) * khw;
                for (int64_t a = 0; a < ny; a++)
                    for (int64_t b = 0; b < nx; b++) s += (uint32_t)(int32_t)wk[ty[a] * p->kw + tx[b]];
            }
            out[ph * p->cout + co] = (int32_t)((uint32_t)(bias ? bias[co] : 0) - (uint32_t)p->x_zp * s);
        }
    }
}

int segc_qconv_pack(const segc_qconv_params *p, int transposed, const int8_t *w, const int32_t *bias,
                    void *packed) {
    int e = qconv_check(p, transposed);
    if (e) return e;
    if (!w || !packed) return SEGC_EINVAL;
    int level, kernel = pack_kernel(&level);
    segc_qpack_hdr h;
    memset(&h, 0, sizeof h);
    h.magic = SEGC_QPACK_MAGIC;
    h.level = level;
    h.kernel = kernel;
    h.transposed = transposed;
    h.cin = p->cin; h.cout = p->cout; h.kh = p->kh; h.kw = p->kw; h.groups = p->groups;
    h.sh = p->sh; h.sw = p->sw; h.dh = p->dh; h.dw = p->dw; h.pt = p->pt; h.pl = p->pl;
    h.x_zp = p->x_zp;
    h.mr = tile_kernel(kernel)->mr;
    h.nphase = nphase(p, transposed);
    h.bias_off = SEGC_QPACK_HDR;
    h.w_off = h.bias_off + round64(h.nphase * p->cout * 4);
    h.total = h.w_off + round64(weight_bytes(p, transposed, kernel));
    if (with_wino(p, transposed, kernel))
        h.wino_off = h.w_off + round64(segc_qconv_tiled_wbytes(p, transposed, tile_kernel(kernel)));
    uint8_t *base = packed;
    memset(base, 0, (size_t)h.total);
    memcpy(base, &h, sizeof h);
    fold_bias(p, transposed, w, bias, (int32_t *)(base + h.bias_off));
    segc_qconv_tiled_pack(p, transposed, tile_kernel(kernel), w, base + h.w_off);
    if (h.wino_off) segc_qwino_pack(p, w, (int32_t *)(base + h.wino_off));
    return SEGC_OK;
}

int64_t segc_qconv_ws(const segc_qconv_params *p, int transposed) {
    if (qconv_check(p, transposed)) return 0;
    int64_t ws = segc_qconv_tiled_ws(p, transposed);
    return segc_qwino_fits(p, transposed) ? SEGC_MAX(ws, segc_qwino_ws(p)) : ws;
}

/// The packed buffer must have been packed for these parameters (the fields its layout
/// and folded bias depend on) at a level this CPU runs.
static int header_matches(const segc_qpack_hdr *h, const segc_qconv_params *p, int transposed) {
    if (h->magic != SEGC_QPACK_MAGIC || h->transposed != transposed) return 0;
    if (h->level < 0 || h->level > segc_detected_cpu_level() || h->kernel < 0 || h->kernel >= SEGC_QK_COUNT) return 0;
    // The kernel's own instructions too (a buffer's level and kernel come from one packing,
    // but the header is data): AVX2/AVX-512 for its level, then the VNNI extensions.
    if (tile_kernel(h->kernel)->level > segc_detected_cpu_level()) return 0;
    if (h->kernel == SEGC_QK_VNNI512 && !(vnni_cpu() & VNNI512)) return 0;
    if (h->kernel == SEGC_QK_AVXVNNI && !(vnni_cpu() & AVXVNNI)) return 0;
    if (tile_kernel(h->kernel)->mr != h->mr) return 0;
    if (h->cin != p->cin || h->cout != p->cout || h->kh != p->kh || h->kw != p->kw || h->groups != p->groups ||
        h->x_zp != p->x_zp)
        return 0;
    if (transposed && (h->sh != p->sh || h->sw != p->sw || h->dh != p->dh || h->dw != p->dw || h->pt != p->pt ||
                       h->pl != p->pl))
        return 0;
    return h->nphase == nphase(p, transposed);
}

static int qconv_run(segc_pool *pool, const segc_qconv_params *p, int transposed, const uint8_t *x, const void *packed,
                     const float *mult, const uint8_t *residual, const float *slope, void *y,
                     const segc_qconv_tail *tail, const segc_ws *ws) {
    int e = qconv_check(p, transposed);
    if (e) return e;
    if (!x || !packed || !mult || !y) return SEGC_EINVAL;
    if (p->act == SEGC_ACT_PRELU && !slope) return SEGC_EINVAL;
    const segc_qpack_hdr *h = packed;
    if (!header_matches(h, p, transposed)) return SEGC_EINVAL;
#if defined(__x86_64__)
    // A buffer packed with Winograd weights runs them when the conv still qualifies (the
    // header does not record the geometry the direct layout does not depend on).
    if (winograd_kernel(h->kernel) && h->wino_off > 0 && segc_qwino_fits(p, transposed) &&
        h->wino_off + segc_qwino_wbytes(p) <= h->total) {
        int r = segc_qwino_run(pool, p, x, h, mult, residual, slope, y, ws);
        if (r == SEGC_OK && tail) segc_qtail_run(pool, tail, p, y);   // after the whole output
        return r;
    }
#endif
    return segc_qconv_tiled_run(pool, p, transposed, x, h, tile_kernel(h->kernel), mult, residual, slope, y, tail, ws);
}

int segc_qconv2d(segc_pool *pool, const segc_qconv_params *p, int transposed, const uint8_t *x, const void *packed,
                 const float *mult, const uint8_t *residual, const float *slope, void *y, const segc_ws *ws) {
    return qconv_run(pool, p, transposed, x, packed, mult, residual, slope, y, NULL, ws);
}

int segc_qconv2d_tail(segc_pool *pool, const segc_qconv_params *p, const uint8_t *x, const void *packed,
                      const float *mult, const float *slope, float *y, const segc_qconv_tail *tail, const segc_ws *ws) {
    if (!p || !tail || !tail->res || !tail->out || p->out_f32 != 1) return SEGC_EINVAL;
    if (tail->act != SEGC_ACT_RELU && tail->act != SEGC_ACT_PRELU) return SEGC_EINVAL;
    if (tail->act == SEGC_ACT_PRELU && (!tail->slope || (tail->nslope != 1 && tail->nslope != p->cout)))
        return SEGC_EINVAL;
    if (tail->q && (!isfinite(tail->q_scale) || !(tail->q_scale > 0.0f) || tail->q_zp < 0 || tail->q_zp > 255))
        return SEGC_EINVAL;
    return qconv_run(pool, p, 0, x, packed, mult, NULL, slope, y, tail, ws);
}
