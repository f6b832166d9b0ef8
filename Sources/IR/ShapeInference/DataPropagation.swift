/// Evaluation of small integer tensors on known contents (the side table of data propagation): the building
/// blocks shape-subgraph rules use. Everything here returns nil rather than guessing.
enum ConstantFolding {
    /// The tensor a Constant node produces, whichever attribute holds it.
    static func tensor(ofConstant node: Node) -> Tensor? {
        for attribute in node.attributes {
            switch (attribute.name, attribute.value) {
            case ("value", .tensor(let t)): return t
            case ("value_float", .float(let f)): return Tensor(scalar: f)
            case ("value_floats", .floats(let fs)): return Tensor(floats: fs, shape: [fs.count])
            case ("value_int", .int(let i)): return Tensor(int64s: [i], shape: [])
            case ("value_ints", .ints(let v)): return Tensor(int64s: v, shape: [v.count])
            case ("sparse_value", .sparseTensor(let s)): return try? s.densified()
            default: continue
            }
        }
        return nil
    }

    /// The type a Constant node produces without materialising sparse data.
    static func type(ofConstant node: Node) -> ValueType? {
        for attribute in node.attributes {
            switch (attribute.name, attribute.value) {
            case ("value", .tensor(let t)): return t.valueType
            case ("value_float", .float): return .tensor(.float, Shape([Int]()))
            case ("value_floats", .floats(let fs)): return .tensor(.float, Shape([fs.count]))
            case ("value_int", .int): return .tensor(.int64, Shape([Int]()))
            case ("value_ints", .ints(let v)): return .tensor(.int64, Shape([v.count]))
            case ("value_string", .string): return .tensor(.string, Shape([Int]()))
            case ("value_strings", .strings(let v)): return .tensor(.string, Shape([v.count]))
            case ("sparse_value", .sparseTensor(let s)): return .tensor(s.values.elementType, Shape(s.dims))
            default: continue
            }
        }
        return nil
    }

    /// Numpy-broadcast elementwise evaluation over small contents.
    static func broadcast(_ inputs: [IntContents], _ f: ([Dim]) -> Dim) -> IntContents? {
        guard !inputs.isEmpty else { return nil }
        let rank = inputs.map(\.rank).max() ?? 0
        var shape = Array(repeating: 1, count: rank)
        for c in inputs {
            for (i, s) in c.shape.enumerated() {
                let j = rank - c.rank + i
                if shape[j] == 1 { shape[j] = s } else if s != 1 && s != shape[j] { return nil }
            }
        }
        guard let count = checkedElementCount(shape), count <= IntContents.maxElements else { return nil }
        // Per-input strides with 0 on broadcast axes.
        let strides: [[Int]] = inputs.map { c in
            var st = Array(repeating: 0, count: rank)
            var acc = 1
            for i in stride(from: c.rank - 1, through: 0, by: -1) {
                st[rank - c.rank + i] = c.shape[i] == 1 ? 0 : acc
                acc *= c.shape[i]
            }
            return st
        }
        var values: [Dim] = []
        values.reserveCapacity(count)
        var index = Array(repeating: 0, count: rank)
        for _ in 0..<count {
            let args = inputs.indices.map { k in
                inputs[k].values[zip(index, strides[k]).reduce(0) { $0 + $1.0 * $1.1 }]
            }
            values.append(f(args))
            var a = rank - 1
            while a >= 0 {
                index[a] += 1
                if index[a] < shape[a] { break }
                index[a] = 0
                a -= 1
            }
        }
        return IntContents(shape: shape, values: values)
    }

