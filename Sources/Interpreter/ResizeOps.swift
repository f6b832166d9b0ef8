import Foundation
import IR
import Kernels

/// Resize (opsets 10–19+) and the deprecated Upsample, on float32 tensors of any rank.
///
/// Output sizes come from `sizes` (scale = out/in, or one common scale under keep_aspect_ratio_policy
/// not_larger/not_smaller, output = round(scale·in)) or from `scales` (output = ⌊in·scale⌋); `axes` (opset 18)
/// restricts both to the listed axes. Resize-10 and Upsample use the asymmetric transform with floor rounding for
/// nearest. Interpolation runs on the separable `resize` kernel; antialiased linear/cubic downsampling (opset 18)
/// widens the filter by 1/scale and is computed here as the onnx reference does (edge-clamped taps, normalised
/// weights).
func registerResizeOps(_ r: inout OpRegistry) {
    r.registerPromoting("Resize") { ctx in [try resize(ctx)] }
    r.registerPromoting("Upsample") { ctx in [try upsample(ctx)] }
}

private func resize(_ ctx: OpContext) throws -> Tensor {
    let x = try ctx.floatInput(0, "input")
    let rank = x.rank
    let legacy = ctx.opset < 11
    let roiInput = legacy ? nil : ctx.optionalInput(1)
    let scalesInput = legacy ? ctx.optionalInput(1) : ctx.optionalInput(2)
    let sizesInput = legacy ? nil : ctx.optionalInput(3)
    let axes = try normalizedAxes(ctx.opset >= 18 ? (ctx.ints("axes") ?? Array(0..<rank)) : Array(0..<rank),
                                  rank: rank, ctx: ctx)
    guard Set(axes).count == axes.count else { throw ctx.failure("repeated axes \(axes)") }

    var outSizes = x.shape
    var scales = [Float](repeating: 1, count: rank)
    if let sizesInput, sizesInput.elementCount > 0 {
        let sizes = try indexValues(sizesInput, ctx: ctx)
        guard sizes.count == axes.count else { throw ctx.failure("sizes has \(sizes.count) values for \(axes.count) axes") }
        guard sizes.allSatisfy({ $0 >= 0 }) else { throw ctx.failure("negative sizes \(sizes)") }
        let policy = ctx.opset >= 18 ? ctx.string("keep_aspect_ratio_policy", default: "stretch") : "stretch"
        switch policy {
        case "stretch":
            for (k, a) in axes.enumerated() {
                outSizes[a] = sizes[k]
                scales[a] = x.shape[a] > 0 ? Float(sizes[k]) / Float(x.shape[a]) : 1
            }
        case "not_larger", "not_smaller":
            let ratios = axes.enumerated().map { k, a in x.shape[a] > 0 ? Float(sizes[k]) / Float(x.shape[a]) : 1 }
            let common = (policy == "not_larger" ? ratios.min() : ratios.max()) ?? 1
            for a in axes {
                scales[a] = common
                outSizes[a] = Int((common * Float(x.shape[a])).rounded())
            }
        default:
            throw ctx.failure("unknown keep_aspect_ratio_policy '\(policy)'")
        }
    } else if let scalesInput, scalesInput.elementCount > 0 {
        guard scalesInput.elementType == .float else { throw ctx.failure("scales must be float32") }
        let given = scalesInput.floatValues()
        guard given.count == axes.count else { throw ctx.failure("scales has \(given.count) values for \(axes.count) axes") }
        guard given.allSatisfy({ $0 > 0 && $0.isFinite }) else { throw ctx.failure("scales \(given) must be positive") }
        for (k, a) in axes.enumerated() {
            scales[a] = given[k]
            outSizes[a] = Int((Float(x.shape[a]) * given[k]).rounded(.down))
        }
    } else {
        throw ctx.failure("one of scales and sizes is required")
    }

    var roiStart = [Float](repeating: 0, count: rank), roiEnd = [Float](repeating: 1, count: rank)
    let transformName = legacy ? "asymmetric" : ctx.string("coordinate_transformation_mode", default: "half_pixel")
    if transformName == "tf_crop_and_resize", let roiInput, roiInput.elementCount > 0 {
        let roi = roiInput.floatValues()
        guard roi.count == 2 * axes.count else { throw ctx.failure("roi has \(roi.count) values for \(axes.count) axes") }
        for (k, a) in axes.enumerated() {
            roiStart[a] = roi[k]
            roiEnd[a] = roi[k + axes.count]
        }
    }
    let transform: CoordinateTransform
    switch transformName {
    case "half_pixel": transform = .halfPixel
    case "half_pixel_symmetric": transform = .halfPixelSymmetric
    case "pytorch_half_pixel": transform = .pytorchHalfPixel
    case "align_corners": transform = .alignCorners
    case "asymmetric": transform = .asymmetric
    case "tf_crop_and_resize": transform = .tfCropAndResize
    case "tf_half_pixel_for_nn": throw ctx.unsupported("coordinate_transformation_mode tf_half_pixel_for_nn")
    default: throw ctx.failure("unknown coordinate_transformation_mode '\(transformName)'")
    }
    let mode = ctx.string("mode", default: "nearest")
    let interpolation: ResizeInterpolation
    switch mode {
    case "nearest":
        let rounding: NearestRounding
        switch legacy ? "floor" : ctx.string("nearest_mode", default: "round_prefer_floor") {
        case "round_prefer_floor": rounding = .roundPreferFloor
        case "round_prefer_ceil": rounding = .roundPreferCeil
        case "floor": rounding = .floor
        case "ceil": rounding = .ceil
        case let other: throw ctx.failure("unknown nearest_mode '\(other)'")
        }
        interpolation = .nearest(rounding)
    case "linear", "bilinear", "trilinear":
        interpolation = .linear
    case "cubic", "bicubic":
        interpolation = .cubic(coefficientA: ctx.float("cubic_coeff_a", default: -0.75),
                               excludeOutside: ctx.int("exclude_outside", default: 0) != 0)
    default:
        throw ctx.failure("unknown mode '\(mode)'")
    }
    let axesParams = (0..<rank).map {
        ResizeAxis(inSize: x.shape[$0], outSize: outSizes[$0], scale: scales[$0], roiStart: roiStart[$0], roiEnd: roiEnd[$0])
    }
    let y = try ctx.allocate(.float, outSizes)
    guard y.elementCount > 0 else { return y }
    let extrapolation = ctx.float("extrapolation_value", default: 0)
    let antialias = ctx.opset >= 18 && ctx.int("antialias", default: 0) != 0
    var isNearest = false
    if case .nearest = interpolation { isNearest = true }
    // The kernel's align_corners divides by the integer output size; with given scales the reference divides by
    // in·scale, so those cases (and antialiasing) take the direct path.
    let scalesGiven = sizesInput.map { $0.elementCount == 0 } ?? true
    let downsampling = antialias && axesParams.contains(where: { $0.scale < 1 })
    if !isNearest, downsampling || (transform == .alignCorners && scalesGiven) {
        referenceResize(x.floatValues(), x.shape, axesParams, interpolation, transform, antialias: antialias,
                        y.mutableFloats)
        return y
    }
    x.withFloats { xp in
        Kernels.resize(x: xp, shape: x.shape, axes: axesParams, interpolation: interpolation, transform: transform,
                       extrapolationValue: extrapolation, y: y.mutableFloats)
    }
    return y
}

