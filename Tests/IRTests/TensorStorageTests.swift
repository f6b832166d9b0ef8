import IR
import XCTest

/// TensorStorage's allocation forms: zero-filled, uninitialised (caller writes every byte), copies, and writable
/// views whose owner keeps the memory alive.
final class TensorStorageTests: XCTestCase {
    func testZeroedStorageIsZeroAndAligned() {
        let storage = TensorStorage(zeroed: 1000)
        XCTAssertEqual(storage.byteCount, 1000)
        XCTAssertTrue(storage.isWritable)
        XCTAssertEqual(Int(bitPattern: storage.baseAddress) % 64, 0)
        XCTAssertTrue(storage.bytes.allSatisfy { $0 == 0 })
    }

    func testUninitializedStorageIsWritableAlignedAndKeepsWhatIsWritten() {
        let storage = TensorStorage(uninitializedByteCount: 4096)
        XCTAssertEqual(storage.byteCount, 4096)
        XCTAssertTrue(storage.isWritable)
        XCTAssertEqual(Int(bitPattern: storage.baseAddress) % 64, 0)
        let floats = storage.mutableBaseAddress.bindMemory(to: Float.self, capacity: 1024)
        for i in 0..<1024 { floats[i] = Float(i) * 0.5 }
        let tensor = Tensor(elementType: .float, shape: [1024], storage: storage)
        XCTAssertEqual(tensor.floatValues(), (0..<1024).map { Float($0) * 0.5 })
        XCTAssertEqual(TensorStorage(uninitializedByteCount: 0).byteCount, 0)
    }

    func testCopyingStorageHoldsTheBytes() {
        let source: [UInt8] = (0..<200).map { UInt8($0) }
        let storage = source.withUnsafeBytes { TensorStorage(copying: $0) }
        XCTAssertEqual(Array(storage.bytes), source)
        XCTAssertEqual(TensorStorage(copying: UnsafeRawBufferPointer(start: nil, count: 0)).byteCount, 0)
    }

    /// A writable view is writable and keeps its owner (here a buffer box) alive after every other reference went.
    func testWritableViewKeepsItsOwnerAlive() {
        final class Box {
            let pointer = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
            var onDeinit: () -> Void = {}
            deinit {
                onDeinit()
                pointer.deallocate()
            }
        }
        var released = false
        var storage: TensorStorage?
        do {
            let box = Box()
            box.onDeinit = { released = true }
            storage = TensorStorage(viewingWritable: UnsafeMutableRawBufferPointer(start: box.pointer, count: 64), owner: box)
        }
        XCTAssertFalse(released)
        XCTAssertEqual(storage?.isWritable, true)
        storage?.mutableBaseAddress.storeBytes(of: 0x1234_5678, as: UInt32.self)
        XCTAssertEqual(storage?.bytes.load(as: UInt32.self), 0x1234_5678)
        storage = nil
        XCTAssertTrue(released)
    }
}
