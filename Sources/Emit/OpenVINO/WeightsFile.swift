import Foundation

/// The `.bin` next to an IR: raw little-endian tensors concatenated. Identical blobs are stored once (the same
/// offset is returned), as OpenVINO's serializer does; no alignment is required by the readers (openvino-ir.md §1.4).
struct WeightsFile {
    private(set) var data = Data()
    /// Offsets of stored blobs by (size, content hash); candidates are compared byte by byte.
    private var index: [BlobKey: [Int]] = [:]

    private struct BlobKey: Hashable {
        var size: Int
        var hash: Int
    }

    init(reservingCapacity bytes: Int = 0) { data.reserveCapacity(bytes) }

    /// Stores `bytes` (or finds an identical copy) and returns its offset.
    mutating func append(_ bytes: UnsafeRawBufferPointer) -> Int {
        var hasher = Hasher()
        hasher.combine(bytes: bytes)
        let key = BlobKey(size: bytes.count, hash: hasher.finalize())
        if let candidates = index[key] {
            for offset in candidates where equals(bytes, at: offset) { return offset }
        }
        let offset = data.count
        data.append(bytes.bindMemory(to: UInt8.self))
        index[key, default: []].append(offset)
        return offset
    }

    private func equals(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Bool {
        data.withUnsafeBytes { stored in
            guard bytes.count > 0 else { return true }
            guard let a = stored.baseAddress, let b = bytes.baseAddress, offset + bytes.count <= stored.count else {
                return false
            }
            return memcmp(a + offset, b, bytes.count) == 0
        }
    }
}
