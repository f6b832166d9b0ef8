import IR

/// Comparisons, logic, selection and bit operations: Equal, Less, LessOrEqual, Greater, GreaterOrEqual, And, Or, Xor,
/// Not, Where, IsNaN, IsInf, BitShift, BitwiseAnd, BitwiseOr, BitwiseXor, BitwiseNot.
///
/// Comparisons broadcast and return bool; NaN compares unequal and unordered (IEEE), strings compare bytewise for
/// Equal. Where selects by a broadcast bool condition for any fixed-size element type. Bit ops are integer-only;
/// BitShift by the bit width or more gives 0 (numpy).
func registerLogicalOps(_ r: inout OpRegistry) {
    let comparisons: [(String, ComparisonOp)] = [
        ("Equal", .equal), ("Less", .less), ("LessOrEqual", .lessOrEqual),
        ("Greater", .greater), ("GreaterOrEqual", .greaterOrEqual),
    ]
    for (name, op) in comparisons {
        r.register(name) { ctx in
            let (a, b) = try legacyBroadcastOperands(ctx)
            return [try compare(op, a, b, ctx: ctx)]
        }
    }
    let logical: [(String, LogicalOp)] = [("And", .and), ("Or", .or), ("Xor", .xor)]
    for (name, op) in logical {
        r.register(name) { ctx in
            let (a, b) = try legacyBroadcastOperands(ctx)
            guard a.elementType == .bool, b.elementType == .bool else {
                throw ctx.unsupported("\(name) on \(a.elementType), \(b.elementType)")
            }
            let shape = try broadcastShape([a.shape, b.shape], ctx: ctx)
            let out = try ctx.allocate(.bool, shape)
            let loop = BroadcastLoop(outShape: shape, inputShapes: [a.shape, b.shape])
            let y = out.mutableElements(UInt8.self)
            a.withElements(UInt8.self) { pa in
                b.withElements(UInt8.self) { pb in
                    switch op {
                    case .and: broadcastMap(pa, pb, y, loop) { $0 != 0 && $1 != 0 ? 1 : 0 }
                    case .or: broadcastMap(pa, pb, y, loop) { $0 != 0 || $1 != 0 ? 1 : 0 }
                    case .xor: broadcastMap(pa, pb, y, loop) { ($0 != 0) != ($1 != 0) ? 1 : 0 }
                    }
                }
            }
            return [out]
        }
    }
    r.register("Not") { ctx in
        let x = try ctx.input(0)
        guard x.elementType == .bool else { throw ctx.unsupported("Not on \(x.elementType)") }
        let out = try ctx.allocate(.bool, x.shape)
        x.withElements(UInt8.self) { mapElements($0, out.mutableElements(UInt8.self), x.elementCount) { $0 == 0 ? 1 : 0 } }
        return [out]
    }
    r.register("Where") { ctx in [try select(try ctx.input(0), try ctx.input(1), try ctx.input(2), ctx: ctx)] }
    r.register("IsNaN") { ctx in
        let x = try widened(try ctx.input(0), ctx: ctx)
        return [try floatPredicate(x, ctx: ctx, float: { $0.isNaN }, double: { $0.isNaN })]
    }
    r.register("IsInf") { ctx in
        let x = try widened(try ctx.input(0), ctx: ctx)
        let positive = ctx.int("detect_positive", default: 1) != 0, negative = ctx.int("detect_negative", default: 1) != 0
        return [try floatPredicate(x, ctx: ctx, float: { $0.isInfinite && ($0 > 0 ? positive : negative) },
                                   double: { $0.isInfinite && ($0 > 0 ? positive : negative) })]
    }
    let bitwise: [(String, ArithmeticOp)] = [("BitwiseAnd", .bitwiseAnd), ("BitwiseOr", .bitwiseOr), ("BitwiseXor", .bitwiseXor)]
    for (name, op) in bitwise {
        r.register(name) { ctx in
            let a = try ctx.input(0), b = try ctx.input(1)
            guard a.elementType.isInteger else { throw ctx.unsupported("\(name) on \(a.elementType)") }
            return [try arithmetic(op, a, b, ctx: ctx)]
        }
    }
    r.register("BitShift") { ctx in
        let a = try ctx.input(0), b = try ctx.input(1)
        guard a.elementType.isInteger else { throw ctx.unsupported("BitShift on \(a.elementType)") }
        let direction = ctx.string("direction", default: "")
        guard direction == "LEFT" || direction == "RIGHT" else { throw ctx.failure("invalid direction '\(direction)'") }
        return [try arithmetic(direction == "LEFT" ? .shiftLeft : .shiftRight, a, b, ctx: ctx)]
    }
    r.register("BitwiseNot") { ctx in
        let x = try ctx.input(0)
        let out = try ctx.allocate(x.elementType, x.shape)
        guard x.elementType.isInteger, try x.elementType.visit(BitwiseNotVisitor(x: x, out: out)) != nil else {
            throw ctx.unsupported("BitwiseNot on \(x.elementType)")
        }
        return [out]
    }
}

enum ComparisonOp { case equal, less, lessOrEqual, greater, greaterOrEqual }
private enum LogicalOp { case and, or, xor }

