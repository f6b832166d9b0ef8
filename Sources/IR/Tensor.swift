/// A dense tensor: element type, static shape and the bytes behind it (row-major, ONNX's little-endian layout).
/// Copying a `Tensor` copies a reference to its storage, never the bytes.
public struct Tensor: Sendable {
    public var elementType: ElementType
    public var shape: [Int]
    public var storage: TensorStorage
    /// Elements of a `.string` tensor (its `storage` is empty).
    public var strings: [[UInt8]]

    public init(elementType: ElementType, shape: [Int], storage: TensorStorage, strings: [[UInt8]] = []) {
        self.elementType = elementType
        self.shape = shape
        self.storage = storage
        self.strings = strings
    }

    /// A zero-filled tensor.
    public init(zeros elementType: ElementType, shape: [Int]) {
        let count = shape.reduce(1, *)
        self.init(elementType: elementType, shape: shape, storage: TensorStorage(zeroed: elementType.byteCount(for: count)),
                  strings: elementType == .string ? Array(repeating: [], count: count) : [])
    }

    /// A tensor holding a copy of `values`, whose Swift type must match `elementType`'s storage.
    public init<T: BitwiseCopyable>(_ elementType: ElementType, shape: [Int], values: [T]) {
        precondition(MemoryLayout<T>.stride * 8 == elementType.bitWidth, "value type does not match \(elementType)")
        precondition(values.count == shape.reduce(1, *), "value count does not match shape \(shape)")
        let storage = values.withUnsafeBytes { TensorStorage(copying: $0) }
        self.init(elementType: elementType, shape: shape, storage: storage)
    }

    public init(floats: [Float], shape: [Int]) { self.init(.float, shape: shape, values: floats) }
    public init(int64s: [Int64], shape: [Int]) { self.init(.int64, shape: shape, values: int64s) }
    public init(scalar: Float) { self.init(floats: [scalar], shape: []) }

    public var rank: Int { shape.count }
    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { elementType.byteCount(for: elementCount) }
    public var valueType: ValueType { .tensor(elementType, Shape(shape)) }

    /// Calls `body` with the elements as `T`, which must be the storage type of `elementType`. Unaligned views
    /// (external data at an odd offset) are copied once into an aligned buffer for the call.
    public func withUnsafeBufferPointer<T: BitwiseCopyable, R>(
        as type: T.Type, _ body: (UnsafeBufferPointer<T>) throws -> R
    ) rethrows -> R {
        let count = storage.byteCount / MemoryLayout<T>.stride
        if storage.isAligned(for: T.self) {
            return try body(UnsafeBufferPointer(start: storage.baseAddress.assumingMemoryBound(to: T.self), count: count))
        }
        let aligned = TensorStorage(copying: storage.bytes)
        return try withExtendedLifetime(aligned) {
            try body(UnsafeBufferPointer(start: aligned.baseAddress.assumingMemoryBound(to: T.self), count: count))
        }
    }

    /// The elements as `T` (a copy), where `T` is the storage type of `elementType`.
    public func scalars<T: BitwiseCopyable>(as type: T.Type) -> [T] {
        withUnsafeBufferPointer(as: T.self) { Array($0) }
    }