    /// Splits `shape` around `axis` into (outer, axis size, inner) element counts.
    static func split(_ shape: [Int], axis: Int) -> (outer: Int, size: Int, inner: Int) {
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *)
        return (outer, shape[axis], inner)
    }

    /// Gather along `axis` with known indices (negative indices wrap); nil when an index is out of range.
    static func gather(_ data: IntContents, indices: [Int], indicesShape: [Int], axis: Int) -> IntContents? {
        guard axis < data.rank else { return nil }
        let (outer, size, inner) = split(data.shape, axis: axis)
        var values: [Dim] = []
        for o in 0..<outer {
            for raw in indices {
                let i = raw < 0 ? raw + size : raw
                guard i >= 0, i < size else { return nil }
                for k in 0..<inner { values.append(data.values[(o * size + i) * inner + k]) }
            }
        }
        let shape = Array(data.shape[..<axis]) + indicesShape + Array(data.shape[(axis + 1)...])
        return IntContents(shape: shape, values: values)
    }

    /// Concatenation along `axis` of contents of equal rank.
    static func concat(_ parts: [IntContents], axis: Int) -> IntContents? {
        guard let first = parts.first, axis < first.rank else { return nil }
        for p in parts where p.rank != first.rank { return nil }
        var shape = first.shape
        shape[axis] = parts.reduce(0) { $0 + $1.shape[axis] }
        let outer = first.shape[..<axis].reduce(1, *)
        var values: [Dim] = []
        for o in 0..<outer {
            for p in parts {
                let chunk = p.shape[axis...].reduce(1, *)
                values += p.values[(o * chunk)..<((o + 1) * chunk)]
            }
        }
        return IntContents(shape: shape, values: values)
    }

    /// Row-major strides of `shape`.
    static func strides(_ shape: [Int]) -> [Int] {
        var result = Array(repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            result[i] = acc
            acc *= shape[i]
        }
        return result
    }

    /// Builds contents of `shape` whose element at each multi-index is `data.values[source(index)]`.
    static func remap(_ data: IntContents, to shape: [Int], source: ([Int]) -> Int?) -> IntContents? {
        guard let count = checkedElementCount(shape), count <= IntContents.maxElements else { return nil }
        var values: [Dim] = []
        values.reserveCapacity(count)
        var index = Array(repeating: 0, count: shape.count)
        for _ in 0..<count {
            guard let i = source(index), i >= 0, i < data.values.count else { return nil }
            values.append(data.values[i])
            var a = shape.count - 1
            while a >= 0 {
                index[a] += 1
                if index[a] < shape[a] { break }
                index[a] = 0
                a -= 1
            }
        }
        return IntContents(shape: shape, values: values)
    }

    /// Slices along each axis of `bounds` (resolved bounds with their element counts).
    static func slice(_ data: IntContents, bounds: [(axis: Int, bounds: SliceBounds, count: Int)]) -> IntContents? {
        var shape = data.shape
        for b in bounds where b.axis < shape.count { shape[b.axis] = b.count }
        let st = strides(data.shape)
        return remap(data, to: shape) { index in
            var i = index
            for b in bounds where b.axis < i.count { i[b.axis] = b.bounds.start + i[b.axis] * b.bounds.step }
            return zip(i, st).reduce(0) { $0 + $1.0 * $1.1 }
        }
    }

    /// Transposes by `perm` (a validated permutation).
    static func transpose(_ data: IntContents, perm: [Int]) -> IntContents? {
        guard perm.count == data.rank else { return nil }
        let st = strides(data.shape)
        return remap(data, to: perm.map { data.shape[$0] }) { index in
            zip(perm, index).reduce(0) { $0 + $1.1 * st[$1.0] }
        }
    }
}

/// Slice bounds normalised as ONNX defines them (negative wrap, clamping per step sign).
struct SliceBounds {
    var start: Int
    var end: Int
    var step: Int

    /// Normalises `start`/`end` for a dim of `size` elements and returns the bounds with the element count.
    static func resolve(start rawStart: Int, end rawEnd: Int, step: Int, size: Int) -> (SliceBounds, count: Int) {
        var start = rawStart < 0 ? rawStart &+ size : rawStart
        var end = rawEnd < 0 ? rawEnd &+ size : rawEnd
        if step > 0 {
            start = min(max(start, 0), size)
            end = min(max(end, 0), size)
        } else {
            start = min(max(start, -1), size - 1)
            end = min(max(end, -1), size - 1)
        }
        let span = step > 0 ? end - start : start - end
        let magnitude = step == Int.min ? Int.max : abs(step)
        let count = span <= 0 ? 0 : (span - 1) / magnitude + 1
        return (SliceBounds(start: start, end: end, step: step), count)
    }
}
