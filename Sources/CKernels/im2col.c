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

/// One im2col row when the output grid has the input's row length and unit strides (ow == w, sh == sw == 1: "same"
/// width padding, or kw == 1 unpadded): output position pos then reads input element pos + shift of the plane, so
/// the whole range is one copy, after which the positions in the padding (rows outside the image, columns outside
/// [ow_lo, ow_hi)) are zeroed. oww_embedding's 1×3/3×1 convs on 2- to 32-wide maps spent ~45% of their time in
/// the per-output-row path below (a few floats per call). Writes exactly what that path writes.
INLINE void im2col_row_contiguous(const float *plane, ptrdiff_t h, ptrdiff_t w, ptrdiff_t row_offset,
                                  ptrdiff_t col_offset, ptrdiff_t ow_lo, ptrdiff_t ow_hi, ptrdiff_t start,
                                  ptrdiff_t count, float *out) {
    ptrdiff_t end = start + count, shift = row_offset * w + col_offset;
    // Positions whose input row is in the image, and whose linear input index is inside the plane.
    ptrdiff_t lo = -row_offset * w, hi = (h - row_offset) * w;
    if (lo < -shift) lo = -shift;
    if (hi > h * w - shift) hi = h * w - shift;
    if (lo < start) lo = start;
    if (hi > end) hi = end;
    if (hi < lo) hi = lo;
    if (lo >= end || hi <= start) {
        zero_row(out, count);
        return;
    }
    zero_row(out, lo - start);
    copy_row(out + (lo - start), plane + lo + shift, hi - lo);
    zero_row(out + (hi - start), end - hi);
    if (ow_lo == 0 && ow_hi == w) return;
    // Columns in the left/right padding of the rows just copied read a neighbouring row's pixels: zero them.
    for (ptrdiff_t row = lo / w * w; row < hi; row += w) {
        for (ptrdiff_t ox = 0; ox < ow_lo; ox++) {
            ptrdiff_t pos = row + ox;
            if (pos >= lo && pos < hi) out[pos - start] = 0;
        }
        for (ptrdiff_t ox = ow_hi; ox < w; ox++) {
            ptrdiff_t pos = row + ox;
            if (pos >= lo && pos < hi) out[pos - start] = 0;
        }
    }
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
        if (sh == 1 && sw == 1 && ow == w) {
            im2col_row_contiguous(plane, h, w, i * dh - pad_top, col_offset, ow_lo, ow_hi, start, count, out);
            continue;
        }
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
