// im2col gather shared by conv2d and conv_transpose2d. Stride-1 columns copy
// contiguous runs (memcpy), strided columns a strided run, with zero fill at the borders.
#include "../internal.h"
#include <string.h>

void segc_gather(const float *x, int64_t h, int64_t w, int64_t gw, int64_t sy, int64_t sx, int64_t oy,
                 int64_t ox, int64_t q0, int64_t q1, float *dst) {
    int64_t q = q0;
    while (q < q1) {
        int64_t j = q / gw, i0 = q - j * gw;
        int64_t i1 = SEGC_MIN(gw, i0 + (q1 - q));
        int64_t n = i1 - i0;
        float *d = dst + (q - q0);
        int64_t iy = j * sy + oy;
        if (iy < 0 || iy >= h) {
            memset(d, 0, (size_t)n * sizeof(float));
        } else {
            const float *row = x + iy * w;
            if (sx == 1) {
                int64_t a = SEGC_MAX(i0, -ox), b = SEGC_MIN(i1, w - ox);
                if (a > i1) a = i1;
                if (b < a) b = a;
                if (a > i0) memset(d, 0, (size_t)(a - i0) * sizeof(float));
                if (b > a) memcpy(d + (a - i0), row + a + ox, (size_t)(b - a) * sizeof(float));
                if (i1 > b) memset(d + (b - i0), 0, (size_t)(i1 - b) * sizeof(float));
            } else {
                // Columns i with 0 <= i·sx + ox < w, then a branch-free strided copy (the
                // vectoriser turns stride 2 into loads and shuffles; a bounds test per
                // element kept it scalar: stride-2 3x3 convs ran at half the GEMM's rate).
                int64_t a = ox >= 0 ? 0 : (-ox + sx - 1) / sx, b = w - ox > 0 ? (w - ox + sx - 1) / sx : 0;
                a = SEGC_MIN(SEGC_MAX(a, i0), i1);
                b = SEGC_MIN(SEGC_MAX(b, a), i1);
                for (int64_t i = i0; i < a; i++) d[i - i0] = 0.0f;
                const float *src = row + ox;
                if (sx == 2) {
                    for (int64_t i = a; i < b; i++) d[i - i0] = src[2 * i];
                } else {
                    for (int64_t i = a; i < b; i++) d[i - i0] = src[i * sx];
                }
                for (int64_t i = b; i < i1; i++) d[i - i0] = 0.0f;
            }
        }
        q += n;
    }
}

int64_t segc_conv_tile(int64_t k, int64_t pixels) {
    // ~0.75 MiB of im2col per task, and a row length that is an odd number of 64-byte lines:
    // the GEMM reads its B panels in place, kc rows `tile` floats apart, and an even
    // number of lines maps those rows onto fewer L1 sets. One thread, avx512 (avx2):
    // BiSeNetV1's 7x7/2 stem (k = 147) 25-29 -> 20.6 ms (43 -> 36), ERFNet's 16->48
    // 3x3/2 downsampler (k = 144) 5.5 -> 4.1 ms (8.9 -> 6.8); the 2 MiB tiles used before
    // filled the whole L2 of this machine.
    int64_t t = (192 * 1024) / (k > 0 ? k : 1);
    if (t < 512) t = 512;
    if (t > 4096) t = 4096;
    t = t / 16 * 16;
    if ((t / 16) % 2 == 0) t -= 16;
    if (t > pixels) t = pixels;
    return t < 1 ? 1 : t;
}

int64_t segc_conv_tile_for(int64_t k, int64_t pixels, int threads) {
    int64_t pref = segc_conv_tile(k, pixels), t = segc_balanced_chunk(pixels, pref, 16, threads);
    // Keep the odd number of cache lines per row (above) when a neighbour gives the same count.
    if (t < pref && (t / 16) % 2 == 0) {
        int64_t count = segc_chunks(pixels, t);
        if (t + 16 <= pref && segc_chunks(pixels, t + 16) == count) t += 16;
        else if (t > 16 && segc_chunks(pixels, t - 16) == count) t -= 16;
    }
    return t;
}
