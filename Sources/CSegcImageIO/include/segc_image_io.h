// segc_image_io.h — image codecs for SegcEval: PNG via libpng, JPEG via libjpeg-turbo.
//
// Kept out of CSegcKernels so that the runtime (which links CSegcKernels) never links
// libpng or libjpeg (architecture.md §2, the dependency rule). The functions wrap the
// libraries' longjmp-based error handling, so every failure comes back as a negative
// SEGC_IO_* code with a message; they never abort. Buffers returned through
// `uint8_t **` are malloc'ed and released with segc_image_free.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Codec results (the same values as CSegcKernels' SEGC_IO_* codes; a separate enum so
/// this header stands alone in its own Clang module).
enum {
    SEGC_IO_OK = 0,
    SEGC_IO_EMALFORMED = -1,   ///< the bytes are not a valid image
    SEGC_IO_EUNSUPPORTED = -2, ///< valid but a variant segc does not decode (CMYK JPEG, …)
    SEGC_IO_ELIMIT = -3,       ///< width/height/pixel limit exceeded (checked before allocating)
    SEGC_IO_ENOMEM = -4,       ///< allocation failed
    SEGC_IO_EINVAL = -5,       ///< invalid argument
};


/// What a decoder found. `channels`: 1 grey or palette indices, 2 grey+alpha, 3 RGB, 4 RGBA.
typedef struct {
    int32_t width;
    int32_t height;
    int32_t channels;
    int32_t is_palette;        ///< 1 when pixels are palette indices
    int32_t palette_count;     ///< entries in `palette` (RGB triples)
    int32_t source_bits;       ///< bit depth in the file
    uint8_t palette[768];
    char message[256];         ///< set on error
} segc_image_info;

/// Decodes a PNG held in memory to 8-bit samples the way Pillow's PNG plugin does:
/// 16-bit colour samples keep their most significant byte, 16-bit grey is clipped to 255,
/// 1/2/4-bit grey is scaled to 0–255, palette images keep their indices. Transparency
/// chunks are not applied. Width, height and width × height are checked against
/// `max_side` / `max_pixels` before any pixel buffer is allocated.
int segc_png_decode(const uint8_t *data, size_t size, int64_t max_side, int64_t max_pixels,
                    segc_image_info *info, uint8_t **pixels);

/// Decodes a JPEG held in memory with Pillow's settings (islow DCT, fancy upsampling, no
/// scaling): greyscale → 1 channel, YCbCr/RGB → 3 channels RGB. CMYK/YCCK are unsupported.
/// A truncated stream is an error (Pillow refuses truncated images by default).
int segc_jpeg_decode(const uint8_t *data, size_t size, int64_t max_side, int64_t max_pixels,
                     segc_image_info *info, uint8_t **pixels);

/// Encodes an 8-bit PNG: `channels` 3 (RGB) or 1 with a palette of `palette_count` RGB
/// entries (`palette` non-NULL) or 1 grey (`palette` NULL). Returns the file bytes in `*out`.
int segc_png_encode(const uint8_t *pixels, int32_t width, int32_t height, int32_t channels,
                    const uint8_t *palette, int32_t palette_count, uint8_t **out, size_t *out_size,
                    char *message, size_t message_size);

/// Frees a buffer returned by this header's functions.
void segc_image_free(void *p);

#ifdef __cplusplus
}
#endif
