/// Arithmetic on dimensions that may be symbolic or unknown. Results stay exact where they can (`n * 1 = n`)
/// and become `.unknown` otherwise; overflow gives `.unknown`, never a trap.
enum DimMath {
    static func add(_ a: Dim, _ b: Dim) -> Dim {
        switch (a, b) {
        case (.known(let x), .known(let y)):
            let (r, o) = x.addingReportingOverflow(y)
            return o ? .unknown : .known(r)
        case (_, .known(0)): return a
        case (.known(0), _): return b
        default: return .unknown
        }
    }

    static func subtract(_ a: Dim, _ b: Dim) -> Dim {
        switch (a, b) {
        case (.known(let x), .known(let y)):
            let (r, o) = x.subtractingReportingOverflow(y)
            return o ? .unknown : .known(r)
        case (_, .known(0)): return a
        case (.symbolic(let x), .symbolic(let y)) where x == y: return .known(0)
        default: return .unknown
        }
    }

    static func multiply(_ a: Dim, _ b: Dim) -> Dim {
        switch (a, b) {
        case (.known(let x), .known(let y)):
            let (r, o) = x.multipliedReportingOverflow(by: y)
            return o ? .unknown : .known(r)
        case (_, .known(1)): return a
        case (.known(1), _): return b
        case (_, .known(0)), (.known(0), _): return .known(0)
        default: return .unknown
        }
    }

    /// Integer division truncating toward zero, as ONNX integer Div does.
    static func divide(_ a: Dim, _ b: Dim) -> Dim {
        switch (a, b) {
        case (.known(let x), .known(let y)):
            guard y != 0, !(x == Int.min && y == -1) else { return .unknown }
            return .known(x / y)
        case (_, .known(1)): return a
        case (.symbolic(let x), .symbolic(let y)) where x == y: return .known(1)
        default: return .unknown
        }
    }

    /// Integer remainder with the sign of the divisor (ONNX Mod with fmod = 0).
    static func modulo(_ a: Dim, _ b: Dim) -> Dim {
        guard case .known(let x) = a, case .known(let y) = b, y != 0, !(x == Int.min && y == -1) else { return .unknown }
        let r = x % y
        return .known(r != 0 && (r < 0) != (y < 0) ? r + y : r)
    }

    /// Ceiling of `a / b` for positive known values (output sizes).
    static func ceilDivide(_ a: Int, _ b: Int) -> Int? {
        guard b > 0, a >= 0 else { return nil }
        return a / b + (a % b == 0 ? 0 : 1)
    }

    /// Product of dims: known when all are known and it does not overflow.
    static func product<S: Sequence>(_ dims: S) -> Dim where S.Element == Dim {
        dims.reduce(Dim.known(1)) { multiply($0, $1) }
    }

    /// Element-count reasoning for Reshape's -1: the known product and the multiset of symbols of `dims`,
    /// or nil when a dim is unknown.
    static func factors(_ dims: [Dim]) -> (known: Int, symbols: [String])? {
        var known = 1
        var symbols: [String] = []
        for d in dims {
            switch d {
            case .known(let v):
                let (r, o) = known.multipliedReportingOverflow(by: v)
                if o { return nil }
                known = r
            case .symbolic(let s): symbols.append(s)
            case .unknown: return nil
            }
        }
        return (known, symbols.sorted())
    }

    /// The dim that makes `part` times it equal `whole` (Reshape -1), when it can be told.
    static func quotient(of whole: [Dim], by part: [Dim]) -> Dim {
        guard let w = factors(whole), let p = factors(part) else { return .unknown }
        var remaining = w.symbols
        for s in p.symbols {
            guard let i = remaining.firstIndex(of: s) else { return .unknown }
            remaining.remove(at: i)
        }
        guard p.known != 0, w.known % p.known == 0 else { return .unknown }
        let k = w.known / p.known
        if remaining.isEmpty { return .known(k) }
        if remaining.count == 1, k == 1 { return .symbolic(remaining[0]) }
        return .unknown
    }

    /// Numpy broadcasting of two dims; nil when both are known and incompatible.
    static func broadcast(_ a: Dim, _ b: Dim) -> Dim? {
        switch (a, b) {
        case (.known(let x), .known(let y)):
            if x == y || y == 1 { return a }
            if x == 1 { return b }
            return nil
        case (.known(1), _): return b
        case (_, .known(1)): return a
        // A dim that is not 1 decides the result: the other must be equal or 1.
        case (.known, _): return a
        case (_, .known): return b
        case (.symbolic(let x), .symbolic(let y)) where x == y: return a
        default: return .unknown
        }
    }

    /// Numpy broadcasting of shapes; throws naming the dims when incompatible.
    static func broadcast(_ shapes: [Shape], fail: (String) -> MCCError) throws -> Shape {
        let rank = shapes.map(\.rank).max() ?? 0
        var dims = Array(repeating: Dim.known(1), count: rank)
        for shape in shapes {
            let offset = rank - shape.rank
            for (i, d) in shape.dims.enumerated() {
                guard let r = broadcast(dims[offset + i], d) else {
                    throw fail("cannot broadcast shapes \(shapes.map(\.description).joined(separator: " and ")) (dim \(offset + i): \(dims[offset + i]) vs \(d))")
                }
                dims[offset + i] = r
            }
        }
        return Shape(dims)
    }

    /// Merges two descriptions of the same dim (If branches, loop-carried values): equal dims are kept.
    static func merge(_ a: Dim, _ b: Dim) -> Dim { a == b ? a : .unknown }

    static func merge(_ a: Shape?, _ b: Shape?) -> Shape? {
        guard let a, let b, a.rank == b.rank else { return nil }
        return Shape(zip(a.dims, b.dims).map { merge($0, $1) })
    }
}
