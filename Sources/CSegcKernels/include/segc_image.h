// segc_image.h — Pillow-exact resampling and the fused anomaly-score kernels (no
// external library). The PNG/JPEG codecs live in CSegcImageIO (segc_image_io.h).
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    SEGC_IMG_OK = 0,
    SEGC_IMG_EMALFORMED = -1,   ///< the bytes are not a valid image
    SEGC_IMG_EUNSUPPORTED = -2, ///< valid but a variant segc does not decode (CMYK JPEG, …)
    SEGC_IMG_ELIMIT = -3,       ///< width/height/pixel limit exceeded (checked before allocating)
    SEGC_IMG_ENOMEM = -4,       ///< allocation failed
    SEGC_IMG_EINVAL = -5,       ///< invalid argument
};

/// Pillow `Image.resize(size, BILINEAR)` (ImagingResample: separable triangle filter with
/// support scaled when downscaling, 22-bit fixed-point coefficients, horizontal then vertical
/// pass) on interleaved 8-bit pixels with `channels` samples each. Returns SEGC_IMG_OK.
int segc_pillow_resize_bilinear(const uint8_t *src, int32_t width, int32_t height, int32_t channels,
                                uint8_t *dst, int32_t out_width, int32_t out_height);

/// Pillow `Image.resize(size, NEAREST)` (ImagingScaleAffine with its double-precision
/// coordinate accumulation) on interleaved 8-bit pixels.
int segc_pillow_resize_nearest(const uint8_t *src, int32_t width, int32_t height, int32_t channels,
                               uint8_t *dst, int32_t out_width, int32_t out_height);

/// Interleaved RGB8 (HWC) → planar float32 CHW, each value v / 255.0f.
void segc_rgb8_to_chw(const uint8_t *src, int64_t pixels, float *dst);

enum { SEGC_SCORE_MSP = 0, SEGC_SCORE_MAXLOGIT = 1, SEGC_SCORE_MAXENTROPY = 2, SEGC_SCORE_VOID = 3,
       SEGC_SCORE_NONE = 4 };

/// One pass over logits [classes, pixels] (planar): writes the score map (`score`, may be
/// NULL or kind SEGC_SCORE_NONE) and the argmax (`argmax`, may be NULL; first maximum wins).
/// float32 arithmetic, softmax with the maximum subtracted. MSP divides the logits by `temperature` (float32 division) first.
int segc_scores(const float *logits, int64_t classes, int64_t pixels, int32_t kind, float temperature,
                float *score, int32_t *argmax);

#ifdef __cplusplus
}
#endif
