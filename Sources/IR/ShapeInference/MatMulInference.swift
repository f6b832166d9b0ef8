/// MatMul (1-D promotion, batched broadcasting), MatMulInteger/QLinearMatMul, Gemm (transA/transB) and Einsum.
enum MatMulInference {
    static let rules: [String: InferenceRule] = [
        "MatMul": matMul, "MatMulInteger": matMul, "QLinearMatMul": matMul, "Gemm": gemm, "Einsum": einsum,
    ]

    static func matMul(_ c: InferenceContext) throws {
        let (ai, bi) = c.node.opType == "QLinearMatMul" ? (0, 3) : (0, 1)
        let element: ElementType? = switch c.node.opType {
        case "MatMulInteger": .int32
        case "QLinearMatMul": c.elementType(7) ?? c.elementType(0)
        default: c.elementType(0)
        }
        guard let a = c.shape(ai), let b = c.shape(bi) else { return c.setOutput(0, element, nil as Shape?) }
        guard a.rank >= 1, b.rank >= 1 else { throw c.fail("operands must not be scalars: \(a) and \(b)") }
        // 1-D operands are promoted to matrices and the added dim dropped afterwards.
        let aDims = a.rank == 1 ? [Dim.known(1)] + a.dims : a.dims
        let bDims = b.rank == 1 ? b.dims + [Dim.known(1)] : b.dims
        let k1 = aDims[aDims.count - 1], k2 = bDims[bDims.count - 2]
        if let x = k1.value, let y = k2.value, x != y {
            throw c.fail("inner dims differ: \(a) × \(b) (\(x) vs \(y))")
        }
        let batch = try DimMath.broadcast([Shape(Array(aDims.dropLast(2))), Shape(Array(bDims.dropLast(2)))]) { c.fail($0) }
        var dims = batch.dims
        if a.rank > 1 { dims.append(aDims[aDims.count - 2]) }
        if b.rank > 1 { dims.append(bDims[bDims.count - 1]) }
        c.setOutput(0, element, dims)
    }

    static func gemm(_ c: InferenceContext) throws {
        guard let a = c.shape(0), let b = c.shape(1) else { return c.setOutput(0, c.elementType(0), nil as Shape?) }
        guard a.rank == 2, b.rank == 2 else { throw c.fail("operands must be 2-D, got \(a) and \(b)") }
        let transA = c.int("transA", default: 0) != 0, transB = c.int("transB", default: 0) != 0
        let m = transA ? a.dims[1] : a.dims[0], k1 = transA ? a.dims[0] : a.dims[1]
        let k2 = transB ? b.dims[1] : b.dims[0], n = transB ? b.dims[0] : b.dims[1]
        if let x = k1.value, let y = k2.value, x != y { throw c.fail("inner dims differ: \(a) × \(b) (\(x) vs \(y))") }
        let out = Shape([m, n])
        if let bias = c.shape(2) {
            let merged = try DimMath.broadcast([out, bias]) { c.fail("bias does not broadcast: \($0)") }
            guard merged.rank == 2 else { throw c.fail("bias \(bias) does not broadcast to \(out)") }
        }
        c.setOutput(0, c.elementType(0), out)
    }

    /// Labels of an Einsum term and how many precede its `...` (nil without one).
    static func parseTerm(_ term: Substring) -> (labels: [Character], ellipsisAt: Int?)? {
        var labels: [Character] = []
        var ellipsisAt: Int?
        var dots = 0
        for ch in term {
            if ch == "." {
                dots += 1
                if dots == 3 {
                    guard ellipsisAt == nil else { return nil }
                    ellipsisAt = labels.count
                    dots = 0
                }
                continue
            }
            guard dots == 0, ch.isLetter else { return nil }
            labels.append(ch)
        }
        return dots == 0 ? (labels, ellipsisAt) : nil
    }

    /// Einsum with explicit (`->`) or implicit output and `...` broadcasting.
    static func einsum(_ c: InferenceContext) throws {
        let element = c.elementType(0)
        let equation = String(c.string("equation", default: "").filter { !$0.isWhitespace })
        let inputCount = ElementwiseInference.presentInputs(c).count
        let arrow = equation.firstRange(of: "->")
        let lhs = arrow.map { equation[..<$0.lowerBound] } ?? equation[...]
        let rhs = arrow.map { equation[$0.upperBound...] }
        let terms = lhs.split(separator: ",", omittingEmptySubsequences: false)
        guard !equation.isEmpty, terms.count == inputCount else {
            throw c.fail("equation '\(equation)' does not match \(inputCount) inputs")
        }
        var letters: [Character: Dim] = [:]
        var counts: [Character: Int] = [:]
        var ellipsis: [Shape] = []
        for (i, term) in terms.enumerated() {
            guard let shape = c.shape(i) else { return c.setOutput(0, element, nil as Shape?) }
            guard let (labels, at) = parseTerm(term) else { throw c.fail("equation term '\(term)' is malformed") }
            let ellipsisRank = shape.rank - labels.count
            guard ellipsisRank >= 0, at != nil || ellipsisRank == 0 else {
                throw c.fail("equation term '\(term)' does not match input \(i) of rank \(shape.rank)")
            }
            var dimIndex = 0
            for (k, label) in labels.enumerated() {
                if k == at { dimIndex += ellipsisRank }
                let d = shape.dims[dimIndex]
                dimIndex += 1
                counts[label, default: 0] += 1
                if let existing = letters[label] {
                    guard let merged = DimMath.broadcast(existing, d) else {
                        throw c.fail("label '\(label)' has sizes \(existing) and \(d)")
                    }
                    letters[label] = merged
                } else {
                    letters[label] = d
                }
            }
            if let at { ellipsis.append(Shape(Array(shape.dims[at..<(at + ellipsisRank)]))) }
        }
        let broadcastDims = try DimMath.broadcast(ellipsis) { c.fail($0) }.dims
        var dims: [Dim] = []
        if let rhs {
            guard let (labels, at) = parseTerm(rhs) else { throw c.fail("equation output '\(rhs)' is malformed") }
            for (k, label) in labels.enumerated() {
                if k == at { dims += broadcastDims }
                guard let d = letters[label] else { throw c.fail("output label '\(label)' is not in any input") }
                dims.append(d)
            }
            if at == labels.count { dims += broadcastDims }
        } else {
            dims = broadcastDims + letters.keys.filter { counts[$0] == 1 }.sorted().compactMap { letters[$0] }
        }
        c.setOutput(0, element, dims)
    }
}
