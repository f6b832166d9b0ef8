// Float kernels in clang vector extensions, each compiled as baseline x86-64, AVX2+FMA and AVX-512 variants
// (see include/CKernels.h). Every variant inlines the same `*_impl` body; `target` attributes on the wrappers let
// clang use the wider registers and FMA there without any build flag, and `mcc_isa` picks one at run time.
#include "CKernels.h"
#include "vector16.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// a*b+c may become one FMA where the variant has it (within the tolerance the callers' tests state).
#pragma clang fp contract(fast)
// The always-inlined helpers pass 64-byte vectors by value; they never exist as calls, so no ABI is involved.
#pragma clang diagnostic ignored "-Wpsabi"

INLINE v16 splat(float x) { return (v16){0} + x; }
/// mask ? a : b, lane by lane (mask lanes are all-ones or zero, as comparisons produce).
INLINE v16 vselect(i16 mask, v16 a, v16 b) { return (v16)((mask & (i16)a) | (~mask & (i16)b)); }

// MARK: activations (the algorithms of Sources/Kernels/VectorMath.swift and Unary.swift)

/// e^r for the reduced argument: t = x·log2(e) + 1.5·2^23 rounds n without a float→int conversion; r = x − n·ln2
/// in two parts; degree-6 polynomial. Callers scale by 2^n taken from t's bits.
INLINE v16 reduced_exp(v16 xc, v16 *t_out, v16 magic) {
    v16 t = xc * 1.44269504f + magic;
    v16 n = t - magic;
    v16 r = xc - n * 0.693359375f;
    r = r - n * -2.1219444e-4f;
    v16 p = splat(1.98756915e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    *t_out = t;
    return p * (r * r) + r + 1.0f;
}

INLINE v16 vexp(v16 x) {
    v16 xc = vselect(x < -104.0f, splat(-104.0f), x);
    xc = vselect(x > 88.72283f, splat(88.72283f), xc);
    v16 magic = splat(12582912.0f), t;
    v16 y = reduced_exp(xc, &t, magic);
    i16 ni = (i16)t - (i16)magic;
    i16 half = ni >> 1;
    v16 s1 = (v16)((half + 127) << 23);
    v16 s2 = (v16)((ni - half + 127) << 23);
    v16 result = y * s1 * s2;
    return vselect(x > 88.72284f, splat(__builtin_inff()), result);
}

INLINE v16 vsigmoid(v16 x) {
    v16 a = -x;
    v16 xc = vselect(a < -87.33654f, splat(-87.33654f), a);
    xc = vselect(a > 89.0f, splat(89.0f), xc);
    v16 magic = splat(12582912.0f), t;
    v16 y = reduced_exp(xc, &t, magic);
    v16 scale = (v16)(((i16)t - (i16)magic + 127) << 23);
    return 1.0f / (1.0f + y * scale);
}

INLINE v16 vtanh(v16 x0) {
    v16 x = vselect(x0 < -9.0f, splat(-9.0f), x0);
    x = vselect(x0 > 9.0f, splat(9.0f), x);
    v16 z = x * x;
    v16 p = splat(-2.76076847742355e-16f);
    p = p * z + 2.00018790482477e-13f;
    p = p * z - 8.60467152213735e-11f;
    p = p * z + 5.12229709037114e-08f;
    p = p * z + 1.48572235717979e-05f;
    p = p * z + 6.37261928875436e-04f;
    p = p * z + 4.89352455891786e-03f;
    v16 q = splat(1.19825839466702e-06f);
    q = q * z + 1.18534705686654e-04f;
    q = q * z + 2.26843463243900e-03f;
    q = q * z + 4.89352518554385e-03f;
    return x * p / q;
}

/// Clamps to [lo, hi] by two selects; NaN compares false and passes through.
INLINE v16 clamp(v16 v, float lo, float hi) {
    v = vselect(v < lo, splat(lo), v);
    return vselect(v > hi, splat(hi), v);
}

/// `act` is a constant wherever this is inlined, so the switch folds away.
INLINE v16 activate(int act, float a, float b, v16 v) {
    switch (act) {
    case MCC_ACT_RELU: return vselect(v < 0.0f, splat(0.0f), v);
    case MCC_ACT_LEAKY_RELU: return vselect(v < 0.0f, v * a, v);
    case MCC_ACT_CLIP: return clamp(v, a, b);
    case MCC_ACT_SIGMOID: return vsigmoid(v);
    case MCC_ACT_HARD_SIGMOID: return clamp(v * a + b, 0.0f, 1.0f);
    case MCC_ACT_HARD_SWISH: return v * clamp(v * (1.0f / 6.0f) + 0.5f, 0.0f, 1.0f);
    case MCC_ACT_TANH: return vtanh(v);
    case MCC_ACT_EXP: return vexp(v);
    case MCC_ACT_SWISH: return v * vsigmoid(v * a);
    case MCC_ACT_HARD_SIGMOID_GATE: return v * clamp(v * a + b, 0.0f, 1.0f);
    case MCC_ACT_LEAKY_RELU_FLOOR: {
        // As LeakyRelu then Max(·, floor): NaN compares false and stays NaN, a tie keeps the LeakyRelu value.
        v16 leaky = vselect(v < 0.0f, v * a, v);
        return vselect(leaky < b, splat(b), leaky);
    }
    default: return v;
    }
}

/// y = act(x + add) over n floats; the tail goes through a zero-padded vector so it uses the same arithmetic.
INLINE void map_loop(int act, float a, float b, const float *x, float *y, ptrdiff_t n, float add, int has_add) {
    ptrdiff_t i = 0;
    for (; i + 2 * LANES <= n; i += 2 * LANES) {
        v16 u = load(x + i), w = load(x + i + LANES);
        if (has_add) { u = u + add; w = w + add; }
        store(y + i, activate(act, a, b, u));
        store(y + i + LANES, activate(act, a, b, w));
    }
    for (; i + LANES <= n; i += LANES) {
        v16 u = load(x + i);
        if (has_add) u = u + add;
        store(y + i, activate(act, a, b, u));
    }
    if (i < n) {
        float buffer[LANES] = {0};
        memcpy(buffer, x + i, (size_t)(n - i) * sizeof(float));
        v16 u = load(buffer);
        if (has_add) u = u + add;
        store(buffer, activate(act, a, b, u));
        memcpy(y + i, buffer, (size_t)(n - i) * sizeof(float));
    }
}

/// One switch per call, then a loop specialised for that activation.
INLINE void map_impl(int act, float a, float b, const float *x, float *y, ptrdiff_t n, float add, int has_add) {
#define MAP_CASE(A) case A: map_loop(A, a, b, x, y, n, add, has_add); return;
    switch (act) {
    MAP_CASE(MCC_ACT_RELU)
    MAP_CASE(MCC_ACT_LEAKY_RELU)
    MAP_CASE(MCC_ACT_CLIP)
    MAP_CASE(MCC_ACT_SIGMOID)
    MAP_CASE(MCC_ACT_HARD_SIGMOID)
    MAP_CASE(MCC_ACT_HARD_SWISH)
    MAP_CASE(MCC_ACT_TANH)
    MAP_CASE(MCC_ACT_EXP)
    MAP_CASE(MCC_ACT_SWISH)
    MAP_CASE(MCC_ACT_HARD_SIGMOID_GATE)
    MAP_CASE(MCC_ACT_LEAKY_RELU_FLOOR)
    default: map_loop(MCC_ACT_IDENTITY, a, b, x, y, n, add, has_add); return;
    }
#undef MAP_CASE
}

INLINE void bias_activation_impl(float *y, ptrdiff_t channels, ptrdiff_t spatial, ptrdiff_t ld, const float *bias,
                                 int act, float a, float b) {
    for (ptrdiff_t c = 0; c < channels; c++) {
        float *row = y + c * ld;
        if (bias) map_impl(act, a, b, row, row, spatial, bias[c], 1);
        else map_impl(act, a, b, row, row, spatial, 0.0f, 0);
    }
}

INLINE void copy_bias_activation_impl(const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy, ptrdiff_t rows,
                                      ptrdiff_t cols, float bias, int act, float a, float b) {
    for (ptrdiff_t r = 0; r < rows; r++) map_impl(act, a, b, x + r * ldx, y + r * ldy, cols, bias, 1);
}

// MARK: depthwise convolution

/// Sum over the taps for 16 output columns starting at `r` (the input position of the first tap).
INLINE v16 depthwise_taps(const float *r, ptrdiff_t wp, const float *wk, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sw,
                          ptrdiff_t dh, ptrdiff_t dw, float bias) {
    v16 acc = splat(bias);
    for (ptrdiff_t i = 0; i < kh; i++)
        for (ptrdiff_t j = 0; j < kw; j++) acc += wk[i * kw + j] * load_strided(r + i * dh * wp + j * dw, sw);
    return acc;
}

INLINE void depthwise_impl(const float *src, ptrdiff_t wp, const float *wk, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh,
                           ptrdiff_t sw, ptrdiff_t dh, ptrdiff_t dw, ptrdiff_t oh, ptrdiff_t ow, float bias,
                           int act, float a, float b, float *dst) {
    for (ptrdiff_t oy = 0; oy < oh; oy++) {
        const float *row = src + oy * sh * wp;
        float *out = dst + oy * ow;
        ptrdiff_t ox = 0;
        // Two independent accumulators hide the FMA latency of the tap chain.
        for (; ox + 2 * LANES <= ow; ox += 2 * LANES) {
            v16 u = depthwise_taps(row + ox * sw, wp, wk, kh, kw, sw, dh, dw, bias);
            v16 w = depthwise_taps(row + (ox + LANES) * sw, wp, wk, kh, kw, sw, dh, dw, bias);
            store(out + ox, u);
            store(out + ox + LANES, w);
        }
        for (; ox < ow; ox += LANES) {
            v16 u = depthwise_taps(row + ox * sw, wp, wk, kh, kw, sw, dh, dw, bias);
            if (ox + LANES <= ow) {
                store(out + ox, u);
            } else {
                for (ptrdiff_t l = 0; l < ow - ox; l++) out[ox + l] = u[l];
            }
        }
        if (act != MCC_ACT_IDENTITY) map_impl(act, a, b, out, out, ow, 0.0f, 0);
    }
}

/// Literal kernel sizes and strides for the common shapes, so the tap loops unroll into straight-line code.
INLINE void depthwise_dispatch(const float *src, ptrdiff_t wp, const float *wk, ptrdiff_t kh, ptrdiff_t kw,
                               ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t dh, ptrdiff_t dw, ptrdiff_t oh, ptrdiff_t ow,
                               float bias, int act, float a, float b, float *dst) {
    if (dh == 1 && dw == 1 && kh == kw && sh == sw && (kh == 3 || kh == 5) && (sh == 1 || sh == 2)) {
        if (kh == 3 && sh == 1) depthwise_impl(src, wp, wk, 3, 3, 1, 1, 1, 1, oh, ow, bias, act, a, b, dst);
        else if (kh == 3) depthwise_impl(src, wp, wk, 3, 3, 2, 2, 1, 1, oh, ow, bias, act, a, b, dst);
        else if (sh == 1) depthwise_impl(src, wp, wk, 5, 5, 1, 1, 1, 1, oh, ow, bias, act, a, b, dst);
        else depthwise_impl(src, wp, wk, 5, 5, 2, 2, 1, 1, oh, ow, bias, act, a, b, dst);
        return;
    }
    depthwise_impl(src, wp, wk, kh, kw, sh, sw, dh, dw, oh, ow, bias, act, a, b, dst);
}


// MARK: indirect convolution (GEMM over row pointers)

/// Packs rows [m0, m0 + rows) of the row-major [m, k] weights as [k][mr] (rows past `rows` are zero).
INLINE void indirect_pack(const float *w, ptrdiff_t k, ptrdiff_t m0, ptrdiff_t rows, ptrdiff_t mr, float *apack) {
    for (ptrdiff_t kk = 0; kk < k; kk++)
        for (ptrdiff_t r = 0; r < mr; r++) apack[kk * mr + r] = r < rows ? w[(m0 + r) * k + kk] : 0.0f;
}

// The accumulators are named variables (not an array) so clang keeps all of them in registers across the k loop.
#define INDIRECT_ZERO3(r) v16 c##r##0 = splat(0.0f), c##r##1 = splat(0.0f), c##r##2 = splat(0.0f);
#define INDIRECT_FMA3(r) c##r##0 += ak[r] * b0; c##r##1 += ak[r] * b1; c##r##2 += ak[r] * b2;
#define INDIRECT_OUT3(r) acc[r][0] = c##r##0; acc[r][1] = c##r##1; acc[r][2] = c##r##2;
#define INDIRECT_ZERO2(r) v16 c##r##0 = splat(0.0f), c##r##1 = splat(0.0f);
#define INDIRECT_FMA2(r) c##r##0 += ak[r] * b0; c##r##1 += ak[r] * b1;
#define INDIRECT_OUT2(r) acc[r][0] = c##r##0; acc[r][1] = c##r##1;
#define INDIRECT_ZERO1(r) v16 c##r##0 = splat(0.0f);
#define INDIRECT_FMA1(r) c##r##0 += ak[r] * b0;
#define INDIRECT_OUT1(r) acc[r][0] = c##r##0;
#define INDIRECT_ROWS6(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define INDIRECT_ROWS8(X) INDIRECT_ROWS6(X) X(6) X(7)
#define INDIRECT_ROWS10(X) INDIRECT_ROWS8(X) X(8) X(9)
#define INDIRECT_ROWS12(X) INDIRECT_ROWS10(X) X(10) X(11)

/// Sums of MR output channels × NV·16 columns: `name` with row list ROWS and NV vectors per row. Every output is
/// the same k-ordered FMA chain whatever the block shape, so the shapes only change speed, never results.
#define INDIRECT_SUMS3(name, ROWS, MR)                                                                               \
    INLINE void name(const float *const *rows, ptrdiff_t off, ptrdiff_t k, const float *apack, v16 acc[][3]) {     \
        ROWS(INDIRECT_ZERO3)                                                                                         \
        for (ptrdiff_t kk = 0; kk < k; kk++) {                                                                       \
            const float *bk = rows[kk] + off;                                                                        \
            v16 b0 = load(bk), b1 = load(bk + LANES), b2 = load(bk + 2 * LANES);                                     \
            const float *ak = apack + kk * MR;                                                                       \
            ROWS(INDIRECT_FMA3)                                                                                      \
        }                                                                                                            \
        ROWS(INDIRECT_OUT3)                                                                                          \
    }
#define INDIRECT_SUMS2(name, ROWS, MR)                                                                               \
    INLINE void name(const float *const *rows, ptrdiff_t off, ptrdiff_t k, const float *apack, v16 acc[][3]) {     \
        ROWS(INDIRECT_ZERO2)                                                                                         \
        for (ptrdiff_t kk = 0; kk < k; kk++) {                                                                       \
            const float *bk = rows[kk] + off;                                                                        \
            v16 b0 = load(bk), b1 = load(bk + LANES);                                                                \
            const float *ak = apack + kk * MR;                                                                       \
            ROWS(INDIRECT_FMA2)                                                                                      \
        }                                                                                                            \
        ROWS(INDIRECT_OUT2)                                                                                          \
    }
#define INDIRECT_SUMS1(name, ROWS, MR)                                                                               \
    INLINE void name(const float *const *rows, ptrdiff_t off, ptrdiff_t k, const float *apack, v16 acc[][3]) {     \
        ROWS(INDIRECT_ZERO1)                                                                                         \
        for (ptrdiff_t kk = 0; kk < k; kk++) {                                                                       \
            v16 b0 = load(rows[kk] + off);                                                                           \
            const float *ak = apack + kk * MR;                                                                       \
            ROWS(INDIRECT_FMA1)                                                                                      \
        }                                                                                                            \
        ROWS(INDIRECT_OUT1)                                                                                          \
    }

// AVX-512 (32 registers): 12×32 and 10×32 (24 and 20 accumulators), 8×48 (24); their 16-column leftovers. AVX2 and
// SSE: 6×16 (two ymm registers per row: 12 of AVX2's 16).
INDIRECT_SUMS2(indirect_sums_12x32, INDIRECT_ROWS12, 12)
INDIRECT_SUMS1(indirect_sums_12x16, INDIRECT_ROWS12, 12)
INDIRECT_SUMS2(indirect_sums_10x32, INDIRECT_ROWS10, 10)
INDIRECT_SUMS1(indirect_sums_10x16, INDIRECT_ROWS10, 10)
INDIRECT_SUMS3(indirect_sums_8x48, INDIRECT_ROWS8, 8)
INDIRECT_SUMS1(indirect_sums_8x16, INDIRECT_ROWS8, 8)
INDIRECT_SUMS1(indirect_sums_6x16, INDIRECT_ROWS6, 6)

/// One output block: MR output channels × NV·16 wide columns, all of K accumulated in registers (k in order, one
/// FMA chain per output), then bias + activation and the store of the block's valid columns.
INLINE void indirect_block(const float *const *rows, ptrdiff_t off, ptrdiff_t k, const float *apack, const int MR,
                           const int NV, ptrdiff_t mrows, const float *bias, ptrdiff_t m0, int act, float a, float b,
                           float *y, ptrdiff_t out_plane, const ptrdiff_t *seg, ptrdiff_t segs) {
    v16 acc[12][3];
    if (MR == 12 && NV == 2) indirect_sums_12x32(rows, off, k, apack, acc);
    else if (MR == 12) indirect_sums_12x16(rows, off, k, apack, acc);
    else if (MR == 10 && NV == 2) indirect_sums_10x32(rows, off, k, apack, acc);
    else if (MR == 10) indirect_sums_10x16(rows, off, k, apack, acc);
    else if (MR == 8 && NV == 3) indirect_sums_8x48(rows, off, k, apack, acc);
    else if (MR == 8) indirect_sums_8x16(rows, off, k, apack, acc);
    else indirect_sums_6x16(rows, off, k, apack, acc);
    for (int r = 0; r < MR; r++) {
        if (r >= mrows) break;
        float tile[3 * LANES];
        float add = bias ? bias[m0 + r] : 0.0f;
        for (int v = 0; v < NV; v++) store(tile + v * LANES, activate(act, a, b, acc[r][v] + add));
        float *dst = y + (m0 + r) * out_plane;
        for (ptrdiff_t s = 0; s < segs; s++) memcpy(dst + seg[3 * s + 1], tile + seg[3 * s], (size_t)seg[3 * s + 2] * sizeof(float));
    }
}

/// Runs of valid output columns in wide columns [n0, n0 + count): (offset in block, output index, length) triples.
INLINE ptrdiff_t indirect_segments(ptrdiff_t n0, ptrdiff_t count, ptrdiff_t wp, ptrdiff_t ow, ptrdiff_t *seg) {
    ptrdiff_t segs = 0, n = n0;
    while (n < n0 + count) {
        ptrdiff_t oy = n / wp, ox = n % wp;
        ptrdiff_t run = wp - ox < n0 + count - n ? wp - ox : n0 + count - n;
        if (ox < ow) {
            seg[3 * segs] = n - n0;
            seg[3 * segs + 1] = oy * ow + ox;
            seg[3 * segs + 2] = ow - ox < run ? ow - ox : run;
            segs++;
        }
        n += run;
    }
    return segs;
}

/// Column blocks of one chunk run for every output-channel block before the next chunk starts, so the chunk's input
/// rows (k rows of about `INDIRECT_CHUNK` floats, plus the taps' reach) stay in cache across the channel blocks
/// instead of every channel block streaming the whole padded input (large maps: mtcnn_pnet's 387×268).
#define INDIRECT_CHUNK 256

INLINE void indirect_impl(const float *const *rows, ptrdiff_t k, const float *w, ptrdiff_t m, ptrdiff_t n_begin,
                          ptrdiff_t n_end, ptrdiff_t wp, ptrdiff_t ow, ptrdiff_t out_plane, const float *bias, int act,
                          float a, float b, float *y, float *scratch, const int MR, const int NV) {
    const ptrdiff_t nr = NV * LANES;
    // Scratch: tail row pointers, the zero-padded tail columns [k][16], then the packed weight blocks [k][MR] each.
    const float **tail_rows = (const float **)scratch;
    float *tail = scratch + 2 * k;
    float *apack = tail + k * LANES;
    ptrdiff_t full_end = n_begin + (n_end - n_begin) / nr * nr;
    // With wider blocks, leftover columns take 16-column blocks read in place while 16 remain.
    ptrdiff_t half_end = NV > 1 ? full_end + (n_end - full_end) / LANES * LANES : full_end;
    ptrdiff_t tail_count = n_end - half_end;
    if (tail_count > 0) {
        // The last partial block (< 16 columns) reads zero-padded copies, so no row is read past n_end.
        for (ptrdiff_t kk = 0; kk < k; kk++) {
            float *t = tail + kk * LANES;
            memset(t, 0, LANES * sizeof(float));
            memcpy(t, rows[kk] + half_end, (size_t)tail_count * sizeof(float));
            tail_rows[kk] = t;
        }
    }
    for (ptrdiff_t m0 = 0; m0 < m; m0 += MR)
        indirect_pack(w, k, m0, m - m0 < MR ? m - m0 : MR, MR, apack + m0 * k);
    ptrdiff_t seg[3 * (3 * LANES + 2)];
    const ptrdiff_t chunk = (INDIRECT_CHUNK + nr - 1) / nr * nr;
    for (ptrdiff_t c0 = n_begin; c0 < full_end; c0 += chunk) {
        ptrdiff_t c1 = c0 + chunk < full_end ? c0 + chunk : full_end;
        for (ptrdiff_t m0 = 0; m0 < m; m0 += MR) {
            ptrdiff_t mrows = m - m0 < MR ? m - m0 : MR;
            for (ptrdiff_t n0 = c0; n0 < c1; n0 += nr) {
                ptrdiff_t segs = indirect_segments(n0, nr, wp, ow, seg);
                indirect_block(rows, n0, k, apack + m0 * k, MR, NV, mrows, bias, m0, act, a, b, y, out_plane, seg, segs);
            }
        }
    }
    for (ptrdiff_t m0 = 0; m0 < m; m0 += MR) {
        ptrdiff_t mrows = m - m0 < MR ? m - m0 : MR;
        for (ptrdiff_t n0 = full_end; n0 < half_end; n0 += LANES) {
            ptrdiff_t segs = indirect_segments(n0, LANES, wp, ow, seg);
            indirect_block(rows, n0, k, apack + m0 * k, MR, 1, mrows, bias, m0, act, a, b, y, out_plane, seg, segs);
        }
        if (tail_count > 0) {
            ptrdiff_t segs = indirect_segments(half_end, tail_count, wp, ow, seg);
            indirect_block(tail_rows, 0, k, apack + m0 * k, MR, 1, mrows, bias, m0, act, a, b, y, out_plane, seg, segs);
        }
    }
}


// MARK: variants and run-time dispatch

#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
#define AVX2_TARGET __attribute__((target("avx2,fma")))

#define VARIANTS(name, impl, params, args)                                                                            \
    AVX512_TARGET static void name##_avx512 params { impl args; }                                                     \
    AVX2_TARGET static void name##_avx2 params { impl args; }                                                         \
    static void name##_baseline params { impl args; }

VARIANTS(activation, map_impl,
         (int act, float a, float b, const float *x, float *y, ptrdiff_t n), (act, a, b, x, y, n, 0.0f, 0))
VARIANTS(bias_activation, bias_activation_impl,
         (float *y, ptrdiff_t channels, ptrdiff_t spatial, ptrdiff_t ld, const float *bias, int act, float a, float b),
         (y, channels, spatial, ld, bias, act, a, b))
VARIANTS(copy_bias_activation, copy_bias_activation_impl,
         (const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t cols, float bias, int act,
          float a, float b),
         (x, ldx, y, ldy, rows, cols, bias, act, a, b))
VARIANTS(depthwise, depthwise_dispatch,
         (const float *src, ptrdiff_t wp, const float *wk, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw,
          ptrdiff_t dh, ptrdiff_t dw, ptrdiff_t oh, ptrdiff_t ow, float bias, int act, float a, float b, float *dst),
         (src, wp, wk, kh, kw, sh, sw, dh, dw, oh, ow, bias, act, a, b, dst))

#define INDIRECT_PARAMS (const float *const *rows, ptrdiff_t k, const float *w, ptrdiff_t m, ptrdiff_t n_begin,   \
                         ptrdiff_t n_end, ptrdiff_t wp, ptrdiff_t ow, ptrdiff_t out_plane, const float *bias, int act, \
                         float a, float b, float *y, float *scratch)
