/// Ops that compute or rearrange shapes: Shape, Size, Reshape, Flatten, Squeeze/Unsqueeze, Transpose, Expand,
/// Tile, Concat, Split, Slice, Pad, ConstantOfShape, Range, Constant, DepthToSpace/SpaceToDepth. Their small
/// integer results are propagated so later shape-consuming ops see static values.
enum ShapeOpsInference {
    static let rules: [String: InferenceRule] = [
        "Shape": shapeOp, "Size": size, "Reshape": reshape, "Flatten": flatten, "Squeeze": squeeze,
        "Unsqueeze": unsqueeze, "Transpose": transpose, "Expand": expand, "Tile": tile, "Concat": concat,
        "Split": split, "Slice": slice, "Pad": pad, "ConstantOfShape": constantOfShape, "Range": range,
        "Constant": constant, "DepthToSpace": depthToSpace, "SpaceToDepth": spaceToDepth, "EyeLike": eyeLike,
    ]

    static func shapeOp(_ c: InferenceContext) throws {
        guard let x = c.shape(0) else { return c.setOutput(0, .int64, [Dim.unknown]) }
        let r = x.rank
        func clampIndex(_ i: Int) -> Int { min(max(i < 0 ? i + r : i, 0), r) }
        let start = clampIndex(c.int("start", default: 0))
        let end = clampIndex(c.int("end", default: r))
        let dims = start < end ? Array(x.dims[start..<end]) : []
        c.setOutput(0, .int64, [.known(dims.count)])
        c.setContents(0, IntContents(shape: [dims.count], values: dims))
    }

    static func size(_ c: InferenceContext) throws {
        c.setOutput(0, .int64, [Dim]())
        if let x = c.shape(0) { c.setContents(0, IntContents(shape: [], values: [DimMath.product(x.dims)])) }
    }

    /// Output of a shape-consuming op whose 1-D shape input `i` has unknown contents: rank only.
    static func unknownDims(_ c: InferenceContext, shapeInput i: Int) -> [Dim]? {
        guard let s = c.shape(i), s.rank == 1, let n = s.dims[0].value, n <= 1 << 16 else { return nil }
        return Array(repeating: .unknown, count: n)
    }

    static func reshape(_ c: InferenceContext) throws {
        let element = c.elementType(0)
        let x = c.shape(0)
        guard let target = c.contents(1) else { return c.setOutput(0, element, unknownDims(c, shapeInput: 1)) }
        guard target.rank == 1 else { throw c.fail("shape input must be 1-D, got shape \(target.shape)") }
        let allowZero = c.opset >= 14 && c.int("allowzero", default: 0) != 0
        var dims: [Dim] = []
        var inferIndex: Int?
        for (i, t) in target.values.enumerated() {
            switch t {
            case .known(0) where !allowZero:
                guard let x else { dims.append(.unknown); continue }
                guard i < x.rank else { throw c.fail("shape entry \(i) is 0 but the input \(x) has no dim \(i)") }
                dims.append(x.dims[i])
            case .known(-1):
                guard inferIndex == nil else { throw c.fail("shape \(target.values) has more than one -1") }
                inferIndex = i
                dims.append(.unknown)
            case .known(let v) where v < -1:
                throw c.fail("shape entry \(v) is invalid")
            default:
                dims.append(t)
            }
        }
        if let k = inferIndex, let x {
            var others = dims
            others.remove(at: k)
            dims[k] = DimMath.quotient(of: x.dims, by: others)
            if case .known(let total) = DimMath.product(x.dims), case .known(let part) = DimMath.product(others),
               part != 0, total % part != 0 {
                throw c.fail("cannot reshape \(x) (\(total) elements) to \(target.values): not a multiple of \(part)")
            }
        }
        if let x, case .known(let a) = DimMath.product(x.dims), case .known(let b) = DimMath.product(dims), a != b {
            throw c.fail("cannot reshape \(x) (\(a) elements) to \(Shape(dims)) (\(b) elements)")
        }
        c.setOutput(0, element, dims)
        if let data = c.contents(0), let sizes = Shape(dims).staticSizes {
            c.setContents(0, IntContents(shape: sizes, values: data.values))
        }
    }

