import Foundation
import IR

/// GridSample over 2-D or 3-D (any rank) float inputs, following the onnx reference.
///
/// grid [N, out..., r] holds normalised (x, y[, z]) per output point; the last component addresses the first spatial
/// axis. Denormalisation: align_corners maps ±1 to the edge pixel centres, else to the outer pixel edges. Modes
/// nearest (round half to even), linear (2 taps per axis) and cubic (4 taps, A = -0.75), separable over axes.
/// padding_mode: zeros (outside taps read 0), border (coordinates and taps clamped), reflection (reflected about
/// [-0.5, size-0.5], or [0, size-1] with align_corners).
func registerGridSampleOps(_ r: inout OpRegistry) {
    r.registerPromoting("GridSample") { ctx in [try gridSample(ctx)] }
}

private enum Padding { case zeros, border, reflection }

private func gridSample(_ ctx: OpContext) throws -> Tensor {
    let x = try ctx.floatInput(0, "X"), grid = try ctx.floatInput(1, "grid")
    guard x.rank >= 3 else { throw ctx.failure("X must be [N, C, spatial...], got \(x.shape)") }
    let dims = Array(x.shape[2...])
    let rank = dims.count
    guard grid.rank == x.rank, grid.shape[0] == x.shape[0], grid.shape[grid.rank - 1] == rank else {
        throw ctx.failure("grid \(grid.shape) must be [N, out..., \(rank)] for X \(x.shape)")
    }
    let alignCorners = ctx.int("align_corners", default: 0) != 0
    let modeName = ctx.string("mode", default: ctx.opset >= 20 ? "linear" : "bilinear")
    let taps: Int
    switch modeName {
    case "nearest": taps = 1
    case "linear", "bilinear": taps = 2
    case "cubic", "bicubic": taps = 4
    default: throw ctx.failure("unknown mode '\(modeName)'")
    }
    let padding: Padding
    switch ctx.string("padding_mode", default: "zeros") {
    case "zeros": padding = .zeros
    case "border": padding = .border
    case "reflection": padding = .reflection
    case let other: throw ctx.failure("unknown padding_mode '\(other)'")
    }
    let (n, c) = (x.shape[0], x.shape[1])
    let outDims = Array(grid.shape[1..<(grid.rank - 1)])
    let points = outDims.reduce(1, *), plane = dims.reduce(1, *)
    let strides = rowMajorStrides(dims)
    let values = x.floatValues(), g = grid.floatValues()
    var result = [Float](repeating: 0, count: n * c * points)
    let lower = dims.map { _ in alignCorners ? 0 : Float(-0.5) }
    let upper = dims.map { alignCorners ? Float($0 - 1) : Float($0) - 0.5 }

    func reflect(_ v: Float, _ lo: Float, _ hi: Float) -> Float {
        let range = hi - lo
        guard range > 0 else { return lo }
        if v < lo {
            let d = lo - v, k = Int(d / range), r = d - Float(k) * range
            return k % 2 == 0 ? lo + r : hi - r
        }
        if v > hi {
            let d = v - hi, k = Int(d / range), r = d - Float(k) * range
            return k % 2 == 0 ? hi - r : lo + r
        }
        return v
    }
    /// Index actually read for tap `i` on axis `a`, or nil for a zero.
    func resolve(_ i: Int, _ a: Int) -> Int? {
        switch padding {
        case .zeros: return i >= 0 && i < dims[a] ? i : nil
        case .border: return min(max(i, 0), dims[a] - 1)
        case .reflection:
            let r = Int(reflect(Float(i), lower[a], upper[a]))
            return min(max(r, 0), dims[a] - 1)
        }
    }
    func cubic(_ t: Float) -> [Float] {
        let a: Float = -0.75, s = abs(t)
        return [((a * (s + 1) - 5 * a) * (s + 1) + 8 * a) * (s + 1) - 4 * a,
                ((a + 2) * s - (a + 3)) * s * s + 1,
                ((a + 2) * (1 - s) - (a + 3)) * (1 - s) * (1 - s) + 1,
                ((a * (2 - s) - 5 * a) * (2 - s) + 8 * a) * (2 - s) - 4 * a]
    }

    for img in 0..<n {
        for p in 0..<points {
            // Per axis: (index or nil, weight) taps.
            var axisTaps: [[(Int?, Float)]] = []
            for a in 0..<rank {
                let normalized = g[(img * points + p) * rank + (rank - 1 - a)]
                let size = Float(dims[a])
                var v = alignCorners ? (normalized + 1) / 2 * (size - 1) : ((normalized + 1) * size - 1) / 2
                if taps == 1 { v = v.rounded(.toNearestOrEven) }
                if v < lower[a] || v > upper[a] {
                    if padding == .border { v = min(max(v, 0), size - 1) }
                    if padding == .reflection { v = reflect(v, lower[a], upper[a]) }
                }
                switch taps {
                case 1: axisTaps.append([(resolve(Int(v), a), 1)])
                case 2:
                    let i0 = Int(v.rounded(.down)), t = v - Float(i0)
                    axisTaps.append([(resolve(i0, a), 1 - t), (resolve(i0 + 1, a), t)])
                default:
                    let i0 = Int(v.rounded(.down))
                    let w = cubic(v - Float(i0))
                    axisTaps.append((0..<4).map { (resolve(i0 - 1 + $0, a), w[$0]) })
                }
            }
            for ch in 0..<c {
                let base = (img * c + ch) * plane
                var sum: Float = 0
                var choice = [Int](repeating: 0, count: rank)
                let tapCounts = axisTaps.map(\.count)
                repeat {
                    var weight: Float = 1, offset = 0, zero = false
                    for a in 0..<rank {
                        let (index, w) = axisTaps[a][choice[a]]
                        guard let index else { zero = true; break }
                        weight *= w
                        offset += index * strides[a]
                    }
                    if !zero { sum += weight * values[base + offset] }
                } while advance(&choice, tapCounts)
                result[(img * c + ch) * points + p] = sum
            }
        }
    }
    return Tensor(floats: result, shape: [n, c] + outDims)
}