/// Output-channel block height with the fewest padded rows for m (12 on ties, then 10): mtcnn_pnet's 10, 16 and 32
/// channels take 10×32, 8×48 and 8×48 blocks instead of computing 12, 24 and 36 rows.
INLINE int indirect_block_rows(ptrdiff_t m) {
    ptrdiff_t r12 = (m + 11) / 12 * 12, r10 = (m + 9) / 10 * 10, r8 = (m + 7) / 8 * 8;
    if (r12 <= r10 && r12 <= r8) return 12;
    return r10 <= r8 ? 10 : 8;
}

AVX512_TARGET static void indirect_avx512 INDIRECT_PARAMS {
    switch (indirect_block_rows(m)) {
    case 12: indirect_impl(rows, k, w, m, n_begin, n_end, wp, ow, out_plane, bias, act, a, b, y, scratch, 12, 2); break;
    case 10: indirect_impl(rows, k, w, m, n_begin, n_end, wp, ow, out_plane, bias, act, a, b, y, scratch, 10, 2); break;
    default: indirect_impl(rows, k, w, m, n_begin, n_end, wp, ow, out_plane, bias, act, a, b, y, scratch, 8, 3); break;
    }
}
AVX2_TARGET static void indirect_avx2 INDIRECT_PARAMS {
    indirect_impl(rows, k, w, m, n_begin, n_end, wp, ow, out_plane, bias, act, a, b, y, scratch, 6, 1);
}
static void indirect_baseline INDIRECT_PARAMS {
    indirect_impl(rows, k, w, m, n_begin, n_end, wp, ow, out_plane, bias, act, a, b, y, scratch, 6, 1);
}

