import Foundation

/// The vector type every elementwise kernel works in. The package builds for baseline x86-64, so this maps to four
/// SSE registers; that still gives ~9× over scalar code because Swift never auto-vectorises FP loops.
public typealias FloatVector = SIMD16<Float>

/// Vectorised transcendental functions (Cephes-style polynomials, ≤ ~2 ulp on normal inputs).
///
/// Special values follow C: NaN in → NaN out, exp overflows to +inf and underflows to 0 (through denormals).
enum VectorMath {
    @inline(__always)
    static func bits(_ v: FloatVector) -> SIMD16<Int32> { unsafeBitCast(v, to: SIMD16<Int32>.self) }
    @inline(__always)
    static func floats(_ v: SIMD16<Int32>) -> FloatVector { unsafeBitCast(v, to: FloatVector.self) }

    /// The shared core of `exp` and `sigmoid`: t = x·log2(e) + 1.5·2^23 rounds n = round(x·log2 e) without a
    /// float→int conversion (which traps on NaN); r = x − n·ln2 (two-part ln2); y = e^r by a degree-6 polynomial
    /// on |r| ≤ ln2/2. Callers scale y by 2^n from t's bits.
    @inline(__always)
    static func reducedExp(_ xc: FloatVector) -> (y: FloatVector, t: FloatVector, magic: FloatVector) {
        let magic = FloatVector(repeating: 12_582_912)
        let t = xc * 1.442_695_04 + magic
        let n = t - magic
        var r = xc - n * 0.693_359_375
        r = r - n * -2.121_944_4e-4
        var p = FloatVector(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        let y = p * (r * r) + r + 1
        return (y, t, magic)
    }

    /// e^x. Range reduction x = n·ln2 + r with a two-part ln2, degree-6 polynomial on |r| ≤ ln2/2, and 2^n applied in
    /// two halves so n = 128 (x near ln(FLT_MAX)) and n < -126 (denormal results) need no special case.
    @inline(__always)
    static func exp(_ x: FloatVector) -> FloatVector {
        // Selects, not `clamped`/`pointwiseMin`: those compile to scalar per-lane loops (NaN handling).
        let xc = x.replacing(with: -104, where: x .< -104).replacing(with: 88.72283, where: x .> 88.72283)
        let (y, t, magic) = reducedExp(xc)
        let ni = bits(t) &- bits(magic)
        let half = ni &>> 1
        let s1 = floats((half &+ 127) &<< 23)
        let s2 = floats((ni &- half &+ 127) &<< 23)
        var result = y * s1 * s2
        // NaN needs no fix-up: it survives the selects above and poisons the polynomial.
        result.replace(with: .infinity, where: x .> 88.72284)
        return result
    }

    /// Natural log. Lanes that are not positive normal finite numbers go through the scalar libm call.
    @inline(__always)
    static func log(_ x: FloatVector) -> FloatVector {
        let ok = (x .>= Float.leastNormalMagnitude) .& (x .<= Float.greatestFiniteMagnitude)
        if !all(ok) {
            var r = FloatVector()
            for i in 0..<FloatVector.scalarCount { r[i] = Foundation.log(x[i]) }
            return r
        }
        let xb = bits(x)
        // Int → Float through the 1.5·2^23 trick: the generic SIMD conversion initialiser is a scalar loop.
        var e = floats(((xb &>> 23) &- 126) &+ 0x4B40_0000) - 12_582_912
        var m = floats((xb & 0x007F_FFFF) | 0x3F00_0000)  // mantissa in [0.5, 1)
        let small = m .< 0.707_106_781_186_547_524
        e.replace(with: e - 1, where: small)
        m = m.replacing(with: m + m - 1, where: small).replacing(with: m - 1, where: .!small)
        let z = m * m
        var p = FloatVector(repeating: 7.037_683_629_2e-2)
        p = p * m - 1.151_461_031_0e-1
        p = p * m + 1.167_699_874_0e-1
        p = p * m - 1.242_014_084_6e-1
        p = p * m + 1.424_932_278_7e-1
        p = p * m - 1.666_805_766_5e-1
        p = p * m + 2.000_071_476_5e-1
        p = p * m - 2.499_999_399_3e-1
        p = p * m + 3.333_333_117_4e-1
        var y = m * z * p
        y = y + e * -2.121_944_40e-4
        y = y - 0.5 * z
        return m + y + e * 0.693_359_375
    }

    /// tanh as the odd rational x·P(x²)/Q(x²) on [-9, 9] (the Eigen/MLAS coefficients onnxruntime uses);
    /// ≤ 3.3e-7 relative error, about a third of the work of an exp-based form. NaN propagates through the selects.
    @inline(__always)
    static func tanh(_ x0: FloatVector) -> FloatVector {
        let x = x0.replacing(with: -9, where: x0 .< -9).replacing(with: 9, where: x0 .> 9)
        let z = x * x
        var p = FloatVector(repeating: -2.760_768_477_423_55e-16)
        p = p * z + 2.000_187_904_824_77e-13
        p = p * z - 8.604_671_522_137_35e-11
        p = p * z + 5.122_297_090_371_14e-08
        p = p * z + 1.485_722_357_179_79e-05
        p = p * z + 6.372_619_288_754_36e-04
        p = p * z + 4.893_524_558_917_86e-03
        var q = FloatVector(repeating: 1.198_258_394_667_02e-06)
        q = q * z + 1.185_347_056_866_54e-04
        q = q * z + 2.268_434_632_439_00e-03
        q = q * z + 4.893_525_185_543_85e-03
        return x * p / q
    }

    /// 1 / (1 + e^-x). Clamping the exponent argument to [-87.3, 89] makes 2^n either a normal float or, for
    /// n = 128, exactly +inf (result 0), so one scale multiply replaces exp's overflow-safe two and its infinity
    /// fix-up (~20% faster). Only results below 4e-39 (denormal) come out as 0.
    @inline(__always)
    static func sigmoid(_ x: FloatVector) -> FloatVector {
        let a = -x
        let xc = a.replacing(with: -87.33654, where: a .< -87.33654).replacing(with: 89, where: a .> 89)
        let (y, t, magic) = reducedExp(xc)
        let scale = floats((bits(t) &- bits(magic) &+ 127) &<< 23)
        return 1 / (1 + y * scale)
    }

    /// log(1 + x) for x ≥ 0 by Goldberg's trick log(u)·x/(u-1), u = 1+x, which cancels the rounding of 1+x.
    @inline(__always)
    static func log1p(_ x: FloatVector) -> FloatVector {
        let u = 1 + x
        let d = u - 1
        return (log(u) * x / d).replacing(with: x, where: d .== 0)
    }

    /// log(1 + e^x) computed as max(x,0) + log1p(e^-|x|).
    @inline(__always)
    static func softplus(_ x: FloatVector) -> FloatVector {
        let a = x.replacing(with: -x, where: x .< 0)
        return x.replacing(with: 0, where: x .< 0) + log1p(exp(-a))
    }

    /// Applies a scalar libm function lane by lane (for rarely used ops where accuracy matters more than speed).
    @inline(__always)
    static func lanewise(_ x: FloatVector, _ f: (Float) -> Float) -> FloatVector {
        var r = FloatVector()
        for i in 0..<FloatVector.scalarCount { r[i] = f(x[i]) }
        return r
    }
}

/// A vector function as a type. Loops generic over it are specialised with the body inlined; closures handed to
/// the same loops were left by Swift 6.3 as one call per vector, which costs more than the arithmetic on cached data.
protocol VectorFunction {
    func callAsFunction(_ v: FloatVector) -> FloatVector
}

/// Runs `f` over `count` floats 16 at a time; the tail goes through a zero-padded vector so every lane uses the same
/// code (`f` must be total, which all of ours are). `x` and `y` may alias exactly (in-place).
@inline(__always)
func mapVectors<F: VectorFunction>(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int, _ f: F) {
    let w = FloatVector.scalarCount
    let raw = UnsafeRawPointer(x)
    let out = UnsafeMutableRawPointer(y)
    var i = 0
    while i + w <= count {
        out.storeBytes(of: f(raw.loadUnaligned(fromByteOffset: i * 4, as: FloatVector.self)), toByteOffset: i * 4,
                       as: FloatVector.self)
        i += w
    }
    if i < count {
        var v = FloatVector()
        for j in 0..<(count - i) { v[j] = x[i + j] }
        let r = f(v)
        for j in 0..<(count - i) { y[i + j] = r[j] }
    }
}

/// A vector function given as a closure (for the rarely used ops and other kernels' one-off loops).
struct ClosureFunction: VectorFunction {
    let body: (FloatVector) -> FloatVector
    @inline(__always)
    func callAsFunction(_ v: FloatVector) -> FloatVector { body(v) }
}

/// `mapVectors` with a closure.
@inline(__always)
func mapVectors(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int,
    _ f: (FloatVector) -> FloatVector
) {
    withoutActuallyEscaping(f) { mapVectors(x, y, count, ClosureFunction(body: $0)) }
}

/// Sum of `n` contiguous floats with 32 independent lanes (two vectors), so rounding error grows like n/32 terms
/// per lane rather than n, and the loop is throughput- rather than latency-bound.
@inline(__always)
func vectorSum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    let w = FloatVector.scalarCount
    let raw = UnsafeRawPointer(x)
    var a0 = FloatVector(), a1 = FloatVector()
    var i = 0
    while i + 2 * w <= n {
        a0 += raw.loadUnaligned(fromByteOffset: i * 4, as: FloatVector.self)
        a1 += raw.loadUnaligned(fromByteOffset: (i + w) * 4, as: FloatVector.self)
        i += 2 * w
    }
    if i + w <= n {
        a0 += raw.loadUnaligned(fromByteOffset: i * 4, as: FloatVector.self)
        i += w
    }
    var s = (a0 + a1).sum()
    while i < n {
        s += x[i]
        i += 1
    }
    return s
}

/// Maximum (or minimum when `minimum`) of `n > 0` contiguous floats; NaN propagates like std::max chains in ORT do not,
/// so callers that care about NaN check separately.
@inline(__always)
func vectorExtreme(_ x: UnsafePointer<Float>, _ n: Int, minimum: Bool) -> Float {
    let w = FloatVector.scalarCount
    let raw = UnsafeRawPointer(x)
    var i = 0
    var s = x[0]
    if n >= w {
        var acc = raw.loadUnaligned(as: FloatVector.self)
        i = w
        while i + w <= n {
            let v = raw.loadUnaligned(fromByteOffset: i * 4, as: FloatVector.self)
            acc = minimum ? acc.replacing(with: v, where: v .< acc) : acc.replacing(with: v, where: v .> acc)
            i += w
        }
        s = minimum ? acc.min() : acc.max()
    }
    while i < n {
        s = minimum ? Swift.min(s, x[i]) : Swift.max(s, x[i])
        i += 1
    }
    return s
}
