import COnnx
import CProtobufC
import IR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Small helpers for reading and building protobuf-c message trees. Everything here is internal: the rest of mcc
// never sees a protobuf-c type.

/// Keeps an unpacked protobuf-c message alive while tensor views point into it, and frees it when the last
/// view goes away.
final class UnpackedMessage: @unchecked Sendable {
    private let release: () -> Void
    /// The piece's raw_data when it lives in mcc's own memory (a WeightRegion slice) rather than in the file or in
    /// protobuf-c's allocation, until one tensor takes it.
    private var writableBytes: UnsafeMutableRawBufferPointer?

    init(writableBytes: UnsafeMutableRawBufferPointer? = nil, release: @escaping () -> Void) {
        self.writableBytes = writableBytes
        self.release = release
    }

    /// The writable bytes behind `view`, handed out once: the one tensor decoded from them may then be edited in
    /// place (passes fold weights into it when nothing else reads it); any other decode of the same bytes gets a
    /// read-only view. Called by the thread that lifts the graph.
    func takeWritableBytes(matching view: UnsafeRawBufferPointer) -> UnsafeMutableRawBufferPointer? {
        guard let bytes = writableBytes, bytes.count == view.count, let base = view.baseAddress,
              UnsafeRawPointer(bytes.baseAddress) == base else { return nil }
        writableBytes = nil
        return bytes
    }

    deinit { release() }
}

/// protobuf-c returns NULL from unpack for messages of 2^31 bytes or more, so larger inputs are refused up front.
let protobufMessageLimit = 1 << 31

// MARK: Reading

/// A C string field; NULL (absent in proto2) reads as "".
func string(_ p: UnsafePointer<CChar>?) -> String { p.map { String(cString: $0) } ?? "" }

/// A C string field, or nil when absent or empty.
func optionalString(_ p: UnsafePointer<CChar>?) -> String? {
    guard let p, p.pointee != 0 else { return nil }
    return String(cString: p)
}

/// A repeated scalar field as a buffer (empty when the pointer is NULL).
func repeated<T>(_ p: UnsafeMutablePointer<T>?, _ n: Int) -> UnsafeBufferPointer<T> {
    UnsafeBufferPointer(start: p, count: p == nil ? 0 : n)
}

/// A repeated message field, skipping NULL entries (which protobuf-c never produces, but a file must not trap us).
func messages<T>(_ p: UnsafeMutablePointer<UnsafeMutablePointer<T>?>?, _ n: Int) -> [UnsafeMutablePointer<T>] {
    guard let p else { return [] }
    return UnsafeBufferPointer(start: p, count: n).compactMap { $0 }
}

/// A repeated string field.
func strings(_ p: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ n: Int) -> [String] {
    guard let p else { return [] }
    return UnsafeBufferPointer(start: p, count: n).map { string($0) }
}

func bytes(_ b: ProtobufCBinaryData) -> [UInt8] {
    guard let data = b.data, b.len > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: b.len))
}

func keyValues(_ p: UnsafeMutablePointer<UnsafeMutablePointer<Onnx__StringStringEntryProto>?>?, _ n: Int)
    -> [(String, String)]
{
    messages(p, n).map { (string($0.pointee.key), string($0.pointee.value)) }
}

// MARK: Building (malloc/strdup only, so onnx__*__free_unpacked can free the whole tree)

/// A zeroed, initialised message allocated with malloc.
func newMessage<T>(_ initialize: (UnsafeMutablePointer<T>) -> Void) -> UnsafeMutablePointer<T> {
    guard let raw = calloc(1, MemoryLayout<T>.size) else { fatalOutOfMemory() }
    let p = raw.bindMemory(to: T.self, capacity: 1)
    initialize(p)
    return p
}

/// A malloc'ed copy of `items`, or NULL for an empty list.
func cArray<T>(_ items: [T]) -> UnsafeMutablePointer<T>? {
    guard !items.isEmpty else { return nil }
    guard let raw = malloc(items.count * MemoryLayout<T>.stride) else { fatalOutOfMemory() }
    let p = raw.bindMemory(to: T.self, capacity: items.count)
    p.initialize(from: items, count: items.count)
    return p
}

/// A malloc'ed array of message pointers (protobuf-c's repeated-message layout).
func cMessageArray<T>(_ items: [UnsafeMutablePointer<T>]) -> UnsafeMutablePointer<UnsafeMutablePointer<T>?>? {
    cArray(items.map { Optional($0) })
}

