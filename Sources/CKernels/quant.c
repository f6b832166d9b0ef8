// Calibration statistics and fake quantization (see include/CKernelsQuant.h), in the variants of kernels.c chosen
// by `mcc_isa()`. Written on the 16-lane vector type so every variant does the same operations in the same order.
#include "CKernels.h"
#include "CKernelsQuant.h"
#include "vector16.h"

// Results must not depend on the variant: no a*b+c contraction into FMA.
#pragma clang fp contract(off)

#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
#define AVX2_TARGET __attribute__((target("avx2,fma")))

INLINE v16 splat_q(float s) { return (v16){s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s}; }
INLINE v16 select_q(i16 mask, v16 a, v16 b) { return (v16)((mask & (i16)a) | (~mask & (i16)b)); }

INLINE void summary_impl(const float *restrict x, ptrdiff_t n, float *minimum, float *maximum, double *sum_squares) {
    v16 lo = splat_q(__builtin_inff()), hi = splat_q(-__builtin_inff());
    double total = 0;
    ptrdiff_t i = 0;
    while (i + LANES <= n) {
        v16 sq = splat_q(0);
        ptrdiff_t end = i + 4096 < n ? i + 4096 : n;
        while (i + LANES <= end) {
            v16 v = load(x + i);
            // NaN compares false and never replaces a bound.
            lo = select_q(v < lo, v, lo);
            hi = select_q(v > hi, v, hi);
            sq += v * v;
            i += LANES;
        }
        for (int j = 0; j < LANES; j++) total += (double)sq[j];
    }
    float mn = __builtin_inff(), mx = -__builtin_inff();
    for (int j = 0; j < LANES; j++) {
        if (lo[j] < mn) mn = lo[j];
        if (hi[j] > mx) mx = hi[j];
    }
    for (; i < n; i++) {
        float v = x[i];
        if (v < mn) mn = v;
        if (v > mx) mx = v;
        total += (double)(v * v);
    }
    *minimum = mn;
    *maximum = mx;
    *sum_squares = total;
}

/// 1.5 · 2^23: adding and subtracting it rounds a float of magnitude below 2^22 to the nearest integer, ties to even.
#define ROUNDING_MAGIC 12582912.0f

/// One value onto the grid: clamp x/scale to [lo, hi] (NaN lands on lo: `v >= lo` is false for it), round to the
/// nearest integer, ties to even (adding and subtracting 1.5·2^23), and scale back.
INLINE v16 fake_quantize_lanes(v16 x, v16 vs, v16 vlo, v16 vhi) {
    const v16 magic = splat_q(ROUNDING_MAGIC);
    v16 v = x / vs;
    v = select_q(v >= vlo, v, vlo);
    v = select_q(v <= vhi, v, vhi);
    v = (v + magic) - magic;
    return v * vs;
}

INLINE float fake_quantize_one(float x, float scale, float lo, float hi) {
    float v = x / scale;
    v = v >= lo ? v : lo;
    v = v <= hi ? v : hi;
    return ((v + ROUNDING_MAGIC) - ROUNDING_MAGIC) * scale;
}

INLINE void fake_quantize_impl(const float *x, float *y, ptrdiff_t n, float scale, float lo, float hi) {
    const v16 vs = splat_q(scale), vlo = splat_q(lo), vhi = splat_q(hi);
    ptrdiff_t i = 0;
    for (; i + LANES <= n; i += LANES) store(y + i, fake_quantize_lanes(load(x + i), vs, vlo, vhi));
    for (; i < n; i++) y[i] = fake_quantize_one(x[i], scale, lo, hi);
}

INLINE void fake_quantize_elementwise_impl(const float *x, float *y, ptrdiff_t n, const float *scale,
                                           const float *lo, const float *hi) {
    ptrdiff_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        store(y + i, fake_quantize_lanes(load(x + i), load(scale + i), load(lo + i), load(hi + i)));
    }
    for (; i < n; i++) y[i] = fake_quantize_one(x[i], scale[i], lo[i], hi[i]);
}

INLINE void histogram_impl(const float *x, ptrdiff_t n, ptrdiff_t stride, float lower, float inverse_width, float last,
                           unsigned int *bins, unsigned int *zeros, unsigned int *added) {
    const ptrdiff_t count = (ptrdiff_t)last + 1;
    unsigned int z = 0, a = 0;
    ptrdiff_t i = 0;
    if (stride == 1) {
        // Indices 16 at a time into four interleaved copies of the bins (a run of equal values, common in
        // activations, would otherwise serialize on one counter); zeros, the most common value after ReLU, are
        // only counted here and land in their bin at the end.
        const v16 vlo = splat_q(lower), vinv = splat_q(inverse_width), vlast = splat_q(last), zero = splat_q(0);
        // Lane j counts into copy j mod 4; finite and zero elements are counted per lane (masks are -1) and the
        // lanes summed once at the end.
        i16 copy = {0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3};
        copy *= (int32_t)count;
        i16 finiteCount = copy - copy, zeroCount = finiteCount, spare = finiteCount + (int32_t)(4 * count);
        for (; i + LANES <= n; i += LANES) {
            v16 v = load(x + i);
            v16 k = (v - vlo) * vinv;
            // v - v is 0 exactly for finite v (NaN for ±inf and NaN); k is NaN only with v.
            i16 finite = ((v - v) == zero) & (k == k);
            i16 isZero = finite & (v == zero);
            k = select_q(k < zero, zero, k);
            k = select_q(k > vlast, vlast, k);
            // Zeros and non-finite elements go to the spare entry past the four copies: every lane adds 1.
            i16 counted = finite & ~isZero;
            i16 slot = __builtin_convertvector(select_q(counted, k, zero), i16) + copy;
            slot = (counted & slot) | (~counted & spare);
            int32_t slots[LANES];
            __builtin_memcpy(slots, &slot, sizeof slots);
            for (int j = 0; j < LANES; j++) bins[slots[j]] += 1;
            finiteCount -= finite;
            zeroCount -= isZero;
        }
        for (int j = 0; j < LANES; j++) {
            a += (unsigned int)finiteCount[j];
            z += (unsigned int)zeroCount[j];
        }
        for (ptrdiff_t b = 0; b < count; b++) {
            bins[b] += bins[count + b] + bins[2 * count + b] + bins[3 * count + b];
        }
        if (z > 0) {
            float k0 = (0.0f - lower) * inverse_width;
            k0 = k0 < 0 ? 0 : (k0 > last ? last : k0);
            bins[(ptrdiff_t)k0] += z;
        }
    }
    for (; i < n; i++) {
        float v = x[i * stride];
        float k = (v - lower) * inverse_width;
        if (!(v - v == 0) || !(k == k)) continue;
        k = k < 0 ? 0 : (k > last ? last : k);
        bins[(ptrdiff_t)k] += 1;
        a += 1;
        if (v == 0) z += 1;
    }
    *zeros += z;
    *added += a;
}