    static func flatten(_ c: InferenceContext) throws {
        guard let x = c.shape(0) else { return c.setOutput(0, c.elementType(0), [Dim.unknown, .unknown]) }
        let raw = c.int("axis", default: 1)
        let axis = raw < 0 ? raw + x.rank : raw
        guard axis >= 0, axis <= x.rank else { throw c.fail("axis \(raw) is out of range for rank \(x.rank)") }
        c.setOutput(0, c.elementType(0), [DimMath.product(x.dims[..<axis]), DimMath.product(x.dims[axis...])])
        if let data = c.contents(0) {
            let outer = data.shape[..<axis].reduce(1, *)
            c.setContents(0, IntContents(shape: [outer, data.values.count / max(outer, 1)], values: data.values))
        }
    }

    /// Axes from the `axes` attribute (before `inputOpset`) or input 1; `.some(nil)` when they exist but are unknown.
    static func axesArgument(_ c: InferenceContext, inputOpset: Int64, input: Int = 1) -> [Int]?? {
        if c.opset < inputOpset { return c.intsAttr("axes").map { .some($0) } }
        guard c.hasInput(input) else { return nil }
        return .some(c.ints(input: input))
    }

    static func squeeze(_ c: InferenceContext) throws {
        let element = c.elementType(0)
        guard let x = c.shape(0) else { return c.setOutput(0, element, nil as Shape?) }
        let dims: [Dim]?
        switch axesArgument(c, inputOpset: 13) {
        case .some(.some(let list)):
            let axes = Set(try c.axes(list, rank: x.rank))
            for a in axes {
                if let v = x.dims[a].value, v != 1 { throw c.fail("cannot squeeze axis \(a) of size \(v) in \(x)") }
            }
            dims = x.dims.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
        case .some(.none):
            dims = nil
        case .none:
            // Without axes every size-1 dim goes; an unknown dim makes the rank unknown.
            dims = x.dims.allSatisfy(\.isStatic) ? x.dims.filter { $0 != .known(1) } : nil
        }
        c.setOutput(0, element, dims)
        if let data = c.contents(0), let sizes = dims.flatMap({ Shape($0).staticSizes }) {
            c.setContents(0, IntContents(shape: sizes, values: data.values))
        }
    }

    static func unsqueeze(_ c: InferenceContext) throws {
        let element = c.elementType(0)
        guard let x = c.shape(0), case .some(.some(let list)) = axesArgument(c, inputOpset: 13) else {
            return c.setOutput(0, element, nil as Shape?)
        }
        let rank = x.rank + list.count
        let axes = Set(try c.axes(list, rank: rank))
        var source = x.dims.makeIterator()
        let dims: [Dim] = (0..<rank).map { axes.contains($0) ? .known(1) : (source.next() ?? .unknown) }
        c.setOutput(0, element, dims)
        if let data = c.contents(0), let sizes = Shape(dims).staticSizes {
            c.setContents(0, IntContents(shape: sizes, values: data.values))
        }
    }

    static func transpose(_ c: InferenceContext) throws {
        guard let x = c.shape(0) else { return c.setOutput(0, c.elementType(0), nil as Shape?) }
        let perm = c.intsAttr("perm") ?? Array((0..<x.rank).reversed())
        guard perm.count == x.rank, Set(perm) == Set(0..<x.rank) else {
            throw c.fail("perm \(perm) is not a permutation of the \(x.rank) axes of \(x)")
        }
        c.setOutput(0, c.elementType(0), perm.map { x.dims[$0] })
        if let data = c.contents(0) { c.setContents(0, ConstantFolding.transpose(data, perm: perm)) }
    }

    static func expand(_ c: InferenceContext) throws {
        let element = c.elementType(0)
        guard let targetDims = c.contents(1)?.values ?? unknownDims(c, shapeInput: 1) else {
            return c.setOutput(0, element, nil as Shape?)
        }
        guard let x = c.shape(0) else { return c.setOutput(0, element, nil as Shape?) }
        let out = try DimMath.broadcast([x, Shape(targetDims)]) { c.fail($0) }
        c.setOutput(0, element, out)
        if let data = c.contents(0), let sizes = out.staticSizes, let count = checkedElementCount(sizes),
           count <= IntContents.maxElements, let target = IntContents(shape: sizes, values: Array(repeating: .known(0), count: count)) {
            c.setContents(0, ConstantFolding.broadcast([data, target]) { $0[0] })
        }
    }