func cString(_ s: String) -> UnsafeMutablePointer<CChar> {
    // Copied straight from the string's UTF-8 (strdup(s) first bridges s to a temporary C string: two copies).
    // protobuf-c reads up to the first NUL, as with strdup.
    var s = s
    return s.withUTF8 { utf8 in
        guard let p = malloc(utf8.count + 1)?.assumingMemoryBound(to: CChar.self) else { fatalOutOfMemory() }
        if let base = utf8.baseAddress { memcpy(p, base, utf8.count) }
        p[utf8.count] = 0
        return p
    }
}

/// A string field that is left absent (NULL) when empty, as proto2 optional fields should be.
func cOptionalString(_ s: String) -> UnsafeMutablePointer<CChar>? { s.isEmpty ? nil : cString(s) }

func cStringArray(_ items: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? {
    cArray(items.map { Optional(cString($0)) })
}

func cBytes(_ b: [UInt8]) -> ProtobufCBinaryData {
    guard !b.isEmpty, let raw = malloc(b.count) else { return ProtobufCBinaryData(len: 0, data: nil) }
    let p = raw.bindMemory(to: UInt8.self, capacity: b.count)
    p.initialize(from: b, count: b.count)
    return ProtobufCBinaryData(len: b.count, data: p)
}

func cKeyValues(_ pairs: [(String, String)])
    -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<Onnx__StringStringEntryProto>?>?)
{
    let entries = pairs.map { key, value in
        newMessage { (e: UnsafeMutablePointer<Onnx__StringStringEntryProto>) in
            onnx__string_string_entry_proto__init(e)
            e.pointee.key = cString(key)
            e.pointee.value = cString(value)
        }
    }
    return (entries.count, cMessageArray(entries))
}

/// malloc failing is not a property of the input; there is no sensible recovery.
func fatalOutOfMemory() -> Never {
    let message = "mcc: out of memory\n"
    _ = message.withCString { posixWrite(2, $0, strlen($0)) }
    abort()
}

// MARK: Files

/// The directory part of `path` ("." when there is none).
func directory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

/// The last path component.
func fileName(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return path }
    return String(path[path.index(after: slash)...])
}

/// Drops the pages wholly inside `bytes` (part of a read-only private file mapping) from memory; reading them
/// again would fault them back in from the file. Keeps the peak memory of an import near one copy of the model.
func releasePages(of bytes: UnsafeRawBufferPointer) {
    guard let base = bytes.baseAddress else { return }
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    let start = (Int(bitPattern: base) + page - 1) / page * page
    let end = (Int(bitPattern: base) + bytes.count) / page * page
    guard end > start, let pointer = UnsafeMutableRawPointer(bitPattern: start) else { return }
    _ = madvise(pointer, end - start, Int32(MADV_DONTNEED))
}

/// Maps every page of a read-only file mapping in one call (MADV_POPULATE_READ, Linux 5.14+; ignored where
/// unsupported) instead of one page fault per 64 KiB read; the import reads the whole file anyway and releases
/// the pages piece by piece (`releasePages`).
func populate(_ bytes: UnsafeRawBufferPointer) {
    #if os(Linux)
    guard let base = bytes.baseAddress, bytes.count > 0 else { return }
    let madvPopulateRead: Int32 = 22
    _ = madvise(UnsafeMutableRawPointer(mutating: base), bytes.count, madvPopulateRead)
    #endif
}

/// Writes `chunks` to `path` through a temporary file in the same directory and a rename, so readers never see
/// a half-written file.
func writeAtomically(to path: String, _ produce: (_ write: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
    try writeFile(to: path, atomic: true, produce)
}

/// Writes `chunks` to `path`: atomically (see `writeAtomically`) or, when the caller's directory is itself
/// committed atomically, straight to `path` (removed again if writing fails). `chunksStayValid`: every chunk's
/// memory stays valid and unchanged until this call returns (BufferedFileWriter then gathers them into few writes).
func writeFile(to path: String, atomic: Bool, chunksStayValid: Bool = false,
               _ produce: (_ write: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
    let temp = atomic ? "\(directory(of: path))/.\(fileName(of: path)).tmp\(getpid())" : path
    let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw MCCError.failure("\(path): cannot create (\(String(cString: strerror(errno))))") }
    var closed = false
    do {
        try BufferedFileWriter.stream(to: fd, chunksStayValid: chunksStayValid, failure: { code in
            MCCError.failure("\(path): write failed (\(String(cString: strerror(code))))")
        }, produce)
        closed = true
        guard close(fd) == 0 else { throw MCCError.failure("\(path): write failed (\(String(cString: strerror(errno))))") }
        guard !atomic || rename(temp, path) == 0 else {
            throw MCCError.failure("\(path): cannot rename temporary file (\(String(cString: strerror(errno))))")
        }
    } catch {
        if !closed { close(fd) }
        unlink(temp)
        throw error
    }
}

private func posixWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { write(fd, p, n) }
