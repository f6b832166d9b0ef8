#ifndef MCC_CKERNELS_POOL_H
#define MCC_CKERNELS_POOL_H

// Pooling kernels (Sources/CKernels/maxpool.c), with the same run-time ISA variants as CKernels.h.

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Floats of scratch `mcc_max_pool` needs: one row maximum plus the column pass's vector over-read.
static inline ptrdiff_t mcc_max_pool_scratch_count(ptrdiff_t w, ptrdiff_t kw, ptrdiff_t sw) {
    return w + 32 * (sw + 1) + kw + 1;
}

/// Undilated 2-D MaxPool over `planes` contiguous [h, w] planes into [oh, ow] planes: y = max over the in-image taps
/// of the window at (oy*sh - pad_top, ox*sw - pad_left) of size kh×kw; a window with no in-image tap gives -FLT_MAX
/// (as ORT). Ties and NaN follow `b > a ? b : a` in row-then-column order. `row` holds
/// mcc_max_pool_scratch_count(w, kw, sw) floats.
void mcc_max_pool(const float *x, ptrdiff_t planes, ptrdiff_t h, ptrdiff_t w, ptrdiff_t oh, ptrdiff_t ow,
                  ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t pad_top, ptrdiff_t pad_left,
                  float *y, float *row);

#ifdef __cplusplus
}
#endif

#endif
