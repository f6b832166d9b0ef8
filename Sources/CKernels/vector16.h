// Private to CKernels: the 16-float vector type and the load helpers the kernel files share. Everything is
// always-inline, so each file's baseline/AVX2/AVX-512 variants compile these with their own target attributes.
#ifndef MCC_CKERNELS_VECTOR16_H
#define MCC_CKERNELS_VECTOR16_H

// The always-inlined helpers pass 64-byte vectors by value; they never exist as calls, so no ABI is involved.
#pragma clang diagnostic ignored "-Wpsabi"

#include <stddef.h>
#include <stdint.h>

// 16 floats: one AVX-512 register, two AVX2 registers, four SSE registers. aligned(4) makes every load and store
// through these types an unaligned access.
typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef int32_t i16 __attribute__((vector_size(64), aligned(4)));

#define INLINE static inline __attribute__((always_inline))
#define LANES 16

INLINE v16 load(const float *p) { return *(const v16 *)p; }
INLINE void store(float *p, v16 v) { *(v16 *)p = v; }

/// 16 values `s` apart from p (stride 2: the even lanes of two loads).
INLINE v16 load_strided(const float *p, ptrdiff_t s) {
    if (s == 1) return load(p);
    if (s == 2) {
        v16 lo = load(p), hi = load(p + LANES);
        return __builtin_shufflevector(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    }
    v16 v;
    for (int l = 0; l < LANES; l++) v[l] = p[l * s];
    return v;
}

#endif
