import Foundation
import IR
import Kernels

/// Broadcasting arithmetic: Add, Sub, Mul, Div, Pow, Mod, PRelu, and the variadic Max, Min, Sum, Mean.
///
/// Semantics follow numpy as the ONNX reference does: integer Add/Sub/Mul wrap; integer Div truncates toward zero
/// (x / 0 gives 0); Mod with fmod=0 takes the divisor's sign (Python), fmod=1 the dividend's (C fmod); Max/Min
/// propagate NaN. Pow's output has the base's type and accepts any numeric exponent type. float16/bfloat16 are
/// computed in float32 and rounded back. Opset < 7 `broadcast`/`axis` attributes are honoured.
func registerElementwiseOps(_ r: inout OpRegistry) {
    let binaryOps: [(String, ArithmeticOp)] = [("Add", .add), ("Sub", .sub), ("Mul", .mul), ("Div", .div)]
    for (name, op) in binaryOps {
        r.registerFusible(name) { ctx in
            let (a, b) = try legacyBroadcastOperands(ctx)
            return [try arithmetic(op, a, b, ctx: ctx)]
        }
    }
    r.register("Mod") { ctx in
        [try arithmetic(.mod(fmod: ctx.int("fmod", default: 0) != 0), try ctx.input(0), try ctx.input(1), ctx: ctx)]
    }
    r.register("Pow") { ctx in
        let (a, b) = try legacyBroadcastOperands(ctx)
        return [try power(a, b, ctx: ctx)]
    }
    r.register("PRelu") { ctx in
        let x = try ctx.input(0)
        var slope = try ctx.input(1)
        // Pre-opset-7 models give a per-channel slope [C] for NCHW input; numpy rules would align it with W.
        if slope.rank == 1, x.rank > 2, slope.shape[0] == x.shape[1], slope.shape[0] != x.shape[x.rank - 1] {
            slope = reshaped(slope, [slope.shape[0]] + Array(repeating: 1, count: x.rank - 2))
        }
        return [try arithmetic(.prelu, x, slope, ctx: ctx)]
    }
    let variadic: [(String, ArithmeticOp)] = [("Max", .max), ("Min", .min), ("Sum", .add), ("Mean", .add)]
    for (name, op) in variadic {
        let kernel: OpKernel = { ctx in
            let inputs = try ctx.inputs.indices.map { try ctx.input($0) }
            guard var result = inputs.first else { throw ctx.failure("needs at least one input") }
            for next in inputs.dropFirst() { result = try arithmetic(op, result, next, ctx: ctx) }
            if name == "Mean" && inputs.count > 1 {
                guard result.elementType.isFloatingPoint else { throw ctx.unsupported("Mean of \(result.elementType)") }
                let n = try convert(Tensor(scalar: Float(inputs.count)), to: result.elementType, ctx: ctx)
                result = try arithmetic(.div, result, n, ctx: ctx)
            }
            return [result]
        }
        // Max(LeakyRelu(conv), c) can join a conv epilogue (see ElementwiseFusion); Max doesn't join chains.
        if name == "Max" { r.registerFusible(name, kernel) } else { r.register(name, kernel) }
    }
}

/// Binary ops over one element type.
enum ArithmeticOp: Equatable {
    case add, sub, mul, div, max, min, prelu
    case mod(fmod: Bool)
    case bitwiseAnd, bitwiseOr, bitwiseXor, shiftLeft, shiftRight

    /// The Kernels float32 op, when there is one.
    var kernelOp: BinaryOp? {
        switch self {
        case .add: .add
        case .sub: .sub
        case .mul: .mul
        case .div: .div
        case .max: .max
        case .min: .min
        case .prelu: .prelu
        default: nil
        }
    }
}

/// Inputs 0 and 1; before opset 7, `broadcast=1` with `axis` aligns B's dims starting at `axis` of A.
func legacyBroadcastOperands(_ ctx: OpContext) throws -> (Tensor, Tensor) {
    let a = try ctx.input(0), b = try ctx.input(1)
    guard ctx.opset < 7, ctx.int("broadcast", default: 0) != 0, ctx.node.attribute("axis") != nil else { return (a, b) }
    var axis = ctx.int("axis", default: 0)
    if axis < 0 { axis += a.rank }
    guard axis >= 0, axis + b.rank <= a.rank else { throw ctx.failure("axis \(axis) invalid for shapes \(a.shape), \(b.shape)") }
    return (a, reshaped(b, b.shape + Array(repeating: 1, count: a.rank - axis - b.rank)))
}

