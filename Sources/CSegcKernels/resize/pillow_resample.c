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

// Horizontal pass over rows [row0, row0 + rows) of src into dst (rows × ow).
static inline __attribute__((always_inline)) void pil_horizontal_body(const uint8_t *src, int32_t w, int32_t ch, int row0, int rows, uint8_t *dst, int ow,
                           int ksize, const int *bounds, const int32_t *kk) {
    size_t sstride = (size_t)w * ch, dstride = (size_t)ow * ch;
    for (int yy = 0; yy < rows; yy++) {
        const uint8_t *in = src + (size_t)(yy + row0) * sstride;
        uint8_t *out = dst + (size_t)yy * dstride;
        for (int xx = 0; xx < ow; xx++) {
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
                                int ksize, const int *bounds, const int32_t *kk) {
    pil_horizontal_body(src, w, ch, row0, rows, dst, ow, ksize, bounds, kk);
}
static void pil_vertical_base(const uint8_t *src, int32_t w, int32_t ch, uint8_t *dst, int oh, int ksize,
                              const int *bounds, const int32_t *kk, int32_t *acc) {
    pil_vertical_body(src, w, ch, dst, oh, ksize, bounds, kk, acc);
}
#if defined(__x86_64__)
__attribute__((target("avx2"))) static void pil_horizontal_avx2(const uint8_t *src, int32_t w, int32_t ch, int row0,
                                                                 int rows, uint8_t *dst, int ow, int ksize,
                                                                 const int *bounds, const int32_t *kk) {
    pil_horizontal_body(src, w, ch, row0, rows, dst, ow, ksize, bounds, kk);
}
__attribute__((target("avx2"))) static void pil_vertical_avx2(const uint8_t *src, int32_t w, int32_t ch, uint8_t *dst,
                                                               int oh, int ksize, const int *bounds, const int32_t *kk,
                                                               int32_t *acc) {
    pil_vertical_body(src, w, ch, dst, oh, ksize, bounds, kk, acc);
}
#endif
static void pil_horizontal(const uint8_t *src, int32_t w, int32_t ch, int row0, int rows, uint8_t *dst, int ow,
                           int ksize, const int *bounds, const int32_t *kk) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) { pil_horizontal_avx2(src, w, ch, row0, rows, dst, ow, ksize, bounds, kk); return; }
#endif
    pil_horizontal_base(src, w, ch, row0, rows, dst, ow, ksize, bounds, kk);
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
        pil_horizontal(src, width, channels, ybox_first, rows, target, out_width, ksh, bh, kh);
        free(bh);
        free(kh);
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