/// `op(a, b)` as a broadcast bool tensor.
func compare(_ op: ComparisonOp, _ a: Tensor, _ b: Tensor, ctx: OpContext) throws -> Tensor {
    guard a.elementType == b.elementType else {
        throw ctx.failure("operand types differ: \(a.elementType) and \(b.elementType)")
    }
    if a.elementType.isWidenedToFloat { return try compare(op, try widened(a, ctx: ctx), try widened(b, ctx: ctx), ctx: ctx) }
    let shape = try broadcastShape([a.shape, b.shape], ctx: ctx)
    let out = try ctx.allocate(.bool, shape)
    let loop = BroadcastLoop(outShape: shape, inputShapes: [a.shape, b.shape])
    if a.elementType == .string {
        guard op == .equal else { throw ctx.unsupported("\(ctx.node.opType) on strings") }
        let y = out.mutableElements(UInt8.self)
        let n = loop.inner, sa = loop.innerStride(0), sb = loop.innerStride(1)
        loop.forEachRow { row, offsets in
            for i in 0..<n { y[row * n + i] = a.strings[offsets[0] + i * sa] == b.strings[offsets[1] + i * sb] ? 1 : 0 }
        }
        return out
    }
    guard try a.elementType.visit(ComparisonVisitor(op: op, a: a, b: b, out: out, loop: loop), bool: true) != nil else {
        throw ctx.unsupported("\(ctx.node.opType) on \(a.elementType)")
    }
    return out
}

private struct ComparisonVisitor: ElementTypeVisitor {
    let op: ComparisonOp
    let a: Tensor, b: Tensor, out: Tensor
    let loop: BroadcastLoop

    func integer<T: IntegerElement>(_ type: T.Type) { run(T.self) }
    func floating<T: FloatElement>(_ type: T.Type) { run(T.self) }

    private func run<T: Comparable & BitwiseCopyable>(_ type: T.Type) {
        let y = out.mutableElements(UInt8.self)
        a.withElements(T.self) { pa in
            b.withElements(T.self) { pb in
                switch op {
                case .equal: broadcastMap(pa, pb, y, loop) { $0 == $1 ? 1 : 0 }
                case .less: broadcastMap(pa, pb, y, loop) { $0 < $1 ? 1 : 0 }
                case .lessOrEqual: broadcastMap(pa, pb, y, loop) { $0 <= $1 ? 1 : 0 }
                case .greater: broadcastMap(pa, pb, y, loop) { $0 > $1 ? 1 : 0 }
                case .greaterOrEqual: broadcastMap(pa, pb, y, loop) { $0 >= $1 ? 1 : 0 }
                }
            }
        }
    }
}

/// Where(condition, x, y): moves elements by byte width, so every fixed-size type works.
func select(_ condition: Tensor, _ x: Tensor, _ y: Tensor, ctx: OpContext) throws -> Tensor {
    guard condition.elementType == .bool else { throw ctx.failure("condition must be bool, got \(condition.elementType)") }
    guard x.elementType == y.elementType else { throw ctx.failure("X and Y types differ: \(x.elementType) and \(y.elementType)") }
    let shape = try broadcastShape([condition.shape, x.shape, y.shape], ctx: ctx)
    let loop = BroadcastLoop(outShape: shape, inputShapes: [condition.shape, x.shape, y.shape])
    let out = try ctx.allocate(x.elementType, shape)
    func run<T: BitwiseCopyable>(_: T.Type) {
        condition.withElements(UInt8.self) { pc in
            x.withElements(T.self) { px in
                y.withElements(T.self) { py in
                    broadcastMap(pc, px, py, out.mutableElements(T.self), loop) { c, u, v in c != 0 ? u : v }
                }
            }
        }
    }
    switch x.elementType.bitWidth {
    case 8: run(UInt8.self)
    case 16: run(UInt16.self)
    case 32: run(UInt32.self)
    case 64: run(UInt64.self)
    default:
        guard x.elementType == .string else { throw ctx.unsupported("Where on \(x.elementType)") }
        var strings: [[UInt8]] = []
        strings.reserveCapacity(loop.count)
        let n = loop.inner, s = (0..<3).map(loop.innerStride)
        let flags = condition.withElements(UInt8.self) { Array(UnsafeBufferPointer(start: $0, count: condition.elementCount)) }
        loop.forEachRow { _, o in
            for i in 0..<n { strings.append(flags[o[0] + i * s[0]] != 0 ? x.strings[o[1] + i * s[1]] : y.strings[o[2] + i * s[2]]) }
        }
        var result = Tensor(zeros: .string, shape: shape)
        result.strings = strings
        return result
    }
    return out
}

/// A bool tensor of `predicate` over float32 or float64 elements.
private func floatPredicate(
    _ x: Tensor, ctx: OpContext, float: (Float) -> Bool, double: (Double) -> Bool
) throws -> Tensor {
    let out = try ctx.allocate(.bool, x.shape)
    let y = out.mutableElements(UInt8.self), n = x.elementCount
    switch x.elementType {
    case .float: x.withElements(Float.self) { mapElements($0, y, n) { float($0) ? 1 : 0 } }
    case .double: x.withElements(Double.self) { mapElements($0, y, n) { double($0) ? 1 : 0 } }
    default: throw ctx.unsupported("\(ctx.node.opType) on \(x.elementType)")
    }
    return out
}

private struct BitwiseNotVisitor: ElementTypeVisitor {
    let x: Tensor, out: Tensor

    func integer<T: IntegerElement>(_ type: T.Type) {
        x.withElements(T.self) { mapElements($0, out.mutableElements(T.self), x.elementCount) { ~$0 } }
    }

    func floating<T: FloatElement>(_ type: T.Type) {}
}
