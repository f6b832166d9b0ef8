import IR
import Interpreter

extension OpRegistry {
    /// The standard registry plus `mcc.quant::FakeQuantize` (attributes `scales`, `zero_points`, `qmin`, `qmax`,
    /// optional `axis`): QuantizeLinear → DequantizeLinear in one vectorized pass, for simulating quantized models.
    public static let simulation: OpRegistry = {
        var r = OpRegistry.standard
        r.register("FakeQuantize", domain: QDQBuilder.fakeQuantizeDomain) { ctx in
            let x = try ctx.input(0)
            guard x.elementType == .float else { throw ctx.unsupported("FakeQuantize of \(x.elementType)") }
            guard let scales = ctx.floats("scales"), let zeros = ctx.node.attribute("zero_points")?.ints,
                  scales.count == zeros.count, !scales.isEmpty else {
                throw ctx.failure("FakeQuantize needs matching scales and zero_points")
            }
            let axis = scales.count > 1 ? ctx.int("axis", default: 1) : nil
            let encoding = QuantEncoding(storage: .int32, scales: scales, zeroPoints: zeros, axis: axis, symmetric: false,
                                         qmin: Int64(ctx.int("qmin", default: 0)), qmax: Int64(ctx.int("qmax", default: 255)))
            if let axis, !(x.shape.indices.contains(axis) && x.shape[axis] == scales.count) {
                throw ctx.failure("FakeQuantize: \(scales.count) scales for axis \(axis) of \(x.shape)")
            }
            let out = try ctx.allocate(.float, x.shape)
            x.withUnsafeBufferPointer(as: Float.self) { src in
                guard let base = src.baseAddress else { return }
                FakeQuantize.apply(encoding, shape: x.shape, input: base,
                                   output: out.storage.mutableBaseAddress.assumingMemoryBound(to: Float.self))
            }
            return [out]
        }
        return r
    }()
}