AVX512_TARGET static void summary_avx512(const float *x, ptrdiff_t n, float *mn, float *mx, double *s) {
    summary_impl(x, n, mn, mx, s);
}
AVX2_TARGET static void summary_avx2(const float *x, ptrdiff_t n, float *mn, float *mx, double *s) {
    summary_impl(x, n, mn, mx, s);
}
static void summary_baseline(const float *x, ptrdiff_t n, float *mn, float *mx, double *s) {
    summary_impl(x, n, mn, mx, s);
}

void mcc_tensor_summary(const float *x, ptrdiff_t n, float *minimum, float *maximum, double *sum_squares) {
    switch (mcc_isa()) {
    case MCC_ISA_AVX512: summary_avx512(x, n, minimum, maximum, sum_squares); break;
    case MCC_ISA_AVX2: summary_avx2(x, n, minimum, maximum, sum_squares); break;
    default: summary_baseline(x, n, minimum, maximum, sum_squares); break;
    }
}

AVX512_TARGET static void fake_quantize_avx512(const float *x, float *y, ptrdiff_t n, float s, float lo, float hi) {
    fake_quantize_impl(x, y, n, s, lo, hi);
}
AVX2_TARGET static void fake_quantize_avx2(const float *x, float *y, ptrdiff_t n, float s, float lo, float hi) {
    fake_quantize_impl(x, y, n, s, lo, hi);
}
static void fake_quantize_baseline(const float *x, float *y, ptrdiff_t n, float s, float lo, float hi) {
    fake_quantize_impl(x, y, n, s, lo, hi);
}

void mcc_fake_quantize(const float *x, float *y, ptrdiff_t n, float scale, float lo, float hi) {
    switch (mcc_isa()) {
    case MCC_ISA_AVX512: fake_quantize_avx512(x, y, n, scale, lo, hi); break;
    case MCC_ISA_AVX2: fake_quantize_avx2(x, y, n, scale, lo, hi); break;
    default: fake_quantize_baseline(x, y, n, scale, lo, hi); break;
    }
}

#define FQE_PARAMS (const float *x, float *y, ptrdiff_t n, const float *s, const float *lo, const float *hi)
AVX512_TARGET static void fake_quantize_elementwise_avx512 FQE_PARAMS { fake_quantize_elementwise_impl(x, y, n, s, lo, hi); }
AVX2_TARGET static void fake_quantize_elementwise_avx2 FQE_PARAMS { fake_quantize_elementwise_impl(x, y, n, s, lo, hi); }
static void fake_quantize_elementwise_baseline FQE_PARAMS { fake_quantize_elementwise_impl(x, y, n, s, lo, hi); }

void mcc_fake_quantize_elementwise FQE_PARAMS {
    switch (mcc_isa()) {
    case MCC_ISA_AVX512: fake_quantize_elementwise_avx512(x, y, n, s, lo, hi); break;
    case MCC_ISA_AVX2: fake_quantize_elementwise_avx2(x, y, n, s, lo, hi); break;
    default: fake_quantize_elementwise_baseline(x, y, n, s, lo, hi); break;
    }
}

#define HISTOGRAM_PARAMS                                                                                             \
    (const float *x, ptrdiff_t n, ptrdiff_t stride, float lower, float inverse_width, float last, unsigned int *bins, \
     unsigned int *zeros, unsigned int *added)
#define HISTOGRAM_ARGS (x, n, stride, lower, inverse_width, last, bins, zeros, added)
AVX512_TARGET static void histogram_avx512 HISTOGRAM_PARAMS { histogram_impl HISTOGRAM_ARGS; }
AVX2_TARGET static void histogram_avx2 HISTOGRAM_PARAMS { histogram_impl HISTOGRAM_ARGS; }
static void histogram_baseline HISTOGRAM_PARAMS { histogram_impl HISTOGRAM_ARGS; }

void mcc_histogram_bin HISTOGRAM_PARAMS {
    switch (mcc_isa()) {
    case MCC_ISA_AVX512: histogram_avx512 HISTOGRAM_ARGS; break;
    case MCC_ISA_AVX2: histogram_avx2 HISTOGRAM_ARGS; break;
    default: histogram_baseline HISTOGRAM_ARGS; break;
    }
}
