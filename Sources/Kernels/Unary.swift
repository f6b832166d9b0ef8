import CKernels
import Foundation

/// An elementwise float → float operation, also used as the fused epilogue of Conv/Gemm-style kernels.
///
/// Parameters follow the ONNX operator attributes of the same name.
public enum UnaryOp: Sendable, Equatable {
    case identity
    case relu
    case leakyRelu(alpha: Float)
    case clip(min: Float, max: Float)
    case sigmoid
    case hardSigmoid(alpha: Float, beta: Float)
    case hardSwish
    case tanh
    case exp
    case log
    case sqrt
    case abs
    case neg
    case reciprocal
    case erf
    /// GELU; `tanhApproximation` selects ONNX `approximate="tanh"`.
    case gelu(tanhApproximation: Bool)
    case softplus
    case softsign
    case elu(alpha: Float)
    case selu(alpha: Float, gamma: Float)
    case celu(alpha: Float)
    case thresholdedRelu(alpha: Float)
    case mish
    /// x · sigmoid(alpha·x); alpha = 1 is SiLU.
    case swish(alpha: Float)
    /// x · HardSigmoid(x; alpha, beta): HardSwish as exported with other constants (PaddlePaddle: 0.1666667, 0.5).
    case hardSigmoidGate(alpha: Float, beta: Float)
    /// max(LeakyRelu(x; alpha), floor): LeakyRelu followed by Max with a scalar constant, as a conv epilogue.
    case leakyReluFloor(alpha: Float, floor: Float)
    case floor
    case ceil
    /// Round half to even (ONNX Round).
    case round
    case sign
    case sin, cos, tan, asin, acos, atan, sinh, cosh, asinh, acosh, atanh
    case shrink(bias: Float, lambd: Float)
}

/// `y[i] = op(x[i])` for `count` contiguous floats; `x` and `y` may be the same buffer.
///
/// Large arrays are split over `KernelConfig.threads`.
public func unary(_ op: UnaryOp, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int) {
    if op == .identity {
        if UnsafePointer(y) != x { y.update(from: x, count: count) }
        return
    }
    // 16 K floats is ~10 µs of sigmoid: below that a thread hop costs more than it saves.
    let blocks = (count + 1023) / 1024
    parallelFor(blocks, minChunk: 16) { range in
        let lo = range.lowerBound * 1024
        let hi = min(count, range.upperBound * 1024)
        unarySerial(op, x + lo, y + lo, hi - lo)
    }
}

/// The single-threaded body: one switch, then a loop specialised for that op.
func unarySerial(_ op: UnaryOp, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    typealias V = FloatVector
    switch op {
    case .identity:
        if UnsafePointer(y) != x { y.update(from: x, count: n) }
    case .relu, .leakyRelu, .clip, .sigmoid, .hardSigmoid, .hardSwish, .tanh, .exp, .swish, .hardSigmoidGate, .leakyReluFloor:
        guard let c = op.cActivation else { return }
        mcc_activation(c.code, c.a, c.b, x, y, n)
    case .log:
        mapVectors(x, y, n) { VectorMath.log($0) }
    case .sqrt:
        mapVectors(x, y, n) { $0.squareRoot() }
    case .abs:
        mapVectors(x, y, n) { $0.replacing(with: -$0, where: $0 .< 0) }
    case .neg:
        mapVectors(x, y, n) { -$0 }
    case .reciprocal:
        mapVectors(x, y, n) { 1 / $0 }
    case .erf:
        mapVectors(x, y, n) { VectorMath.lanewise($0, Foundation.erf) }
    case .gelu(let tanhApproximation):
        if tanhApproximation {
            mapVectors(x, y, n) { v in
                // 0.5·(1 + tanh(u)) = sigmoid(2u), which avoids the cancellation of 1 + tanh(u) near -1.
                let inner = (v + v * v * v * 0.044_715) * (2 * 0.797_884_560_802_865_4)
                return v * VectorMath.sigmoid(inner)
            }
        } else {
            mapVectors(x, y, n) { v in
                v * 0.5 * (1 + VectorMath.lanewise(v * 0.707_106_781_186_547_5, Foundation.erf))
            }
        }
    case .softplus:
        mapVectors(x, y, n) { VectorMath.softplus($0) }
    case .softsign:
        mapVectors(x, y, n) { v in v / (1 + v.replacing(with: -v, where: v .< 0)) }
    case .elu(let alpha):
        // expm1, not exp(v) - 1: the latter loses all relative precision for v near 0.
        mapVectors(x, y, n) { v in v.replacing(with: alpha * VectorMath.lanewise(v, Foundation.expm1), where: v .< 0) }
    case .selu(let alpha, let gamma):
        mapVectors(x, y, n) { v in
            gamma * v.replacing(with: alpha * VectorMath.lanewise(v, Foundation.expm1), where: v .<= 0)
        }
    case .celu(let alpha):
        mapVectors(x, y, n) { v in
            v.replacing(with: alpha * VectorMath.lanewise(v / alpha, Foundation.expm1), where: v .< 0)
        }
    case .thresholdedRelu(let alpha):
        mapVectors(x, y, n) { $0.replacing(with: 0, where: $0 .<= alpha) }
    case .mish:
        mapVectors(x, y, n) { v in v * VectorMath.tanh(VectorMath.softplus(v)) }
    case .floor:
        mapVectors(x, y, n) { $0.rounded(.down) }
    case .ceil:
        mapVectors(x, y, n) { $0.rounded(.up) }
    case .round:
        mapVectors(x, y, n) { $0.rounded(.toNearestOrEven) }
    case .sign:
        mapVectors(x, y, n) { v in
            V(repeating: 0).replacing(with: 1, where: v .> 0).replacing(with: -1, where: v .< 0)
                .replacing(with: v, where: v .!= v)
        }
    case .sin: mapVectors(x, y, n) { VectorMath.lanewise($0, Foundation.sin) }
    case .cos: mapVectors(x, y, n) { VectorMath.lanewise($0, Foundation.cos) }
    case .tan: mapVectors(x, y, n) { VectorMath.lanewise($0, Foundation.tan) }
    case .asin: mapVectors(x, y, n) { VectorMath.lanewise($0, Foundation.asin) }
    case .acos: mapVectors(x, y, n) { VectorMath.lanewise($0, Foundation.acos) }
    case .atan: mapVectors(x, y, n) { VectorMath.lanewise($0, Foundation.atan) }
    case .sinh: mapVectors(x, y, n) { VectorMath.lanewise($0, Foundation.sinh) }
    case .cosh: mapVectors(x, y, n) { VectorMath.lanewise($0, Foundation.cosh) }
    case .asinh: mapVectors(x, y, n) { VectorMath.lanewise($0, Foundation.asinh) }
    case .acosh: mapVectors(x, y, n) { VectorMath.lanewise($0, Foundation.acosh) }
    case .atanh: mapVectors(x, y, n) { VectorMath.lanewise($0, Foundation.atanh) }
    case .shrink(let bias, let lambd):
        mapVectors(x, y, n) { v in
            V(repeating: 0).replacing(with: v + bias, where: v .< -lambd)
                .replacing(with: v - bias, where: v .> lambd)
        }
    }
}

