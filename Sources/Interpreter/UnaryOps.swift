import Foundation
import IR
import Kernels

/// Elementwise math: Abs, Neg, Sign, Exp, Log, Sqrt, Reciprocal, Floor, Ceil, Round, Sin, Cos, Tan, Asin, Acos, Atan,
/// Sinh, Cosh, Asinh, Acosh, Atanh, Erf.
///
/// float32 runs the SIMD Kernels; float16/bfloat16 are computed in float32 and rounded back; float64 uses libm in
/// double precision. Integers support the ops that are exact on them (Abs/Neg wrap like numpy; Floor/Ceil/Round are
/// the identity). Round is half to even; Sign(NaN) is NaN; out-of-domain inputs give NaN as in C.
func registerUnaryOps(_ r: inout OpRegistry) {
    let ops: [(String, UnaryOp)] = [
        ("Abs", .abs), ("Neg", .neg), ("Sign", .sign), ("Exp", .exp), ("Log", .log), ("Sqrt", .sqrt),
        ("Reciprocal", .reciprocal), ("Floor", .floor), ("Ceil", .ceil), ("Round", .round),
        ("Sin", .sin), ("Cos", .cos), ("Tan", .tan), ("Asin", .asin), ("Acos", .acos), ("Atan", .atan),
        ("Sinh", .sinh), ("Cosh", .cosh), ("Asinh", .asinh), ("Acosh", .acosh), ("Atanh", .atanh), ("Erf", .erf),
    ]
    for (name, op) in ops {
        r.register(name) { ctx in [try applyUnary(op, try ctx.input(0), ctx: ctx)] }
    }
}

/// `op` applied to every element of `x` (same type and shape).
func applyUnary(_ op: UnaryOp, _ x: Tensor, ctx: OpContext) throws -> Tensor {
    let type = x.elementType
    if type.isWidenedToFloat {
        return try convert(try applyUnary(op, try widened(x, ctx: ctx), ctx: ctx), to: type, ctx: ctx)
    }
    let out = try ctx.allocate(type, x.shape)
    let n = x.elementCount
    switch type {
    case .float:
        x.withElements(Float.self) { unary(op, x: $0, y: out.mutableElements(Float.self), count: n) }
    case .double:
        x.withElements(Double.self) { doubleUnary(op, $0, out.mutableElements(Double.self), n) }
    default:
        guard type.isInteger, try type.visit(IntegerUnaryVisitor(op: op, x: x, out: out)) == true else {
            throw ctx.unsupported("\(ctx.node.opType) on \(type)")
        }
    }
    return out
}

/// Integer unary ops; false for ops that are not defined on integers.
private struct IntegerUnaryVisitor: ElementTypeVisitor {
    let op: UnaryOp
    let x: Tensor, out: Tensor

    func integer<T: IntegerElement>(_ type: T.Type) -> Bool {
        let y = out.mutableElements(T.self), n = x.elementCount
        return x.withElements(T.self) { px in
            switch op {
            case .identity, .floor, .ceil, .round: mapElements(px, y, n) { $0 }
            case .abs: mapElements(px, y, n) { $0 < 0 ? 0 &- $0 : $0 }
            case .neg: mapElements(px, y, n) { 0 &- $0 }
            case .sign: mapElements(px, y, n) { $0 > 0 ? 1 : ($0 < 0 ? 0 &- 1 : 0) }
            case .relu: mapElements(px, y, n) { Swift.max($0, 0) }
            default: return false
            }
            return true
        }
    }

    func floating<T: FloatElement>(_ type: T.Type) -> Bool { false }
}

