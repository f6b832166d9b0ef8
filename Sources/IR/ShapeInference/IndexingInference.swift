/// Gathers, scatters and data-dependent selections: Gather, GatherElements, GatherND, ScatterND,
/// ScatterElements, OneHot, TopK, NonZero, NonMaxSuppression, Compress, Unique, GridSample.
enum IndexingInference {
    static let rules: [String: InferenceRule] = [
        "Gather": gather, "GatherElements": gatherElements, "GatherND": gatherND,
        "ScatterND": scatter, "ScatterElements": scatter, "Scatter": scatter,
        "OneHot": oneHot, "TopK": topK, "NonZero": nonZero, "NonMaxSuppression": nonMaxSuppression,
        "Compress": compress, "Unique": unique, "GridSample": gridSample,
    ]

    static func gather(_ c: InferenceContext) throws {
        let element = c.elementType(0)
        guard let data = c.shape(0), let indices = c.shape(1) else { return c.setOutput(0, element, nil as Shape?) }
        let axis = try c.axis(c.int("axis", default: 0), rank: data.rank)
        if let size = data.dims[axis].value, let known = c.ints(input: 1),
           let bad = known.first(where: { $0 < -size || $0 >= size }) {
            throw c.fail("index \(bad) is out of range for dim \(axis) of size \(size)")
        }
        c.setOutput(0, element, Array(data.dims[..<axis]) + indices.dims + Array(data.dims[(axis + 1)...]))
        if let d = c.contents(0), let idx = c.contents(1), let values = idx.ints {
            c.setContents(0, ConstantFolding.gather(d, indices: values, indicesShape: idx.shape, axis: axis))
        }
    }

    static func gatherElements(_ c: InferenceContext) throws {
        if let data = c.shape(0), let indices = c.shape(1) {
            _ = try c.axis(c.int("axis", default: 0), rank: data.rank)
            guard data.rank == indices.rank else { throw c.fail("data \(data) and indices \(indices) ranks differ") }
        }
        c.setOutput(0, c.elementType(0), c.shape(1))
    }

    static func gatherND(_ c: InferenceContext) throws {
        guard let data = c.shape(0), let indices = c.shape(1), indices.rank >= 1 else {
            return c.setOutput(0, c.elementType(0), nil as Shape?)
        }
        let b = c.int("batch_dims", default: 0)
        guard let last = indices.dims.last?.value else { return c.setOutput(0, c.elementType(0), nil as Shape?) }
        guard b >= 0, b + last <= data.rank, b < indices.rank else {
            throw c.fail("indices \(indices) with batch_dims \(b) do not fit data \(data)")
        }
        c.setOutput(0, c.elementType(0), Array(indices.dims.dropLast()) + Array(data.dims[(b + last)...]))
    }

    static func scatter(_ c: InferenceContext) throws {
        if c.node.opType != "ScatterND", let data = c.shape(0) {
            _ = try c.axis(c.int("axis", default: 0), rank: max(data.rank, 1))
        }
        c.passThrough()
    }

    static func oneHot(_ c: InferenceContext) throws {
        let element = c.elementType(2)
        guard let indices = c.shape(0) else { return c.setOutput(0, element, nil as Shape?) }
        let rank = indices.rank + 1
        let axis = try c.axis(c.int("axis", default: -1), rank: rank)
        var depth = Dim.unknown
        if let d = c.contents(1)?.values.first, c.contents(1)?.isScalarLike ?? false {
            depth = d
        } else if let t = c.constant(1)?.floatValues(), t.count == 1, t[0].isFinite, abs(t[0]) < 1e12 {
            depth = .known(Int(t[0]))
        }
        if let v = depth.value, v < 1 { throw c.fail("depth \(v) must be positive") }
        var dims = indices.dims
        dims.insert(depth, at: axis)
        c.setOutput(0, element, dims)
    }

    static func topK(_ c: InferenceContext) throws {
        let element = c.elementType(0)
        guard let x = c.shape(0) else {
            c.setOutput(0, element, nil as Shape?)
            return c.setOutput(1, .int64, nil as Shape?)
        }
        let axis = try c.axis(c.int("axis", default: -1), rank: x.rank)
        var k = Dim.unknown
        if c.opset < 10 {
            if c.attr("k") != nil { k = .known(c.int("k", default: 0)) }
        } else if let values = c.contents(1)?.values, values.count == 1 {
            k = values[0]
        }
        if let kv = k.value {
            guard kv >= 0 else { throw c.fail("k \(kv) is negative") }
            if let size = x.dims[axis].value, kv > size { throw c.fail("k \(kv) exceeds dim \(axis) of \(x)") }
        }
        var dims = x.dims
        dims[axis] = k
        c.setOutput(0, element, dims)
        c.setOutput(1, .int64, dims)
    }

    static func nonZero(_ c: InferenceContext) throws {
        c.setOutput(0, .int64, [c.rank(0).map { Dim.known($0) } ?? .unknown, .unknown])
    }

    static func nonMaxSuppression(_ c: InferenceContext) throws {
        c.setOutput(0, .int64, [Dim.unknown, .known(3)])
    }

    static func compress(_ c: InferenceContext) throws {
        guard let x = c.shape(0) else { return c.setOutput(0, c.elementType(0), nil as Shape?) }
        if c.attr("axis") == nil { return c.setOutput(0, c.elementType(0), [Dim.unknown]) }
        let axis = try c.axis(c.int("axis", default: 0), rank: x.rank)
        var dims = x.dims
        dims[axis] = .unknown
        c.setOutput(0, c.elementType(0), dims)
    }

    static func unique(_ c: InferenceContext) throws {
        guard let x = c.shape(0) else { return c.setOutput(0, c.elementType(0), nil as Shape?) }
        if c.attr("axis") == nil {
            c.setOutput(0, c.elementType(0), [Dim.unknown])
        } else {
            var dims = x.dims
            dims[try c.axis(c.int("axis", default: 0), rank: x.rank)] = .unknown
            c.setOutput(0, c.elementType(0), dims)
        }
        c.setOutput(1, .int64, [Dim.unknown])
        c.setOutput(2, .int64, [c.attr("axis") == nil ? DimMath.product(x.dims) : .unknown])
        c.setOutput(3, .int64, [Dim.unknown])
    }

    static func gridSample(_ c: InferenceContext) throws {
        guard let x = c.shape(0), let grid = c.shape(1) else { return c.setOutput(0, c.elementType(0), nil as Shape?) }
        guard x.rank >= 3, grid.rank == x.rank else { throw c.fail("input \(x) and grid \(grid) ranks do not match") }
        c.setOutput(0, c.elementType(0), [x.dims[0], x.dims[1]] + Array(grid.dims[1..<(grid.rank - 1)]))
    }
}