/// `op(a, b)` with broadcasting; both operands must have the same element type.
func arithmetic(_ op: ArithmeticOp, _ a: Tensor, _ b: Tensor, ctx: OpContext) throws -> Tensor {
    guard a.elementType == b.elementType else {
        throw ctx.failure("operand types differ: \(a.elementType) and \(b.elementType)")
    }
    let type = a.elementType
    if type.isWidenedToFloat {
        let y = try arithmetic(op, try widened(a, ctx: ctx), try widened(b, ctx: ctx), ctx: ctx)
        return try convert(y, to: type, ctx: ctx)
    }
    let shape = try broadcastShape([a.shape, b.shape], ctx: ctx)
    let out = try ctx.allocate(type, shape)
    if type == .float, let kernelOp = op.kernelOp {
        a.withElements(Float.self) { pa in
            b.withElements(Float.self) { pb in
                binary(kernelOp, a: pa, aStrides: broadcastStrides(shape: a.shape, to: shape),
                       b: pb, bStrides: broadcastStrides(shape: b.shape, to: shape),
                       outShape: shape, y: out.mutableElements(Float.self))
            }
        }
        return out
    }
    let loop = BroadcastLoop(outShape: shape, inputShapes: [a.shape, b.shape])
    let visitor = ArithmeticVisitor(op: op, a: a, b: b, out: out, loop: loop)
    guard let supported = try type.visit(visitor), supported else {
        throw ctx.unsupported("\(ctx.node.opType) on \(type)")
    }
    return out
}

/// Runs an `ArithmeticOp` on a concrete element type; returns false for op/type pairs that do not exist.
private struct ArithmeticVisitor: ElementTypeVisitor {
    let op: ArithmeticOp
    let a: Tensor, b: Tensor, out: Tensor
    let loop: BroadcastLoop

    func integer<T: IntegerElement>(_ type: T.Type) -> Bool {
        let y = out.mutableElements(T.self)
        return a.withElements(T.self) { pa in
            b.withElements(T.self) { pb in
                switch op {
                case .add: broadcastMap(pa, pb, y, loop) { $0 &+ $1 }
                case .sub: broadcastMap(pa, pb, y, loop) { $0 &- $1 }
                case .mul: broadcastMap(pa, pb, y, loop) { $0 &* $1 }
                case .div: broadcastMap(pa, pb, y, loop) { x, d in d == 0 ? 0 : x.dividedReportingOverflow(by: d).partialValue }
                case .max: broadcastMap(pa, pb, y, loop) { Swift.max($0, $1) }
                case .min: broadcastMap(pa, pb, y, loop) { Swift.min($0, $1) }
                case .prelu: broadcastMap(pa, pb, y, loop) { x, s in x < 0 ? x &* s : x }
                case .mod(let fmod):
                    if fmod {
                        broadcastMap(pa, pb, y, loop) { x, d in d == 0 ? 0 : x.remainderReportingOverflow(dividingBy: d).partialValue }
                    } else {
                        broadcastMap(pa, pb, y, loop) { x, d in
                            guard d != 0 else { return 0 }
                            let r = x.remainderReportingOverflow(dividingBy: d).partialValue
                            return r != 0 && (r < 0) != (d < 0) ? r &+ d : r
                        }
                    }
                case .bitwiseAnd: broadcastMap(pa, pb, y, loop) { $0 & $1 }
                case .bitwiseOr: broadcastMap(pa, pb, y, loop) { $0 | $1 }
                case .bitwiseXor: broadcastMap(pa, pb, y, loop) { $0 ^ $1 }
                // Shifting by the bit width or more gives 0, as numpy's uint shifts do.
                case .shiftLeft: broadcastMap(pa, pb, y, loop) { x, s in s < 0 || s >= T.bitWidth ? 0 : x << s }
                case .shiftRight: broadcastMap(pa, pb, y, loop) { x, s in s < 0 || s >= T.bitWidth ? 0 : x >> s }
                }
                return true
            }
        }
    }

    func floating<T: FloatElement>(_ type: T.Type) -> Bool {
        let y = out.mutableElements(T.self)
        return a.withElements(T.self) { pa in
            b.withElements(T.self) { pb in
                switch op {
                case .add: broadcastMap(pa, pb, y, loop) { $0 + $1 }
                case .sub: broadcastMap(pa, pb, y, loop) { $0 - $1 }
                case .mul: broadcastMap(pa, pb, y, loop) { $0 * $1 }
                case .div: broadcastMap(pa, pb, y, loop) { $0 / $1 }
                case .max: broadcastMap(pa, pb, y, loop) { x, z in x.isNaN || z.isNaN ? .nan : Swift.max(x, z) }
                case .min: broadcastMap(pa, pb, y, loop) { x, z in x.isNaN || z.isNaN ? .nan : Swift.min(x, z) }
                case .prelu: broadcastMap(pa, pb, y, loop) { x, s in x < 0 ? x * s : x }
                case .mod(let fmod):
                    if fmod {
                        broadcastMap(pa, pb, y, loop) { T.truncatedRemainder($0, $1) }
                    } else {
                        // numpy.mod: the remainder takes the divisor's sign.
                        broadcastMap(pa, pb, y, loop) { x, d in
                            let r = T.truncatedRemainder(x, d)
                            return r != 0 && (r < 0) != (d < 0) ? r + d : r
                        }
                    }
                case .bitwiseAnd, .bitwiseOr, .bitwiseXor, .shiftLeft, .shiftRight: return false
                }
                return true
            }
        }
    }
}

