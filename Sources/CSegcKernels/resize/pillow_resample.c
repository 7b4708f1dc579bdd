// Pillow-exact resampling of interleaved 8-bit images (Pillow's libImaging Resample.c and
// Geometry.c ImagingScaleAffine, re-implemented): BILINEAR with the antialiasing support
// when downscaling and 22-bit fixed-point coefficients; NEAREST with double-precision
// coordinate accumulation.
#include "segc_image.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PIL_PRECISION_BITS (32 - 8 - 2)

static double pil_bilinear(double x) {
    if (x < 0.0) x = -x;
    if (x < 1.0) return 1.0 - x;
    return 0.0;
}

// Pillow's precompute_coeffs with in0 = 0, in1 = in_size (floats), filter support 1.
// Fills bounds (xmin, count) and fixed-point coefficients; returns ksize or 0 on failure.
static int pil_coeffs(int in_size, int out_size, int **bounds_out, int32_t **kk_out) {
    float in0 = 0.0f, in1 = (float)in_size;
    double scale = (double)(in1 - in0) / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *pre = (double *)malloc(sizeof(double) * (size_t)out_size * (size_t)ksize);
    int *bounds = (int *)malloc(sizeof(int) * 2 * (size_t)out_size);
    int32_t *kk = (int32_t *)malloc(sizeof(int32_t) * (size_t)out_size * (size_t)ksize);
    if (!pre || !bounds || !kk) {
        free(pre);
        free(bounds);
        free(kk);
        return 0;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = in0 + (xx + 0.5) * scale;
        double ww = 0.0;
        double ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double *k = &pre[(size_t)xx * ksize];
        int x;
        for (x = 0; x < xmax; x++) {
            double w = pil_bilinear((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (x = 0; x < xmax; x++) {
            if (ww != 0.0) k[x] /= ww;
        }
        for (; x < ksize; x++) k[x] = 0;
        bounds[xx * 2 + 0] = xmin;
        bounds[xx * 2 + 1] = xmax;
    }
    for (size_t i = 0; i < (size_t)out_size * (size_t)ksize; i++) {
        if (pre[i] < 0) kk[i] = (int32_t)(-0.5 + pre[i] * (1 << PIL_PRECISION_BITS));
        else kk[i] = (int32_t)(0.5 + pre[i] * (1 << PIL_PRECISION_BITS));
    }
    free(pre);
    *bounds_out = bounds;
    *kk_out = kk;
    return ksize;
}

static inline uint8_t pil_clip8(int32_t in) {
    int32_t v = in >> PIL_PRECISION_BITS;
    return v < 0 ? 0 : (v > 255 ? 255 : (uint8_t)v);
}

typedef struct {
    int a, b, off;          // output pixels [a, b) read input pixels 2·xx + off .. + 3
    const int32_t *k4;      // k4[t·ow + xx]
    uint8_t *eo;            // per channel: 2 bytes, even pixels, 2 bytes, odd pixels (half each)
    int32_t *sum;           // 3 · ow
    int half;
} pil_x2_plan;

// Horizontal pass over rows [row0, row0 + rows) of src into dst (rows × ow); x2 (nullable):
// its output pixels [a, b) by the 2x path (pil_horizontal_x2_row).
static inline __attribute__((always_inline)) void pil_horizontal_x2_row(const uint8_t *in, int32_t w, const pil_x2_plan *x2,
                                                                        uint8_t *out, int ow);
static inline __attribute__((always_inline)) void pil_horizontal_body(const uint8_t *src, int32_t w, int32_t ch, int row0, int rows, uint8_t *dst, int ow,
                           int ksize, const int *bounds, const int32_t *kk, const pil_x2_plan *x2) {
    size_t sstride = (size_t)w * ch, dstride = (size_t)ow * ch;
    for (int yy = 0; yy < rows; yy++) {
        const uint8_t *in = src + (size_t)(yy + row0) * sstride;
        uint8_t *out = dst + (size_t)yy * dstride;
        if (x2) pil_horizontal_x2_row(in, w, x2, out, ow);
        for (int xx = 0; xx < ow; xx++) {
            if (x2 && xx == x2->a) { xx = x2->b - 1; continue; }   // done by the 2x path
            int xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1];
            const int32_t *k = &kk[(size_t)xx * ksize];
            const uint8_t *p = in + (size_t)xmin * ch;
            if (ch == 3 && xmax == 4) {
                // The common case (2x downscale: 4 taps everywhere but the edges), unrolled;
                // integer sums, so the order of the terms does not change the result.
                int32_t r = 1 << (PIL_PRECISION_BITS - 1);
                int32_t s0 = r + p[0] * k[0] + p[3] * k[1] + p[6] * k[2] + p[9] * k[3];
                int32_t s1 = r + p[1] * k[0] + p[4] * k[1] + p[7] * k[2] + p[10] * k[3];
                int32_t s2 = r + p[2] * k[0] + p[5] * k[1] + p[8] * k[2] + p[11] * k[3];
                out[3 * xx] = pil_clip8(s0);
                out[3 * xx + 1] = pil_clip8(s1);
                out[3 * xx + 2] = pil_clip8(s2);
            } else if (ch == 3) {
                int32_t s0 = 1 << (PIL_PRECISION_BITS - 1), s1 = s0, s2 = s0;
                for (int x = 0; x < xmax; x++) {
                    s0 += p[3 * x] * k[x];
                    s1 += p[3 * x + 1] * k[x];
                    s2 += p[3 * x + 2] * k[x];
                }
                out[3 * xx] = pil_clip8(s0);
                out[3 * xx + 1] = pil_clip8(s1);
                out[3 * xx + 2] = pil_clip8(s2);
            } else {
                for (int c = 0; c < ch; c++) {
                    int32_t s = 1 << (PIL_PRECISION_BITS - 1);
                    for (int x = 0; x < xmax; x++) s += p[(size_t)x * ch + c] * k[x];
                    out[(size_t)xx * ch + c] = pil_clip8(s);
                }
            }
        }
    }
}

// The interior of a 2x RGB downscale (Cityscapes' and Fishyscapes' 2048x1024 frames to
// 1024x512: 4 taps from input pixel 2·xx + off). The scalar loop above spent ~9 ms per
// frame here, the largest share of `segc stream`'s decoding. Each row is split into even
// and odd pixels per channel, so every tap becomes a contiguous run and the sums vectorise
// along xx (coefficients per output pixel, transposed into k4[t][xx]). Integer sums without
// overflow (taps ≥ 0 here, Σk ≈ 2^22): the same bytes as the scalar loop.

static inline __attribute__((always_inline)) void pil_horizontal_x2_row(const uint8_t *in, int32_t w, const pil_x2_plan *x2,
                                                                        uint8_t *out, int ow) {
    const int half = x2->half, a = x2->a, b = x2->b, off = x2->off;
    for (int c = 0; c < 3; c++) {
        uint8_t *restrict ev = x2->eo + 2 + (size_t)c * 2 * (half + 2), *restrict od = ev + half + 2;
        for (int i = 0; i < w / 2; i++) { ev[i] = in[6 * i + c]; od[i] = in[6 * i + 3 + c]; }
        if (w & 1) ev[w / 2] = in[3 * (w - 1) + c];
        // Tap t reads input pixel 2·xx + off + t: even pixels from ev, odd ones from od.
        // Input pixel 2·xx + q is ev[xx + q/2] for even q, od[xx + (q − 1)/2] for odd q (exact
        // halves; the plan keeps every read inside the row, ev/od have 2 bytes before them).
        const uint8_t *tap[4];
        for (int t = 0; t < 4; t++) {
            int q = off + t;
            tap[t] = (q & 1) ? od + (q - 1) / 2 : ev + q / 2;
        }
        const uint8_t *restrict t0 = tap[0], *restrict t1 = tap[1], *restrict t2 = tap[2], *restrict t3 = tap[3];
        const int32_t *restrict k0 = x2->k4, *restrict k1 = k0 + ow, *restrict k2 = k1 + ow, *restrict k3 = k2 + ow;
        int32_t *restrict sc = x2->sum + (size_t)c * ow;
        for (int xx = a; xx < b; xx++)
            sc[xx] = (1 << (PIL_PRECISION_BITS - 1)) + t0[xx] * k0[xx] + t1[xx] * k1[xx] + t2[xx] * k2[xx] + t3[xx] * k3[xx];
    }
    const int32_t *s0 = x2->sum, *s1 = s0 + ow, *s2 = s1 + ow;
    for (int xx = a; xx < b; xx++) {
        out[3 * xx] = pil_clip8(s0[xx]);
        out[3 * xx + 1] = pil_clip8(s1[xx]);
        out[3 * xx + 2] = pil_clip8(s2[xx]);
    }
}

// Vertical pass, row by row into the int32 accumulator `acc` (w·ch entries; vectorises
// along the row). Integer sums, so the same values as Pillow's per-pixel loop.
static inline __attribute__((always_inline)) void pil_vertical_body(const uint8_t *src, int32_t w, int32_t ch,
                                                                   uint8_t *dst, int oh, int ksize, const int *bounds,
                                                                   const int32_t *kk, int32_t *acc) {
    size_t stride = (size_t)w * ch;
    for (int yy = 0; yy < oh; yy++) {
        const int32_t *k = &kk[(size_t)yy * ksize];
        int ymin = bounds[yy * 2], ymax = bounds[yy * 2 + 1];
        for (size_t i = 0; i < stride; i++) acc[i] = 1 << (PIL_PRECISION_BITS - 1);
        for (int y = 0; y < ymax; y++) {
            const uint8_t *row = src + (size_t)(y + ymin) * stride;
            int32_t kv = k[y];
            for (size_t i = 0; i < stride; i++) acc[i] += row[i] * kv;
        }
        uint8_t *out = dst + (size_t)yy * stride;
        for (size_t i = 0; i < stride; i++) out[i] = pil_clip8(acc[i]);
    }
}

// Each pass compiled for the baseline and for AVX2 (pmulld / vpmulld: the vertical pass
// is ~3x faster), picked at run time; integer arithmetic, so both give the same bytes.
static void pil_horizontal_base(const uint8_t *src, int32_t w, int32_t ch, int row0, int rows, uint8_t *dst, int ow,
                                int ksize, const int *bounds, const int32_t *kk, const pil_x2_plan *x2) {
    pil_horizontal_body(src, w, ch, row0, rows, dst, ow, ksize, bounds, kk, x2);
}
static void pil_vertical_base(const uint8_t *src, int32_t w, int32_t ch, uint8_t *dst, int oh, int ksize,
                              const int *bounds, const int32_t *kk, int32_t *acc) {
    pil_vertical_body(src, w, ch, dst, oh, ksize, bounds, kk, acc);
}
#if defined(__x86_64__)
__attribute__((target("avx2"))) static void pil_horizontal_avx2(const uint8_t *src, int32_t w, int32_t ch, int row0,
                                                                 int rows, uint8_t *dst, int ow, int ksize,
                                                                 const int *bounds, const int32_t *kk,
                                                                 const pil_x2_plan *x2) {
    pil_horizontal_body(src, w, ch, row0, rows, dst, ow, ksize, bounds, kk, x2);
}
__attribute__((target("avx2"))) static void pil_vertical_avx2(const uint8_t *src, int32_t w, int32_t ch, uint8_t *dst,
                                                               int oh, int ksize, const int *bounds, const int32_t *kk,
                                                               int32_t *acc) {
    pil_vertical_body(src, w, ch, dst, oh, ksize, bounds, kk, acc);
}
#endif
/// The 2x interior of an RGB row (pil_x2_plan), if it has one: the longest run of output pixels
/// with 4 non-negative taps starting at 2·xx + off for one off. Returns 0 when there is none
/// (then x2 is unused) and -1 when out of memory.
static int pil_x2_prepare(int32_t w, int32_t ch, int ow, int ksize, const int *bounds, const int32_t *kk, pil_x2_plan *x2,
                          void **mem) {
    *mem = NULL;
    if (ch != 3 || ksize < 4 || ow < 16) return 0;
    int best_a = 0, best_b = 0;
    for (int a = 0; a < ow;) {
        int off = bounds[2 * a] - 2 * a, b = a;
        while (b < ow && bounds[2 * b + 1] == 4 && bounds[2 * b] - 2 * b == off && kk[(size_t)b * ksize] >= 0 &&
               kk[(size_t)b * ksize + 1] >= 0 && kk[(size_t)b * ksize + 2] >= 0 && kk[(size_t)b * ksize + 3] >= 0)
            b++;
        if (b - a > best_b - best_a) { best_a = a; best_b = b; }
        a = b > a ? b : a + 1;
    }
    if (best_b - best_a < 16) return 0;
    int half = (w + 1) / 2;
    size_t k4 = (size_t)4 * ow * sizeof(int32_t), sum = (size_t)3 * ow * sizeof(int32_t), eo = (size_t)3 * 2 * (half + 2);
    char *m = (char *)malloc(k4 + sum + eo);
    if (!m) return -1;
    int32_t *k = (int32_t *)m;
    for (int t = 0; t < 4; t++)
        for (int xx = 0; xx < ow; xx++) k[(size_t)t * ow + xx] = xx >= best_a && xx < best_b ? kk[(size_t)xx * ksize + t] : 0;
    x2->a = best_a; x2->b = best_b; x2->off = bounds[2 * best_a] - 2 * best_a;
    x2->k4 = k; x2->sum = (int32_t *)(m + k4); x2->eo = (uint8_t *)(m + k4 + sum); x2->half = half;
    memset(x2->eo, 0, eo);
    *mem = m;
    return 1;
}

static int pil_horizontal(const uint8_t *src, int32_t w, int32_t ch, int row0, int rows, uint8_t *dst, int ow,
                          int ksize, const int *bounds, const int32_t *kk) {
    pil_x2_plan plan;
    void *mem;
    int has = pil_x2_prepare(w, ch, ow, ksize, bounds, kk, &plan, &mem);
    if (has < 0) return SEGC_IMG_ENOMEM;
    const pil_x2_plan *x2 = has ? &plan : NULL;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) pil_horizontal_avx2(src, w, ch, row0, rows, dst, ow, ksize, bounds, kk, x2);
    else
#endif
    pil_horizontal_base(src, w, ch, row0, rows, dst, ow, ksize, bounds, kk, x2);
    free(mem);
    return SEGC_IMG_OK;
}
static void pil_vertical(const uint8_t *src, int32_t w, int32_t ch, uint8_t *dst, int oh, int ksize,
                         const int *bounds, const int32_t *kk, int32_t *acc) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) { pil_vertical_avx2(src, w, ch, dst, oh, ksize, bounds, kk, acc); return; }