/// Linear/cubic resize as the onnx reference computes it, one axis at a time (last axis first). With `antialias`
/// the filter support grows by 1/scale when downsampling; taps beyond the edges read the edge value unless
/// exclude_outside. align_corners uses the fractional output size in·scale.
private func referenceResize(
    _ x: [Float], _ shape: [Int], _ axes: [ResizeAxis], _ interpolation: ResizeInterpolation,
    _ transform: CoordinateTransform, antialias: Bool, _ y: UnsafeMutablePointer<Float>
) {
    var current = shape
    var data = x
    for axis in (0..<shape.count).reversed() where axes[axis].inSize != axes[axis].outSize || axes[axis].scale != 1 {
        let a = axes[axis]
        let outer = current[..<axis].reduce(1, *), inner = current[(axis + 1)...].reduce(1, *)
        let (n, m) = (a.inSize, a.outSize)
        let scale = antialias ? min(a.scale, 1) : 1
        // Per output index: source indices and weights.
        var taps: [[(Int, Float)]] = []
        for o in 0..<m {
            let xo = Double(resizeCoordinate(Float(o), a, transform))
            var base = Int(xo.rounded(.down))
            var ratio = xo - Double(base)
            if ratio == 0 {
                base -= 1
                ratio = 1
            }
            var weights: [(Int, Double)] = []
            switch interpolation {
            case .cubic(let coefficient, _):
                let start = Int((-2 / Double(scale)).rounded(.down)) + 1
                for i in start..<(2 - start) {
                    let t = abs(Double(scale) * (Double(i) - ratio))
                    let c = Double(coefficient)
                    let w = t <= 1 ? (c + 2) * t * t * t - (c + 3) * t * t + 1
                        : t < 2 ? c * t * t * t - 5 * c * t * t + 8 * c * t - 4 * c : 0
                    weights.append((base + i, w))
                }
            default:
                let start = Int((-1 / Double(scale)).rounded(.down)) + 1
                for i in start..<(start + 2 - 2 * start) {
                    weights.append((base + i, min(1, max(0, 1 - abs((Double(i) - ratio) * Double(scale))))))
                }
            }
            if case .cubic(_, true) = interpolation {
                weights = weights.map { ($0.0 >= 0 && $0.0 < n) ? $0 : ($0.0, 0) }
            }
            let total = weights.reduce(0) { $0 + $1.1 }
            taps.append(weights.map { (min(max($0.0, 0), n - 1), Float(total != 0 ? $0.1 / total : 0)) })
        }
        var next = [Float](repeating: 0, count: outer * m * inner)
        for o in 0..<outer {
            for j in 0..<m {
                for i in 0..<inner {
                    var s: Float = 0
                    for (index, w) in taps[j] { s += w * data[(o * n + index) * inner + i] }
                    next[(o * m + j) * inner + i] = s
                }
            }
        }
        current[axis] = m
        data = next
    }
    for i in 0..<data.count { y[i] = data[i] }
}