/// Pow: the result has the base's type. Float bases take the exponent converted to their type; integer bases use
/// exact wrapping integer powers for integer exponents and truncate the float64 result for float exponents.
func power(_ a: Tensor, _ b: Tensor, ctx: OpContext) throws -> Tensor {
    let type = a.elementType
    if type.isWidenedToFloat {
        return try convert(try power(try widened(a, ctx: ctx), b, ctx: ctx), to: type, ctx: ctx)
    }
    guard b.elementType.isInteger || b.elementType.isFloatingPoint else {
        throw ctx.unsupported("Pow exponent type \(b.elementType)")
    }
    let shape = try broadcastShape([a.shape, b.shape], ctx: ctx)
    let loop = BroadcastLoop(outShape: shape, inputShapes: [a.shape, b.shape])
    let out = try ctx.allocate(type, shape)
    if type == .float || type == .double {
        let e = try convert(b, to: type, ctx: ctx)
        if type == .float, !e.floatValues().contains(0.5) {
            // Kernels' fast path for a broadcast exponent of 0.5 is sqrt, which gives NaN instead of pow's +inf for
            // -inf: any 0.5 exponent takes the libm path instead.
            a.withElements(Float.self) { pa in
                e.withElements(Float.self) { pe in
                    binary(.pow, a: pa, aStrides: broadcastStrides(shape: a.shape, to: shape),
                           b: pe, bStrides: broadcastStrides(shape: e.shape, to: shape),
                           outShape: shape, y: out.mutableElements(Float.self))
                }
            }
        } else {
            guard try type.visit(FloatPowerVisitor(a: a, e: e, out: out, loop: loop)) != nil else {
                throw ctx.unsupported("Pow on \(type)")
            }
        }
        return out
    }
    let exponent = try convert(b, to: b.elementType.isInteger ? .int64 : .double, ctx: ctx)
    guard try type.visit(IntegerPowerVisitor(a: a, e: exponent, out: out, loop: loop)) != nil else {
        throw ctx.unsupported("Pow on \(type)")
    }
    return out
}

private struct FloatPowerVisitor: ElementTypeVisitor {
    let a: Tensor, e: Tensor, out: Tensor
    let loop: BroadcastLoop

    func integer<T: IntegerElement>(_ type: T.Type) {}

    func floating<T: FloatElement>(_ type: T.Type) {
        a.withElements(T.self) { pa in
            e.withElements(T.self) { pe in broadcastMap(pa, pe, out.mutableElements(T.self), loop) { T.power($0, $1) } }
        }
    }
}

/// Integer base; exponent is int64 or float64.
private struct IntegerPowerVisitor: ElementTypeVisitor {
    let a: Tensor, e: Tensor, out: Tensor
    let loop: BroadcastLoop

    func integer<T: IntegerElement>(_ type: T.Type) {
        let y = out.mutableElements(T.self)
        a.withElements(T.self) { pa in
            if e.elementType == .int64 {
                e.withElements(Int64.self) { pe in broadcastMap(pa, pe, y, loop) { integerPower($0, $1) } }
            } else {
                e.withElements(Double.self) { pe in
                    broadcastMap(pa, pe, y, loop) { x, p in truncatedInteger(Foundation.pow(Double(x), p), as: T.self) }
                }
            }
        }
    }

    func floating<T: FloatElement>(_ type: T.Type) {}
}

/// x^n by squaring with wrapping; negative n gives the truncated reciprocal (0 unless |x| = 1).
@inline(__always)
func integerPower<T: IntegerElement>(_ x: T, _ n: Int64) -> T {
    if n < 0 {
        if x == 1 { return 1 }
        if T.isSigned && x == 0 &- 1 { return n & 1 == 0 ? 1 : x }
        return 0
    }
    var result: T = 1, base = x, k = n
    while k > 0 {
        if k & 1 == 1 { result = result &* base }
        base = base &* base
        k >>= 1
    }
    return result
}
