// Weight rescaling (see include/CKernelsScale.h), in the variants of kernels.c chosen by `mcc_isa()`.
#include "CKernels.h"
#include "CKernelsScale.h"

#include <stdlib.h>

// Each element is a product and a rounding, never a sum: keep the compiler from fusing anything.
#pragma clang fp contract(off)
#pragma clang diagnostic ignored "-Wpsabi"

#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
#define AVX2_TARGET __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

INLINE void scale_impl(const float *restrict x, float *restrict y, ptrdiff_t n, double f) {
    for (ptrdiff_t i = 0; i < n; i++) y[i] = (float)((double)x[i] * f);
}

INLINE void scale_each_impl(const float *restrict x, const double *restrict f, float *restrict y, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) y[i] = (float)((double)x[i] * f[i]);
}

/// Rows of (column, tap) elements, each element times its row's and column's factor (see CKernelsScale.h).
INLINE void scale_rows_impl(const float *restrict x, float *restrict y, ptrdiff_t rows, ptrdiff_t columns, ptrdiff_t k,
                            ptrdiff_t rows_per_group, ptrdiff_t columns_per_group, const double *row_factors,
                            const double *column_factors) {
    const ptrdiff_t row_length = columns * k;
    for (ptrdiff_t r = 0; r < rows; r++) {
        const double rf = row_factors ? row_factors[r] : 1.0;
        const float *restrict p = x + r * row_length;
        float *restrict q = y + r * row_length;
        if (!column_factors) {
            scale_impl(p, q, row_length, rf);
            continue;
        }
        const double *cf = column_factors + (r / rows_per_group) * columns_per_group;
        if (k == 1) {
            for (ptrdiff_t c = 0; c < columns; c++) q[c] = (float)((double)p[c] * (cf[c] * rf));
            continue;
        }
        for (ptrdiff_t c = 0; c < columns; c++, p += k, q += k) {
            const double g = cf[c] * rf;
            for (ptrdiff_t e = 0; e < k; e++) q[e] = (float)((double)p[e] * g);
        }
    }
}

/// scale_rows_impl over one buffer (one pointer, so no aliasing for the vectorizer to doubt).
INLINE void scale_rows_in_place_impl(float *restrict w, ptrdiff_t rows, ptrdiff_t columns, ptrdiff_t k,
                                     ptrdiff_t rows_per_group, ptrdiff_t columns_per_group, const double *row_factors,
                                     const double *column_factors) {
    const ptrdiff_t row_length = columns * k;
    for (ptrdiff_t r = 0; r < rows; r++) {
        const double rf = row_factors ? row_factors[r] : 1.0;
        float *restrict q = w + r * row_length;
        if (!column_factors) {
            for (ptrdiff_t i = 0; i < row_length; i++) q[i] = (float)((double)q[i] * rf);
            continue;
        }
        const double *cf = column_factors + (r / rows_per_group) * columns_per_group;
        if (k == 1) {
            for (ptrdiff_t c = 0; c < columns; c++) q[c] = (float)((double)q[c] * (cf[c] * rf));
            continue;
        }
        for (ptrdiff_t c = 0; c < columns; c++, q += k) {
            const double g = cf[c] * rf;
            for (ptrdiff_t e = 0; e < k; e++) q[e] = (float)((double)q[e] * g);
        }
    }
}

AVX512_TARGET static void scale_avx512(const float *x, float *y, ptrdiff_t n, double f) { scale_impl(x, y, n, f); }
AVX2_TARGET static void scale_avx2(const float *x, float *y, ptrdiff_t n, double f) { scale_impl(x, y, n, f); }
static void scale_baseline(const float *x, float *y, ptrdiff_t n, double f) { scale_impl(x, y, n, f); }

AVX512_TARGET static void scale_each_avx512(const float *x, const double *f, float *y, ptrdiff_t n) {
    scale_each_impl(x, f, y, n);
}
AVX2_TARGET static void scale_each_avx2(const float *x, const double *f, float *y, ptrdiff_t n) {
    scale_each_impl(x, f, y, n);
}
static void scale_each_baseline(const float *x, const double *f, float *y, ptrdiff_t n) { scale_each_impl(x, f, y, n); }

#define SCALE_ROWS_PARAMS                                                                                            \
    (const float *x, float *y, ptrdiff_t rows, ptrdiff_t columns, ptrdiff_t k, ptrdiff_t rows_per_group,             \
     ptrdiff_t columns_per_group, const double *row_factors, const double *column_factors)
