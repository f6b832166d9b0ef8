/// A node attribute as ONNX defines it. Strings are bytes (ONNX allows any bytes); `stringValue` decodes UTF-8.
public enum AttributeValue {
    case float(Float)
    case int(Int64)
    case string([UInt8])
    case tensor(Tensor)
    case graph(Graph)
    case sparseTensor(SparseTensor)
    case type(ValueType?)
    case floats([Float])
    case ints([Int64])
    case strings([[UInt8]])
    case tensors([Tensor])
    case graphs([Graph])
    case sparseTensors([SparseTensor])
    case types([ValueType?])
}

public struct Attribute {
    public var name: String
    public var value: AttributeValue
    /// Set inside function bodies: the attribute takes the caller's attribute of this name.
    public var refAttrName: String?
    public var docString: String

    public init(_ name: String, _ value: AttributeValue, refAttrName: String? = nil, docString: String = "") {
        self.name = name
        self.value = value
        self.refAttrName = refAttrName
        self.docString = docString
    }

    public var int: Int64? { if case .int(let v) = value { v } else { nil } }
    public var float: Float? {
        switch value {
        case .float(let v): v
        case .int(let v): Float(v)
        default: nil
        }
    }
    public var ints: [Int64]? { if case .ints(let v) = value { v } else { nil } }
    public var floats: [Float]? { if case .floats(let v) = value { v } else { nil } }
    public var string: String? { if case .string(let v) = value { String(decoding: v, as: UTF8.self) } else { nil } }
    public var strings: [String]? {
        if case .strings(let v) = value { v.map { String(decoding: $0, as: UTF8.self) } } else { nil }
    }
    public var tensor: Tensor? { if case .tensor(let v) = value { v } else { nil } }
    public var graph: Graph? { if case .graph(let v) = value { v } else { nil } }

    /// Subgraphs held by this attribute (If/Loop/Scan bodies).
    public var subgraphs: [Graph] {
        switch value {
        case .graph(let g): [g]
        case .graphs(let gs): gs
        default: []
        }
    }
}