#endif
    pil_vertical_base(src, w, ch, dst, oh, ksize, bounds, kk, acc);
}

int segc_pillow_resize_bilinear(const uint8_t *src, int32_t width, int32_t height, int32_t channels,
                                uint8_t *dst, int32_t out_width, int32_t out_height) {
    if (!src || !dst || width <= 0 || height <= 0 || out_width <= 0 || out_height <= 0 || channels < 1 ||
        channels > 4)
        return SEGC_IMG_EINVAL;
    if (width == out_width && height == out_height) {
        memcpy(dst, src, (size_t)width * height * channels);
        return SEGC_IMG_OK;
    }
    int need_h = out_width != width, need_v = out_height != height;
    int *bv = NULL, *bh = NULL;
    int32_t *kv = NULL, *kh = NULL;
    int ksv = pil_coeffs(height, out_height, &bv, &kv);
    if (!ksv) return SEGC_IMG_ENOMEM;
    int ybox_first = bv[0];
    int ybox_last = bv[out_height * 2 - 2] + bv[out_height * 2 - 1];
    const uint8_t *vin = src;
    int vin_w = width;
    uint8_t *tmp = NULL;
    if (need_h) {
        int ksh = pil_coeffs(width, out_width, &bh, &kh);
        if (!ksh) {
            free(bv);
            free(kv);
            return SEGC_IMG_ENOMEM;
        }
        for (int i = 0; i < out_height; i++) bv[i * 2] -= ybox_first;
        int rows = ybox_last - ybox_first;
        uint8_t *target = need_v ? NULL : dst;
        if (need_v) {
            tmp = (uint8_t *)malloc((size_t)out_width * channels * (size_t)(rows > 0 ? rows : 1));
            if (!tmp) {
                free(bv); free(kv); free(bh); free(kh);
                return SEGC_IMG_ENOMEM;
            }
            target = tmp;
        }
        int hrc = pil_horizontal(src, width, channels, ybox_first, rows, target, out_width, ksh, bh, kh);
        free(bh);
        free(kh);
        if (hrc) {
            free(tmp); free(bv); free(kv);
            return hrc;
        }
        vin = tmp;
        vin_w = out_width;
    }
    if (need_v) {
        int32_t *acc = (int32_t *)malloc((size_t)vin_w * channels * sizeof(int32_t));
        if (!acc) {
            free(tmp); free(bv); free(kv);
            return SEGC_IMG_ENOMEM;
        }
        pil_vertical(vin, vin_w, channels, dst, out_height, ksv, bv, kv, acc);
        free(acc);
    }
    free(tmp);
    free(bv);
    free(kv);
    return SEGC_IMG_OK;
}

