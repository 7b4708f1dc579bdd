// JPEG decoding through libjpeg-turbo with Pillow's settings. libjpeg's error_exit must
// not return, so it longjmps back here and the failure becomes a SEGC_IO_* code.
#include "segc_image_io.h"
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char *message;
    size_t message_size;
    int truncated;
} jpeg_err_ctx;

static void jpeg_error_exit_cb(j_common_ptr cinfo) {
    jpeg_err_ctx *e = (jpeg_err_ctx *)cinfo->err;
    char buf[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, buf);
    snprintf(e->message, e->message_size, "%s", buf);
    longjmp(e->jb, 1);
}

static void jpeg_emit_cb(j_common_ptr cinfo, int level) {
    jpeg_err_ctx *e = (jpeg_err_ctx *)cinfo->err;
    // A premature end of data is a warning to libjpeg (it inserts a fake EOI); Pillow
    // refuses truncated files, so segc does too. Other warnings are ignored, as in Pillow.
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) e->truncated = 1;
}

static void jpeg_output_cb(j_common_ptr cinfo) { (void)cinfo; }

int segc_jpeg_decode(const uint8_t *data, size_t size, int64_t max_side, int64_t max_pixels,
                     segc_image_info *info, uint8_t **pixels) {
    if (!data || !info || !pixels) return SEGC_IO_EINVAL;
    memset(info, 0, sizeof(*info));
    *pixels = NULL;
    if (size < 4) {
        snprintf(info->message, sizeof info->message, "truncated JPEG");
        return SEGC_IO_EMALFORMED;
    }
    struct jpeg_decompress_struct cinfo;
    jpeg_err_ctx err;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jpeg_error_exit_cb;
    err.pub.emit_message = jpeg_emit_cb;
    err.pub.output_message = jpeg_output_cb;
    err.message = info->message;
    err.message_size = sizeof info->message;
    err.truncated = 0;
    uint8_t *volatile buf = NULL;
    volatile int code = SEGC_IO_EMALFORMED;
    if (setjmp(err.jb)) {
        free(buf);
        jpeg_destroy_decompress(&cinfo);
        return code;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, (const unsigned char *)data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    if (err.truncated) {
        snprintf(info->message, sizeof info->message, "image file is truncated");
        jpeg_destroy_decompress(&cinfo);
        return SEGC_IO_EMALFORMED;
    }
    int64_t w = cinfo.image_width, h = cinfo.image_height;
    if (w > max_side || h > max_side || w * h > max_pixels) {
        snprintf(info->message, sizeof info->message, "image %lldx%lld exceeds the limit (sides <= %lld, pixels <= %lld)",
                 (long long)w, (long long)h, (long long)max_side, (long long)max_pixels);
        jpeg_destroy_decompress(&cinfo);
        return SEGC_IO_ELIMIT;
    }
    int channels;
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
        cinfo.out_color_space = JCS_GRAYSCALE;
        channels = 1;
        break;
    case JCS_YCbCr:
    case JCS_RGB:
        cinfo.out_color_space = JCS_RGB;
        channels = 3;
        break;
    default:
        snprintf(info->message, sizeof info->message, "unsupported JPEG colour space %d (CMYK/YCCK)",
                 (int)cinfo.jpeg_color_space);
        jpeg_destroy_decompress(&cinfo);
        return SEGC_IO_EUNSUPPORTED;
    }
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.do_fancy_upsampling = TRUE;
    cinfo.do_block_smoothing = TRUE;
    cinfo.scale_num = 1;
    cinfo.scale_denom = 1;
    jpeg_start_decompress(&cinfo);
    if ((int)cinfo.output_components != channels || (int64_t)cinfo.output_width != w ||
        (int64_t)cinfo.output_height != h) {
        snprintf(info->message, sizeof info->message, "unexpected JPEG output layout");
        jpeg_destroy_decompress(&cinfo);
        return SEGC_IO_EUNSUPPORTED;
    }
    size_t stride = (size_t)w * (size_t)channels;
    buf = (uint8_t *)malloc(stride * (size_t)h + 1);
    if (!buf) {
        jpeg_destroy_decompress(&cinfo);
        return SEGC_IO_ENOMEM;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = buf + (size_t)cinfo.output_scanline * stride;
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) break;
        if (err.truncated) break;
    }
    if (err.truncated || cinfo.output_scanline < cinfo.output_height) {
        snprintf(info->message, sizeof info->message, "image file is truncated");
        free(buf);
        jpeg_destroy_decompress(&cinfo);
        return SEGC_IO_EMALFORMED;
    }
    // Pillow does not read past the last scanline; jpeg_finish_decompress could only add
    // warnings about trailing data, so the object is simply destroyed.
    jpeg_destroy_decompress(&cinfo);
    info->width = (int32_t)w;
    info->height = (int32_t)h;
    info->channels = channels;
    info->source_bits = 8;
    *pixels = buf;
    return SEGC_IO_OK;
}