static int supported_isa(void) {
    __builtin_cpu_init();
    // __builtin_cpu_supports also checks that the OS saves the wide registers (XCR0).
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma"))
        return MCC_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return MCC_ISA_AVX2;
    return MCC_ISA_BASELINE;
}

/// -1 until first use; then the level in use. Relaxed atomics: every thread computes the same value.
static int isa_in_use = -1;

static int requested_isa(void) {
    const char *env = getenv("MCC_ISA");
    if (!env) return MCC_ISA_AVX512;
    if (strcmp(env, "baseline") == 0) return MCC_ISA_BASELINE;
    if (strcmp(env, "avx2") == 0) return MCC_ISA_AVX2;
    return MCC_ISA_AVX512;
}

int mcc_set_isa(int level) {
    int supported = supported_isa();
    int chosen = level < supported ? level : supported;
    if (chosen < MCC_ISA_BASELINE) chosen = MCC_ISA_BASELINE;
    __atomic_store_n(&isa_in_use, chosen, __ATOMIC_RELAXED);
    return chosen;
}

int mcc_isa(void) {
    int level = __atomic_load_n(&isa_in_use, __ATOMIC_RELAXED);
    return level >= 0 ? level : mcc_set_isa(requested_isa());
}

void mcc_activation(int act, float a, float b, const float *x, float *y, ptrdiff_t n) {
    switch (mcc_isa()) {
    case MCC_ISA_AVX512: activation_avx512(act, a, b, x, y, n); break;
    case MCC_ISA_AVX2: activation_avx2(act, a, b, x, y, n); break;
    default: activation_baseline(act, a, b, x, y, n); break;
    }
}

