// Normalisation kernels. Tensors are contiguous; channel-wise ops view the input as [N, C, spatial].

/// BatchNormalization (inference): `y = (x - mean) / sqrt(var + eps) · scale + bias` per channel, folded to one
/// multiply-add per element. An optional fused activation runs on each plane while it is in cache.
public func batchNormalization(
    x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, batch: Int, channels: Int, spatial: Int,
    scale: UnsafePointer<Float>, bias: UnsafePointer<Float>, mean: UnsafePointer<Float>,
    variance: UnsafePointer<Float>, epsilon: Float, activation: UnaryOp = .identity
) {
    var a = [Float](repeating: 0, count: channels), b = a
    for c in 0..<channels {
        a[c] = scale[c] / (variance[c] + epsilon).squareRoot()
        b[c] = bias[c] - mean[c] * a[c]
    }
    a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
            channelAffine(x, y, batch, channels, spatial, a.baseAddress!, b.baseAddress!, activation)
        }
    }
}

/// y[n, c, :] = op(x[n, c, :] · a[c] + b[c]), parallel over planes.
func channelAffine(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ batch: Int, _ channels: Int, _ spatial: Int,
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ op: UnaryOp
) {
    parallelFor(batch * channels, minChunk: max(1, 32_768 / max(1, spatial))) { range in
        for plane in range {
            let c = plane % channels
            let (s, t) = (a[c], b[c])
            mapVectors(x + plane * spatial, y + plane * spatial, spatial) { $0 * s + t }
            if op != .identity { unarySerial(op, y + plane * spatial, y + plane * spatial, spatial) }
        }
    }
}

/// Mean and biased variance of `n > 0` floats, two-pass (the one-pass E[x²]-E[x]² formula cancels badly).
@inline(__always)
func meanVariance(_ x: UnsafePointer<Float>, _ n: Int) -> (Float, Float) {
    let mean = vectorSum(x, n) / Float(n)
    var acc = FloatVector()
    foldVectors(x, n, pad: mean) { v in
        let d = v - mean
        acc += d * d
    }
    return (mean, acc.sum() / Float(n))
}

/// InstanceNormalization: each (n, c) plane is normalised by its own mean and variance, then scaled by
/// `scale[c]` and shifted by `bias[c]`.
public func instanceNormalization(
    x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, batch: Int, channels: Int, spatial: Int,
    scale: UnsafePointer<Float>, bias: UnsafePointer<Float>, epsilon: Float
) {
    guard spatial > 0 else { return }
    parallelFor(batch * channels, minChunk: max(1, 16_384 / spatial)) { range in
        for plane in range {
            let c = plane % channels
            let src = x + plane * spatial
            let (mean, variance) = meanVariance(src, spatial)
            let a = scale[c] / (variance + epsilon).squareRoot()
            let b = bias[c] - mean * a
            mapVectors(src, y + plane * spatial, spatial) { $0 * a + b }
        }
    }
}

/// LayerNormalization over the trailing `size` elements of each of `rows` rows:
/// `y = (x - mean) / sqrt(var + eps) · scale + bias`, with `scale`/`bias` of length `size` (callers expand other
/// broadcast shapes). Optionally writes each row's mean and 1/sqrt(var + eps) (ONNX outputs Mean, InvStdDev).
public func layerNormalization(
    x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, rows: Int, size: Int,
    scale: UnsafePointer<Float>, bias: UnsafePointer<Float>?, epsilon: Float,
    meanOut: UnsafeMutablePointer<Float>? = nil, invStdDevOut: UnsafeMutablePointer<Float>? = nil
) {
    guard size > 0 else { return }
    parallelFor(rows, minChunk: max(1, 16_384 / size)) { range in
        for r in range {
            let src = x + r * size, dst = y + r * size
            let (mean, variance) = meanVariance(src, size)
            let inv = 1 / (variance + epsilon).squareRoot()
            meanOut?[r] = mean
            invStdDevOut?[r] = inv
            binaryLoop(src, 1, scale, 1, dst, size, { ($0 - mean) * inv * $1 }, { ($0 - mean) * inv * $1 })
            if let bias { binaryLoop(dst, 1, bias, 1, dst, size, { $0 + $1 }, { $0 + $1 }) }
        }
    }
}
