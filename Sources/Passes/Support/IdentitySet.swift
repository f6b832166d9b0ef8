/// A set of object identities (insert and membership only): open addressing over the addresses, multiplied by a
/// Fibonacci constant (the high bits pick the slot).
///
/// Why not `Set<ObjectIdentifier>`: the rewriter asks "is this a graph input / removed?" of nearly every value and
/// node it looks at, and each question to a Swift set is a seeded SipHash of the address (~60 instructions, a
/// tenth of some passes). Identities are never enumerated, so the order of slots cannot leak into the output.
/// An empty set allocates nothing.
struct IdentitySet {
    /// Addresses (0 marks an empty slot: no object lives at address 0); power-of-two size, at most half full.
    private var slots: [UInt] = []
    private var shift: UInt = 64
    private(set) var count = 0

    init() {}

    init<S: Sequence>(_ objects: S) where S.Element: AnyObject {
        for object in objects { insert(ObjectIdentifier(object)) }
    }

    var isEmpty: Bool { count == 0 }

    /// Makes room for `capacity` members without growing.
    mutating func reserveCapacity(_ capacity: Int) {
        guard 2 * capacity > slots.count else { return }
        var size = 16
        while size < 2 * capacity { size <<= 1 }
        rehash(size: size)
    }

    @inline(__always)
    private func slot(_ key: UInt) -> Int { Int(truncatingIfNeeded: (key &* 0x9e37_79b9_7f4a_7c15) >> shift) }

    func contains(_ id: ObjectIdentifier) -> Bool {
        guard count > 0 else { return false }
        let key = UInt(bitPattern: id)
        let mask = slots.count - 1
        var index = slot(key)
        while true {
            let entry = slots[index]
            if entry == key { return true }
            if entry == 0 { return false }
            index = (index &+ 1) & mask
        }
    }

    @discardableResult
    mutating func insert(_ id: ObjectIdentifier) -> (inserted: Bool, memberAfterInsert: ObjectIdentifier) {
        if 2 * (count + 1) > slots.count { rehash(size: max(16, slots.count * 2)) }
        let key = UInt(bitPattern: id)
        let mask = slots.count - 1
        var index = slot(key)
        while true {
            let entry = slots[index]
            if entry == key { return (false, id) }
            if entry == 0 { break }
            index = (index &+ 1) & mask
        }
        slots[index] = key
        count += 1
        return (true, id)
    }

    mutating func removeAll() {
        slots = []
        shift = 64
        count = 0
    }

    private mutating func rehash(size: Int) {
        let old = slots
        slots = Array(repeating: 0, count: size)
        shift = UInt(64 - size.trailingZeroBitCount)
        let mask = size - 1
        for key in old where key != 0 {
            var index = slot(key)
            while slots[index] != 0 { index = (index &+ 1) & mask }
            slots[index] = key
        }
    }
}
