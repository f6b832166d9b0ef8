import Foundation
import IR
import Kernels

/// Pooling: MaxPool (with the optional Indices output, storage_order), AveragePool (count_include_pad), LpPool, and
/// the global variants, over any number of spatial axes; MaxUnpool.
///
/// Window geometry (kernel_shape, strides, dilations, pads, auto_pad, ceil_mode) comes from `ConvAttributes`. Taps in
/// the padding never contribute a value: MaxPool ignores them, AveragePool divides by the in-image tap count unless
/// count_include_pad (then by the taps inside the padded input; ceil-mode windows running past it are clipped),
/// LpPool treats them as zeros. Float32 1-D/2-D MaxPool/AveragePool without Indices run on `pool2d` (undilated
/// MaxPool on `separableMaxPool2d`); everything else
/// (3-D, Indices, int8/uint8/float16 MaxPool, LpPool) takes a direct N-d loop in float, exact for those types.
func registerPoolOps(_ r: inout OpRegistry) {
    r.registerPromoting("MaxPool") { ctx in try pool(ctx, .max) }
    r.registerPromoting("AveragePool") { ctx in
        try pool(ctx, .average(includePad: ctx.int("count_include_pad", default: 0) != 0))
    }
    r.registerPromoting("LpPool") { ctx in try pool(ctx, .lp(try lpExponent(ctx))) }
    r.registerPromoting("GlobalMaxPool") { ctx in [try globalPool(ctx, .max)] }
    r.registerPromoting("GlobalAveragePool") { ctx in [try globalPool(ctx, .average(includePad: false))] }
    r.registerPromoting("GlobalLpPool") { ctx in [try globalPool(ctx, .lp(try lpExponent(ctx)))] }
    r.registerPromoting("MaxUnpool") { ctx in [try maxUnpool(ctx)] }
}

/// MaxUnpool: zeros of the unpooled shape ((in-1)·stride + kernel - pads per axis) with each X element written at
/// its flat index from I (MaxPool's Indices); a larger `output_shape` input zero-pads that at the end of each axis.
private func maxUnpool(_ ctx: OpContext) throws -> Tensor {
    let x = try ctx.floatInput(0, "X"), indices = try ctx.input(1)
    guard x.rank >= 3 else { throw ctx.failure("input rank \(x.rank) must be at least 3 (N, C, spatial...)") }
    guard indices.shape == x.shape, indices.elementType.isInteger else {
        throw ctx.failure("indices \(indices.elementType) \(indices.shape) must be integers shaped like X \(x.shape)")
    }
    let spatialRank = x.rank - 2
    let attrs = try ConvAttributes(node: ctx.node, spatialRank: spatialRank)
    var shape = Array(x.shape[..<2])
    for a in 0..<spatialRank {
        shape.append((x.shape[a + 2] - 1) * attrs.strides[a] + attrs.kernelShape[a] - attrs.pads[a] - attrs.pads[a + spatialRank])
    }
    guard shape.allSatisfy({ $0 >= 0 }) else { throw ctx.failure("negative output shape \(shape)") }
    // Indices address the inferred shape; a larger output_shape pads it at the end of each spatial axis.
    var target = shape
    if let requested = ctx.optionalInput(2) {
        target = try indexValues(requested, ctx: ctx)
        guard target.count == x.rank, Array(target[..<2]) == Array(shape[..<2]),
              zip(target, shape).allSatisfy({ $0 >= $1 }) else {
            throw ctx.failure("output_shape \(target) must match N, C and be at least the unpooled shape \(shape)")
        }
    }
    let total = shape.reduce(1, *)
    var unpooled = [Float](repeating: 0, count: total)
    let positions = indices.int64Values()
    try x.withFloats { xp in
        for (i, position) in positions.enumerated() {
            guard position >= 0, position < total else {
                throw ctx.failure("index \(position) is outside the unpooled output of \(total) elements")
            }
            unpooled[Int(position)] = xp[i]
        }
    }
    let y = try ctx.allocateZeroed(.float, target)
    let out = y.mutableFloats
    let targetStrides = rowMajorStrides(target)
    var index = [Int](repeating: 0, count: shape.count)
    for e in 0..<total {
        var t = 0
        for axis in shape.indices { t += index[axis] * targetStrides[axis] }
        out[t] = unpooled[e]
        _ = advance(&index, shape)
    }
    return y
}

private enum Reduction: Equatable {
    case max
    case average(includePad: Bool)
    case lp(Float)
}

/// LpPool's `p`: an int since opset 2, a float in opset 1.
private func lpExponent(_ ctx: OpContext) throws -> Float {
    guard ctx.node.attribute("p") != nil else { return 2 }
    return ctx.opset >= 2 ? Float(ctx.int("p", default: 2)) : ctx.float("p", default: 2)
}

