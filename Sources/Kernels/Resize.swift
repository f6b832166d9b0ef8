import Foundation

/// ONNX Resize `nearest_mode`.
public enum NearestRounding: Sendable, Equatable {
    case roundPreferFloor, roundPreferCeil, floor, ceil
}

/// ONNX Resize `mode` (with its mode-specific attributes).
public enum ResizeInterpolation: Sendable, Equatable {
    case nearest(NearestRounding)
    case linear
    case cubic(coefficientA: Float, excludeOutside: Bool)
}

/// ONNX Resize `coordinate_transformation_mode`.
public enum CoordinateTransform: Sendable, Equatable {
    case halfPixel, halfPixelSymmetric, pytorchHalfPixel, alignCorners, asymmetric, tfCropAndResize
}

/// One axis of a resize: sizes, the scale the caller resolved (given `scales`, or outSize/inSize when `sizes` was
/// given), and the normalised ROI used by `tfCropAndResize`.
public struct ResizeAxis: Sendable, Equatable {
    public var inSize: Int
    public var outSize: Int
    public var scale: Float
    public var roiStart: Float
    public var roiEnd: Float

    public init(inSize: Int, outSize: Int, scale: Float? = nil, roiStart: Float = 0, roiEnd: Float = 1) {
        self.inSize = inSize
        self.outSize = outSize
        self.scale = scale ?? (inSize > 0 ? Float(outSize) / Float(inSize) : 1)
        self.roiStart = roiStart
        self.roiEnd = roiEnd
    }
}

/// ONNX Resize on a contiguous tensor of `shape`, one `ResizeAxis` per dimension; `y` has the `outSize`s.
///
/// Separable: each axis whose taps are not the identity gets one pass, last axis first (the order in which the ONNX
/// reference recurses, which also makes tf_crop_and_resize extrapolation come out the same). Each pass precomputes
/// per-output-index source indices and weights (1 tap nearest, 2 linear, 4 cubic), then blends whole rows with
/// vectors when the axis is not innermost. Coordinates are computed in Float like onnxruntime.
public func resize(
    x: UnsafePointer<Float>, shape: [Int], axes: [ResizeAxis], interpolation: ResizeInterpolation,
    transform: CoordinateTransform, extrapolationValue: Float = 0, y: UnsafeMutablePointer<Float>
) {
    precondition(axes.count == shape.count && zip(axes, shape).allSatisfy { $0.inSize == $1 }, "resize: axes")
    let outTotal = axes.reduce(1) { $0 * $1.outSize }
    guard outTotal > 0 else { return }
    guard shape.allSatisfy({ $0 > 0 }) else {
        y.update(repeating: extrapolationValue, count: outTotal)
        return
    }
    var current = shape
    var src = x
    var owned: UnsafeMutablePointer<Float>? = nil
    let passes = (0..<shape.count).reversed().compactMap { axis -> (Int, ResizeTaps)? in
        let taps = ResizeTaps(axes[axis], interpolation, transform)
        return taps.isIdentity ? nil : (axis, taps)
    }
    if passes.isEmpty {
        y.update(from: x, count: outTotal)
        return
    }
    for (n, (axis, taps)) in passes.enumerated() {
        let outer = current[0..<axis].reduce(1, *)
        let inner = current[(axis + 1)...].reduce(1, *)
        current[axis] = taps.outSize
        let count = current.reduce(1, *)
        let dst = n == passes.count - 1 ? y : UnsafeMutablePointer<Float>.allocate(capacity: count)
        resizePass(src, dst, outer, axes[axis].inSize, inner, taps, extrapolationValue)
        owned?.deallocate()
        owned = dst == y ? nil : dst
        src = UnsafePointer(dst)
    }
}

/// Source indices and weights per output index along one axis; `valid[o] == false` means extrapolation.
struct ResizeTaps {
    var inSize: Int
    var outSize: Int
    var width: Int
    var index: [Int]
    var weight: [Float]
    var valid: [Bool]

    init(_ a: ResizeAxis, _ mode: ResizeInterpolation, _ transform: CoordinateTransform) {
        inSize = a.inSize
        outSize = a.outSize
        switch mode {
        case .nearest: width = 1
        case .linear: width = 2
        case .cubic: width = 4
        }
        index = [Int](repeating: 0, count: outSize * width)
        weight = [Float](repeating: 0, count: outSize * width)
        valid = [Bool](repeating: true, count: outSize)
        let n = a.inSize
        let last = Float(n - 1)
        for o in 0..<outSize {
            let xo = resizeSourceCoordinate(Float(o), a, transform)
            if transform == .tfCropAndResize && (xo < 0 || xo > last) {
                valid[o] = false
                continue
            }
            switch mode {
            case .nearest(let rounding):
                var i: Float
                switch rounding {
                case .roundPreferFloor: i = xo == xo.rounded(.down) + 0.5 ? xo.rounded(.down) : xo.rounded()
                case .roundPreferCeil: i = xo.rounded(.toNearestOrAwayFromZero)
                    if xo < 0 && xo == xo.rounded(.down) + 0.5 { i = xo.rounded(.up) }
                case .floor: i = xo.rounded(.down)
                case .ceil: i = xo.rounded(.up)
                }
                index[o] = Int(min(max(i, 0), last))
                weight[o] = 1
            case .linear:
                let xc = min(max(xo, 0), last)
                let i0 = Int(xc)
                let i1 = min(i0 + 1, n - 1)
                let t = xc - Float(i0)
                index[2 * o] = i0
                index[2 * o + 1] = i1
                weight[2 * o] = 1 - t
                weight[2 * o + 1] = t
            case .cubic(let aCoef, let excludeOutside):
                let f = xo.rounded(.down)
                let t = xo - f
                let base = Int(f) - 1
                var w = cubicCoefficients(t, aCoef)
                if excludeOutside {
                    var s: Float = 0
                    for k in 0..<4 {
                        let i = base + k
                        if i < 0 || i >= n { w[k] = 0 }
                        s += w[k]
                    }
                    if s != 0 { for k in 0..<4 { w[k] /= s } }
                }
                for k in 0..<4 {
                    index[4 * o + k] = min(max(base + k, 0), n - 1)
                    weight[4 * o + k] = w[k]
                }
            }
        }
    }

