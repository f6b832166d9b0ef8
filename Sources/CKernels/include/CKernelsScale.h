#ifndef MCC_CKERNELS_SCALE_H
#define MCC_CKERNELS_SCALE_H

// Weight arithmetic of the folding passes (BatchNorm / bias / preprocessing folds rewrite whole weight tensors on
// every compile): y = Float(Double(x) · f), one rounding of the exact product. Every variant computes each element
// by the same two exact-or-once-rounded steps (float→double is exact, one double multiply, one double→float
// rounding; there is no addition, so no FMA contraction), so all variants give the same bits as the scalar loop
// they replace. Caller: Sources/Passes/Support/LinearWeights.swift.

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// y[i] = (float)((double)x[i] * f) for i < n. x and y must not overlap.
void mcc_scale_float_by_double(const float *x, float *y, ptrdiff_t n, double f);

/// y[i] = (float)((double)x[i] * f[i]) for i < n. x and y must not overlap.
void mcc_scale_float_by_doubles(const float *x, const double *f, float *y, ptrdiff_t n);

/// y[r, c, e] = (float)((double)x[r, c, e] * g(r, c)) for every element of `rows` rows of `columns` (row, column)
/// pairs of `k` taps, with g(r, c) = column_factors ? column_factors[base(r) + c] * rf : rf, rf = row_factors ?
/// row_factors[r] : 1 and base(r) as for mcc_weighted_row_sums below. x and y must not overlap.
void mcc_scale_rows(const float *x, float *y, ptrdiff_t rows, ptrdiff_t columns, ptrdiff_t k, ptrdiff_t rows_per_group,
                    ptrdiff_t columns_per_group, const double *row_factors, const double *column_factors);

/// mcc_scale_rows with the result written over its input: w[r, c, e] = (float)((double)w[r, c, e] * g(r, c)).
/// Element-wise (each element read once, then written), so the same bits as mcc_scale_rows into another buffer.
void mcc_scale_rows_in_place(float *w, ptrdiff_t rows, ptrdiff_t columns, ptrdiff_t k, ptrdiff_t rows_per_group,
                             ptrdiff_t columns_per_group, const double *row_factors, const double *column_factors);

/// Per-row weighted sums of a weight matrix whose rows are output channels: w holds `rows` rows of `columns`
/// (row, column) pairs of `k` taps; the column's channel in row r is base(r) + c, base(r) = (r / rows_per_group) *
/// columns_per_group. For every row, with element i of the row (column c = i / k) and its multiplier
///   h[i] = column_factors ? x[base + c] · column_factors[base + c] : x[base + c]
///   p[j] = Σ (double)w[i] · h[i] over i ≡ j (mod 16), in element order, from +0     (16 partial sums)
///   q[j] = p[j] + p[j + 8]                                                          (j < 8)
///   dot  = ((q0 + q4) + (q2 + q6)) + ((q1 + q5) + (q3 + q7))
///   sums[r] += row_factors ? row_factors[r] · dot : dot
/// That is Σ W·cf·x·rf in double in a fixed order that vectorizes without transposing rows (a different order
/// than a sequential sum, so the last bits of a sum can differ from it; folded biases are rounded to float after).
/// No FMA contraction: every variant (whatever its vector width) gives the same bits as this definition.
void mcc_weighted_row_sums(const float *w, ptrdiff_t rows, ptrdiff_t columns, ptrdiff_t k, ptrdiff_t rows_per_group,
                           ptrdiff_t columns_per_group, const double *row_factors, const double *column_factors,
                           const double *x, double *sums);

/// Batch normalization as a per-channel affine map: for i < n, with d = sqrt((double)variance[i] + epsilon),
///   a[i] = (double)scale[i] / d,   b[i] = (double)bias[i] - (double)mean[i] * a[i]
/// (each step one IEEE operation, no FMA contraction: the same bits in every variant as the scalar definition).
/// Returns 1 when every d is positive and finite, else 0 (a and b are written either way).
int mcc_batch_norm_affine(const float *scale, const float *bias, const float *mean, const float *variance,
                          double epsilon, ptrdiff_t n, double *a, double *b);

#ifdef __cplusplus
}
#endif

#endif