#define SCALE_ROWS_ARGS (x, y, rows, columns, k, rows_per_group, columns_per_group, row_factors, column_factors)
AVX512_TARGET static void scale_rows_avx512 SCALE_ROWS_PARAMS { scale_rows_impl SCALE_ROWS_ARGS; }
AVX2_TARGET static void scale_rows_avx2 SCALE_ROWS_PARAMS { scale_rows_impl SCALE_ROWS_ARGS; }
static void scale_rows_baseline SCALE_ROWS_PARAMS { scale_rows_impl SCALE_ROWS_ARGS; }

void mcc_scale_rows SCALE_ROWS_PARAMS {
    switch (mcc_isa()) {
    case MCC_ISA_AVX512: scale_rows_avx512 SCALE_ROWS_ARGS; break;
    case MCC_ISA_AVX2: scale_rows_avx2 SCALE_ROWS_ARGS; break;
    default: scale_rows_baseline SCALE_ROWS_ARGS; break;
    }
}

#define SCALE_IN_PLACE_PARAMS                                                                                        \
    (float *w, ptrdiff_t rows, ptrdiff_t columns, ptrdiff_t k, ptrdiff_t rows_per_group, ptrdiff_t columns_per_group, \
     const double *row_factors, const double *column_factors)
#define SCALE_IN_PLACE_ARGS (w, rows, columns, k, rows_per_group, columns_per_group, row_factors, column_factors)
AVX512_TARGET static void scale_in_place_avx512 SCALE_IN_PLACE_PARAMS { scale_rows_in_place_impl SCALE_IN_PLACE_ARGS; }
AVX2_TARGET static void scale_in_place_avx2 SCALE_IN_PLACE_PARAMS { scale_rows_in_place_impl SCALE_IN_PLACE_ARGS; }
static void scale_in_place_baseline SCALE_IN_PLACE_PARAMS { scale_rows_in_place_impl SCALE_IN_PLACE_ARGS; }

void mcc_scale_rows_in_place SCALE_IN_PLACE_PARAMS {
    switch (mcc_isa()) {
    case MCC_ISA_AVX512: scale_in_place_avx512 SCALE_IN_PLACE_ARGS; break;
    case MCC_ISA_AVX2: scale_in_place_avx2 SCALE_IN_PLACE_ARGS; break;
    default: scale_in_place_baseline SCALE_IN_PLACE_ARGS; break;
    }
}

void mcc_scale_float_by_double(const float *x, float *y, ptrdiff_t n, double f) {
    switch (mcc_isa()) {
    case MCC_ISA_AVX512: scale_avx512(x, y, n, f); break;
    case MCC_ISA_AVX2: scale_avx2(x, y, n, f); break;
    default: scale_baseline(x, y, n, f); break;
    }
}

void mcc_scale_float_by_doubles(const float *x, const double *f, float *y, ptrdiff_t n) {
    switch (mcc_isa()) {
    case MCC_ISA_AVX512: scale_each_avx512(x, f, y, n); break;
    case MCC_ISA_AVX2: scale_each_avx2(x, f, y, n); break;
    default: scale_each_baseline(x, f, y, n); break;
    }
}

// MARK: weighted row sums

typedef double v8d __attribute__((vector_size(64), aligned(8)));
typedef double v4d __attribute__((vector_size(32), aligned(8)));
typedef double v2d __attribute__((vector_size(16), aligned(8)));
typedef float v8f __attribute__((vector_size(32), aligned(4)));

#define ROW_SUMS_PARAMS                                                                                              \
    (const float *w, ptrdiff_t rows, ptrdiff_t columns, ptrdiff_t k, ptrdiff_t rows_per_group,                       \
     ptrdiff_t columns_per_group, const double *row_factors, const double *column_factors, const double *x,          \
     double *sums)
#define ROW_SUMS_ARGS (w, rows, columns, k, rows_per_group, columns_per_group, row_factors, column_factors, x, sums)

/// The multiplier of element i of a row whose columns start at channel `base`: h = x·cf of its column's channel.
INLINE double row_multiplier(ptrdiff_t base, ptrdiff_t i, ptrdiff_t k, const double *column_factors, const double *x) {
    const ptrdiff_t channel = base + i / k;
    return column_factors ? x[channel] * column_factors[channel] : x[channel];
}