void mcc_bias_activation(float *y, ptrdiff_t channels, ptrdiff_t spatial, ptrdiff_t ld, const float *bias, int act,
                         float a, float b) {
    switch (mcc_isa()) {
    case MCC_ISA_AVX512: bias_activation_avx512(y, channels, spatial, ld, bias, act, a, b); break;
    case MCC_ISA_AVX2: bias_activation_avx2(y, channels, spatial, ld, bias, act, a, b); break;
    default: bias_activation_baseline(y, channels, spatial, ld, bias, act, a, b); break;
    }
}

void mcc_depthwise_plane(const float *src, ptrdiff_t wp, const float *wk, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh,
                         ptrdiff_t sw, ptrdiff_t dh, ptrdiff_t dw, ptrdiff_t oh, ptrdiff_t ow, float bias, int act,
                         float a, float b, float *dst) {
    switch (mcc_isa()) {
    case MCC_ISA_AVX512: depthwise_avx512(src, wp, wk, kh, kw, sh, sw, dh, dw, oh, ow, bias, act, a, b, dst); break;
    case MCC_ISA_AVX2: depthwise_avx2(src, wp, wk, kh, kw, sh, sw, dh, dw, oh, ow, bias, act, a, b, dst); break;
    default: depthwise_baseline(src, wp, wk, kh, kw, sh, sw, dh, dw, oh, ow, bias, act, a, b, dst); break;
    }
}