extension UnaryOp {
    /// The CKernels activation code and parameters for the hot activations (run in C with AVX2/AVX-512 variants,
    /// see Sources/CKernels), nil for the rest.
    var cActivation: (code: Int32, a: Float, b: Float)? {
        switch self {
        case .relu: (Int32(MCC_ACT_RELU), 0, 0)
        case .leakyRelu(let alpha): (Int32(MCC_ACT_LEAKY_RELU), alpha, 0)
        case .clip(let lo, let hi): (Int32(MCC_ACT_CLIP), lo, hi)
        case .sigmoid: (Int32(MCC_ACT_SIGMOID), 0, 0)
        case .hardSigmoid(let alpha, let beta): (Int32(MCC_ACT_HARD_SIGMOID), alpha, beta)
        case .hardSwish: (Int32(MCC_ACT_HARD_SWISH), 0, 0)
        case .tanh: (Int32(MCC_ACT_TANH), 0, 0)
        case .exp: (Int32(MCC_ACT_EXP), 0, 0)
        case .swish(let alpha): (Int32(MCC_ACT_SWISH), alpha, 0)
        case .hardSigmoidGate(let alpha, let beta): (Int32(MCC_ACT_HARD_SIGMOID_GATE), alpha, beta)
        case .leakyReluFloor(let alpha, let floor): (Int32(MCC_ACT_LEAKY_RELU_FLOOR), alpha, floor)
        default: nil
        }
    }
}

/// Conv/Gemm epilogue on a [channels, spatial] block: `y[c, i] = op(y[c, i] + bias[c])`, one cache-hot row at a time.
func applyBiasActivation(
    _ y: UnsafeMutablePointer<Float>, channels: Int, spatial: Int, bias: UnsafePointer<Float>?, _ op: UnaryOp
) {
    if bias == nil && op == .identity { return }
    parallelFor(channels, minChunk: max(1, 32_768 / max(1, spatial))) { range in
        if op == .identity || op.cActivation != nil {
            let c = op.cActivation ?? (Int32(MCC_ACT_IDENTITY), 0, 0)
            var rowBias: UnsafePointer<Float>? = nil
            if let bias { rowBias = bias + range.lowerBound }
            mcc_bias_activation(y + range.lowerBound * spatial, range.count, spatial, spatial, rowBias, c.code, c.a, c.b)
            return
        }
        for c in range {
            let row = y + c * spatial
            if let bias {
                let b = bias[c]
                mapVectors(row, row, spatial) { $0 + b }
            }
            if op != .identity { unarySerial(op, row, row, spatial) }
        }
    }
}
