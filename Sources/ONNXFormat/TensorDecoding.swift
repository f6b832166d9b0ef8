import COnnx
import CProtobufC
import IR

/// Tensors larger than this are refused as absurd (dims from a corrupt or hostile file).
let maxTensorElements = 1 << 40

/// Turns TensorProtos into Tensors. raw_data becomes a view into the unpacked message (kept alive by `owner`),
/// external data a view into a mapped file; only the typed fields (float_data, int32_data, ...) are copied.
struct TensorDecoder {
    /// The file name errors start with.
    let label: String
    /// Owner of the unpacked message that raw_data views point into.
    let owner: AnyObject
    let external: ExternalDataResolver

    /// Decodes `proto`; `what` names it in errors ("initializer 'W'"). raw_data views are kept alive by `owner`
    /// (default: the decoder's).
    func tensor(_ proto: UnsafePointer<Onnx__TensorProto>, what: @autoclosure () -> String,
                owner: AnyObject? = nil) throws -> Tensor {
        let t = proto.pointee
        func fail(_ message: String) -> MCCError { MCCError.failure("\(label): \(what()): \(message)") }
        guard t.has_data_type != 0, t.data_type != 0 else { throw fail("no data type") }
        guard let type = ElementType(rawValue: t.data_type) else {
            throw MCCError.unsupported("\(label): \(what()): unsupported data type \(t.data_type)")
        }
        var shape: [Int] = []
        shape.reserveCapacity(t.n_dims)
        var count = 1
        for d in repeated(t.dims, t.n_dims) {
            guard d >= 0 else { throw fail("negative dimension \(d) in dims \(Array(repeated(t.dims, t.n_dims)))") }
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(d))
            guard !overflow, product < maxTensorElements else {
                throw fail("dims \(Array(repeated(t.dims, t.n_dims))) are absurdly large")
            }
            count = product
            shape.append(Int(d))
        }
        guard t.segment == nil else { throw MCCError.unsupported("\(label): \(what()): segmented tensors are not supported") }
        let expected = type.byteCount(for: count)

        if type == .string {
            let items = repeated(t.string_data, t.n_string_data)
            guard items.count == count else { throw fail("has \(items.count) strings but dims \(shape) need \(count)") }
            return Tensor(elementType: .string, shape: shape, storage: TensorStorage(zeroed: 0), strings: items.map(bytes))
        }
        if t.has_data_location != 0 && t.data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL {
            let entries = keyValues(t.external_data, t.n_external_data)
            let storage = try external.storage(for: entries, expectedByteCount: expected, what: what())
            return Tensor(elementType: type, shape: shape, storage: storage)
        }
        if t.has_raw_data != 0 {
            guard t.raw_data.len == expected else {
                throw fail("raw_data is \(t.raw_data.len) bytes but \(type)\(shape) needs \(expected)")
            }
            let view = UnsafeRawBufferPointer(start: t.raw_data.data, count: t.raw_data.len)
            let holder = owner ?? self.owner
            if let piece = holder as? UnpackedMessage, let bytes = piece.takeWritableBytes(matching: view) {
                return Tensor(elementType: type, shape: shape, storage: TensorStorage(viewingWritable: bytes, owner: piece))
            }
            return Tensor(elementType: type, shape: shape, storage: TensorStorage(viewing: view, owner: holder))
        }
        let storage = try typedData(t, type: type, count: count, fail: fail)
        return Tensor(elementType: type, shape: shape, storage: storage)
    }

    /// Copies the typed repeated field that holds `type` into packed little-endian storage.
    private func typedData(_ t: Onnx__TensorProto, type: ElementType, count: Int,
                           fail: (String) -> MCCError) throws -> TensorStorage {
        let expected = type.byteCount(for: count)
        func copy<T>(_ values: UnsafeBufferPointer<T>, _ field: String, per element: Int = 1) throws -> TensorStorage {
            guard values.count == count * element else {
                throw fail("\(field) has \(values.count) values but dims need \(count * element)")
            }
            return TensorStorage(copying: UnsafeRawBufferPointer(values))
        }
        /// int32_data narrowed to `N`-byte elements (or packed bytes for sub-byte types).
        func narrow<N: FixedWidthInteger>(_: N.Type, items: Int) throws -> TensorStorage {
            let values = repeated(t.int32_data, t.n_int32_data)
            guard values.count == items else { throw fail("int32_data has \(values.count) values but dims need \(items)") }
            let storage = TensorStorage(zeroed: items * MemoryLayout<N>.size)
            let dst = storage.mutableBaseAddress.bindMemory(to: N.self, capacity: items)
            for (i, v) in values.enumerated() { dst[i] = N(truncatingIfNeeded: v) }
            return storage
        }
        switch type {
        case .float: return try copy(repeated(t.float_data, t.n_float_data), "float_data")
        case .complex64: return try copy(repeated(t.float_data, t.n_float_data), "float_data", per: 2)
        case .double: return try copy(repeated(t.double_data, t.n_double_data), "double_data")
        case .complex128: return try copy(repeated(t.double_data, t.n_double_data), "double_data", per: 2)
        case .int64: return try copy(repeated(t.int64_data, t.n_int64_data), "int64_data")
        case .uint64: return try copy(repeated(t.uint64_data, t.n_uint64_data), "uint64_data")
        case .int32: return try copy(repeated(t.int32_data, t.n_int32_data), "int32_data")
        case .uint32:
            let values = repeated(t.uint64_data, t.n_uint64_data)
            guard values.count == count else { throw fail("uint64_data has \(values.count) values but dims need \(count)") }
            let storage = TensorStorage(zeroed: count * 4)
            let dst = storage.mutableBaseAddress.bindMemory(to: UInt32.self, capacity: count)
            for (i, v) in values.enumerated() { dst[i] = UInt32(truncatingIfNeeded: v) }
            return storage
        case .int16, .uint16, .float16, .bfloat16: return try narrow(UInt16.self, items: count)
        case .bool:
            let storage = try narrow(UInt8.self, items: count)
            let p = storage.mutableBaseAddress.bindMemory(to: UInt8.self, capacity: count)
            for i in 0..<count where p[i] > 1 { p[i] = 1 }
            return storage
        case .int8, .uint8, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float8e8m0:
            return try narrow(UInt8.self, items: count)
        case .int4, .uint4, .float4e2m1, .int2, .uint2:
            // Each int32 holds one byte of already-packed elements (low bits first).
            return try narrow(UInt8.self, items: expected)
        case .string:
            throw fail("string tensors have no raw storage")
        }
    }

    /// A sparse tensor, kept in COO form.
    func sparseTensor(_ proto: UnsafePointer<Onnx__SparseTensorProto>, what: @autoclosure () -> String,
                      owner: AnyObject? = nil) throws -> SparseTensor {
        let s = proto.pointee
        guard let values = s.values else { throw MCCError.failure("\(label): \(what()): sparse tensor has no values") }
        let dims = repeated(s.dims, s.n_dims).map { Int(truncatingIfNeeded: $0) }
        guard dims.allSatisfy({ $0 >= 0 }), let n = checkedElementCount(dims), n < maxTensorElements else {
            throw MCCError.failure("\(label): \(what()): sparse tensor dims \(dims) are invalid")
        }
        let v = try tensor(values, what: what(), owner: owner)
        let i = try s.indices.map { try tensor($0, what: what(), owner: owner) } ?? Tensor(int64s: [], shape: [0])
        return SparseTensor(values: v, indices: i, dims: dims)
    }
}
