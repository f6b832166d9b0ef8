// Float32 → binary16 conversion (see include/CKernelsHalf.h): F16C when available, else the scalar algorithm that
// Swift's `Float16(x).bitPattern` implements (round to nearest even), so both paths agree bit for bit.
#include "CKernels.h"
#include "CKernelsHalf.h"

#include <immintrin.h>
#include <string.h>

/// Binary16 bits of x, rounded to nearest even; NaN → sign | 0x7E00.
static inline uint16_t half_bits(float value) {
    uint32_t x;
    memcpy(&x, &value, sizeof x);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    int exponent = (int)((x >> 23) & 0xff);
    uint32_t mantissa = x & 0x7fffff;
    if (exponent == 0xff) return sign | 0x7c00 | (mantissa != 0 ? 0x200 : 0);  // inf, NaN (quiet)
    int e = exponent - 112;  // rebias 127 → 15
    if (e >= 0x1f) return sign | 0x7c00;  // overflow → inf
    if (e <= 0) {
        // Subnormal half: units of 2^-24; at most 2^-25 rounds to zero.
        if (e < -10) return sign;
        mantissa |= 0x800000;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t h = mantissa >> shift;
        uint32_t rest = mantissa & ((1u << shift) - 1), halfway = 1u << (shift - 1);
        if (rest > halfway || (rest == halfway && (h & 1))) h += 1;
        return sign | (uint16_t)h;
    }
    uint32_t h = (uint32_t)e << 10 | mantissa >> 13;
    uint32_t rest = mantissa & 0x1fff;
    // A carry out of the mantissa correctly bumps the exponent (up to inf).
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h += 1;
    return sign | (uint16_t)h;
}

static const float max_half = 65504.0f;
static const float zero_limit = 0x1p-25f;  // non-zero |x| <= this rounds to ±0

static inline int scalar_range_ok(float v) {
    float a = __builtin_fabsf(v);
    return a <= max_half && !(a != 0 && a <= zero_limit);  // false for NaN and inf
}

static int exact_range_scalar(const float *x, uint16_t *y, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) {
        if (!scalar_range_ok(x[i])) return 0;
        y[i] = half_bits(x[i]);
    }
    return 1;
}

static int convert_scalar(const float *x, uint16_t *y, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) {
        float a = __builtin_fabsf(x[i]);
        if (a > max_half && a != __builtin_inff()) return 0;
        y[i] = half_bits(x[i]);
    }
    return 1;
}

#define F16C_TARGET __attribute__((target("avx,f16c")))

F16C_TARGET static int exact_range_f16c(const float *x, uint16_t *y, ptrdiff_t n) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 max = _mm256_set1_ps(max_half), limit = _mm256_set1_ps(zero_limit), zero = _mm256_setzero_ps();
    __m256 bad = zero;
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 a = _mm256_and_ps(v, abs_mask);
        // Not (|x| <= max) is true for NaN too; 0 < |x| <= 2^-25 would become ±0.
        __m256 out_of_range = _mm256_cmp_ps(a, max, _CMP_NLE_UQ);
        __m256 vanishes = _mm256_and_ps(_mm256_cmp_ps(a, zero, _CMP_GT_OQ), _mm256_cmp_ps(a, limit, _CMP_LE_OQ));
        bad = _mm256_or_ps(bad, _mm256_or_ps(out_of_range, vanishes));
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        if ((i & 1023) == 0 && !_mm256_testz_ps(bad, bad)) return 0;
    }
    if (!_mm256_testz_ps(bad, bad)) return 0;
    return exact_range_scalar(x + i, y + i, n - i);
}

F16C_TARGET static int convert_f16c(const float *x, uint16_t *y, ptrdiff_t n) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 max = _mm256_set1_ps(max_half), inf = _mm256_set1_ps(__builtin_inff());
    __m256 overflow = _mm256_setzero_ps();
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 a = _mm256_and_ps(v, abs_mask);
        overflow = _mm256_or_ps(overflow, _mm256_and_ps(_mm256_cmp_ps(a, max, _CMP_GT_OQ),
                                                        _mm256_cmp_ps(a, inf, _CMP_NEQ_OQ)));
        __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        if (!_mm256_testz_ps(nan, nan)) {
            // VCVTPS2PH keeps the NaN's payload; the scalar path (and what we always wrote) drops it.
            for (int k = 0; k < 8; k++) y[i + k] = half_bits(x[i + k]);
        }
    }
    if (!_mm256_testz_ps(overflow, overflow)) return 0;
    return convert_scalar(x + i, y + i, n - i);
}