    static func tile(_ c: InferenceContext) throws {
        guard let x = c.shape(0) else { return c.setOutput(0, c.elementType(0), nil as Shape?) }
        guard let repeats = c.contents(1)?.values else {
            return c.setOutput(0, c.elementType(0), x.dims.map { _ in Dim.unknown })
        }
        guard repeats.count == x.rank else { throw c.fail("repeats has \(repeats.count) values for input rank \(x.rank)") }
        if let bad = repeats.compactMap(\.value).first(where: { $0 < 0 }) { throw c.fail("negative repeat \(bad)") }
        c.setOutput(0, c.elementType(0), zip(x.dims, repeats).map { DimMath.multiply($0, $1) })
    }

    static func concat(_ c: InferenceContext) throws {
        let present = ElementwiseInference.presentInputs(c)
        let element = present.lazy.compactMap { c.elementType($0) }.first
        let shapes = present.compactMap { c.shape($0) }
        guard let first = shapes.first else { return c.setOutput(0, element, nil as Shape?) }
        guard c.attr("axis") != nil else { throw c.fail("missing axis attribute") }
        let axis = try c.axis(c.int("axis", default: 0), rank: first.rank)
        for s in shapes where s.rank != first.rank {
            throw c.fail("inputs have different ranks: \(first) and \(s)")
        }
        var dims = first.dims
        for s in shapes.dropFirst() {
            for i in 0..<dims.count where i != axis {
                if let a = dims[i].value, let b = s.dims[i].value, a != b {
                    throw c.fail("inputs disagree on dim \(i): \(first) and \(s)")
                }
                if !dims[i].isStatic, s.dims[i].isStatic { dims[i] = s.dims[i] }
            }
        }
        dims[axis] = shapes.count == present.count
            ? shapes.dropFirst().reduce(first.dims[axis]) { DimMath.add($0, $1.dims[axis]) } : .unknown
        c.setOutput(0, element, dims)
        let parts = present.compactMap { c.contents($0) }
        if parts.count == present.count { c.setContents(0, ConstantFolding.concat(parts, axis: axis)) }
    }

    static func split(_ c: InferenceContext) throws {
        let element = c.elementType(0)
        let n = c.outputCount
        guard let x = c.shape(0) else {
            for i in 0..<n { c.setOutput(i, element, nil as Shape?) }
            return
        }
        let axis = try c.axis(c.int("axis", default: 0), rank: x.rank)
        var sizes: [Dim]?
        if c.opset < 13, let s = c.intsAttr("split") {
            sizes = s.map { .known($0) }
        } else if c.opset >= 13, c.hasInput(1) {
            sizes = c.contents(1)?.values ?? Array(repeating: .unknown, count: n)
        } else if let total = x.dims[axis].value {
            let parts = c.opset >= 18 ? c.int("num_outputs", default: n) : n
            guard parts == n, n >= 1 else { throw c.fail("num_outputs \(parts) does not match \(n) outputs") }
            if c.opset < 18, total % max(parts, 1) != 0 {
                throw c.fail("cannot split dim \(axis) of size \(total) into \(parts) equal parts")
            }
            let chunk = (total + parts - 1) / max(parts, 1)
            sizes = (0..<parts).map { .known(max(min(chunk, total - $0 * chunk), 0)) }
        }
        if let sizes {
            guard sizes.count == n else { throw c.fail("split has \(sizes.count) sizes for \(n) outputs") }
            if let bad = sizes.compactMap(\.value).first(where: { $0 < 0 }) { throw c.fail("negative split size \(bad)") }
            if let total = x.dims[axis].value, let sum = sizes.reduce(Dim.known(0), DimMath.add).value, sum != total {
                throw c.fail("split sizes \(sizes) sum to \(sum), but dim \(axis) of \(x) is \(total)")
            }
        }
        for i in 0..<n {
            var dims = x.dims
            dims[axis] = sizes?[i] ?? .unknown
            c.setOutput(i, element, dims)
        }
    }