/// Source coordinate of output index `x` (the kernel's transforms, restated for the reference path).
private func resizeCoordinate(_ x: Float, _ a: ResizeAxis, _ transform: CoordinateTransform) -> Float {
    let inSize = Float(a.inSize), outSize = Float(a.outSize)
    switch transform {
    case .halfPixel: return (x + 0.5) / a.scale - 0.5
    case .halfPixelSymmetric:
        let adjustment = outSize / (a.scale * inSize)
        return inSize / 2 * (1 - adjustment) + (x + 0.5) / a.scale - 0.5
    case .pytorchHalfPixel: return a.outSize > 1 ? (x + 0.5) / a.scale - 0.5 : 0
    case .alignCorners:
        let width = inSize * a.scale
        return width == 1 ? 0 : x * (inSize - 1) / (width - 1)
    case .asymmetric: return x / a.scale
    case .tfCropAndResize:
        return a.outSize > 1
            ? a.roiStart * (inSize - 1) + x * (a.roiEnd - a.roiStart) * (inSize - 1) / (outSize - 1)
            : 0.5 * (a.roiStart + a.roiEnd) * (inSize - 1)
    }
}

/// Upsample (opsets 7–9): scales as an attribute (7) or input (9); nearest (floor) or linear, asymmetric.
private func upsample(_ ctx: OpContext) throws -> Tensor {
    let x = try ctx.floatInput(0, "input")
    let scales: [Float]
    if ctx.opset >= 9 {
        scales = try ctx.floatInput(1, "scales").floatValues()
    } else {
        scales = ctx.floats("scales") ?? []
    }
    guard scales.count == x.rank, scales.allSatisfy({ $0 >= 1 && $0.isFinite }) else {
        throw ctx.failure("scales \(scales) must have \(x.rank) values, each at least 1")
    }
    let mode = ctx.string("mode", default: "nearest")
    let interpolation: ResizeInterpolation
    switch mode {
    case "nearest": interpolation = .nearest(.floor)
    case "linear", "bilinear": interpolation = .linear
    default: throw ctx.failure("unknown mode '\(mode)'")
    }
    let axes = (0..<x.rank).map {
        ResizeAxis(inSize: x.shape[$0], outSize: Int((Float(x.shape[$0]) * scales[$0]).rounded(.down)), scale: scales[$0])
    }
    let y = try ctx.allocate(.float, axes.map(\.outSize))
    guard y.elementCount > 0 else { return y }
    x.withFloats { xp in
        Kernels.resize(x: xp, shape: x.shape, axes: axes, interpolation: interpolation, transform: .asymmetric,
                       y: y.mutableFloats)
    }
    return y
}
