/// Unary maths and activations, numpy-broadcast binary and variadic ops, comparisons and logic, Where, Cast,
/// Identity/Dropout and the quantisation ops. Integer arithmetic is also evaluated on known contents.
enum ElementwiseInference {
    static let unaryOps = [
        "Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "Ceil", "Celu", "Cos", "Cosh", "Elu", "Erf", "Exp",
        "Floor", "Gelu", "HardSigmoid", "HardSwish", "Hardmax", "LeakyRelu", "Log", "LogSoftmax", "Mish", "Neg",
        "Reciprocal", "Relu", "Round", "Selu", "Shrink", "Sigmoid", "Sign", "Sin", "Sinh", "Softmax", "Softplus",
        "Softsign", "Sqrt", "Tan", "Tanh", "ThresholdedRelu", "BitwiseNot", "Clip", "CumSum", "Trilu", "LpNormalization",
        "MeanVarianceNormalization", "LRN", "Swish", "QuickGelu", "FastGelu", "Det",
    ]
    static let arithmeticOps = ["Add", "Sub", "Mul", "Div", "Pow", "Mod", "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor"]
    static let variadicOps = ["Max", "Min", "Mean", "Sum"]
    static let comparisonOps = ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor"]

    static let rules: [String: InferenceRule] = {
        var r: [String: InferenceRule] = [:]
        for op in unaryOps { r[op] = unary }
        for op in arithmeticOps + variadicOps { r[op] = arithmetic }
        for op in comparisonOps { r[op] = comparison }
        r["Det"] = det
        r["Not"] = { c in
            c.setOutput(0, .bool, c.shape(0))
            if let x = c.contents(0) {
                c.setContents(0, IntContents(shape: x.shape, values: x.values.map { $0.value.map { .known($0 == 0 ? 1 : 0) } ?? .unknown }))
            }
        }
        r["IsNaN"] = { c in c.setOutput(0, .bool, c.shape(0)) }
        r["IsInf"] = { c in c.setOutput(0, .bool, c.shape(0)) }
        r["PRelu"] = prelu
        r["Where"] = whereOp
        r["Identity"] = identity
        r["Dropout"] = dropout
        r["Cast"] = cast
        r["CastLike"] = castLike
        r["QuantizeLinear"] = quantize
        r["DequantizeLinear"] = dequantize
        r["DynamicQuantizeLinear"] = { c in
            c.setOutput(0, .uint8, c.shape(0))
            c.setOutput(1, .float, Shape([Int]()))
            c.setOutput(2, .uint8, Shape([Int]()))
        }
        return r
    }()

    static func unary(_ c: InferenceContext) throws {
        if c.node.opType == "Softmax" || c.node.opType == "LogSoftmax" || c.node.opType == "Hardmax" || c.node.opType == "CumSum" {
            if let rank = c.rank(0), c.node.opType != "CumSum" {
                _ = try c.axis(c.int("axis", default: c.opset >= 13 ? -1 : 1), rank: max(rank, 1))
            }
        }
        c.passThrough()
        if c.node.opType == "Neg" || c.node.opType == "Abs", let x = c.contents(0) {
            c.setContents(0, IntContents(shape: x.shape, values: x.values.map { d in
                guard let v = d.value, v != Int.min else { return .unknown }
                return .known(c.node.opType == "Neg" ? -v : abs(v))
            }))
        }
    }

    static func det(_ c: InferenceContext) throws {
        guard let s = c.shape(0) else { return c.setOutput(0, c.elementType(0), nil as Shape?) }
        guard s.rank >= 2 else { throw c.fail("input rank \(s.rank) is below 2") }
        c.setOutput(0, c.elementType(0), Shape(Array(s.dims.dropLast(2))))
    }

    /// Broadcast shape of all present inputs, or nil when one has unknown rank.
    static func broadcastShape(_ c: InferenceContext, inputs: [Int]) throws -> Shape? {
        var shapes: [Shape] = []
        for i in inputs {
            guard let s = c.shape(i) else { return nil }
            shapes.append(s)
        }
        return try DimMath.broadcast(shapes) { c.fail($0) }
    }

    static func presentInputs(_ c: InferenceContext) -> [Int] { (0..<c.inputCount).filter { c.hasInput($0) } }