    static func slice(_ c: InferenceContext) throws {
        let element = c.elementType(0)
        guard let x = c.shape(0) else { return c.setOutput(0, element, nil as Shape?) }
        let starts, ends: [Int]?
        var axesList: [Int]?
        var steps: [Int]?
        if c.opset < 10 {
            starts = c.intsAttr("starts")
            ends = c.intsAttr("ends")
            axesList = c.intsAttr("axes")
        } else {
            starts = c.ints(input: 1)
            ends = c.ints(input: 2)
            if c.hasInput(3) {
                guard let a = c.ints(input: 3) else { return c.setOutput(0, element, x.dims.map { _ in Dim.unknown }) }
                axesList = a
            }
            if c.hasInput(4) {
                guard let s = c.ints(input: 4) else { return c.setOutput(0, element, x.dims.map { _ in Dim.unknown }) }
                steps = s
            }
        }
        guard let starts, let ends else {
            // Unknown bounds: only the sliced axes lose their size.
            var dims = x.dims
            if let axesList { for a in try c.axes(axesList, rank: x.rank) { dims[a] = .unknown } } else { dims = dims.map { _ in .unknown } }
            return c.setOutput(0, element, dims)
        }
        let count = starts.count
        let axes = try c.axes(axesList ?? Array(0..<count), rank: x.rank)
        let stepList = steps ?? Array(repeating: 1, count: count)
        guard ends.count == count, axes.count == count, stepList.count == count else {
            throw c.fail("starts, ends, axes and steps have different lengths (\(count), \(ends.count), \(axes.count), \(stepList.count))")
        }
        var dims = x.dims
        var bounds: [(axis: Int, bounds: SliceBounds, count: Int)] = []
        for k in 0..<count {
            guard stepList[k] != 0 else { throw c.fail("step 0 on axis \(axes[k])") }
            let a = axes[k]
            guard let size = x.dims[a].value else {
                // Taking everything from the start keeps the (symbolic) size.
                if starts[k] == 0, stepList[k] == 1, ends[k] >= Int(Int32.max) { continue }
                dims[a] = .unknown
                continue
            }
            let (b, n) = SliceBounds.resolve(start: starts[k], end: ends[k], step: stepList[k], size: size)
            dims[a] = .known(n)
            bounds.append((a, b, n))
        }
        c.setOutput(0, element, dims)
        if let data = c.contents(0), bounds.count == count {
            c.setContents(0, ConstantFolding.slice(data, bounds: bounds))
        }
    }

    static func pad(_ c: InferenceContext) throws {
        let element = c.elementType(0)
        guard let x = c.shape(0) else { return c.setOutput(0, element, nil as Shape?) }
        let pads: [Int]?
        var axes = Array(0..<x.rank)
        if c.opset < 11 {
            pads = c.intsAttr(c.opset < 2 ? "paddings" : "pads")
        } else {
            pads = c.ints(input: 1)
            if c.hasInput(3) {
                guard let a = c.ints(input: 3) else { return c.setOutput(0, element, x.dims.map { _ in Dim.unknown }) }
                axes = try c.axes(a, rank: x.rank)
            }
        }
        guard let pads else { return c.setOutput(0, element, x.dims.map { _ in Dim.unknown }) }
        guard pads.count == 2 * axes.count else {
            throw c.fail("pads has \(pads.count) values, expected \(2 * axes.count) for \(x)")
        }
        var dims = x.dims
        for (k, a) in axes.enumerated() {
            dims[a] = DimMath.add(x.dims[a], .known(pads[k] &+ pads[k + axes.count]))
            if let v = dims[a].value, v < 0 { throw c.fail("pads \(pads) make dim \(a) of \(x) negative") }
        }
        c.setOutput(0, element, dims)
    }