/// Double-precision versions of every `UnaryOp` (one switch per tensor, then a specialized loop).
func doubleUnary(_ op: UnaryOp, _ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, _ n: Int) {
    func sigmoid(_ v: Double) -> Double { 1 / (1 + Foundation.exp(-v)) }
    func softplus(_ v: Double) -> Double { Swift.max(v, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(v))) }
    switch op {
    case .identity: mapElements(x, y, n) { $0 }
    case .relu: mapElements(x, y, n) { $0 < 0 ? 0 : $0 }
    case .leakyRelu(let alpha): mapElements(x, y, n) { $0 < 0 ? $0 * Double(alpha) : $0 }
    case .leakyReluFloor(let alpha, let floor):
        mapElements(x, y, n) { v in
            let leaky = v < 0 ? v * Double(alpha) : v
            return leaky < Double(floor) ? Double(floor) : leaky
        }
    case .clip(let lo, let hi):
        mapElements(x, y, n) { v in
            let t = v < Double(lo) ? Double(lo) : v
            return t > Double(hi) ? Double(hi) : t
        }
    case .sigmoid: mapElements(x, y, n) { sigmoid($0) }
    case .hardSigmoid(let alpha, let beta): mapElements(x, y, n) { Swift.min(1, Swift.max(0, Double(alpha) * $0 + Double(beta))) }
    case .hardSwish: mapElements(x, y, n) { $0 * Swift.min(1, Swift.max(0, $0 / 6 + 0.5)) }
    case .tanh: mapElements(x, y, n) { Foundation.tanh($0) }
    case .exp: mapElements(x, y, n) { Foundation.exp($0) }
    case .log: mapElements(x, y, n) { Foundation.log($0) }
    case .sqrt: mapElements(x, y, n) { $0.squareRoot() }
    case .abs: mapElements(x, y, n) { Swift.abs($0) }
    case .neg: mapElements(x, y, n) { -$0 }
    case .reciprocal: mapElements(x, y, n) { 1 / $0 }
    case .erf: mapElements(x, y, n) { Foundation.erf($0) }
    case .gelu(let tanhApproximation):
        if tanhApproximation {
            mapElements(x, y, n) { v in 0.5 * v * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v))) }
        } else {
            mapElements(x, y, n) { v in 0.5 * v * (1 + Foundation.erf(v / 2.0.squareRoot())) }
        }
    case .softplus: mapElements(x, y, n) { softplus($0) }
    case .softsign: mapElements(x, y, n) { $0 / (1 + Swift.abs($0)) }
    case .elu(let alpha): mapElements(x, y, n) { $0 < 0 ? Double(alpha) * Foundation.expm1($0) : $0 }
    case .selu(let alpha, let gamma):
        mapElements(x, y, n) { Double(gamma) * ($0 <= 0 ? Double(alpha) * Foundation.expm1($0) : $0) }
    case .celu(let alpha): mapElements(x, y, n) { $0 < 0 ? Double(alpha) * Foundation.expm1($0 / Double(alpha)) : $0 }
    case .thresholdedRelu(let alpha): mapElements(x, y, n) { $0 > Double(alpha) ? $0 : 0 }
    case .mish: mapElements(x, y, n) { $0 * Foundation.tanh(softplus($0)) }
    case .swish(let alpha): mapElements(x, y, n) { $0 * sigmoid(Double(alpha) * $0) }
    case .hardSigmoidGate(let alpha, let beta):
        mapElements(x, y, n) { $0 * Swift.min(1, Swift.max(0, Double(alpha) * $0 + Double(beta))) }
    case .floor: mapElements(x, y, n) { $0.rounded(.down) }
    case .ceil: mapElements(x, y, n) { $0.rounded(.up) }
    case .round: mapElements(x, y, n) { $0.rounded(.toNearestOrEven) }
    case .sign: mapElements(x, y, n) { $0 > 0 ? 1 : ($0 < 0 ? -1 : $0) }
    case .sin: mapElements(x, y, n) { Foundation.sin($0) }
    case .cos: mapElements(x, y, n) { Foundation.cos($0) }
    case .tan: mapElements(x, y, n) { Foundation.tan($0) }
    case .asin: mapElements(x, y, n) { Foundation.asin($0) }
    case .acos: mapElements(x, y, n) { Foundation.acos($0) }
    case .atan: mapElements(x, y, n) { Foundation.atan($0) }
    case .sinh: mapElements(x, y, n) { Foundation.sinh($0) }
    case .cosh: mapElements(x, y, n) { Foundation.cosh($0) }
    case .asinh: mapElements(x, y, n) { Foundation.asinh($0) }
    case .acosh: mapElements(x, y, n) { Foundation.acosh($0) }
    case .atanh: mapElements(x, y, n) { Foundation.atanh($0) }
    case .shrink(let bias, let lambd):
        mapElements(x, y, n) { v in v < -Double(lambd) ? v + Double(bias) : (v > Double(lambd) ? v - Double(bias) : 0) }
    }
}
