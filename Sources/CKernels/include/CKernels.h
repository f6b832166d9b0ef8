#ifndef MCC_CKERNELS_H
#define MCC_CKERNELS_H

// Hot float kernels compiled three times (baseline x86-64, AVX2+FMA, AVX-512) and chosen at run time, so the
// package still builds for and runs on any x86-64 while the machines we measure on use their wide vectors.
// Swift cannot do this: a Swift module is compiled for a single target CPU. Callers are Sources/Kernels.
//
// Numerics: the AVX2/AVX-512 variants contract a*b+c into FMA, so results can differ from the baseline variant
// in the last bits (one rounding instead of two); everything else (algorithms, polynomials, NaN handling) is the
// same in every variant.

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Instruction-set levels of the variants.
enum {
    MCC_ISA_BASELINE = 0,
    MCC_ISA_AVX2 = 1,
    MCC_ISA_AVX512 = 2,
};

/// The level in use (the best the CPU supports unless lowered by `mcc_set_isa` or MCC_ISA=baseline|avx2|avx512).
int mcc_isa(void);
/// Uses at most `level` (clamped to what the CPU supports); returns the level now in use. For tests and benchmarks.
int mcc_set_isa(int level);

/// Activation functions (ONNX semantics; parameters `a`, `b` as listed).
enum {
    MCC_ACT_IDENTITY = 0,
    MCC_ACT_RELU = 1,
    MCC_ACT_LEAKY_RELU = 2,    // a = alpha
    MCC_ACT_CLIP = 3,          // a = min, b = max
    MCC_ACT_SIGMOID = 4,
    MCC_ACT_HARD_SIGMOID = 5,  // a = alpha, b = beta
    MCC_ACT_HARD_SWISH = 6,
    MCC_ACT_TANH = 7,
    MCC_ACT_EXP = 8,
    MCC_ACT_SWISH = 9,         // a = alpha: x * sigmoid(alpha * x)
    MCC_ACT_HARD_SIGMOID_GATE = 10,  // a = alpha, b = beta: x * hard_sigmoid(x) (PaddlePaddle's HardSwish)
    MCC_ACT_LEAKY_RELU_FLOOR = 11,   // a = alpha, b = floor: max(leaky_relu(x), floor) (oww_embedding's Max(·, -0.4))
};

/// y[i] = act(x[i]) for n floats; x and y may be the same buffer (exactly, not partially overlapping).
void mcc_activation(int act, float a, float b, const float *x, float *y, ptrdiff_t n);

/// y[c * ld + i] = act(y[c * ld + i] + bias[c]) for c < channels, i < spatial; bias may be NULL (then no add).
void mcc_bias_activation(float *y, ptrdiff_t channels, ptrdiff_t spatial, ptrdiff_t ld, const float *bias, int act,
                         float a, float b);

/// y[r * ldy + i] = act(x[r * ldx + i] + bias) for r < rows, i < cols (strided copy with the conv epilogue).
void mcc_copy_bias_activation(const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t cols,
                              float bias, int act, float a, float b);

/// Rows [row_begin, row_end) of the im2col matrix of one group, for output positions [start, start + count): row
/// r = (c, i, j) (c-major) holds, per output position, input pixel x[c, oy*sh - pad_top + i*dh, ox*sw - pad_left +
/// j*dw] or 0 in the padding. x is [C/groups, h, w]; ow is the output width; rows of `columns` are `count` long.
void mcc_im2col(const float *x, ptrdiff_t h, ptrdiff_t w, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw,
                ptrdiff_t dh, ptrdiff_t dw, ptrdiff_t pad_top, ptrdiff_t pad_left, ptrdiff_t ow, ptrdiff_t row_begin,
                ptrdiff_t row_end, ptrdiff_t start, ptrdiff_t count, float *columns);

/// One depthwise output plane [oh, ow] from a zero-padded input plane (row stride wp) with kernel wk [kh, kw]:
/// dst[oy, ox] = act(bias + sum_ij wk[i, j] * src[(oy*sh + i*dh) * wp + ox*sw + j*dw]).
/// Rows of src may be over-read by up to 32*(sw+1) + kw*dw floats past the last valid column (caller pads).
void mcc_depthwise_plane(const float *src, ptrdiff_t wp, const float *wk, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh,
                         ptrdiff_t sw, ptrdiff_t dh, ptrdiff_t dw, ptrdiff_t oh, ptrdiff_t ow, float bias, int act,
                         float a, float b, float *dst);

/// Floats of scratch `mcc_indirect_conv` needs for `k` rows and `m` outputs (tail row pointers, tail columns, the
/// packed weight blocks of all m outputs, rounded up to whole blocks of at most 12).
static inline ptrdiff_t mcc_indirect_conv_scratch_count(ptrdiff_t k, ptrdiff_t m) { return k * (2 + 16 + m + 12); }

/// GEMM whose B rows are given by pointer (a convolution's taps as shifted views of one padded input), with the conv
/// epilogue: for m outputs and "wide" columns n in [n_begin, n_end),
///   v = act(bias[mi] + sum over kk < k, in order, of w[mi * k + kk] * rows[kk][n])
/// is stored at y[mi * out_plane + (n / wp) * ow + n % wp] when n % wp < ow (other wide columns are discarded).
/// rows[kk] is read at [n_begin, n_end) only; bias may be NULL. `scratch` holds mcc_indirect_conv_scratch_count(k, m)
/// floats (8-byte aligned). Each output's sum does not depend on [n_begin, n_end), so any split is deterministic.
void mcc_indirect_conv(const float *const *rows, ptrdiff_t k, const float *w, ptrdiff_t m, ptrdiff_t n_begin,
                       ptrdiff_t n_end, ptrdiff_t wp, ptrdiff_t ow, ptrdiff_t out_plane, const float *bias, int act,
                       float a, float b, float *y, float *scratch);

#ifdef __cplusplus
}
#endif

// SwiftPM uses this file as the module's umbrella header: the other kernel headers are reached through it.
#include "CKernelsPool.h"

#endif
