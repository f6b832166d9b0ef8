import CKernels
import IR

/// Quantize-then-dequantize on float buffers: `x̂ = (clamp(roundHalfEven(x / s) + z, qmin, qmax) - z) * s`.
/// This is the numeric core of simulation; it equals ONNX QuantizeLinear → DequantizeLinear element for element
/// (division, not multiplication by 1/s, because that is what the operators specify).
public enum FakeQuantize {
    /// Writes the fake-quantized `input` (row-major, `shape`) to `output`; they may be the same buffer. A
    /// per-channel encoding must have one scale per entry of `shape[axis]`.
    public static func apply(_ encoding: QuantEncoding, shape: [Int], input: UnsafePointer<Float>,
                             output: UnsafeMutablePointer<Float>) {
        let count = shape.reduce(1, *)
        guard encoding.scales.count > 1, let axis = encoding.axis else {
            run(count, scale: encoding.scales[0], zero: Float(encoding.zeroPoints[0]),
                qmin: Float(encoding.qmin), qmax: Float(encoding.qmax), input, output)
            return
        }
        precondition(shape.indices.contains(axis) && shape[axis] == encoding.scales.count,
                     "per-channel encoding with \(encoding.scales.count) scales on axis \(axis) of \(shape)")
        let channels = shape[axis]
        let inner = shape[(axis + 1)...].reduce(1, *)
        let outer = shape[..<axis].reduce(1, *)
        if inner < shortChannel, channels * inner <= 1 << 16 {
            applyShortChannels(encoding, channels: channels, inner: inner, outer: outer, input: input, output: output)
            return
        }
        for o in 0..<outer {
            for c in 0..<channels {
                let offset = (o * channels + c) * inner
                run(inner, scale: encoding.scales[c], zero: Float(encoding.zeroPoints[c]),
                    qmin: Float(encoding.qmin), qmax: Float(encoding.qmax), input + offset, output + offset)
            }
        }
    }

    /// Channel runs shorter than this go through one element-wise call per `outer` row (a Gemm weight quantized
    /// along its columns has runs of 1 element: a call per element would cost more than the arithmetic).
    static let shortChannel = 32

    /// Per-channel fake quantization with the channel parameters spread per element over one row of
    /// `channels × inner` values: the same operations per element as `run`, so the same bits.
    static func applyShortChannels(_ encoding: QuantEncoding, channels: Int, inner: Int, outer: Int,
                                   input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let row = channels * inner
        var scales = [Float](repeating: 1, count: row), los = scales, his = scales
        var exact = true
        for c in 0..<channels {
            let zero = Float(encoding.zeroPoints[c])
            let lo = Float(encoding.qmin) - zero, hi = Float(encoding.qmax) - zero
            if max(abs(lo), abs(hi)) >= Float(1 << 22) { exact = false }
            for k in 0..<inner {
                scales[c * inner + k] = encoding.scales[c]
                los[c * inner + k] = lo
                his[c * inner + k] = hi
            }
        }
        for o in 0..<outer {
            let x = input + o * row, y = output + o * row
            guard exact else {
                for e in 0..<row { y[e] = scalar(x[e], scale: scales[e], lo: los[e], hi: his[e]) }
                continue
            }
            mcc_fake_quantize_elementwise(x, y, row, scales, los, his)
        }
    }

    /// Fake-quantizes a float tensor into a new tensor.
    public static func apply(_ encoding: QuantEncoding, to tensor: Tensor) -> Tensor {
        // Every element is written below, so the buffer is not zero-filled first.
        let out = Tensor(elementType: .float, shape: tensor.shape,
                         storage: TensorStorage(uninitializedByteCount: tensor.elementCount * MemoryLayout<Float>.size))
        tensor.withUnsafeBufferPointer(as: Float.self) { src in
            guard let base = src.baseAddress else { return }
            apply(encoding, shape: tensor.shape, input: base,
                  output: out.storage.mutableBaseAddress.assumingMemoryBound(to: Float.self))
        }
        return out
    }

    @inline(__always)
    static func run(_ n: Int, scale: Float, zero: Float, qmin: Float, qmax: Float,
                    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        // Clamping x/s to [qmin - z, qmax - z] before rounding equals clamping after (the bounds are integers), and
        // keeps the value in the exact range of the C kernel's rounding (it adds and subtracts 1.5 · 2^23) for every
        // grid up to 16 bits.
        let lo = qmin - zero, hi = qmax - zero
        guard max(abs(lo), abs(hi)) < Float(1 << 22) else {
            for i in 0..<n { y[i] = scalar(x[i], scale: scale, lo: lo, hi: hi) }
            return
        }
        // 16 lanes in C (AVX-512 / AVX2 / baseline, same bits): the division dominates simulation's element loop.
        mcc_fake_quantize(x, y, n, scale, lo, hi)
    }

    /// One element: NaN maps to the low end, like the vector path.
    @inline(__always)
    static func scalar(_ x: Float, scale: Float, lo: Float, hi: Float) -> Float {
        let v = x / scale
        guard v >= lo else { return lo * scale }
        guard v <= hi else { return hi * scale }
        return v.rounded(.toNearestOrEven) * scale
    }
}
