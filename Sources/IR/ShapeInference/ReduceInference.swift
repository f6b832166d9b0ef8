/// Reductions (axes as attribute or, from opset 13/18, as input; keepdims; noop_with_empty_axes) and
/// ArgMax/ArgMin.
enum ReduceInference {
    static let reduceOps = [
        "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
        "ReduceLogSumExp", "ReduceSumSquare",
    ]

    static let rules: [String: InferenceRule] = {
        var r: [String: InferenceRule] = [:]
        for op in reduceOps { r[op] = reduce }
        r["ArgMax"] = argReduce
        r["ArgMin"] = argReduce
        return r
    }()

    static func reduce(_ c: InferenceContext) throws {
        let element = c.elementType(0)
        guard let x = c.shape(0) else { return c.setOutput(0, element, nil as Shape?) }
        let keep = c.int("keepdims", default: 1) != 0
        // ReduceSum took axes as an input from opset 13, the others from 18.
        let inputOpset: Int64 = c.node.opType == "ReduceSum" ? 13 : 18
        var axes: [Int]
        switch ShapeOpsInference.axesArgument(c, inputOpset: inputOpset) {
        case .some(.some(let list)):
            axes = try c.axes(list, rank: x.rank)
        case .some(.none):
            // Axes exist but are unknown: with keepdims only the rank is known.
            return c.setOutput(0, element, keep ? x.dims.map { _ in Dim.unknown } : nil)
        case .none:
            axes = []
        }
        if axes.isEmpty {
            if c.opset >= inputOpset, c.int("noop_with_empty_axes", default: 0) != 0 {
                c.passThrough()
                c.setContents(0, c.contents(0))
                return
            }
            axes = Array(0..<x.rank)
        }
        let reduced = Set(axes)
        var dims: [Dim] = []
        for (i, d) in x.dims.enumerated() {
            if reduced.contains(i) {
                if keep { dims.append(.known(1)) }
            } else {
                dims.append(d)
            }
        }
        c.setOutput(0, element, dims)
        // Products and sums of shape vectors (element counts) are shape data too.
        if let data = c.contents(0), data.rank == 1, reduced == [0],
           c.node.opType == "ReduceProd" || c.node.opType == "ReduceSum" {
            let combine = c.node.opType == "ReduceProd" ? DimMath.multiply : DimMath.add
            let start: Dim = c.node.opType == "ReduceProd" ? .known(1) : .known(0)
            c.setContents(0, IntContents(shape: keep ? [1] : [], values: [data.values.reduce(start, combine)]))
        }
    }

    static func argReduce(_ c: InferenceContext) throws {
        guard let x = c.shape(0) else { return c.setOutput(0, .int64, nil as Shape?) }
        let axis = try c.axis(c.int("axis", default: 0), rank: x.rank)
        var dims = x.dims
        if c.int("keepdims", default: 1) != 0 { dims[axis] = .known(1) } else { dims.remove(at: axis) }
        c.setOutput(0, .int64, dims)
    }
}
