import Foundation
import IR

/// The `.bin` next to an IR: raw little-endian tensors concatenated. Identical blobs are stored once (the same
/// offset is returned), as OpenVINO's serializer does; no alignment is required by the readers (openvino-ir.md §1.4).
/// Blobs are not copied: the file is a list of views of the tensors' storage (kept alive here), streamed out by
/// `write(_:)`, so emitting never holds a second copy of the weights.
struct WeightsFile: @unchecked Sendable {
    /// Blobs in file order.
    private var blobs: [(storage: TensorStorage, count: Int)] = []
    /// Total size in bytes.
    private(set) var byteCount = 0
    /// Open-addressing table of blob indices + 1 (0: empty), by content hash; its size is a power of two kept at
    /// least twice the blob count. Plain Int arrays: a Dictionary keyed by a struct had its generic metadata and
    /// Hashable conformance looked up at run time on every compile (~0.3 ms), more than all its lookups.
    private var slots: [Int] = []
    /// Per blob, in file order: content hash and offset in the file.
    private var hashes: [Int] = []
    private var offsets: [Int] = []

    /// Stores the first `count` bytes of `storage` (or finds an identical blob) and returns its offset.
    mutating func append(_ storage: TensorStorage, count: Int) -> Int {
        let bytes = UnsafeRawBufferPointer(rebasing: storage.bytes[0..<count])
        let hash = Self.fingerprint(bytes)
        if slots.count < 2 * (blobs.count + 1) { rehash(capacity: max(64, 4 * (blobs.count + 1))) }
        let mask = slots.count - 1
        var slot = hash & mask
        while slots[slot] != 0 {
            let blob = slots[slot] - 1
            // An identical blob is never stored twice, so the one found is the first with these bytes.
            if hashes[blob] == hash, blobs[blob].count == count, Self.equal(bytes, blobs[blob].storage) { return offsets[blob] }
            slot = (slot + 1) & mask
        }
        let offset = byteCount
        slots[slot] = blobs.count + 1
        blobs.append((storage, count))
        hashes.append(hash)
        offsets.append(offset)
        byteCount += count
        return offset
    }

    private mutating func rehash(capacity: Int) {
        var size = 1
        while size < capacity { size <<= 1 }
        slots = [Int](repeating: 0, count: size)
        for (blob, hash) in hashes.enumerated() {
            var slot = hash & (size - 1)
            while slots[slot] != 0 { slot = (slot + 1) & (size - 1) }
            slots[slot] = blob + 1
        }
    }

    /// A cheap content hash: every byte of small blobs, 512 evenly spaced 8-byte words of large ones. Equal blobs
    /// always match; a collision only costs a byte comparison. (Hashing every weight byte with `Hasher` was a tenth
    /// of a whole -target rvc2 compile.)
    static func fingerprint(_ bytes: UnsafeRawBufferPointer) -> Int {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.count)
        func mix(_ word: UInt64) { h = (h ^ word) &* 0xFF51_AFD7_ED55_8CCD; h ^= h >> 32 }
        let words = bytes.count / 8
        let samples = 512
        if words <= samples {
            for i in 0..<words { mix(bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) }
        } else {
            for i in 0..<samples {
                mix(bytes.loadUnaligned(fromByteOffset: (i * (words - 1) / (samples - 1)) * 8, as: UInt64.self))
            }
        }
        for i in (words * 8)..<bytes.count { mix(UInt64(bytes[i])) }
        return Int(truncatingIfNeeded: h)
    }

    private static func equal(_ bytes: UnsafeRawBufferPointer, _ stored: TensorStorage) -> Bool {
        guard bytes.count > 0 else { return true }
        guard let a = bytes.baseAddress, stored.byteCount >= bytes.count else { return false }
        return memcmp(a, stored.baseAddress, bytes.count) == 0
    }

    /// Hands the file's bytes to `write` in order, blob by blob.
    func write(_ write: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        for blob in blobs where blob.count > 0 {
            try write(UnsafeRawBufferPointer(rebasing: blob.storage.bytes[0..<blob.count]))
        }
    }

    /// The whole file in memory (tests, small models).
    var data: Data {
        var data = Data(capacity: byteCount)
        write { data.append($0.bindMemory(to: UInt8.self)) }
        return data
    }
}
