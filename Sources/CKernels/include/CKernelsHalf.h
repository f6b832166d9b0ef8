#ifndef MCC_CKERNELS_HALF_H
#define MCC_CKERNELS_HALF_H

// Float32 → IEEE binary16 conversion of whole weight tensors (FP16 weight compression runs over every parameter
// of a model on each compile). Uses the F16C instruction VCVTPS2PH (round to nearest even) when the CPU has it and
// `mcc_isa()` is at least AVX2, else a portable scalar loop; both give the same bits for every input (NaN: see
// below). Callers: Sources/Passes/FP16Casting.swift, Sources/Emit/OpenVINO (weight compression).

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Converts n floats to binary16 bits in y (round to nearest even). Returns 1 when every value is finite, has
/// |x| <= 65504 and is 0 or stays non-zero in binary16 (|x| > 2^-25); else 0, and y's contents are unspecified.
int mcc_half_from_float_exact_range(const float *x, uint16_t *y, ptrdiff_t n);

/// 1 when every one of the n floats passes the range test of `mcc_half_from_float_exact_range`, else 0 (reads
/// only: lets a caller decide before it allocates or overwrites anything).
int mcc_half_exact_range_holds(const float *x, ptrdiff_t n);

/// The same conversion and range test as `mcc_half_from_float_exact_range`, in place: when every value passes the
/// test, the first 2n bytes of x become the n binary16 values (same bits) and 1 is returned; else 0, and x is left
/// unchanged (every value is tested before anything is written). Lets a caller that owns a float32 buffer store
/// its float16 form without a second buffer (fresh pages are the dearest part of a conversion).
int mcc_half_from_float_exact_range_in_place(float *x, ptrdiff_t n);

/// Converts n floats to binary16 bits in y (round to nearest even; ±inf → ±inf; NaN → sign | 0x7E00, the quiet NaN
/// without payload). Returns 0 when a finite value has |x| > 65504 (y's contents are then unspecified), else 1.
int mcc_half_from_float(const float *x, uint16_t *y, ptrdiff_t n);

#ifdef __cplusplus
}
#endif

#endif
