#ifndef MCC_CKERNELS_QUANT_H
#define MCC_CKERNELS_QUANT_H

// The quantizer's per-element loops (calibration statistics, fake quantization in simulation), in the variants of
// kernels.c chosen by `mcc_isa()`. Every variant runs the same 16-lane arithmetic in the same order with no FMA
// contraction, so all variants give the same bits. Caller: Sources/Quant.

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Extremes and power of x[0..<n] in one pass. *minimum / *maximum: the smallest / largest non-NaN value (±inf
/// included; +inf / -inf when every value is NaN or n is 0). *sum_squares: Σ x², accumulated per 16 lanes (lane j
/// takes elements 16k + j) in float over blocks of 4096 elements, each block's lanes then added in lane order to a
/// double; the last n mod 16 elements are added one by one in double.
void mcc_tensor_summary(const float *x, ptrdiff_t n, float *minimum, float *maximum, double *sum_squares);

/// y[i] = (clamp(x[i] / scale, lo, hi) rounded half to even) * scale for i < n, NaN landing on lo; x and y may be
/// the same buffer. Requires |lo|, |hi| < 2^22 (the rounding adds and subtracts 1.5 · 2^23).
void mcc_fake_quantize(const float *x, float *y, ptrdiff_t n, float scale, float lo, float hi);

/// mcc_fake_quantize with its own scale, lo and hi per element: y[i] = (clamp(x[i] / scale[i], lo[i], hi[i]) rounded
/// half to even) * scale[i] for i < n (the same operations, so the same bits). For per-channel encodings whose
/// channels are a few elements long (a Gemm weight's columns), where one call per channel would cost more than the
/// arithmetic.
void mcc_fake_quantize_elementwise(const float *x, float *y, ptrdiff_t n, const float *scale, const float *lo,
                                   const float *hi);

/// Histogram binning of x[0], x[stride], x[2·stride], ... (i < n): for each finite element, bins[clamp((x - lower)
/// * inverse_width, 0, last)] += 1 (float arithmetic, truncated to an index), *added += 1, and *zeros += 1 when it
/// is 0; non-finite elements are skipped. `bins` has 4 · (last + 1) + 1 entries, all 0 but the first last + 1 (the
/// counts, which may start non-zero); the other entries are scratch space and are left with any values.
void mcc_histogram_bin(const float *x, ptrdiff_t n, ptrdiff_t stride, float lower, float inverse_width, float last,
                       unsigned int *bins, unsigned int *zeros, unsigned int *added);

#ifdef __cplusplus
}
#endif

#endif
