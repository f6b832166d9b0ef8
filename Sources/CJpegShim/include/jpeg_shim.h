#ifndef MCC_JPEG_SHIM_H
#define MCC_JPEG_SHIM_H
#include <stddef.h>
#include <stdint.h>

/// Decodes a JPEG held in memory to packed 8-bit RGB. libjpeg reports errors with longjmp, which Swift cannot
/// catch, so the whole decode runs here. Returns 0 on success; on failure returns -1 and writes libjpeg's message
/// into `error` (NUL-terminated, at most `error_len` bytes). `*pixels` is malloc'ed; the caller frees it.
int mcc_jpeg_decode_rgb(const uint8_t *data, size_t size, uint8_t **pixels, int *width, int *height,
                        char *error, size_t error_len);
#endif