/// Whether every one of the n floats passes `scalar_range_ok` (the check of the exact-range conversions).
static int all_in_exact_range_scalar(const float *x, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) {
        if (!scalar_range_ok(x[i])) return 0;
    }
    return 1;
}

/// In place, front to back: element i (bytes 4i..4i+3) is read before its half lands at bytes 2i..2i+1, which only
/// ever overwrites floats already read. Loads and stores go through memcpy (no aliasing of float and uint16_t).
static void in_place_scalar(float *x, ptrdiff_t from, ptrdiff_t n) {
    unsigned char *bytes = (unsigned char *)x;
    for (ptrdiff_t i = from; i < n; i++) {
        float v;
        memcpy(&v, bytes + 4 * i, sizeof v);
        uint16_t h = half_bits(v);
        memcpy(bytes + 2 * i, &h, sizeof h);
    }
}

F16C_TARGET static int all_in_exact_range_f16c(const float *x, ptrdiff_t n) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 max = _mm256_set1_ps(max_half), limit = _mm256_set1_ps(zero_limit), zero = _mm256_setzero_ps();
    __m256 bad = zero;
    ptrdiff_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a0 = _mm256_and_ps(_mm256_loadu_ps(x + i), abs_mask);
        __m256 a1 = _mm256_and_ps(_mm256_loadu_ps(x + i + 8), abs_mask);
        // Same tests as exact_range_f16c: not (|x| <= max) (NaN too), or 0 < |x| <= 2^-25.
        __m256 bad0 = _mm256_or_ps(_mm256_cmp_ps(a0, max, _CMP_NLE_UQ),
                                   _mm256_and_ps(_mm256_cmp_ps(a0, zero, _CMP_GT_OQ), _mm256_cmp_ps(a0, limit, _CMP_LE_OQ)));
        __m256 bad1 = _mm256_or_ps(_mm256_cmp_ps(a1, max, _CMP_NLE_UQ),
                                   _mm256_and_ps(_mm256_cmp_ps(a1, zero, _CMP_GT_OQ), _mm256_cmp_ps(a1, limit, _CMP_LE_OQ)));
        bad = _mm256_or_ps(bad, _mm256_or_ps(bad0, bad1));
        if ((i & 2047) == 0 && !_mm256_testz_ps(bad, bad)) return 0;
    }
    if (!_mm256_testz_ps(bad, bad)) return 0;
    return all_in_exact_range_scalar(x + i, n - i);
}

/// See in_place_scalar: the 8 floats at bytes 4i.. are loaded before their halves are stored at bytes 2i..2i+15,
/// which lie below 4i for every i >= 8 (and inside the floats just loaded for i = 0).
F16C_TARGET static void in_place_f16c(float *x, ptrdiff_t n) {
    unsigned char *bytes = (unsigned char *)x;
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps((const float *)(bytes + 4 * i));
        _mm_storeu_si128((__m128i *)(bytes + 2 * i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    in_place_scalar(x, i, n);
}

static int has_f16c = -1;

static int use_f16c(void) {
    if (mcc_isa() < MCC_ISA_AVX2) return 0;
    int known = __atomic_load_n(&has_f16c, __ATOMIC_RELAXED);
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
        __atomic_store_n(&has_f16c, known, __ATOMIC_RELAXED);
    }
    return known;
}

int mcc_half_from_float_exact_range(const float *x, uint16_t *y, ptrdiff_t n) {
    return use_f16c() ? exact_range_f16c(x, y, n) : exact_range_scalar(x, y, n);
}

int mcc_half_from_float_exact_range_in_place(float *x, ptrdiff_t n) {
    if (use_f16c()) {
        if (!all_in_exact_range_f16c(x, n)) return 0;
        in_place_f16c(x, n);
    } else {
        if (!all_in_exact_range_scalar(x, n)) return 0;
        in_place_scalar(x, 0, n);
    }
    return 1;
}

int mcc_half_exact_range_holds(const float *x, ptrdiff_t n) {
    return use_f16c() ? all_in_exact_range_f16c(x, n) : all_in_exact_range_scalar(x, n);
}

int mcc_half_from_float(const float *x, uint16_t *y, ptrdiff_t n) {
    return use_f16c() ? convert_f16c(x, y, n) : convert_scalar(x, y, n);
}
