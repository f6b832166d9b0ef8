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

typedef double v4d __attribute__((vector_size(32), aligned(8)));
typedef float v4f __attribute__((vector_size(16), aligned(4)));

#define ROW_SUMS_PARAMS                                                                                              \
    (const float *w, ptrdiff_t rows, ptrdiff_t columns, ptrdiff_t k, ptrdiff_t rows_per_group,                       \
     ptrdiff_t columns_per_group, const double *row_factors, const double *column_factors, const double *x,          \
     double *sums)
#define ROW_SUMS_ARGS (w, rows, columns, k, rows_per_group, columns_per_group, row_factors, column_factors, x, sums)

/// One row, the scalar definition (also the tail after the blocks of four rows).
INLINE void row_sum_scalar(const float *w, ptrdiff_t r, ptrdiff_t columns, ptrdiff_t k, ptrdiff_t base,
                           const double *row_factors, const double *column_factors, const double *x, double *sums) {
    const double rf = row_factors ? row_factors[r] : 1.0;
    const float *p = w + r * columns * k;
    double total = sums[r];
    for (ptrdiff_t c = 0; c < columns; c++, p += k) {
        const double g = column_factors ? column_factors[base + c] * rf : rf;
        if (k == 1) {
            total += ((double)p[0] * g) * x[base + c];
        } else {
            double s = 0.0;
            for (ptrdiff_t e = 0; e < k; e++) s += (double)p[e] * g;
            total += s * x[base + c];
        }
    }
    sums[r] = total;
}

/// Rows [r, r + 4) of one group. The block is first transposed into `lanes` (element t of row r + j at
/// lanes[4t + j], exact float→double conversions, four consecutive elements of each row per step through in-register
/// shuffles), so the arithmetic then reads one vector per element position with no per-lane gathering.
INLINE void row_block_same_base(const float *w, ptrdiff_t r, ptrdiff_t columns, ptrdiff_t k, ptrdiff_t base,
                                const double *row_factors, const double *column_factors, const double *x,
                                double *sums, v4d *lanes) {
    const ptrdiff_t row_length = columns * k;
    const float *p0 = w + r * row_length, *p1 = p0 + row_length, *p2 = p1 + row_length, *p3 = p2 + row_length;
    ptrdiff_t t = 0;
    for (; t + 4 <= row_length; t += 4) {
        const v4d a0 = __builtin_convertvector(*(const v4f *)(p0 + t), v4d);
        const v4d a1 = __builtin_convertvector(*(const v4f *)(p1 + t), v4d);
        const v4d a2 = __builtin_convertvector(*(const v4f *)(p2 + t), v4d);
        const v4d a3 = __builtin_convertvector(*(const v4f *)(p3 + t), v4d);
        const v4d t0 = __builtin_shufflevector(a0, a1, 0, 4, 2, 6), t1 = __builtin_shufflevector(a0, a1, 1, 5, 3, 7);
        const v4d t2 = __builtin_shufflevector(a2, a3, 0, 4, 2, 6), t3 = __builtin_shufflevector(a2, a3, 1, 5, 3, 7);
        lanes[t] = __builtin_shufflevector(t0, t2, 0, 1, 4, 5);
        lanes[t + 1] = __builtin_shufflevector(t1, t3, 0, 1, 4, 5);
        lanes[t + 2] = __builtin_shufflevector(t0, t2, 2, 3, 6, 7);
        lanes[t + 3] = __builtin_shufflevector(t1, t3, 2, 3, 6, 7);
    }
    for (; t < row_length; t++) lanes[t] = (v4d){(double)p0[t], (double)p1[t], (double)p2[t], (double)p3[t]};
    v4d rf, total;
    for (int j = 0; j < 4; j++) {
        rf[j] = row_factors ? row_factors[r + j] : 1.0;
        total[j] = sums[r + j];
    }
    const v4d *lane = lanes;
    for (ptrdiff_t c = 0; c < columns; c++) {
        const v4d g = column_factors ? column_factors[base + c] * rf : rf;
        const v4d xv = (v4d){0, 0, 0, 0} + x[base + c];
        if (k == 1) {
            total += (lane[0] * g) * xv;
            lane += 1;
        } else {
            v4d s = {0, 0, 0, 0};
            for (ptrdiff_t e = 0; e < k; e++) s += lane[e] * g;
            total += s * xv;
            lane += k;
        }
    }
    for (int j = 0; j < 4; j++) sums[r + j] = total[j];
}