/// The end of a row's dot product from its partial sums after the blocks of sixteen (element i of the row at
/// position i ≥ `i` still to add): eight more as one vector, the last few one by one, then the fixed reduction.
INLINE double row_finish(v8d lo, v8d hi, const float *w, const double *h, ptrdiff_t i, ptrdiff_t n) {
    // Eight more elements go to partials 0–7 as one vector; the last few one by one.
    if (i + 8 <= n) {
        lo += __builtin_convertvector(*(const v8f *)(w + i), v8d) * *(const v8d *)(h + i);
        i += 8;
    }
    if (i < n) {
        double p[16];
        *(v8d *)p = lo;
        *(v8d *)(p + 8) = hi;
        for (; i < n; i++) p[i & 15] += (double)w[i] * h[i];
        lo = *(const v8d *)p;
        hi = *(const v8d *)(p + 8);
    }
    // q = lo + hi; ((q0 + q4) + (q2 + q6)) + ((q1 + q5) + (q3 + q7)) as halves: a = q[0..3] + q[4..7], then
    // (a0 + a2) + (a1 + a3).
    const v8d q = lo + hi;
    const v4d a = __builtin_shufflevector(q, q, 0, 1, 2, 3) + __builtin_shufflevector(q, q, 4, 5, 6, 7);
    const v2d b = __builtin_shufflevector(a, a, 0, 1) + __builtin_shufflevector(a, a, 2, 3);
    return b[0] + b[1];
}

/// Σ (double)w[i]·h[i] over one row as the header defines it: 16 partial sums (element i into partial i mod 16, in
/// element order), lanes 0–7 and 8–15 added pairwise, then the fixed tree. Every variant does these per-lane steps
/// (contraction is off), so the bits do not depend on the vector width.
INLINE double row_dot(const float *w, const double *h, ptrdiff_t n) {
    v8d lo = {0, 0, 0, 0, 0, 0, 0, 0}, hi = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t i = 0;
    for (; i + 16 <= n; i += 16) {
        lo += __builtin_convertvector(*(const v8f *)(w + i), v8d) * *(const v8d *)(h + i);
        hi += __builtin_convertvector(*(const v8f *)(w + i + 8), v8d) * *(const v8d *)(h + i + 8);
    }
    return row_finish(lo, hi, w, h, i, n);
}

/// row_dot of two rows with the same multipliers in one pass (each row's steps unchanged; the multipliers are
/// loaded once for both, and the loop runs once for two rows).
INLINE void row_dot2(const float *w0, const float *w1, const double *h, ptrdiff_t n, double *dot0, double *dot1) {
    v8d lo0 = {0, 0, 0, 0, 0, 0, 0, 0}, hi0 = lo0, lo1 = lo0, hi1 = lo0;
    ptrdiff_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const v8d h0 = *(const v8d *)(h + i), h1 = *(const v8d *)(h + i + 8);
        lo0 += __builtin_convertvector(*(const v8f *)(w0 + i), v8d) * h0;
        hi0 += __builtin_convertvector(*(const v8f *)(w0 + i + 8), v8d) * h1;
        lo1 += __builtin_convertvector(*(const v8f *)(w1 + i), v8d) * h0;
        hi1 += __builtin_convertvector(*(const v8f *)(w1 + i + 8), v8d) * h1;
    }
    *dot0 = row_finish(lo0, hi0, w0, h, i, n);
    *dot1 = row_finish(lo1, hi1, w1, h, i, n);
}

/// row_dot without the multiplier buffer (when it cannot be allocated): the same partial sums element by element.
INLINE double row_dot_direct(const float *w, ptrdiff_t n, ptrdiff_t base, ptrdiff_t k, const double *column_factors,
                             const double *x) {
    double p[16] = {0};
    for (ptrdiff_t i = 0; i < n; i++) p[i % 16] += (double)w[i] * row_multiplier(base, i, k, column_factors, x);
    double q[8];
    for (int j = 0; j < 8; j++) q[j] = p[j] + p[j + 8];
    return ((q[0] + q[4]) + (q[2] + q[6])) + ((q[1] + q[5]) + (q[3] + q[7]));
}