    static func constantOfShape(_ c: InferenceContext) throws {
        let value = c.attr("value")?.tensor
        let element = value?.elementType ?? .float
        guard let dims = c.contents(0)?.values ?? unknownDims(c, shapeInput: 0) else {
            return c.setOutput(0, element, nil as Shape?)
        }
        if let bad = dims.compactMap(\.value).first(where: { $0 < 0 }) { throw c.fail("negative dim \(bad) in shape") }
        c.setOutput(0, element, dims)
        if let sizes = Shape(dims).staticSizes, let count = checkedElementCount(sizes), count <= IntContents.maxElements {
            let fill = value.flatMap { IntContents(tensor: $0) }?.values.first ?? .known(0)
            c.setContents(0, IntContents(shape: sizes, values: Array(repeating: fill, count: count)))
        }
    }

    /// A known scalar input as a Double: propagated integer contents or constant (float) data.
    static func scalar(_ c: InferenceContext, _ i: Int) -> Double? {
        if let v = c.contents(i)?.values, v.count == 1, let k = v[0].value { return Double(k) }
        if let t = c.constant(i)?.floatValues(), t.count == 1, t[0].isFinite { return Double(t[0]) }
        return nil
    }

    static func range(_ c: InferenceContext) throws {
        let element = c.elementType(0) ?? c.elementType(1)
        guard let start = scalar(c, 0), let limit = scalar(c, 1), let delta = scalar(c, 2) else {
            return c.setOutput(0, element, [Dim.unknown])
        }
        guard delta != 0 else { throw c.fail("delta is 0") }
        let n = max(((limit - start) / delta).rounded(.up), 0)
        guard n <= Double(InferenceState.maxElementCount) else { throw c.fail("range of \(n) elements is too large") }
        let count = Int(n)
        c.setOutput(0, element, [.known(count)])
        if !(element?.isFloatingPoint ?? false), count <= IntContents.maxElements, abs(start) < 1e15, abs(delta) < 1e12 {
            c.setContents(0, IntContents(shape: [count], values: (0..<count).map { .known(Int(start) + $0 * Int(delta)) }))
        }
    }

    static func constant(_ c: InferenceContext) throws {
        guard let type = ConstantFolding.type(ofConstant: c.node) else { throw c.fail("has no value attribute") }
        c.setOutputType(0, type)
        if let t = c.state.constantTensor(of: c.node.outputs[0]) { c.setContents(0, IntContents(tensor: t)) }
    }

    static func blockSize(_ c: InferenceContext) throws -> Int {
        let b = c.int("blocksize", default: 0)
        guard b >= 1, b < 1 << 20 else { throw c.fail("blocksize \(b) is out of range") }
        return b
    }

    static func depthToSpace(_ c: InferenceContext) throws {
        guard let x = c.shape(0) else { return c.setOutput(0, c.elementType(0), nil as Shape?) }
        guard x.rank == 4 else { throw c.fail("input must be 4-D, got \(x)") }
        let b = try blockSize(c)
        if let ch = x.dims[1].value, ch % (b * b) != 0 { throw c.fail("\(ch) channels are not divisible by blocksize² \(b * b)") }
        c.setOutput(0, c.elementType(0), [x.dims[0], DimMath.divide(x.dims[1], .known(b * b)),
                                          DimMath.multiply(x.dims[2], .known(b)), DimMath.multiply(x.dims[3], .known(b))])
    }

    static func spaceToDepth(_ c: InferenceContext) throws {
        guard let x = c.shape(0) else { return c.setOutput(0, c.elementType(0), nil as Shape?) }
        guard x.rank == 4 else { throw c.fail("input must be 4-D, got \(x)") }
        let b = try blockSize(c)
        for a in 2...3 { if let v = x.dims[a].value, v % b != 0 { throw c.fail("dim \(a) of \(x) is not divisible by blocksize \(b)") } }
        c.setOutput(0, c.elementType(0), [x.dims[0], DimMath.multiply(x.dims[1], .known(b * b)),
                                          DimMath.divide(x.dims[2], .known(b)), DimMath.divide(x.dims[3], .known(b))])
    }

    static func eyeLike(_ c: InferenceContext) throws {
        let raw = c.attr("dtype")?.int
        c.setOutput(0, raw.flatMap { ElementType(rawValue: Int32(clamping: $0)) } ?? c.elementType(0), c.shape(0))
    }
}
