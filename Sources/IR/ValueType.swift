/// The type of a graph value: a tensor (element type + possibly unknown shape) or one of ONNX's container types.
public indirect enum ValueType: Hashable, Sendable, CustomStringConvertible {
    case tensor(ElementType, Shape?)
    case sparseTensor(ElementType, Shape?)
    case sequence(ValueType?)
    case optional(ValueType?)
    case map(key: ElementType, value: ValueType?)

    public var elementType: ElementType? {
        switch self {
        case .tensor(let e, _), .sparseTensor(let e, _): e
        default: nil
        }
    }

    public var shape: Shape? {
        switch self {
        case .tensor(_, let s), .sparseTensor(_, let s): s
        default: nil
        }
    }

    public var isTensor: Bool { if case .tensor = self { true } else { false } }

    public var description: String {
        switch self {
        case .tensor(let e, let s): "\(e)\(s.map(\.description) ?? "[*]")"
        case .sparseTensor(let e, let s): "sparse \(e)\(s.map(\.description) ?? "[*]")"
        case .sequence(let t): "seq(\(t.map(\.description) ?? "?"))"
        case .optional(let t): "optional(\(t.map(\.description) ?? "?"))"
        case .map(let k, let v): "map(\(k),\(v.map(\.description) ?? "?"))"
        }
    }
}
