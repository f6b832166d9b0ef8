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
/// columns_per_group. For every row, in column order:
///   g = column_factors ? column_factors[base + c] * rf : rf        (rf = row_factors ? row_factors[r] : 1)
///   k == 1: sums[r] += ((double)w · g) · x[base + c]
///   k > 1:  s = +0; s += (double)w[e] · g for e in tap order; sums[r] += s · x[base + c]
/// Rows are independent chains, so the variants run several rows as vector lanes, each lane doing exactly these
/// steps (no FMA contraction, no reassociation): every variant gives the same bits as the scalar definition.
void mcc_weighted_row_sums(const float *w, ptrdiff_t rows, ptrdiff_t columns, ptrdiff_t k, ptrdiff_t rows_per_group,
                           ptrdiff_t columns_per_group, const double *row_factors, const double *column_factors,
                           const double *x, double *sums);

#ifdef __cplusplus
}
#endif

#endif
