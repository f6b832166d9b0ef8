#include "jpeg_shim.h"
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>

struct shim_error {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char *message;
    size_t message_len;
};

static void shim_error_exit(j_common_ptr cinfo) {
    struct shim_error *err = (struct shim_error *)cinfo->err;
    char buffer[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, buffer);
    if (err->message && err->message_len > 0) {
        strncpy(err->message, buffer, err->message_len - 1);
        err->message[err->message_len - 1] = 0;
    }
    longjmp(err->jump, 1);
}

static void shim_silence(j_common_ptr cinfo, int level) { (void)cinfo; (void)level; }

int mcc_jpeg_decode_rgb(const uint8_t *data, size_t size, uint8_t **pixels, int *width, int *height,
                        char *error, size_t error_len) {
    struct jpeg_decompress_struct cinfo;
    struct shim_error err;
    uint8_t *volatile out = NULL;
    *pixels = NULL;
    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = shim_error_exit;
    err.base.emit_message = shim_silence;
    err.message = error;
    err.message_len = error_len;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(out);
        return -1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    size_t stride = (size_t)cinfo.output_width * 3;
    out = malloc(stride * cinfo.output_height);
    if (!out) {
        if (error && error_len) { strncpy(error, "out of memory", error_len - 1); error[error_len - 1] = 0; }
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = out + stride * cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    *width = (int)cinfo.output_width;
    *height = (int)cinfo.output_height;
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    *pixels = out;
    return 0;
}
