#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Bytes behind a tensor: either a 64-byte-aligned buffer this object owns, or a read-only view into memory kept
/// alive by `owner` (a mapped external-data file, an unpacked protobuf message). Views are how weights avoid copies.
public final class TensorStorage: @unchecked Sendable {
    public let baseAddress: UnsafeRawPointer
    public let byteCount: Int
    /// True for owned buffers; views of loaded files are never written through.
    public let isWritable: Bool
    private let owner: AnyObject?
    private let ownsMemory: Bool

    /// A zero-filled buffer of `byteCount` bytes, aligned for SIMD loads.
    public convenience init(zeroed byteCount: Int) {
        self.init(uninitializedByteCount: byteCount)
        mutableBaseAddress.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1))
    }

    /// A buffer of `byteCount` bytes, aligned for SIMD loads, whose contents are undefined until written: for
    /// callers that overwrite every byte before anything reads it (the zero fill of a large tensor that is
    /// rewritten anyway costs as much as the rewrite).
    public init(uninitializedByteCount byteCount: Int) {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        self.baseAddress = UnsafeRawPointer(p)
        self.byteCount = byteCount
        self.isWritable = true
        self.owner = nil
        self.ownsMemory = true
    }

    /// An owned copy of `bytes`.
    public convenience init(copying bytes: UnsafeRawBufferPointer) {
        self.init(uninitializedByteCount: bytes.count)
        if let src = bytes.baseAddress, bytes.count > 0 {
            mutableBaseAddress.copyMemory(from: src, byteCount: bytes.count)
        }
    }

    /// A view of memory owned by `owner`, which stays alive as long as this storage does.
    public init(viewing bytes: UnsafeRawBufferPointer, owner: AnyObject) {
        self.baseAddress = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 64)!
        self.byteCount = bytes.count
        self.isWritable = false
        self.owner = owner
        self.ownsMemory = false
    }

    /// A writable view of memory owned by `owner` (e.g. a slice of an allocator's region), which stays alive as
    /// long as this storage does. The caller hands the bytes to this storage alone.
    public init(viewingWritable bytes: UnsafeMutableRawBufferPointer, owner: AnyObject) {
        self.baseAddress = UnsafeRawPointer(bytes.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 64)!)
        self.byteCount = bytes.count
        self.isWritable = true
        self.owner = owner
        self.ownsMemory = false
    }

    deinit {
        if ownsMemory { UnsafeMutableRawPointer(mutating: baseAddress).deallocate() }
    }

    /// Writable address of an owned buffer. Writing through a view is a programming error.
    public var mutableBaseAddress: UnsafeMutableRawPointer {
        precondition(isWritable, "attempt to write a read-only tensor view")
        return UnsafeMutableRawPointer(mutating: baseAddress)
    }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: baseAddress, count: byteCount) }

    /// True when the bytes can be read as `T` without an unaligned load.
    public func isAligned<T>(for type: T.Type) -> Bool { Int(bitPattern: baseAddress) % MemoryLayout<T>.alignment == 0 }
}

/// A read-only memory mapping of a whole file; the owner behind external-data tensor views.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawBufferPointer
    private let mapping: UnsafeMutableRawPointer?
    private let length: Int

    /// Maps `path` read-only. Throws with the file name when it cannot be opened or mapped.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw MCCError.failure("\(path): cannot open (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw MCCError.failure("\(path): cannot stat") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw MCCError.failure("\(path): not a regular file") }
        length = Int(info.st_size)
        if length == 0 {
            mapping = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let p = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else { throw MCCError.failure("\(path): cannot map (\(String(cString: strerror(errno))))") }
        mapping = p
        bytes = UnsafeRawBufferPointer(start: p, count: length)
    }

    deinit {
        if let mapping { munmap(mapping, length) }
    }
}
