// Undilated 2-D max pooling (see mcc_max_pool in include/CKernels.h), compiled as baseline, AVX2 and AVX-512
// variants like kernels.c. Separable: per output row the lane-wise maximum of the window's in-image input rows,
// then per output column the maximum over its in-image taps of that row. Comparisons only (no arithmetic), so
// every variant gives bit-identical results.
#include "CKernels.h"
#include "vector16.h"
#include "CKernelsPool.h"

#include <float.h>
#include <stdint.h>

#pragma clang diagnostic ignored "-Wpsabi"

/// b > a ? b : a lane by lane: the Swift kernels' rule (a NaN in `b` never wins, a NaN in `a` stays).
INLINE v16 vmax(v16 a, v16 b) {
    i16 m = b > a;
    return (v16)((m & (i16)b) | (~m & (i16)a));
}
INLINE float smax(float a, float b) { return b > a ? b : a; }

/// One output row from the row maximum `row` (w valid floats, readable up to w + 2*LANES*sw + kw for the vector
/// loop's over-read, which only feeds discarded lanes).
INLINE void column_pass(const float *row, ptrdiff_t w, ptrdiff_t kw, ptrdiff_t sw, ptrdiff_t pad_left, ptrdiff_t ow,
                        float *out) {
    // Interior columns: the whole window lies inside [0, w).
    ptrdiff_t first = (pad_left + sw - 1) / sw;  // smallest ox with ox*sw - pad_left >= 0
    ptrdiff_t last = w - kw + pad_left;          // ox*sw <= last  ->  window end <= w
    ptrdiff_t end = last < 0 ? first : last / sw + 1;
    if (end > ow) end = ow;
    if (first > end) first = end;
    for (ptrdiff_t ox = 0; ox < first; ox++) {
        ptrdiff_t left = ox * sw - pad_left, a = left < 0 ? 0 : left, b = left + kw < w ? left + kw : w;
        float m = -FLT_MAX;
        for (ptrdiff_t c = a; c < b; c++) m = smax(m, row[c]);
        out[ox] = m;
    }
    ptrdiff_t ox = first;
    for (; ox + LANES <= end; ox += LANES) {
        const float *base = row + ox * sw - pad_left;
        v16 m = load_strided(base, sw);
        for (ptrdiff_t j = 1; j < kw; j++) m = vmax(m, load_strided(base + j, sw));
        store(out + ox, m);
    }
    for (; ox < ow; ox++) {
        ptrdiff_t left = ox * sw - pad_left, a = left < 0 ? 0 : left, b = left + kw < w ? left + kw : w;
        float m = -FLT_MAX;
        for (ptrdiff_t c = a; c < b; c++) m = smax(m, row[c]);
        out[ox] = m;
    }
}

INLINE void max_pool_impl(const float *x, ptrdiff_t planes, ptrdiff_t h, ptrdiff_t w, ptrdiff_t oh, ptrdiff_t ow,
                          ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t pad_top,
                          ptrdiff_t pad_left, float *y, float *row) {
    for (ptrdiff_t plane = 0; plane < planes; plane++) {
        const float *src = x + plane * h * w;
        float *dst = y + plane * oh * ow;
        for (ptrdiff_t oy = 0; oy < oh; oy++) {
            ptrdiff_t top = oy * sh - pad_top;
            ptrdiff_t lo = top < 0 ? 0 : top, hi = top + kh < h ? top + kh : h;
            float *out = dst + oy * ow;
            if (lo >= hi || w <= 0) {
                for (ptrdiff_t i = 0; i < ow; i++) out[i] = -FLT_MAX;
                continue;
            }
            const float *r0 = src + lo * w;
            ptrdiff_t i = 0;
            for (; i + LANES <= w; i += LANES) {
                v16 m = load(r0 + i);
                for (ptrdiff_t r = lo + 1; r < hi; r++) m = vmax(m, load(src + r * w + i));
                store(row + i, m);
            }
            for (; i < w; i++) {
                float m = r0[i];
                for (ptrdiff_t r = lo + 1; r < hi; r++) m = smax(m, src[r * w + i]);
                row[i] = m;
            }
            column_pass(row, w, kw, sw, pad_left, ow, out);
        }
    }
}

/// Literal sizes for the common windows (2×2/2, 3×3/2, 1×2 stride (1, 2), 3×3/1) so the loops unroll.
INLINE void max_pool_dispatch(const float *x, ptrdiff_t planes, ptrdiff_t h, ptrdiff_t w, ptrdiff_t oh,
                              ptrdiff_t ow, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t pad_top,
                              ptrdiff_t pad_left, float *y, float *row) {
    if (kw == 2 && sw == 2) max_pool_impl(x, planes, h, w, oh, ow, kh, 2, sh, 2, pad_top, pad_left, y, row);
    else if (kw == 3 && sw == 2) max_pool_impl(x, planes, h, w, oh, ow, kh, 3, sh, 2, pad_top, pad_left, y, row);
    else if (kw == 3 && sw == 1) max_pool_impl(x, planes, h, w, oh, ow, kh, 3, sh, 1, pad_top, pad_left, y, row);
    else max_pool_impl(x, planes, h, w, oh, ow, kh, kw, sh, sw, pad_top, pad_left, y, row);
}

#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
#define AVX2_TARGET __attribute__((target("avx2,fma")))
#define PARAMS                                                                                                        \
    (const float *x, ptrdiff_t planes, ptrdiff_t h, ptrdiff_t w, ptrdiff_t oh, ptrdiff_t ow, ptrdiff_t kh,           \
     ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t pad_top, ptrdiff_t pad_left, float *y, float *row)
#define ARGS (x, planes, h, w, oh, ow, kh, kw, sh, sw, pad_top, pad_left, y, row)

AVX512_TARGET static void max_pool_avx512 PARAMS { max_pool_dispatch ARGS; }
AVX2_TARGET static void max_pool_avx2 PARAMS { max_pool_dispatch ARGS; }
static void max_pool_baseline PARAMS { max_pool_dispatch ARGS; }

void mcc_max_pool(const float *x, ptrdiff_t planes, ptrdiff_t h, ptrdiff_t w, ptrdiff_t oh, ptrdiff_t ow,
                  ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t pad_top, ptrdiff_t pad_left,
                  float *y, float *row) {
    if (planes <= 0 || oh <= 0 || ow <= 0) return;
    switch (mcc_isa()) {
    case MCC_ISA_AVX512: max_pool_avx512 ARGS; break;
    case MCC_ISA_AVX2: max_pool_avx2 ARGS; break;
    default: max_pool_baseline ARGS; break;
    }
}
