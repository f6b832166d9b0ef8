import IR
import Kernels

/// Moves Transposes towards the outputs through elementwise ops and removes them where they cancel.
///
/// For T = Transpose(x, perm p) with output t (perm absent means reversed axes; rank r = |p|), first match wins:
/// 1. p is the identity → t's uses read x (for a graph output t, x's producer produces t instead when x has no
///    other reader).
/// 2. x is a constant → t becomes an initializer holding the transposed data.
/// 3. x = Transpose(x₂, p₂) → one Transpose(x₂, q) with q[j] = p₂[p[j]] (nothing at all when q is the identity);
///    applied when t is x's only reader or q is the identity (so no work is duplicated).
/// 4. t's only reader is an elementwise op U (unary activations, Cast, Clip with constant bounds, the numpy-
///    broadcasting binary ops and Where, PRelu) whose other data operands are each a constant of rank ≤ r or a
///    single-use Transpose with the same p: U(T(x), c) → T(U(x, c')) with c' = transpose(c padded to rank r, p⁻¹)
///    (broadcasting acts axis by axis, so permuting every operand the same way commutes with it), and the other
///    Transposes dropped. Concat of single-use Transposes with the same p likewise, with axis a → p[a].
/// t keeps its value: rule 2 and 4 do not apply to graph outputs. Rule 4 always moves a Transpose past an op, so
/// the rewriting terminates; it never adds nodes. Main graph only.
public struct TransposeSinking: Pass {
    public var name: String { "transpose-sinking" }

    public init() {}

    static let unaryOps: Set<String> = [
        "Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "Cast", "Ceil", "Celu", "Clip", "Cos", "Cosh", "Elu",
        "Erf", "Exp", "Floor", "Gelu", "HardSigmoid", "HardSwish", "Identity", "IsInf", "IsNaN", "LeakyRelu", "Log",
        "Mish", "Neg", "Not", "Reciprocal", "Relu", "Round", "Selu", "Shrink", "Sigmoid", "Sign", "Sin", "Sinh",
        "Softplus", "Softsign", "Sqrt", "Tan", "Tanh", "ThresholdedRelu",
    ]
    static let broadcastingOps: Set<String> = [
        "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Mod", "PRelu", "Equal", "Greater", "Less",
        "GreaterOrEqual", "LessOrEqual", "And", "Or", "Xor", "BitShift", "Where",
    ]

    public func run(on model: Model, context: PassContext) throws -> Bool {
        let rw = GraphRewriter(model: model, context: context)
        var changed = false
        var budget = 4 * rw.graph.nodes.count + 16
        var progress = true
        while progress && budget > 0 {
            progress = false
            for node in rw.graph.nodes where Rewriting.isNamed(node.opType, "Transpose") && isONNX(node) {
                guard rw.isAlive(node) else { continue }
                if rewrite(node, rw: rw) {
                    progress = true
                    changed = true
                    budget -= 1
                }
            }
        }
        return changed
    }

    private func permutation(of node: Node) -> [Int]? {
        if let perm = node.intsAttribute("perm") {
            let p = perm.map(Int.init)
            guard Set(p) == Set(0..<p.count) else { return nil }
            return p
        }
        guard let rank = node.input(0)?.knownRank ?? node.outputs.first?.knownRank else { return nil }
        return Array((0..<rank).reversed())
    }

    private func rewrite(_ t: Node, rw: GraphRewriter) -> Bool {
        guard t.outputs.count == 1, let x = t.input(0), let p = permutation(of: t) else { return false }
        let out = t.outputs[0]
        let visible = rw.isGraphOutput(out)
        if p == Array(0..<p.count) {
            if !visible {
                out.replaceAllUses(with: x)
            } else if !takeOver(out, from: x, rw: rw) {
                return false
            }
            rw.remove([t])
            return true
        }
        if !visible, let data = rw.constant(x), data.rank == p.count, let folded = transposed(data, perm: p) {
            let value = rw.addInitializer("\(out.name)_folded", folded)
            value.type = out.type ?? folded.valueType
            out.replaceAllUses(with: value)
            rw.remove([t])
            return true
        }
        if let inner = x.producer, inner.opType == "Transpose", isONNX(inner), let p2 = permutation(of: inner),
           p2.count == p.count, let x2 = inner.input(0) {
            let q = p.map { p2[$0] }
            let identity = q == Array(0..<q.count)
            if identity && !visible {
                out.replaceAllUses(with: x2)
                rw.remove([t])
                if x.uses.isEmpty && !rw.isGraphOutput(x) { rw.remove([inner]) }
                return true
            }
            if rw.isOnlyUse(x, by: t) || identity {
                // One transpose instead of two (an identity one left on a graph output goes with rule 1 next).
                t.setInput(0, x2)
                t.setAttribute(Attribute("perm", .ints(q.map(Int64.init))))
                if x.uses.isEmpty && !rw.isGraphOutput(x) { rw.remove([inner]) }
                return true
            }
        }
        return sink(t, perm: p, rw: rw)
    }

    /// The producer of `x` (read only by the identity transpose that produces the graph output `out`) produces
    /// `out` directly.
    private func takeOver(_ out: Value, from x: Value, rw: GraphRewriter) -> Bool {
        guard let producer = x.producer, x.uses.count == 1, !rw.isGraphOutput(x), !rw.isGraphInput(x) else { return false }
        var outputs = producer.outputs
        guard let index = outputs.firstIndex(where: { $0 === x }) else { return false }
        outputs[index] = out
        producer.setOutputs(outputs)
        return true
    }