/// Rows [r, r + 16) of one group: four blocks of four rows as in row_block_same_base, interleaved so that their
/// four running sums are independent chains (one block alone waits on the latency of each addition). Block b's
/// transposed elements go to lanes[4t + b]; every lane does the same steps as in row_block_same_base.
INLINE void row_block16_same_base(const float *w, ptrdiff_t r, ptrdiff_t columns, ptrdiff_t k, ptrdiff_t base,
                                  const double *row_factors, const double *column_factors, const double *x,
                                  double *sums, v4d *lanes) {
    const ptrdiff_t row_length = columns * k;
    for (int b = 0; b < 4; b++) {
        const float *p0 = w + (r + 4 * b) * row_length, *p1 = p0 + row_length, *p2 = p1 + row_length,
                    *p3 = p2 + row_length;
        v4d *out = lanes + b;
        ptrdiff_t t = 0;
        for (; t + 4 <= row_length; t += 4) {
            const v4d a0 = __builtin_convertvector(*(const v4f *)(p0 + t), v4d);
            const v4d a1 = __builtin_convertvector(*(const v4f *)(p1 + t), v4d);
            const v4d a2 = __builtin_convertvector(*(const v4f *)(p2 + t), v4d);
            const v4d a3 = __builtin_convertvector(*(const v4f *)(p3 + t), v4d);
            const v4d t0 = __builtin_shufflevector(a0, a1, 0, 4, 2, 6), t1 = __builtin_shufflevector(a0, a1, 1, 5, 3, 7);
            const v4d t2 = __builtin_shufflevector(a2, a3, 0, 4, 2, 6), t3 = __builtin_shufflevector(a2, a3, 1, 5, 3, 7);
            out[4 * t] = __builtin_shufflevector(t0, t2, 0, 1, 4, 5);
            out[4 * (t + 1)] = __builtin_shufflevector(t1, t3, 0, 1, 4, 5);
            out[4 * (t + 2)] = __builtin_shufflevector(t0, t2, 2, 3, 6, 7);
            out[4 * (t + 3)] = __builtin_shufflevector(t1, t3, 2, 3, 6, 7);
        }
        for (; t < row_length; t++) out[4 * t] = (v4d){(double)p0[t], (double)p1[t], (double)p2[t], (double)p3[t]};
    }
    v4d rf0, rf1, rf2, rf3, total0, total1, total2, total3;
    for (int j = 0; j < 4; j++) {
        rf0[j] = row_factors ? row_factors[r + j] : 1.0;
        rf1[j] = row_factors ? row_factors[r + 4 + j] : 1.0;
        rf2[j] = row_factors ? row_factors[r + 8 + j] : 1.0;
        rf3[j] = row_factors ? row_factors[r + 12 + j] : 1.0;
        total0[j] = sums[r + j];
        total1[j] = sums[r + 4 + j];
        total2[j] = sums[r + 8 + j];
        total3[j] = sums[r + 12 + j];
    }
    const v4d *lane = lanes;
    for (ptrdiff_t c = 0; c < columns; c++) {
        v4d g0 = rf0, g1 = rf1, g2 = rf2, g3 = rf3;
        if (column_factors) {
            const double cf = column_factors[base + c];
            g0 = cf * rf0;
            g1 = cf * rf1;
            g2 = cf * rf2;
            g3 = cf * rf3;
        }
        const v4d xv = (v4d){0, 0, 0, 0} + x[base + c];
        if (k == 1) {
            total0 += (lane[0] * g0) * xv;
            total1 += (lane[1] * g1) * xv;
            total2 += (lane[2] * g2) * xv;
            total3 += (lane[3] * g3) * xv;
            lane += 4;
        } else {
            v4d s0 = {0, 0, 0, 0}, s1 = {0, 0, 0, 0}, s2 = {0, 0, 0, 0}, s3 = {0, 0, 0, 0};
            for (ptrdiff_t e = 0; e < k; e++, lane += 4) {
                s0 += lane[0] * g0;
                s1 += lane[1] * g1;
                s2 += lane[2] * g2;
                s3 += lane[3] * g3;
            }
            total0 += s0 * xv;
            total1 += s1 * xv;
            total2 += s2 * xv;
            total3 += s3 * xv;
        }
    }
    for (int j = 0; j < 4; j++) {
        sums[r + j] = total0[j];
        sums[r + 4 + j] = total1[j];
        sums[r + 8 + j] = total2[j];
        sums[r + 12 + j] = total3[j];
    }
}

