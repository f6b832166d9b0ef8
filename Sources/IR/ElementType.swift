/// Element types of tensors, numbered as ONNX's `TensorProto.DataType` so import/export is a plain mapping.
public enum ElementType: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case float = 1, uint8 = 2, int8 = 3, uint16 = 4, int16 = 5, int32 = 6, int64 = 7, string = 8, bool = 9
    case float16 = 10, double = 11, uint32 = 12, uint64 = 13, complex64 = 14, complex128 = 15, bfloat16 = 16
    case float8e4m3fn = 17, float8e4m3fnuz = 18, float8e5m2 = 19, float8e5m2fnuz = 20
    case uint4 = 21, int4 = 22, float4e2m1 = 23
    case float8e8m0 = 24, uint2 = 25, int2 = 26

    /// Bits one element occupies in packed storage (4-bit types pack two per byte, 2-bit types four; strings have
    /// no fixed size).
    public var bitWidth: Int {
        switch self {
        case .uint2, .int2: 2
        case .uint4, .int4, .float4e2m1: 4
        case .uint8, .int8, .bool, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float8e8m0: 8
        case .uint16, .int16, .float16, .bfloat16: 16
        case .float, .int32, .uint32: 32
        case .int64, .uint64, .double, .complex64: 64
        case .complex128: 128
        case .string: 0
        }
    }

    /// Bytes needed to store `count` elements (packed types round up to whole bytes).
    public func byteCount(for count: Int) -> Int { (count * bitWidth + 7) / 8 }

    public var isFloatingPoint: Bool {
        switch self {
        case .float, .float16, .double, .bfloat16, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz,
             .float4e2m1, .float8e8m0: true
        default: false
        }
    }

    public var isInteger: Bool {
        switch self {
        case .uint8, .int8, .uint16, .int16, .int32, .int64, .uint32, .uint64, .uint4, .int4, .uint2, .int2: true
        default: false
        }
    }

    public var isSigned: Bool {
        switch self {
        case .int8, .int16, .int32, .int64, .int4, .int2: true
        case .float8e8m0: false  // exponent-only: no sign bit
        default: isFloatingPoint
        }
    }

    /// Short lower-case name as numpy and the CLI print it (`f32`-style names are aliases accepted by `init?(name:)`).
    public var description: String {
        switch self {
        case .float: "float32"
        case .uint8: "uint8"
        case .int8: "int8"
        case .uint16: "uint16"
        case .int16: "int16"
        case .int32: "int32"
        case .int64: "int64"
        case .string: "string"
        case .bool: "bool"
        case .float16: "float16"
        case .double: "float64"
        case .uint32: "uint32"
        case .uint64: "uint64"
        case .complex64: "complex64"
        case .complex128: "complex128"
        case .bfloat16: "bfloat16"
        case .float8e4m3fn: "float8e4m3fn"
        case .float8e4m3fnuz: "float8e4m3fnuz"
        case .float8e5m2: "float8e5m2"
        case .float8e5m2fnuz: "float8e5m2fnuz"
        case .uint4: "uint4"
        case .int4: "int4"
        case .float4e2m1: "float4e2m1"
        case .float8e8m0: "float8e8m0"
        case .uint2: "uint2"
        case .int2: "int2"
        }
    }

    public init?(name: String) {
        let aliases: [String: ElementType] = [
            "f32": .float, "float": .float, "f16": .float16, "half": .float16, "bf16": .bfloat16, "f64": .double,
            "double": .double, "i8": .int8, "u8": .uint8, "i16": .int16, "u16": .uint16, "i32": .int32,
            "u32": .uint32, "i64": .int64, "u64": .uint64,
        ]
        if let alias = aliases[name.lowercased()] { self = alias; return }
        guard let match = ElementType.allCases.first(where: { $0.description == name.lowercased() }) else { return nil }
        self = match
    }
}
