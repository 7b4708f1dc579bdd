// PNG decode/encode through libpng with setjmp-based error recovery: every libpng error
// returns a SEGC_IO_* code with its message instead of aborting.
#include "segc_image_io.h"
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void segc_image_free(void *p) { free(p); }

typedef struct {
    jmp_buf jb;
    char *message;
    size_t message_size;
} png_err_ctx;

static void png_err(png_structp png, png_const_charp msg) {
    png_err_ctx *e = (png_err_ctx *)png_get_error_ptr(png);
    snprintf(e->message, e->message_size, "%s", msg ? msg : "libpng error");
    longjmp(e->jb, 1);
}

static void png_warn(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

typedef struct {
    const uint8_t *data;
    size_t size, pos;
} png_reader;

static void png_read_mem(png_structp png, png_bytep out, size_t n) {
    png_reader *r = (png_reader *)png_get_io_ptr(png);
    if (n > r->size - r->pos) png_error(png, "unexpected end of file (truncated PNG)");
    memcpy(out, r->data + r->pos, n);
    r->pos += n;
}

int segc_png_decode(const uint8_t *data, size_t size, int64_t max_side, int64_t max_pixels,
                    segc_image_info *info, uint8_t **pixels) {
    if (!data || !info || !pixels) return SEGC_IO_EINVAL;
    memset(info, 0, sizeof(*info));
    *pixels = NULL;
    if (size < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0) {
        snprintf(info->message, sizeof info->message, "not a PNG signature");
        return SEGC_IO_EMALFORMED;
    }
    if (size >= 24 && memcmp(data + 12, "IHDR", 4) == 0) {
        // Limits first, straight from the header, before libpng allocates anything.
        int64_t w0 = ((int64_t)data[16] << 24) | (data[17] << 16) | (data[18] << 8) | data[19];
        int64_t h0 = ((int64_t)data[20] << 24) | (data[21] << 16) | (data[22] << 8) | data[23];
        if (w0 > max_side || h0 > max_side || w0 * h0 > max_pixels) {
            snprintf(info->message, sizeof info->message, "image %lldx%lld exceeds the limit (sides <= %lld, pixels <= %lld)",
                     (long long)w0, (long long)h0, (long long)max_side, (long long)max_pixels);
            return SEGC_IO_ELIMIT;
        }
    }
    png_err_ctx ectx;
    ectx.message = info->message;
    ectx.message_size = sizeof info->message;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ectx, png_err, png_warn);
    if (!png) return SEGC_IO_ENOMEM;
    png_infop pinfo = png_create_info_struct(png);
    if (!pinfo) {
        png_destroy_read_struct(&png, NULL, NULL);
        return SEGC_IO_ENOMEM;
    }
    png_reader reader = {data, size, 0};
    uint8_t *volatile buf = NULL;
    png_bytep *volatile rows = NULL;
    volatile int code = SEGC_IO_EMALFORMED;
    if (setjmp(ectx.jb)) {
        free(buf);
        free(rows);
        png_destroy_read_struct(&png, &pinfo, NULL);
        return code;
    }
    png_set_read_fn(png, &reader, png_read_mem);
    png_set_user_limits(png, 0x7fffffffU, 0x7fffffffU); // segc checks its own limits below, naming them
    png_read_info(png, pinfo);
    png_uint_32 w = 0, h = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, pinfo, &w, &h, &bit_depth, &color_type, &interlace, NULL, NULL);
    if ((int64_t)w > max_side || (int64_t)h > max_side || (int64_t)w * (int64_t)h > max_pixels) {
        snprintf(info->message, sizeof info->message, "image %ux%u exceeds the limit (sides <= %lld, pixels <= %lld)",
                 (unsigned)w, (unsigned)h, (long long)max_side, (long long)max_pixels);
        code = SEGC_IO_ELIMIT;
        png_error(png, info->message);
    }
    info->source_bits = bit_depth;
    int grey16 = (color_type == PNG_COLOR_TYPE_GRAY && bit_depth == 16);
    if (bit_depth == 16 && !grey16) png_set_strip_16(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (color_type == PNG_COLOR_TYPE_PALETTE && bit_depth < 8) png_set_packing(png);
    if (interlace != PNG_INTERLACE_NONE) png_set_interlace_handling(png);
    png_read_update_info(png, pinfo);
    int channels = png_get_channels(png, pinfo);
    size_t rowbytes = png_get_rowbytes(png, pinfo);
    size_t sample_bytes = grey16 ? 2 : 1;
    if (channels < 1 || channels > 4 || rowbytes != (size_t)w * (size_t)channels * sample_bytes) {
        code = SEGC_IO_EUNSUPPORTED;
        png_error(png, "unsupported PNG layout");
    }
    code = SEGC_IO_ENOMEM;
    buf = (uint8_t *)malloc(rowbytes * (size_t)h + 1);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * ((size_t)h + 1));
    if (!buf || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = buf + (size_t)y * rowbytes;
    code = SEGC_IO_EMALFORMED;
    png_read_image(png, rows);
    // Trailing chunks are not read (Pillow does not read them when loading pixels either).
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_colorp plte = NULL;
        int n = 0;
        if (png_get_PLTE(png, pinfo, &plte, &n) && plte && n > 0) {
            if (n > 256) n = 256;
            for (int i = 0; i < n; i++) {
                info->palette[3 * i] = plte[i].red;
                info->palette[3 * i + 1] = plte[i].green;
                info->palette[3 * i + 2] = plte[i].blue;
            }
            info->palette_count = n;
        }
        info->is_palette = 1;
    }
    if (grey16) {
        // Pillow: I;16 → L/RGB clips at 255.
        size_t n = (size_t)w * (size_t)h;
        for (size_t i = 0; i < n; i++) {
            uint8_t hi = buf[2 * i], lo = buf[2 * i + 1];
            buf[i] = hi ? 255 : lo;
        }
    }
    info->width = (int32_t)w;
    info->height = (int32_t)h;
    info->channels = channels;
    free(rows);
    png_destroy_read_struct(&png, &pinfo, NULL);
    *pixels = buf;
    return SEGC_IO_OK;
}

