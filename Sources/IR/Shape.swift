/// One dimension of a tensor shape: a known size, a named symbolic size (`batch`), or unknown.
public enum Dim: Hashable, Sendable, CustomStringConvertible {
    case known(Int)
    case symbolic(String)
    case unknown

    public var value: Int? { if case .known(let v) = self { v } else { nil } }
    public var isStatic: Bool { value != nil }

    public var description: String {
        switch self {
        case .known(let v): String(v)
        case .symbolic(let s): s
        case .unknown: "?"
        }
    }
}

/// A tensor shape of known rank whose dims may be symbolic. An unknown rank is `nil` where a `Shape?` is used.
public struct Shape: Hashable, Sendable, CustomStringConvertible, ExpressibleByArrayLiteral {
    public var dims: [Dim]

    public init(_ dims: [Dim]) { self.dims = dims }
    public init(_ sizes: [Int]) { self.dims = sizes.map { .known($0) } }
    public init(arrayLiteral elements: Int...) { self.init(elements) }

    public var rank: Int { dims.count }
    /// The sizes when every dim is known.
    public var staticSizes: [Int]? {
        var sizes: [Int] = []
        sizes.reserveCapacity(dims.count)
        for d in dims {
            guard let v = d.value else { return nil }
            sizes.append(v)
        }
        return sizes
    }
    public var isStatic: Bool { dims.allSatisfy(\.isStatic) }
    /// Indices of dims that are not known.
    public var dynamicAxes: [Int] { dims.indices.filter { !dims[$0].isStatic } }

    public var description: String { "[" + dims.map(\.description).joined(separator: ",") + "]" }
}

/// Element count of a static shape, or nil when it overflows `Int` (absurd dims must not trap).
public func checkedElementCount(_ sizes: [Int]) -> Int? {
    var count = 1
    for s in sizes {
        guard s >= 0 else { return nil }
        let (product, overflow) = count.multipliedReportingOverflow(by: s)
        if overflow { return nil }
        count = product
    }
    return count
}
