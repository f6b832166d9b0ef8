// im2col for the GEMM convolution path, in the same three variants as kernels.c (see include/CKernels.h).
#include "CKernels.h"

#include <stdint.h>
#include <string.h>

#pragma clang diagnostic ignored "-Wpsabi"

typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef float v8 __attribute__((vector_size(32), aligned(4)));

#define INLINE static inline __attribute__((always_inline))

/// d[t] = s[t] for t < n: vectors of 16 and 8, then single floats (segments are one output row, often < 64).
INLINE void copy_row(float *d, const float *s, ptrdiff_t n) {
    ptrdiff_t t = 0;
    for (; t + 16 <= n; t += 16) *(v16 *)(d + t) = *(const v16 *)(s + t);
    if (t + 8 <= n) {
        *(v8 *)(d + t) = *(const v8 *)(s + t);
        t += 8;
    }
    for (; t < n; t++) d[t] = s[t];
}

INLINE void zero_row(float *d, ptrdiff_t n) {
    ptrdiff_t t = 0;
    for (; t + 16 <= n; t += 16) *(v16 *)(d + t) = (v16){0};
    for (; t < n; t++) d[t] = 0;
}

/// d[t] = s[2t] for t < n; vector loads stay within the `readable` floats from s.
INLINE void gather_even(float *d, const float *s, ptrdiff_t n, ptrdiff_t readable) {
    ptrdiff_t t = 0;
    for (; t + 16 <= n && 2 * (t + 16) <= readable; t += 16) {
        v16 lo = *(const v16 *)(s + 2 * t), hi = *(const v16 *)(s + 2 * t + 16);
        *(v16 *)(d + t) = __builtin_shufflevector(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    }
    for (; t < n; t++) d[t] = s[2 * t];
}

/// First and one-past-last output column whose input column o*stride + offset lies in [0, size), within [0, count).
INLINE void valid_range(ptrdiff_t offset, ptrdiff_t stride, ptrdiff_t size, ptrdiff_t count, ptrdiff_t *lo_out,
                        ptrdiff_t *hi_out) {
    ptrdiff_t lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    ptrdiff_t last = size - 1 - offset;
    ptrdiff_t hi = last < 0 ? 0 : last / stride + 1;
    if (lo > count) lo = count;
    if (hi > count) hi = count;
    if (hi < lo) hi = lo;
    *lo_out = lo;
    *hi_out = hi;
}

INLINE void im2col_impl(const float *x, ptrdiff_t h, ptrdiff_t w, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh,
                        ptrdiff_t sw, ptrdiff_t dh, ptrdiff_t dw, ptrdiff_t pad_top, ptrdiff_t pad_left, ptrdiff_t ow,
                        ptrdiff_t row_begin, ptrdiff_t row_end, ptrdiff_t start, ptrdiff_t count, float *columns) {
    for (ptrdiff_t r = row_begin; r < row_end; r++) {
        ptrdiff_t c = r / (kh * kw), i = (r / kw) % kh, j = r % kw;
        const float *plane = x + c * h * w;
        ptrdiff_t col_offset = j * dw - pad_left;
        ptrdiff_t ow_lo, ow_hi;
        valid_range(col_offset, sw, w, ow, &ow_lo, &ow_hi);
        float *out = columns + r * count;
        ptrdiff_t pos = start, end = start + count;
        ptrdiff_t oy = pos / ow, ox0 = pos - oy * ow;
        while (pos < end) {
            ptrdiff_t ox1 = ox0 + (end - pos) < ow ? ox0 + (end - pos) : ow;
            ptrdiff_t iy = oy * sh - pad_top + i * dh;
            // Columns [a, b) of this output row read the input; the rest is padding.
            ptrdiff_t a = ox1, b = ox1;
            if (iy >= 0 && iy < h) {
                a = ox0 > ow_lo ? ox0 : ow_lo;
                if (a > ox1) a = ox1;
                b = ox1 < ow_hi ? ox1 : ow_hi;
                if (b < a) b = a;
            }
            zero_row(out, a - ox0);
            if (a < b) {
                float *d = out + (a - ox0);
                const float *s = plane + iy * w + a * sw + col_offset;
                if (sw == 1) copy_row(d, s, b - a);
                else if (sw == 2) gather_even(d, s, b - a, w - (a * sw + col_offset));
                else for (ptrdiff_t t = 0; t < b - a; t++) d[t] = s[t * sw];
            }
            zero_row(out + (b - ox0), ox1 - b);
            out += ox1 - ox0;
            pos += ox1 - ox0;
            oy += 1;
            ox0 = 0;
        }
    }
}

#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
#define AVX2_TARGET __attribute__((target("avx2,fma")))
#define IM2COL_PARAMS                                                                                                \
    (const float *x, ptrdiff_t h, ptrdiff_t w, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t dh,  \
     ptrdiff_t dw, ptrdiff_t pad_top, ptrdiff_t pad_left, ptrdiff_t ow, ptrdiff_t row_begin, ptrdiff_t row_end,       \
     ptrdiff_t start, ptrdiff_t count, float *columns)
#define IM2COL_ARGS (x, h, w, kh, kw, sh, sw, dh, dw, pad_top, pad_left, ow, row_begin, row_end, start, count, columns)

AVX512_TARGET static void im2col_avx512 IM2COL_PARAMS { im2col_impl IM2COL_ARGS; }
AVX2_TARGET static void im2col_avx2 IM2COL_PARAMS { im2col_impl IM2COL_ARGS; }
static void im2col_baseline IM2COL_PARAMS { im2col_impl IM2COL_ARGS; }

void mcc_im2col IM2COL_PARAMS {
    switch (mcc_isa()) {
    case MCC_ISA_AVX512: im2col_avx512 IM2COL_ARGS; break;
    case MCC_ISA_AVX2: im2col_avx2 IM2COL_ARGS; break;
    default: im2col_baseline IM2COL_ARGS; break;
    }
}