#define PIL_COORD(v) ((v) < 0.0 ? -1 : ((int)(v)))

int segc_pillow_resize_nearest(const uint8_t *src, int32_t width, int32_t height, int32_t channels,
                               uint8_t *dst, int32_t out_width, int32_t out_height) {
    if (!src || !dst || width <= 0 || height <= 0 || out_width <= 0 || out_height <= 0 || channels < 1 ||
        channels > 4)
        return SEGC_IMG_EINVAL;
    size_t ostride = (size_t)out_width * channels, istride = (size_t)width * channels;
    if (width == out_width && height == out_height) {
        memcpy(dst, src, istride * height);
        return SEGC_IMG_OK;
    }
    float bw = (float)width, bh = (float)height;
    double a0 = (double)(bw - 0.0f) / out_width;
    double a4 = (double)(bh - 0.0f) / out_height;
    int *xintab = (int *)calloc((size_t)out_width, sizeof(int));
    if (!xintab) return SEGC_IMG_ENOMEM;
    double xo = 0.0 + a0 * 0.5, yo = 0.0 + a4 * 0.5;
    int xmin = out_width, xmax = 0;
    for (int x = 0; x < out_width; x++) {
        int xin = PIL_COORD(xo);
        if (xin >= 0 && xin < width) {
            xmax = x + 1;
            if (x < xmin) xmin = x;
            xintab[x] = xin;
        }
        xo += a0;
    }
    for (int y = 0; y < out_height; y++) {
        int yi = PIL_COORD(yo);
        uint8_t *out = dst + (size_t)y * ostride;
        memset(out, 0, ostride);
        if (yi >= 0 && yi < height) {
            const uint8_t *in = src + (size_t)yi * istride;
            if (channels == 1) {
                for (int x = xmin; x < xmax; x++) out[x] = in[xintab[x]];
            } else {
                for (int x = xmin; x < xmax; x++) memcpy(out + (size_t)x * channels, in + (size_t)xintab[x] * channels, (size_t)channels);
            }
        }
        yo += a4;
    }
    free(xintab);
    return SEGC_IMG_OK;
}

void segc_rgb8_to_chw(const uint8_t *src, int64_t pixels, float *dst) {
    float *r = dst, *g = dst + pixels, *b = dst + 2 * pixels;
    for (int64_t i = 0; i < pixels; i++) {
        r[i] = (float)src[3 * i] / 255.0f;
        g[i] = (float)src[3 * i + 1] / 255.0f;
        b[i] = (float)src[3 * i + 2] / 255.0f;
    }
}