/// Element types a pooling op accepts; all convert to Float exactly.
private let poolTypes: Set<ElementType> = [.float, .float16, .int8, .uint8]

private func pool(_ ctx: OpContext, _ kind: Reduction) throws -> [Tensor] {
    let x = try ctx.input(0)
    let allowed: Set<ElementType> = kind == .max ? poolTypes : [.float, .float16]
    guard allowed.contains(x.elementType) else { throw ctx.unsupported("input type \(x.elementType)") }
    guard x.rank >= 3 else { throw ctx.failure("input rank \(x.rank) must be at least 3 (N, C, spatial...)") }
    let spatialRank = x.rank - 2
    let attrs = try ConvAttributes(node: ctx.node, spatialRank: spatialRank)
    let storageOrder = ctx.int("storage_order", default: 0)
    guard storageOrder == 0 || storageOrder == 1 else { throw ctx.failure("storage_order \(storageOrder) must be 0 or 1") }
    let inSizes = Array(x.shape[2...])
    let pads = attrs.resolvedPads(inputSizes: inSizes)
    var outSizes: [Int] = []
    for a in 0..<spatialRank {
        guard let o = attrs.outputSize(inputSize: inSizes[a], axis: a) else {
            throw ctx.failure("window \(attrs.kernelShape) (dilations \(attrs.dilations)) is larger than the padded input \(inSizes) along axis \(a + 2)")
        }
        outSizes.append(o)
    }
    let (n, c) = (x.shape[0], x.shape[1])
    let outShape = [n, c] + outSizes
    let wantsIndices = ctx.node.outputs.count > 1 && !ctx.node.outputs[1].isAbsent
    let window = Window(input: inSizes, kernel: attrs.kernelShape, strides: attrs.strides, dilations: attrs.dilations,
                        padBegin: Array(pads[..<spatialRank]), padEnd: Array(pads[spatialRank...]), output: outSizes)

    if x.elementType == .float, spatialRank <= 2, !wantsIndices, !isLp(kind) {
        let y = try ctx.allocate(.float, outShape)
        guard y.elementCount > 0 else { return [y] }
        let two = spatialRank == 2
        let p = Pool2DParams(
            batch: n, channels: c, inHeight: two ? inSizes[0] : 1, inWidth: inSizes[spatialRank - 1],
            outHeight: two ? outSizes[0] : 1, outWidth: outSizes[spatialRank - 1],
            kernelHeight: two ? attrs.kernelShape[0] : 1, kernelWidth: attrs.kernelShape[spatialRank - 1],
            strides: (two ? attrs.strides[0] : 1, attrs.strides[spatialRank - 1]),
            dilations: (two ? attrs.dilations[0] : 1, attrs.dilations[spatialRank - 1]),
            pads: two ? (pads[0], pads[1], pads[2], pads[3]) : (0, pads[0], 0, pads[1]))
        let kernelKind: PoolKind = kind == .max ? .max : .average(countIncludePad: kind == .average(includePad: true))
        x.withFloats { xp in
            if kind == .max && p.dilationH == 1 && p.dilationW == 1 {
                separableMaxPool2d(p, x: xp, y: y.mutableFloats)
            } else {
                pool2d(kernelKind, p, x: xp, y: y.mutableFloats)
            }
        }
        return [y]
    }

    let values = x.floatValues()
    var result = [Float](repeating: 0, count: outShape.reduce(1, *))
    var indices = wantsIndices ? [Int64](repeating: 0, count: result.count) : []
    poolWindows(kind, window, planes: n * c, x: values, y: &result, indices: &indices, columnMajor: storageOrder == 1)
    var outputs = [try floatsToTensor(result, x.elementType, outShape, ctx)]
    if wantsIndices { outputs.append(Tensor(int64s: indices, shape: outShape)) }
    return outputs
}

private func isLp(_ kind: Reduction) -> Bool {
    if case .lp = kind { return true }
    return false
}

/// Converts float results back to a pooling element type (exact: they are input values or their means).
private func floatsToTensor(_ values: [Float], _ type: ElementType, _ shape: [Int], _ ctx: OpContext) throws -> Tensor {
    switch type {
    case .float: return Tensor(floats: values, shape: shape)
    case .float16: return Tensor(.float16, shape: shape, values: values.map { Float16($0).bitPattern })
    case .uint8: return Tensor(.uint8, shape: shape, values: values.map { UInt8(clamping: Int(max(-1e9, min(1e9, $0)))) })
    case .int8: return Tensor(.int8, shape: shape, values: values.map { Int8(clamping: Int(max(-1e9, min(1e9, $0)))) })
    default: throw ctx.unsupported("pooling type \(type)")
    }
}