void mcc_copy_bias_activation(const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy, ptrdiff_t rows, ptrdiff_t cols,
                              float bias, int act, float a, float b) {
    switch (mcc_isa()) {
    case MCC_ISA_AVX512: copy_bias_activation_avx512(x, ldx, y, ldy, rows, cols, bias, act, a, b); break;
    case MCC_ISA_AVX2: copy_bias_activation_avx2(x, ldx, y, ldy, rows, cols, bias, act, a, b); break;
    default: copy_bias_activation_baseline(x, ldx, y, ldy, rows, cols, bias, act, a, b); break;
    }
}

// AVX-512: 12×32, 10×32 or 8×48 blocks (see indirect_block_rows); AVX2 and SSE: 6×16 (12 of AVX2's 16 registers).
void mcc_indirect_conv(const float *const *rows, ptrdiff_t k, const float *w, ptrdiff_t m, ptrdiff_t n_begin,
                       ptrdiff_t n_end, ptrdiff_t wp, ptrdiff_t ow, ptrdiff_t out_plane, const float *bias, int act,
                       float a, float b, float *y, float *scratch) {
    if (n_end <= n_begin || m <= 0) return;
    switch (mcc_isa()) {
    case MCC_ISA_AVX512: indirect_avx512(rows, k, w, m, n_begin, n_end, wp, ow, out_plane, bias, act, a, b, y, scratch); break;
    case MCC_ISA_AVX2: indirect_avx2(rows, k, w, m, n_begin, n_end, wp, ow, out_plane, bias, act, a, b, y, scratch); break;
    default: indirect_baseline(rows, k, w, m, n_begin, n_end, wp, ow, out_plane, bias, act, a, b, y, scratch); break;
    }
}