    private func sink(_ t: Node, perm p: [Int], rw: GraphRewriter) -> Bool {
        let out = t.outputs[0]
        guard let u = rw.soleConsumer(of: out), isONNX(u), u.outputs.count == 1, !u.outputs[0].isAbsent else { return false }
        let r = p.count
        var inverse = Array(repeating: 0, count: r)
        for (j, a) in p.enumerated() { inverse[a] = j }
        var newInputs: [Value?] = []
        var droppedTransposes: [Node] = []
        var attributes: [Attribute]?
        if Self.unaryOps.contains(u.opType) {
            guard u.inputs.firstIndex(where: { $0 === out }) == 0 else { return false }
            for (i, v) in u.inputs.enumerated() where i > 0 {
                // Clip bounds and similar extra inputs must be scalars.
                guard v == nil || v?.isAbsent == true || (rw.constant(v)?.elementCount == 1) else { return false }
            }
            newInputs = u.inputs.map { $0 === out ? t.input(0) : $0 }
        } else if Self.broadcastingOps.contains(u.opType) || u.opType == "Concat" {
            // Check every operand before creating anything.
            var permutedConstants: [Int: Tensor] = [:]
            for (i, v) in u.inputs.enumerated() {
                guard let v, !v.isAbsent, v !== out else { continue }
                if let other = v.producer, other.opType == "Transpose", isONNX(other), other !== t,
                   permutation(of: other) == p, rw.isOnlyUse(v, by: u), other.input(0) != nil {
                    droppedTransposes.append(other)
                    continue
                }
                guard u.opType != "Concat", let data = rw.constant(v), data.rank <= r,
                      let moved = transposed(data.reshaped(toRank: r), perm: inverse) else { return false }
                permutedConstants[i] = moved
            }
            for (i, v) in u.inputs.enumerated() {
                if let v, v === out {
                    newInputs.append(t.input(0))
                } else if let moved = permutedConstants[i], let v {
                    newInputs.append(rw.addInitializer("\(v.name)_permuted", moved))
                } else if let v, let other = v.producer, droppedTransposes.contains(where: { $0 === other }) {
                    newInputs.append(other.input(0))
                } else {
                    newInputs.append(v)
                }
            }
            if u.opType == "Concat" {
                guard let axis = u.intAttribute("axis"), axis >= -Int64(r), axis < Int64(r) else { return false }
                let a = Int(axis < 0 ? axis + Int64(r) : axis)
                attributes = [Attribute("axis", .int(Int64(p[a])))]
            }
        } else {
            return false
        }
        let result = u.outputs[0]
        var preType: ValueType?
        if case .tensor(let e, let shape?) = result.type, shape.rank == r {
            var dims = Array(repeating: Dim.unknown, count: r)
            for j in 0..<r { dims[p[j]] = shape.dims[j] }
            preType = .tensor(e, Shape(dims))
        } else if case .tensor(let e, _) = result.type {
            preType = .tensor(e, nil)
        }
        let oldInputs = u.inputs
        u.setInputs(newInputs)
        for a in attributes ?? [] { u.setAttribute(a) }
        let pre = rw.makeValue("\(result.name)_before_transpose", type: preType)
        u.setOutputs([pre])
        let moved = rw.makeNode("Transpose", name: t.name.isEmpty ? "\(result.name)_transpose" : t.name, inputs: [pre],
                                outputs: [result], attributes: [Attribute("perm", .ints(p.map(Int64.init)))])
        rw.insert(moved, after: u)
        rw.remove([t] + droppedTransposes)
        for v in oldInputs { rw.removeIfDead(v) }
        return true
    }
}

extension Tensor {
    /// The same data with leading 1-dims added up to `rank`.
    func reshaped(toRank rank: Int) -> Tensor {
        var copy = self
        copy.shape = Array(repeating: 1, count: max(0, rank - shape.count)) + shape
        return copy
    }
}

/// `tensor` transposed by `perm` (output axis j = input axis perm[j]); nil for string or sub-byte element types.
func transposed(_ tensor: Tensor, perm: [Int]) -> Tensor? {
    let width = tensor.elementType.bitWidth / 8
    guard tensor.elementType != .string, tensor.elementType.bitWidth % 8 == 0, width > 0, perm.count == tensor.rank
    else { return nil }
    let inShape = tensor.shape
    let outShape = perm.map { inShape[$0] }
    var inStrides = Array(repeating: 1, count: inShape.count)
    for a in stride(from: inShape.count - 2, through: 0, by: -1) { inStrides[a] = inStrides[a + 1] * inShape[a + 1] }
    let stridesInOutOrder = perm.map { inStrides[$0] }
    // Every byte is written by the strided copy (the interpreter's Transpose kernel), so no zero fill first.
    let result = Tensor(elementType: tensor.elementType, shape: outShape,
                        storage: TensorStorage(uninitializedByteCount: tensor.elementCount * width))
    stridedCopy(src: tensor.storage.baseAddress, srcStrides: stridesInOutOrder, shape: outShape, elementSize: width,
                dst: result.storage.mutableBaseAddress)
    return result
}
