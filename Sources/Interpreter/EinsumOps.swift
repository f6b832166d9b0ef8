import IR

/// Einsum as a direct reference loop: every label gets one size, each operand a per-label stride (repeated labels in
/// one term add their strides, which reads the diagonal), and each output element sums the product of the operands
/// over the labels missing from the output. Numpy rules: implicit output (no "->") is the ellipsis dims followed by
/// the labels used exactly once, in alphabetical order; "..." dims align to the right and broadcast (size 1).
/// Floats accumulate in Double; integers in their own type (wrapping, as numpy). Not a fast path: compilers lower
/// Einsum to transposes and matmuls.
func registerEinsumOps(_ r: inout OpRegistry) {
    r.register("Einsum") { ctx in
        let inputs = try (0..<ctx.inputs.count).map { try ctx.input($0) }
        guard let first = inputs.first, inputs.allSatisfy({ $0.elementType == first.elementType }) else {
            throw ctx.failure("Einsum needs inputs of one element type")
        }
        let plan = try EinsumPlan(equation: ctx.string("equation", default: ""), shapes: inputs.map(\.shape), ctx: ctx)
        return [try dispatchNumeric(first.elementType, EinsumVisitor(plan: plan, inputs: inputs, ctx: ctx), ctx: ctx)]
    }
}

/// The parsed equation: label sizes, output labels then summed labels, and each operand's stride per label.
struct EinsumPlan {
    var sizes: [Int] = []
    var outputCount = 0
    var strides: [[Int]] = []

    init(equation: String, shapes: [[Int]], ctx: OpContext) throws {
        let text = equation.filter { !$0.isWhitespace }
        let sides = text.components(separatedBy: "->")
        guard sides.count <= 2 else { throw ctx.failure("bad equation '\(equation)'") }
        let terms = sides[0].components(separatedBy: ",")
        guard terms.count == shapes.count else { throw ctx.failure("equation has \(terms.count) terms for \(shapes.count) inputs") }
        // Ellipsis dims become labels "0", "1", ... (digits never appear as ONNX labels).
        var operandLabels: [[Character]] = []
        var ellipsisRank = 0
        for (term, shape) in zip(terms, shapes) {
            let letters = term.replacingOccurrences(of: "...", with: "")
            guard letters.allSatisfy(\.isLetter) else { throw ctx.failure("bad term '\(term)'") }
            guard term.components(separatedBy: "...").count <= 2 else { throw ctx.failure("term '\(term)' has two ellipses") }
            let hasEllipsis = term.contains("...")
            let extra = shape.count - letters.count
            guard extra >= 0, hasEllipsis || extra == 0 else { throw ctx.failure("term '\(term)' does not match rank \(shape.count)") }
            ellipsisRank = max(ellipsisRank, extra)
            operandLabels.append(Array(term))
        }
        func expand(_ term: [Character], _ extra: Int) -> [Character] {
            guard let dot = term.firstIndex(of: ".") else { return term }
            let ellipsis = (ellipsisRank - extra..<ellipsisRank).map { Character(String($0)) }
            return Array(term[..<dot]) + ellipsis + Array(term[(dot + 3)...])
        }
        operandLabels = zip(operandLabels, shapes).map { term, shape in
            expand(term, shape.count - term.filter(\.isLetter).count)
        }
        var size: [Character: Int] = [:]
        var count: [Character: Int] = [:]
        for (labels, shape) in zip(operandLabels, shapes) {
            for (label, d) in zip(labels, shape) {
                count[label, default: 0] += 1
                if let known = size[label], known != d {
                    guard known == 1 || d == 1 else { throw ctx.failure("label '\(label)' has sizes \(known) and \(d)") }
                    size[label] = max(known, d)
                } else {
                    size[label] = d
                }
            }
        }
        let ellipsisLabels = (0..<ellipsisRank).map { Character(String($0)) }
        var output: [Character]
        if sides.count == 2 {
            guard sides[1].components(separatedBy: "...").count <= 2,
                  sides[1].replacingOccurrences(of: "...", with: "").allSatisfy(\.isLetter) else {
                throw ctx.failure("bad output term '\(sides[1])'")
            }
            output = expand(Array(sides[1]), ellipsisRank)
            for label in output where size[label] == nil { throw ctx.failure("output label '\(label)' is not an input label") }
            guard Set(output).count == output.count else { throw ctx.failure("repeated output label in '\(equation)'") }
        } else {
            output = ellipsisLabels + count.keys.filter { $0.isLetter && count[$0] == 1 }.sorted()
        }
        let summed = size.keys.filter { !output.contains($0) }.sorted()
        let order = output + summed
        outputCount = output.count
        sizes = order.map { size[$0] ?? 1 }
        for (labels, shape) in zip(operandLabels, shapes) {
            var perLabel = [Int](repeating: 0, count: order.count)
            var step = 1
            for axis in stride(from: labels.count - 1, through: 0, by: -1) {
                if shape[axis] != 1, let position = order.firstIndex(of: labels[axis]) { perLabel[position] += step }
                step *= shape[axis]
            }
            strides.append(perLabel)
        }
    }
}

private struct EinsumVisitor: NumericVisitor {
    let plan: EinsumPlan, inputs: [Tensor], ctx: OpContext

    func visit<T: NumericElement>(_: T.Type) throws -> Tensor {
        let outShape = Array(plan.sizes[..<plan.outputCount])
        let out = try ctx.allocate(inputs[0].elementType, outShape)
        let d = mutableElements(out, T.self)
        let sources = inputs.map { elements($0, T.self) }
        let sumSizes = Array(plan.sizes[plan.outputCount...])
        let sumCount = sumSizes.reduce(1, *)
        let rank = plan.sizes.count
        var index = [Int](repeating: 0, count: rank)
        var offsets = [Int](repeating: 0, count: inputs.count)
        // Odometer over labels lower..<upper, keeping each operand's offset incrementally; wraps to zero at the end.
        func advance(_ lower: Int, _ upper: Int) {
            var axis = upper - 1
            while axis >= lower {
                index[axis] += 1
                for k in offsets.indices { offsets[k] += plan.strides[k][axis] }
                if index[axis] < plan.sizes[axis] { return }
                for k in offsets.indices { offsets[k] -= plan.strides[k][axis] * plan.sizes[axis] }
                index[axis] = 0
                axis -= 1
            }
        }
        for o in 0..<out.elementCount {
            if T.isFloatingPointElement {
                var acc = 0.0
                for _ in 0..<sumCount {
                    var p = 1.0
                    for k in sources.indices { p *= sources[k][offsets[k]].doubleValue }
                    acc += p
                    advance(plan.outputCount, rank)
                }
                d[o] = T.fromDouble(acc)
            } else {
                var acc = T.zeroValue
                for _ in 0..<sumCount {
                    var p = T.fromDouble(1)
                    for k in sources.indices { p = T.times(p, sources[k][offsets[k]]) }
                    acc = T.plus(acc, p)
                    advance(plan.outputCount, rank)
                }
                d[o] = acc
            }
            advance(0, plan.outputCount)
        }
        return out
    }
}
