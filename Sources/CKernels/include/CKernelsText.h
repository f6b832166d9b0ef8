#ifndef MCC_CKERNELS_TEXT_H
#define MCC_CKERNELS_TEXT_H

// Number formatting for emitted text files (OpenVINO IR attributes), in C: Swift's String(format:) goes through
// Foundation's formatter, whose first use costs about 1% of a whole -target rvc2 compile.

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Writes `value` as printf's "%.17g" (C locale) into buffer (NUL-terminated, at most size bytes) and returns the
/// number of characters written, or 0 when it did not fit.
int mcc_format_double_g17(double value, char *buffer, size_t size);

#ifdef __cplusplus
}
#endif

#endif