    /// True when every output takes exactly the same-index input with weight 1.
    var isIdentity: Bool {
        guard inSize == outSize, valid.allSatisfy({ $0 }) else { return false }
        for o in 0..<outSize {
            for k in 0..<width {
                let w = weight[o * width + k]
                if w != 0 && !(w == 1 && index[o * width + k] == o) { return false }
                if w == 1 && index[o * width + k] != o { return false }
            }
            if (0..<width).reduce(Float(0), { $0 + weight[o * width + $1] }) != 1 { return false }
        }
        return true
    }
}

/// Keys cubic convolution weights for the 4 neighbours of fractional offset `t`.
func cubicCoefficients(_ t: Float, _ a: Float) -> [Float] {
    let t1 = t + 1, t2 = 1 - t, t3 = 2 - t
    return [
        ((a * t1 - 5 * a) * t1 + 8 * a) * t1 - 4 * a,
        ((a + 2) * t - (a + 3)) * t * t + 1,
        ((a + 2) * t2 - (a + 3)) * t2 * t2 + 1,
        ((a * t3 - 5 * a) * t3 + 8 * a) * t3 - 4 * a,
    ]
}

/// Input coordinate for output coordinate `x` (ONNX coordinate_transformation_mode formulas).
@inline(__always)
func resizeSourceCoordinate(_ x: Float, _ a: ResizeAxis, _ transform: CoordinateTransform) -> Float {
    let inSize = Float(a.inSize), outSize = Float(a.outSize)
    switch transform {
    case .halfPixel:
        return (x + 0.5) / a.scale - 0.5
    case .halfPixelSymmetric:
        let adjustment = outSize / (a.scale * inSize)
        let center = inSize / 2
        let offset = center * (1 - adjustment)
        return offset + (x + 0.5) / a.scale - 0.5
    case .pytorchHalfPixel:
        return a.outSize > 1 ? (x + 0.5) / a.scale - 0.5 : 0
    case .alignCorners:
        return a.outSize == 1 ? 0 : x * (inSize - 1) / (outSize - 1)
    case .asymmetric:
        return x / a.scale
    case .tfCropAndResize:
        return a.outSize > 1
            ? a.roiStart * (inSize - 1) + x * (a.roiEnd - a.roiStart) * (inSize - 1) / (outSize - 1)
            : 0.5 * (a.roiStart + a.roiEnd) * (inSize - 1)
    }
}

/// [outer, inLen, inner] → [outer, taps.outSize, inner].
func resizePass(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ outer: Int, _ inLen: Int, _ inner: Int,
    _ taps: ResizeTaps, _ extrapolation: Float
) {
    let outLen = taps.outSize, width = taps.width
    taps.index.withUnsafeBufferPointer { index in
        taps.weight.withUnsafeBufferPointer { weight in
            taps.valid.withUnsafeBufferPointer { valid in
                parallelFor(outer, minChunk: max(1, 16_384 / max(1, outLen * inner))) { range in
                    for o in range {
                        let src = x + o * inLen * inner
                        let dst = y + o * outLen * inner
                        if inner == 1 {
                            // Literal tap counts so the tap loop unrolls.
                            switch width {
                            case 1: gatherRow(src, dst, outLen, 1, index, weight, valid, extrapolation)
                            case 2: gatherRow(src, dst, outLen, 2, index, weight, valid, extrapolation)
                            default: gatherRow(src, dst, outLen, 4, index, weight, valid, extrapolation)
                            }
                        } else {
                            for j in 0..<outLen {
                                let row = dst + j * inner
                                if !valid[j] { row.update(repeating: extrapolation, count: inner); continue }
                                if width == 1 {
                                    row.update(from: src + index[j] * inner, count: inner)
                                    continue
                                }
                                let w0 = weight[j * width]
                                let r0 = src + index[j * width] * inner
                                mapVectors(r0, row, inner) { $0 * w0 }
                                for k in 1..<width {
                                    let wk = weight[j * width + k]
                                    binaryLoop(row, 1, src + index[j * width + k] * inner, 1, row, inner,
                                               { $0 + $1 * wk }, { $0 + $1 * wk })
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Innermost-axis pass for one row: each output is a weighted gather of `width` inputs.
@inline(__always)
func gatherRow(
    _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ outLen: Int, _ width: Int,
    _ index: UnsafeBufferPointer<Int>, _ weight: UnsafeBufferPointer<Float>, _ valid: UnsafeBufferPointer<Bool>,
    _ extrapolation: Float
) {
    for j in 0..<outLen {
        if !valid[j] {
            dst[j] = extrapolation
            continue
        }
        if width == 1 {
            dst[j] = src[index[j]]
            continue
        }
        var s: Float = 0
        for k in 0..<width { s += weight[j * width + k] * src[index[j * width + k]] }
        dst[j] = s
    }
}