INLINE void row_sums_impl ROW_SUMS_PARAMS {
    const ptrdiff_t row_length = columns * k;
    // The multipliers of the current group's rows (rebuilt when the group changes: once for ungrouped layers).
    double *h = malloc((size_t)row_length * sizeof(double) + 1);
    ptrdiff_t built = -1, base = 0, in_group = 0;
    for (ptrdiff_t r = 0; r < rows;) {
        const float *row = w + r * row_length;
        // Rows handled in this step: two when the next row is in the same group (same multipliers).
        ptrdiff_t step = 1;
        if (h) {
            if (base != built) {
                for (ptrdiff_t c = 0; c < columns; c++) {
                    const double hc = row_multiplier(base, c * k, k, column_factors, x);
                    for (ptrdiff_t e = 0; e < k; e++) h[c * k + e] = hc;
                }
                built = base;
            }
            if (r + 1 < rows && in_group + 1 < rows_per_group) {
                double dot0, dot1;
                row_dot2(row, row + row_length, h, row_length, &dot0, &dot1);
                sums[r] += row_factors ? row_factors[r] * dot0 : dot0;
                sums[r + 1] += row_factors ? row_factors[r + 1] * dot1 : dot1;
                step = 2;
            } else {
                const double dot = row_dot(row, h, row_length);
                sums[r] += row_factors ? row_factors[r] * dot : dot;
            }
        } else {
            const double dot = row_dot_direct(row, row_length, base, k, column_factors, x);
            sums[r] += row_factors ? row_factors[r] * dot : dot;
        }
        r += step;
        // base = (r / rows_per_group) * columns_per_group for the next row, without a division per row.
        in_group += step;
        if (in_group == rows_per_group) {
            in_group = 0;
            base += columns_per_group;
        }
    }
    free(h);
}

AVX512_TARGET static void row_sums_avx512 ROW_SUMS_PARAMS { row_sums_impl ROW_SUMS_ARGS; }
AVX2_TARGET static void row_sums_avx2 ROW_SUMS_PARAMS { row_sums_impl ROW_SUMS_ARGS; }
static void row_sums_baseline ROW_SUMS_PARAMS { row_sums_impl ROW_SUMS_ARGS; }

void mcc_weighted_row_sums ROW_SUMS_PARAMS {
    switch (mcc_isa()) {
    case MCC_ISA_AVX512: row_sums_avx512 ROW_SUMS_ARGS; break;
    case MCC_ISA_AVX2: row_sums_avx2 ROW_SUMS_ARGS; break;
    default: row_sums_baseline ROW_SUMS_ARGS; break;
    }
}

// MARK: batch-norm affine

#define BN_AFFINE_PARAMS                                                                                             \
    (const float *scale, const float *bias, const float *mean, const float *variance, double epsilon, ptrdiff_t n,   \
     double *a, double *b)
#define BN_AFFINE_ARGS (scale, bias, mean, variance, epsilon, n, a, b)
/// One channel per iteration without branches (so it vectorizes): an element-wise square root (no errno path), the
/// validity of every denominator folded into one flag. d ≤ DBL_MAX is false for +inf and NaN, d > 0 for 0 and NaN.
INLINE int bn_affine_impl BN_AFFINE_PARAMS {
    int valid = 1;
    for (ptrdiff_t i = 0; i < n; i++) {
        const double d = __builtin_elementwise_sqrt((double)variance[i] + epsilon);
        valid &= (d > 0) & (d <= __DBL_MAX__);
        const double s = (double)scale[i] / d;
        a[i] = s;
        b[i] = (double)bias[i] - (double)mean[i] * s;
    }
    return valid;
}
AVX512_TARGET static int bn_affine_avx512 BN_AFFINE_PARAMS { return bn_affine_impl BN_AFFINE_ARGS; }
AVX2_TARGET static int bn_affine_avx2 BN_AFFINE_PARAMS { return bn_affine_impl BN_AFFINE_ARGS; }
static int bn_affine_baseline BN_AFFINE_PARAMS { return bn_affine_impl BN_AFFINE_ARGS; }
int mcc_batch_norm_affine BN_AFFINE_PARAMS {
    switch (mcc_isa()) {
    case MCC_ISA_AVX512: return bn_affine_avx512 BN_AFFINE_ARGS;
    case MCC_ISA_AVX2: return bn_affine_avx2 BN_AFFINE_ARGS;
    default: return bn_affine_baseline BN_AFFINE_ARGS;
    }
}