/// Rows [r, r + 4) whose bases differ (grouped and depthwise layouts): per-lane factors and inputs, elements
/// gathered per lane.
INLINE void row_block_mixed_base(const float *w, ptrdiff_t r, ptrdiff_t columns, ptrdiff_t k, ptrdiff_t rows_per_group,
                                 ptrdiff_t columns_per_group, const double *row_factors, const double *column_factors,
                                 const double *x, double *sums) {
    const ptrdiff_t row_length = columns * k;
    ptrdiff_t base[4];
    v4d rf, total;
    for (int j = 0; j < 4; j++) {
        base[j] = ((r + j) / rows_per_group) * columns_per_group;
        rf[j] = row_factors ? row_factors[r + j] : 1.0;
        total[j] = sums[r + j];
    }
    const float *p = w + r * row_length;
    for (ptrdiff_t c = 0; c < columns; c++, p += k) {
        v4d g = rf, xv;
        for (int j = 0; j < 4; j++) {
            if (column_factors) g[j] = column_factors[base[j] + c] * rf[j];
            xv[j] = x[base[j] + c];
        }
        if (k == 1) {
            const v4d wv = {(double)p[0], (double)p[row_length], (double)p[2 * row_length], (double)p[3 * row_length]};
            total += (wv * g) * xv;
        } else {
            v4d s = {0, 0, 0, 0};
            for (ptrdiff_t e = 0; e < k; e++) {
                const v4d wv = {(double)p[e], (double)p[row_length + e], (double)p[2 * row_length + e],
                                (double)p[3 * row_length + e]};
                s += wv * g;
            }
            total += s * xv;
        }
    }
    for (int j = 0; j < 4; j++) sums[r + j] = total[j];
}

INLINE void row_sums_impl ROW_SUMS_PARAMS {
    ptrdiff_t r = 0;
    // Scratch for one transposed block of four rows (NULL when the blocks mix groups or allocation fails: the
    // gathering path then does the same arithmetic).
    // Room for four blocks (row_block16_same_base) when 16 rows share a group.
    const int wide = rows >= 16 && rows_per_group >= 16;
    v4d *lanes = rows >= 4 && rows_per_group >= 4 ? malloc((size_t)(columns * k) * sizeof(v4d) * (wide ? 4 : 1) + 1)
                                                   : NULL;
    if (lanes && wide) {
        for (; r + 16 <= rows; r += 16) {
            const ptrdiff_t first = (r / rows_per_group) * columns_per_group;
            if (first != ((r + 15) / rows_per_group) * columns_per_group) break;
            row_block16_same_base(w, r, columns, k, first, row_factors, column_factors, x, sums, lanes);
        }
    }
    for (; r + 4 <= rows; r += 4) {
        const ptrdiff_t first = (r / rows_per_group) * columns_per_group;
        if (lanes && first == ((r + 3) / rows_per_group) * columns_per_group) {
            row_block_same_base(w, r, columns, k, first, row_factors, column_factors, x, sums, lanes);
        } else {
            row_block_mixed_base(w, r, columns, k, rows_per_group, columns_per_group, row_factors, column_factors, x,
                                 sums);
        }
    }
    for (; r < rows; r++)
        row_sum_scalar(w, r, columns, k, (r / rows_per_group) * columns_per_group, row_factors, column_factors, x, sums);
    free(lanes);
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
