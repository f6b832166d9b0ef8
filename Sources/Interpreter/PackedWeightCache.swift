import Foundation
import IR

/// Constant weights re-laid-out for a kernel (e.g. Conv's tap-major tap-sum layout), packed once per interpreter
/// and weight instead of on every run. Entries hold the interpreter and the weight `Value` weakly and the
/// initializer's storage strongly (so its identity cannot be reused) with the layout key: a replaced initializer or
/// a changed shape repacks, and identifiers of freed objects are never trusted.
final class PackedWeightCache: @unchecked Sendable {
    static let shared = PackedWeightCache()

    private struct Entry {
        weak var interpreter: Interpreter?
        weak var value: Value?
        let storage: TensorStorage
        let layout: [Int]
        let packed: [Float]
    }

    private let lock = NSLock()
    private var entries: [ObjectIdentifier: Entry] = [:]

    /// The packed floats of constant `value` for `layout` (any key describing the packing, e.g. the conv geometry),
    /// computed by `pack` into `count` floats on first use; nil when `value` is not an initializer.
    func packed(
        _ value: Value, layout: [Int], count: Int, in interpreter: Interpreter,
        pack: (UnsafeMutablePointer<Float>) -> Void
    ) -> [Float]? {
        guard let initializer = value.initializer else { return nil }
        let storage = initializer.storage
        let key = ObjectIdentifier(value)
        lock.lock()
        if let e = entries[key], e.value === value, e.interpreter === interpreter, e.storage === storage,
           e.layout == layout {
            lock.unlock()
            return e.packed
        }
        lock.unlock()
        let packed = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let base = buffer.baseAddress { pack(base) }
            initialized = count
        }
        lock.lock()
        defer { lock.unlock() }
        entries = entries.filter { $0.value.value != nil && $0.value.interpreter != nil }
        entries[key] = Entry(interpreter: interpreter, value: value, storage: storage, layout: layout, packed: packed)
        return packed
    }
}
