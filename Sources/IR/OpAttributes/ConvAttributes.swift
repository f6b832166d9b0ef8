/// Spatial attributes shared by Conv, ConvTranspose and the pooling ops (kernel_shape, strides, dilations, pads,
/// auto_pad, group, ceil_mode, output_padding, output_shape), parsed and validated once so shape inference, the
/// interpreter and the emitters agree on padding and output sizes.
public struct ConvAttributes: Sendable, Equatable {
    /// ONNX `auto_pad`.
    public enum AutoPad: String, Sendable {
        case notSet = "NOTSET", sameUpper = "SAME_UPPER", sameLower = "SAME_LOWER", valid = "VALID"
    }

    /// Kernel size per spatial axis.
    public var kernelShape: [Int]
    public var strides: [Int]
    public var dilations: [Int]
    /// Explicit pads as ONNX lays them out: all begins, then all ends. Ignored when `autoPad` is SAME/VALID.
    public var pads: [Int]
    public var autoPad: AutoPad
    public var group: Int
    public var ceilMode: Bool
    /// ConvTranspose only.
    public var outputPadding: [Int]
    /// ConvTranspose only: requested spatial output size.
    public var outputShape: [Int]?

    public var spatialRank: Int { kernelShape.count }

    /// Parses the attributes of `node` for `spatialRank` spatial axes. `kernelShape` comes from the weights when
    /// the node has no `kernel_shape` attribute (Conv); pooling ops must have the attribute unless `global`.
    /// Throws `MCCError.failure` naming the node for malformed values (wrong lengths, non-positive strides...).
    public init(node: Node, spatialRank: Int, kernelShape weightKernel: [Int]? = nil) throws {
        func fail(_ message: String) -> MCCError { MCCError.failure("\(node.label): \(message)") }
        func ints(_ name: String, count: Int, default value: Int) throws -> [Int] {
            guard let raw = node.attribute(name)?.ints else { return Array(repeating: value, count: count) }
            guard raw.count == count else {
                throw fail("\(name) has \(raw.count) values, expected \(count)")
            }
            return try raw.map {
                guard $0 > -(1 << 31), $0 < 1 << 31 else { throw fail("\(name) value \($0) is out of range") }
                return Int($0)
            }
        }
        guard spatialRank >= 0 else { throw fail("input rank too small for spatial axes") }
        if node.attribute("kernel_shape") != nil {
            kernelShape = try ints("kernel_shape", count: spatialRank, default: 1)
            if let weightKernel, weightKernel != kernelShape, weightKernel.count == kernelShape.count {
                throw fail("kernel_shape \(kernelShape) disagrees with weight kernel \(weightKernel)")
            }
        } else if let weightKernel {
            guard weightKernel.count == spatialRank else {
                throw fail("weight kernel rank \(weightKernel.count) does not match \(spatialRank) spatial axes")
            }
            kernelShape = weightKernel
        } else {
            throw fail("missing kernel_shape")
        }
        strides = try ints("strides", count: spatialRank, default: 1)
        dilations = try ints("dilations", count: spatialRank, default: 1)
        pads = try ints("pads", count: 2 * spatialRank, default: 0)
        outputPadding = try ints("output_padding", count: spatialRank, default: 0)
        if node.attribute("output_shape") != nil {
            // output_shape may list the full shape (N, C, spatial...) in some exporters; keep the spatial tail.
            let raw = node.attribute("output_shape")?.ints ?? []
            guard raw.count >= spatialRank else { throw fail("output_shape has \(raw.count) values, expected \(spatialRank)") }
            if let bad = raw.suffix(spatialRank).first(where: { $0 < 0 || $0 > 1 << 40 }) {
                throw fail("output_shape value \(bad) is out of range")
            }
            outputShape = raw.suffix(spatialRank).map { Int($0) }
        } else {
            outputShape = nil
        }
        let padName = node.attribute("auto_pad")?.string ?? "NOTSET"
        guard let autoPad = AutoPad(rawValue: padName.isEmpty ? "NOTSET" : padName) else {
            throw fail("unknown auto_pad '\(padName)'")
        }
        self.autoPad = autoPad
        let group = node.attribute("group")?.int ?? 1
        guard group >= 1, group < 1 << 31 else { throw fail("group \(group) must be positive") }
        self.group = Int(group)
        ceilMode = (node.attribute("ceil_mode")?.int ?? 0) != 0
        if let bad = kernelShape.first(where: { $0 < 1 }) { throw fail("kernel size \(bad) must be positive") }
        if let bad = strides.first(where: { $0 < 1 }) { throw fail("stride \(bad) must be positive") }
        if let bad = dilations.first(where: { $0 < 1 }) { throw fail("dilation \(bad) must be positive") }
        if let bad = pads.first(where: { $0 < 0 }) { throw fail("pad \(bad) must not be negative") }
    }