    /// Every element converted to Float (numeric and bool types). Used for constant inspection and tests,
    /// not on hot paths.
    public func floatValues() -> [Float] {
        let n = elementCount
        if elementType == .float {
            // One bulk copy instead of a per-element load (weights of recurrent ops go through here per run).
            return withUnsafeBufferPointer(as: Float.self) { Array($0.prefix(n)) }
        }
        let raw = storage.bytes
        func load<T: BitwiseCopyable>(_: T.Type, _ convert: (T) -> Float) -> [Float] {
            (0..<n).map { convert(raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.stride, as: T.self)) }
        }
        switch elementType {
        case .float: return load(Float.self) { $0 }
        case .double: return load(Double.self) { Float($0) }
        case .float16: return load(UInt16.self) { Float(Float16(bitPattern: $0)) }
        case .bfloat16: return load(UInt16.self) { Float(bitPattern: UInt32($0) << 16) }
        case .int8: return load(Int8.self) { Float($0) }
        case .uint8: return load(UInt8.self) { Float($0) }
        case .int16: return load(Int16.self) { Float($0) }
        case .uint16: return load(UInt16.self) { Float($0) }
        case .int32: return load(Int32.self) { Float($0) }
        case .uint32: return load(UInt32.self) { Float($0) }
        case .int64: return load(Int64.self) { Float($0) }
        case .uint64: return load(UInt64.self) { Float($0) }
        case .bool: return load(UInt8.self) { $0 != 0 ? 1 : 0 }
        default: return []
        }
    }

    /// Every element converted to Int64 (integer, bool and float types; floats truncate toward zero).
    public func int64Values() -> [Int64] {
        let n = elementCount
        let raw = storage.bytes
        func load<T: BitwiseCopyable>(_: T.Type, _ convert: (T) -> Int64) -> [Int64] {
            (0..<n).map { convert(raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.stride, as: T.self)) }
        }
        func fromFloat(_ f: Double) -> Int64 { f.isFinite && abs(f) < 9.2e18 ? Int64(f) : 0 }
        switch elementType {
        case .int64: return load(Int64.self) { $0 }
        case .int32: return load(Int32.self) { Int64($0) }
        case .int16: return load(Int16.self) { Int64($0) }
        case .int8: return load(Int8.self) { Int64($0) }
        case .uint8, .bool: return load(UInt8.self) { Int64($0) }
        case .uint16: return load(UInt16.self) { Int64($0) }
        case .uint32: return load(UInt32.self) { Int64($0) }
        case .uint64: return load(UInt64.self) { Int64(bitPattern: $0) }
        case .float: return load(Float.self) { fromFloat(Double($0)) }
        case .double: return load(Double.self) { fromFloat($0) }
        case .float16: return load(UInt16.self) { fromFloat(Double(Float16(bitPattern: $0))) }
        default: return []
        }
    }
}

/// A sparse tensor in ONNX's COO form, kept as-is for round trips.
public struct SparseTensor: Sendable {
    public var values: Tensor
    public var indices: Tensor
    public var dims: [Int]

    public init(values: Tensor, indices: Tensor, dims: [Int]) {
        self.values = values
        self.indices = indices
        self.dims = dims
    }

    /// The dense equivalent (indices are either [NNZ] linear or [NNZ, rank] coordinates).
    public func densified() throws -> Tensor {
        guard let count = checkedElementCount(dims), count < 1 << 32 else {
            throw MCCError.failure("sparse tensor dims \(dims) are too large")
        }
        var dense = Tensor(zeros: values.elementType, shape: dims)
        let width = values.elementType.bitWidth / 8
        guard width > 0 else { throw MCCError.unsupported("sparse tensor of \(values.elementType)") }
        let idx = indices.int64Values()
        let nnz = values.elementCount
        let rank = dims.count
        let strides = dims.indices.map { dims[($0 + 1)...].reduce(1, *) }
        let dst = dense.storage.mutableBaseAddress
        for k in 0..<nnz {
            var linear = 0
            if indices.rank == 1 {
                guard k < idx.count else { throw MCCError.failure("sparse tensor has fewer indices than values") }
                linear = Int(idx[k])
            } else {
                for a in 0..<rank {
                    let i = k * rank + a
                    guard i < idx.count else { throw MCCError.failure("sparse tensor has fewer indices than values") }
                    linear += Int(idx[i]) * strides[a]
                }
            }
            guard linear >= 0, linear < count else { throw MCCError.failure("sparse tensor index out of range") }
            dst.advanced(by: linear * width).copyMemory(from: values.storage.baseAddress.advanced(by: k * width),
                                                        byteCount: width)
        }
        dense.shape = dims
        return dense
    }
}