typedef struct {
    uint8_t *data;
    size_t size, cap;
    int failed;
} png_writer;

static void png_write_mem(png_structp png, png_bytep in, size_t n) {
    png_writer *w = (png_writer *)png_get_io_ptr(png);
    if (w->size + n > w->cap) {
        size_t cap = w->cap ? w->cap : 65536;
        while (cap < w->size + n) cap *= 2;
        uint8_t *p = (uint8_t *)realloc(w->data, cap);
        if (!p) {
            w->failed = 1;
            png_error(png, "out of memory");
        }
        w->data = p;
        w->cap = cap;
    }
    memcpy(w->data + w->size, in, n);
    w->size += n;
}

static void png_flush_mem(png_structp png) { (void)png; }

int segc_png_encode(const uint8_t *pixels, int32_t width, int32_t height, int32_t channels,
                    const uint8_t *palette, int32_t palette_count, uint8_t **out, size_t *out_size,
                    char *message, size_t message_size) {
    static char dummy[8];
    if (!message) { message = dummy; message_size = sizeof dummy; }
    if (!pixels || !out || !out_size || width <= 0 || height <= 0 || (channels != 1 && channels != 3) ||
        (palette && (palette_count < 1 || palette_count > 256))) {
        snprintf(message, message_size, "invalid PNG encode arguments");
        return SEGC_IO_EINVAL;
    }
    *out = NULL;
    *out_size = 0;
    png_err_ctx ectx;
    ectx.message = message;
    ectx.message_size = message_size;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ectx, png_err, png_warn);
    if (!png) return SEGC_IO_ENOMEM;
    png_infop pinfo = png_create_info_struct(png);
    if (!pinfo) {
        png_destroy_write_struct(&png, NULL);
        return SEGC_IO_ENOMEM;
    }
    png_writer writer = {NULL, 0, 0, 0};
    png_bytep *volatile rows = NULL;
    if (setjmp(ectx.jb)) {
        free(writer.data);
        free(rows);
        png_destroy_write_struct(&png, &pinfo);
        return writer.failed ? SEGC_IO_ENOMEM : SEGC_IO_EINVAL;
    }
    png_set_write_fn(png, &writer, png_write_mem, png_flush_mem);
    int color_type = channels == 3 ? PNG_COLOR_TYPE_RGB : (palette ? PNG_COLOR_TYPE_PALETTE : PNG_COLOR_TYPE_GRAY);
    png_set_IHDR(png, pinfo, (png_uint_32)width, (png_uint_32)height, 8, color_type, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (palette) {
        png_color plte[256];
        for (int i = 0; i < palette_count; i++) {
            plte[i].red = palette[3 * i];
            plte[i].green = palette[3 * i + 1];
            plte[i].blue = palette[3 * i + 2];
        }
        png_set_PLTE(png, pinfo, plte, palette_count);
    }
    png_set_compression_level(png, 6);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * (size_t)height);
    if (!rows) {
        writer.failed = 1;
        png_error(png, "out of memory");
    }
    size_t stride = (size_t)width * (size_t)channels;
    for (int32_t y = 0; y < height; y++) rows[y] = (png_bytep)(pixels + (size_t)y * stride);
    png_write_info(png, pinfo);
    png_write_image(png, rows);
    png_write_end(png, pinfo);
    free(rows);
    png_destroy_write_struct(&png, &pinfo);
    *out = writer.data;
    *out_size = writer.size;
    return SEGC_IO_OK;
}