    /// Kernel extent along `axis` once dilated.
    public func effectiveKernel(_ axis: Int) -> Int { (kernelShape[axis] - 1) * dilations[axis] + 1 }

    /// Pads actually applied (begins then ends) for the given spatial input sizes, resolving SAME/VALID.
    public func resolvedPads(inputSizes: [Int]) -> [Int] {
        let n = spatialRank
        switch autoPad {
        case .notSet: return pads
        case .valid: return Array(repeating: 0, count: 2 * n)
        case .sameUpper, .sameLower:
            var result = Array(repeating: 0, count: 2 * n)
            for a in 0..<min(n, inputSizes.count) {
                let out = (inputSizes[a] + strides[a] - 1) / strides[a]
                let total = max((out - 1) * strides[a] + effectiveKernel(a) - inputSizes[a], 0)
                let small = total / 2
                result[a] = autoPad == .sameUpper ? small : total - small
                result[a + n] = total - result[a]
            }
            return result
        }
    }

    /// Output size along spatial `axis` of a convolution or pooling window over `inputSize` elements, or nil when
    /// the window does not fit (the caller reports it).
    public func outputSize(inputSize: Int, axis: Int) -> Int? {
        guard axis < spatialRank, inputSize >= 0, inputSize < 1 << 50 else { return nil }
        let s = strides[axis]
        switch autoPad {
        case .sameUpper, .sameLower:
            return (inputSize + s - 1) / s
        case .valid:
            let span = inputSize - effectiveKernel(axis)
            return span < 0 ? nil : span / s + 1
        case .notSet:
            let padBegin = pads[axis]
            let span = inputSize + padBegin + pads[axis + spatialRank] - effectiveKernel(axis)
            guard span >= 0 else { return nil }
            guard ceilMode else { return span / s + 1 }
            var out = (span + s - 1) / s + 1
            // The last window must start inside the input or its begin padding (onnx reference, PyTorch).
            if (out - 1) * s >= inputSize + padBegin { out -= 1 }
            return out
        }
    }

    /// Spatial output size of ConvTranspose along `axis`.
    public func transposedOutputSize(inputSize: Int, axis: Int) -> Int? {
        guard axis < spatialRank, inputSize >= 0, inputSize < 1 << 50 else { return nil }
        if let outputShape { return outputShape[axis] }
        switch autoPad {
        case .sameUpper, .sameLower:
            let (out, overflow) = inputSize.multipliedReportingOverflow(by: strides[axis])
            return overflow ? nil : out
        case .valid, .notSet:
            let padTotal = autoPad == .valid ? 0 : pads[axis] + pads[axis + spatialRank]
            // Overflow-checked: declared input sizes are untrusted.
            let (scaled, overflow) = strides[axis].multipliedReportingOverflow(by: max(inputSize - 1, 0))
            guard !overflow, scaled < 1 << 50 else { return nil }
            let out = scaled + outputPadding[axis] + effectiveKernel(axis) - padTotal
            return out < 0 ? nil : out
        }
    }
}