/// Resolved window geometry per spatial axis.
private struct Window {
    var input: [Int]
    var kernel: [Int]
    var strides: [Int]
    var dilations: [Int]
    var padBegin: [Int]
    var padEnd: [Int]
    var output: [Int]
}

/// Direct N-d pooling over `planes` contiguous (n, c) planes. Per output position the in-image taps are listed once
/// and shared by every plane. `indices`, unless empty, receives MaxPool's flat argmax (row-major over the whole input, or with
/// the spatial axes in column-major order when `columnMajor`, ONNX storage_order = 1).
private func poolWindows(
    _ kind: Reduction, _ g: Window, planes: Int, x: [Float], y: inout [Float], indices: inout [Int64],
    columnMajor: Bool
) {
    let rank = g.input.count
    let inPlane = g.input.reduce(1, *), outPlane = g.output.reduce(1, *)
    guard outPlane > 0, planes > 0 else { return }
    let strides = rowMajorStrides(g.input)
    let reversedStrides = Array(rowMajorStrides(g.input.reversed()).reversed())
    var offsets: [Int] = [], altOffsets: [Int] = [], start = [0], padded: [Int] = []
    var o = [Int](repeating: 0, count: rank)
    repeat {
        var k = [Int](repeating: 0, count: rank)
        var inPad = 1
        for a in 0..<rank {
            // Taps inside [-padBegin, input + padEnd) for count_include_pad.
            var count = 0
            for t in 0..<g.kernel[a] {
                let i = o[a] * g.strides[a] - g.padBegin[a] + t * g.dilations[a]
                if i >= -g.padBegin[a] && i < g.input[a] + g.padEnd[a] { count += 1 }
            }
            inPad *= count
        }
        padded.append(inPad)
        repeat {
            var offset = 0, alt = 0, inside = true
            for a in 0..<rank {
                let i = o[a] * g.strides[a] - g.padBegin[a] + k[a] * g.dilations[a]
                if i < 0 || i >= g.input[a] { inside = false; break }
                offset += i * strides[a]
                alt += i * reversedStrides[a]
            }
            if inside {
                offsets.append(offset)
                altOffsets.append(alt)
            }
        } while advance(&k, g.kernel)
        start.append(offsets.count)
    } while advance(&o, g.output)

    for plane in 0..<planes {
        let base = plane * inPlane
        for position in 0..<outPlane {
            let taps = start[position]..<start[position + 1]
            let out = plane * outPlane + position
            switch kind {
            case .max:
                var best = -Float.greatestFiniteMagnitude, arg = -1
                for e in taps where x[base + offsets[e]] > best || arg < 0 {
                    best = x[base + offsets[e]]
                    arg = e
                }
                y[out] = best
                if !indices.isEmpty {
                    indices[out] = arg < 0 ? -1 : Int64(base + (columnMajor ? altOffsets[arg] : offsets[arg]))
                }
            case .average(let includePad):
                var sum: Float = 0
                for e in taps { sum += x[base + offsets[e]] }
                let count = includePad ? padded[position] : taps.count
                y[out] = count > 0 ? sum / Float(count) : 0
            case .lp(let p):
                var sum: Float = 0
                for e in taps { sum += powf(abs(x[base + offsets[e]]), p) }
                y[out] = powf(sum, 1 / p)
            }
        }
    }
}

private func globalPool(_ ctx: OpContext, _ kind: Reduction) throws -> Tensor {
    let x = try ctx.input(0)
    guard x.elementType == .float || x.elementType == .float16 else { throw ctx.unsupported("input type \(x.elementType)") }
    guard x.rank >= 2 else { throw ctx.failure("input rank \(x.rank) must be at least 2 (N, C, spatial...)") }
    let planes = x.shape[0] * x.shape[1], spatial = x.shape[2...].reduce(1, *)
    let outShape = Array(x.shape[..<2]) + Array(repeating: 1, count: x.rank - 2)
    if x.elementType == .float, !isLp(kind) {
        let y = try ctx.allocate(.float, outShape)
        x.withFloats { xp in
            Kernels.globalPool(kind == .max ? .max : .average(countIncludePad: false), planes: planes, spatial: spatial,
                               x: xp, y: y.mutableFloats)
        }
        return y
    }
    let window = Window(input: [spatial], kernel: [spatial], strides: [1], dilations: [1], padBegin: [0], padEnd: [0],
                        output: [spatial > 0 ? 1 : 0])
    var result = [Float](repeating: .nan, count: planes)
    var noIndices: [Int64] = []
    poolWindows(kind, window, planes: planes, x: x.floatValues(), y: &result, indices: &noIndices, columnMajor: false)
    return try floatsToTensor(result, x.elementType, outShape, ctx)
}
