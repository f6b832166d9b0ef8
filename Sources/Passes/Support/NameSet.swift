/// The names of a model as a set of 64-bit hashes, for `GraphRewriter.freshName`: open addressing over a hash of
/// the UTF-8 bytes read 8 at a time.
///
/// Why not `Set<String>`: the rewriter of a pass collects every name of the model (thousands) the first time it
/// needs a fresh one, and hashing and storing the strings was several percent of the whole pipeline. Only hashes
/// are kept, so a name whose 64-bit hash equals that of a present name counts as present: `freshName` may then skip
/// a free name (odds ~n²/2⁶⁵, about 10⁻¹² for 10⁵ names) but never hands out a taken one, and the choice is still
/// a function of the model (deterministic).
struct NameSet {
    /// Hashes (never 0: 0 marks an empty slot); power-of-two size, at most half full.
    private var slots: [UInt64]
    private var mask: Int
    private(set) var count = 0

    init(capacity: Int) {
        var size = 16
        while size < 2 * capacity { size <<= 1 }
        slots = Array(repeating: 0, count: size)
        mask = size - 1
    }

    func contains(_ name: String) -> Bool {
        let hash = Self.hash(name)
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let entry = slots[slot]
            if entry == 0 { return false }
            if entry == hash { return true }
            slot = (slot &+ 1) & mask
        }
    }

    mutating func insert(_ name: String) {
        let hash = Self.hash(name)
        let mask = self.mask
        // Through a buffer pointer: the array subscripts' uniqueness and bounds checks were most of an insert.
        let added = slots.withUnsafeMutableBufferPointer { slots -> Bool in
            var slot = Int(truncatingIfNeeded: hash) & mask
            while true {
                let entry = slots[slot]
                if entry == hash { return false }
                if entry == 0 {
                    slots[slot] = hash
                    return true
                }
                slot = (slot &+ 1) & mask
            }
        }
        guard added else { return }
        count += 1
        if count * 2 > slots.count { grow() }
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: 0, count: old.count * 2)
        mask = slots.count - 1
        for hash in old where hash != 0 {
            var slot = Int(truncatingIfNeeded: hash) & mask
            while slots[slot] != 0 { slot = (slot &+ 1) & mask }
            slots[slot] = hash
        }
    }

    /// A 64-bit hash of the UTF-8 bytes (8 at a time, then the tail, then the length), finalized with a
    /// splitmix64 step so the low bits (the slot) depend on every byte. Never 0.
    static func hash(_ name: String) -> UInt64 {
        // Native strings (all of ours) lend their bytes without the copy that the mutating `withUTF8` needs.
        if let h = name.utf8.withContiguousStorageIfAvailable({ hash(bytes: $0) }) { return h }
        var name = name
        return name.withUTF8 { hash(bytes: $0) }
    }

    private static func hash(bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0x9e37_79b9_7f4a_7c15
        let raw = UnsafeRawBufferPointer(bytes)
        var offset = 0
        while offset &+ 8 <= raw.count {
            h = (h ^ raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) &* 0x100_0000_01b3
            h ^= h >> 32
            offset &+= 8
        }
        var tail: UInt64 = 0
        let rest = raw.count &- offset
        if rest > 0 && raw.count >= 8 {
            // The last 8 bytes in one load, shifted so only the `rest` bytes not hashed yet remain (the same
            // value as the byte loop below assembles).
            tail = raw.loadUnaligned(fromByteOffset: raw.count &- 8, as: UInt64.self) >> UInt64(64 &- 8 &* rest)
        } else {
            var shift: UInt64 = 0
            while offset < raw.count {
                tail |= UInt64(raw[offset]) << shift
                shift &+= 8
                offset &+= 1
            }
        }
        h = (h ^ tail ^ (UInt64(raw.count) << 56)) &* 0x100_0000_01b3
        h ^= h >> 30
        h = h &* 0xbf58_476d_1ce4_e5b9
        h ^= h >> 27
        h = h &* 0x94d0_49bb_1331_11eb
        h ^= h >> 31
        return h == 0 ? 1 : h
    }
}