    static func arithmetic(_ c: InferenceContext) throws {
        let present = presentInputs(c)
        guard !present.isEmpty else { throw c.fail("has no inputs") }
        let shape = try broadcastShape(c, inputs: present)
        let element = c.elementType(present[0]) ?? present.lazy.compactMap { c.elementType($0) }.first
        c.setOutput(0, element, shape)
        // Shape arithmetic on integer (or integral float) contents.
        let parts = present.compactMap { c.contents($0) }
        guard parts.count == present.count else { return }
        let isFloat = element?.isFloatingPoint ?? false
        let op = c.node.opType
        let result = ConstantFolding.broadcast(parts) { args in
            args.dropFirst().reduce(args[0]) { a, b in
                switch op {
                case "Add", "Sum": DimMath.add(a, b)
                case "Sub": DimMath.subtract(a, b)
                case "Mul": DimMath.multiply(a, b)
                case "Div":
                    // Float division is only tracked when exact; integers truncate as ONNX does.
                    if isFloat, let x = a.value, let y = b.value, y != 0, x % y != 0 { .unknown } else { DimMath.divide(a, b) }
                case "Mod": c.int("fmod", default: 0) == 0 ? DimMath.modulo(a, b) : .unknown
                case "Max": a.value.flatMap { x in b.value.map { .known(max(x, $0)) } } ?? (a == b ? a : .unknown)
                case "Min": a.value.flatMap { x in b.value.map { .known(min(x, $0)) } } ?? (a == b ? a : .unknown)
                case "Pow":
                    if let x = a.value, let y = b.value, y >= 0, y < 63 {
                        (0..<y).reduce(Dim.known(1)) { acc, _ in DimMath.multiply(acc, .known(x)) }
                    } else { .unknown }
                default: .unknown
                }
            }
        }
        c.setContents(0, result)
    }

    static func comparison(_ c: InferenceContext) throws {
        let shape = try broadcastShape(c, inputs: [0, 1])
        c.setOutput(0, .bool, shape)
        guard let a = c.contents(0), let b = c.contents(1) else { return }
        let op = c.node.opType
        c.setContents(0, ConstantFolding.broadcast([a, b]) { args in
            let (x, y) = (args[0], args[1])
            if op == "Equal", case .symbolic(let s) = x, case .symbolic(let t) = y, s == t { return .known(1) }
            guard let u = x.value, let v = y.value else { return .unknown }
            let r: Bool
            switch op {
            case "Equal": r = u == v
            case "Less": r = u < v
            case "Greater": r = u > v
            case "LessOrEqual": r = u <= v
            case "GreaterOrEqual": r = u >= v
            case "And": r = u != 0 && v != 0
            case "Or": r = u != 0 || v != 0
            default: r = (u != 0) != (v != 0)
            }
            return .known(r ? 1 : 0)
        })
    }

    static func prelu(_ c: InferenceContext) throws {
        // Slope broadcasts unidirectionally to X; the output has X's shape.
        if let x = c.shape(0), let slope = c.shape(1) {
            let b = try DimMath.broadcast([x, slope]) { c.fail($0) }
            guard b.rank == x.rank else { throw c.fail("slope \(slope) does not broadcast to input \(x)") }
        }
        c.passThrough()
    }

    static func whereOp(_ c: InferenceContext) throws {
        let shape = try broadcastShape(c, inputs: [0, 1, 2])
        c.setOutput(0, c.elementType(1) ?? c.elementType(2), shape)
        guard let cond = c.contents(0), let a = c.contents(1), let b = c.contents(2) else { return }
        c.setContents(0, ConstantFolding.broadcast([cond, a, b]) { args in
            guard let k = args[0].value else { return args[1] == args[2] ? args[1] : .unknown }
            return k != 0 ? args[1] : args[2]
        })
    }

    static func identity(_ c: InferenceContext) throws {
        c.passThrough()
        c.setContents(0, c.contents(0))
    }

    static func dropout(_ c: InferenceContext) throws {
        c.passThrough()
        c.setContents(0, c.contents(0))
        if c.outputCount > 1 { c.setOutput(1, .bool, c.shape(0)) }
    }

    static func cast(_ c: InferenceContext) throws {
        guard let raw = c.attr("to")?.int, let to = ElementType(rawValue: Int32(clamping: raw)) else {
            throw c.fail("missing or invalid 'to' attribute")
        }
        c.setOutput(0, to, c.shape(0))
        if to.isInteger || to == .bool || to.isFloatingPoint, let x = c.contents(0) {
            c.setContents(0, to == .bool ? IntContents(shape: x.shape, values: x.values.map { $0.value.map { .known($0 != 0 ? 1 : 0) } ?? .unknown }) : x)
        } else if to.isInteger, let t = c.constant(0), t.elementType.isFloatingPoint,
                  let count = checkedElementCount(t.shape), count <= IntContents.maxElements {
            // Float constants cast to integers truncate.
            c.setContents(0, IntContents(shape: t.shape, values: t.int64Values().map { .known(Int($0)) }))
        }
    }

    static func castLike(_ c: InferenceContext) throws {
        c.setOutput(0, c.elementType(1), c.shape(0))
        c.setContents(0, c.contents(0))
    }

    static func quantize(_ c: InferenceContext) throws {
        var element = c.elementType(2) ?? .uint8
        if let raw = c.attr("output_dtype")?.int, raw != 0, let e = ElementType(rawValue: Int32(clamping: raw)) { element = e }
        c.setOutput(0, element, c.shape(0))
    }

    static func dequantize(_ c: InferenceContext) throws {
        var element = c.elementType(1) ?? .float
        if let raw = c.attr("output_dtype")?.int, raw != 0, let e = ElementType(rawValue: Int32(clamping: raw)) { element = e }
        c.setOutput(0, element, c.shape(0))
    }
}
