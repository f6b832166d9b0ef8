import IR
import Passes
import XCTest

/// Folded weights reuse the old tensor's memory only when nothing else can see it (GraphRewriter.writeWeights,
/// LinearWeights.scaledInPlace). Cases check where the folded weights live (the old buffer when the graph held the
/// only reference to a writable tensor; a new one otherwise), that a tensor shared with another value or model or
/// a read-only view is never modified, that in-place and copied folds give the same bits, and numerical
/// equivalence with the interpreter before/after (`assertClose`: float rounding of the once-rounded folded weights).
final class InPlaceWeightFoldingTests: XCTestCase {
    /// The address of the weight tensor (input 1) of the first node of type `op`, without keeping a reference.
    private func weightAddress(_ model: Model, op: String = "Conv") -> Int? {
        guard let node = model.graph.nodes.first(where: { $0.opType == op }), let w = node.input(1) else { return nil }
        if let t = w.initializer { return Int(bitPattern: t.storage.baseAddress) }
        if let producer = w.producer, let a = producer.attribute("value"), case .tensor(let t) = a.value {
            return Int(bitPattern: t.storage.baseAddress)
        }
        return nil
    }

    private func weightTensor(_ model: Model, op: String = "Conv") -> Tensor? {
        model.graph.nodes.first { $0.opType == op }?.input(1)?.initializer
    }

    private func batchNorm(_ b: ModelBuilder, _ x: Value, channels c: Int, prefix: String = "") -> Value {
        b.node("BatchNormalization", [x, b.random("\(prefix)gamma", [c]), b.random("\(prefix)beta", [c]),
                                      b.random("\(prefix)mean", [c]), b.random("\(prefix)var", [c], in: 0.1...2)],
               [float("epsilon", 1e-3)])
    }

    func testUniquelyHeldInitializerFoldsInPlace() throws {
        let b = ModelBuilder()
        let x = b.input("x", [1, 3, 6, 6])
        b.output(batchNorm(b, b.node("Conv", [x, b.random("w", [8, 3, 3, 3]), b.random("b", [8])]), channels: 8))
        let model = try b.model()
        let before = weightAddress(model)
        XCTAssertTrue(try checkEquivalent(BatchNormFolding(), on: model, inputs: [b.rng.tensor([1, 3, 6, 6])]))
        XCTAssertEqual(opCounts(model), ["Conv": 1])
        XCTAssertEqual(weightAddress(model), before, "the folded weights were written into the old buffer")
        XCTAssertFalse(model.graph.initializers.contains { $0.name == "w" }, "the old initializer is dropped")
        XCTAssertTrue(model.graph.initializers.contains { $0.name == "conv1_weight_folded" })
    }

    func testUniquelyHeldConstantNodeFoldsInPlaceThroughAChain() throws {
        // Mul → Conv → Mul: input and output scaling staged, then written once into the Constant's buffer.
        let b = ModelBuilder()
        let x = b.input("x", [1, 4, 5, 5])
        let scaled = b.node("Mul", [x, b.random("s", [1, 4, 1, 1], in: 0.5...2)])
        let y = b.node("Conv", [scaled, b.constantNode("w", [6, 4, 3, 3])], [ints("pads", [1, 1, 1, 1])])
        b.output(b.node("Mul", [y, b.random("t", [1, 6, 1, 1], in: 0.5...2)]))
        let model = try b.model()
        let before = weightAddress(model)
        XCTAssertTrue(try checkEquivalent(ConvBiasFolding(), on: model, inputs: [b.rng.tensor([1, 4, 5, 5])]))
        XCTAssertEqual(opCounts(model), ["Conv": 1], "both Muls and the weight's Constant node are gone")
        XCTAssertEqual(weightAddress(model), before)
    }

    func testWeightsSharedWithAnotherModelAreNeverModified() throws {
        var generator = SeededGenerator(seed: 7)
        let shared = generator.tensor([8, 3, 3, 3])
        let snapshot = shared.floatValues()
        func build() throws -> (ModelBuilder, Model) {
            let b = ModelBuilder()
            let x = b.input("x", [1, 3, 6, 6])
            let w = Value(name: "w", initializer: shared)
            b.graph.initializers.append(w)
            b.output(batchNorm(b, b.node("Conv", [x, w]), channels: 8))
            return (b, try b.model())
        }
        let (b, model) = try build()
        let (_, other) = try build()
        XCTAssertTrue(try checkEquivalent(BatchNormFolding(), on: model, inputs: [b.rng.tensor([1, 3, 6, 6])]))
        XCTAssertEqual(opCounts(model), ["Conv": 1])
        XCTAssertNotEqual(weightAddress(model), Int(bitPattern: shared.storage.baseAddress), "folded into a new tensor")
        XCTAssertEqual(shared.floatValues(), snapshot, "the shared tensor is untouched")
        XCTAssertEqual(weightTensor(other)?.floatValues(), snapshot, "the other model's weights are untouched")
    }

    func testWeightsHeldOnlyByAnotherModelAreNeverModified() throws {
        // The other model is the only holder besides the folded one: no local copy keeps the count up.
        func build(seed: UInt64) throws -> (ModelBuilder, Model, Model) {
            let b = ModelBuilder(seed: seed)
            let x = b.input("x", [1, 3, 6, 6])
            let w = b.random("w", [8, 3, 3, 3])
            b.output(batchNorm(b, b.node("Conv", [x, w]), channels: 8))
            let model = try b.model()
            let o = ModelBuilder()
            let ox = o.input("x", [1, 3, 6, 6])
            let ow = Value(name: "w", initializer: w.initializer)
            o.graph.initializers.append(ow)
            o.output(o.node("Conv", [ox, ow]))
            return (b, model, try o.model())
        }
        let (b, model, other) = try build(seed: 3)
        let snapshot = try XCTUnwrap(weightTensor(other)).floatValues()
        XCTAssertTrue(try checkEquivalent(BatchNormFolding(), on: model, inputs: [b.rng.tensor([1, 3, 6, 6])]))
        XCTAssertEqual(weightTensor(other)?.floatValues(), snapshot)
        XCTAssertNotEqual(weightAddress(model), weightAddress(other))
    }

    func testWeightsReadByTwoLayersFoldIntoCopies() throws {
        // One value, two convs, each followed by its own BN: scaling in place for the first would change the second.
        let b = ModelBuilder()
        let x = b.input("x", [1, 3, 6, 6])
        let w = b.random("w", [8, 3, 3, 3])
        let first = batchNorm(b, b.node("Conv", [x, w]), channels: 8)
        let second = batchNorm(b, b.node("Conv", [x, w]), channels: 8, prefix: "second_")
        b.output(first, second)
        let model = try b.model()
        XCTAssertTrue(try checkEquivalent(BatchNormFolding(), on: model, inputs: [b.rng.tensor([1, 3, 6, 6])]))
        XCTAssertEqual(opCounts(model), ["Conv": 2])
    }

    func testReadOnlyViewIsNeverWritten() throws {
        var generator = SeededGenerator(seed: 11)
        let values = generator.floats(8 * 3 * 3 * 3)
        let owner = ViewOwner(values)
        let view = Tensor(elementType: .float, shape: [8, 3, 3, 3],
                          storage: TensorStorage(viewing: owner.bytes, owner: owner))
        let b = ModelBuilder()
        let x = b.input("x", [1, 3, 6, 6])
        let w = Value(name: "w", initializer: view)
        b.graph.initializers.append(w)
        b.output(batchNorm(b, b.node("Conv", [x, w]), channels: 8))
        let model = try b.model()
        XCTAssertTrue(try checkEquivalent(BatchNormFolding(), on: model, inputs: [b.rng.tensor([1, 3, 6, 6])]))
        XCTAssertEqual(owner.values, values, "the viewed memory is untouched")
        XCTAssertNotEqual(weightAddress(model), Int(bitPattern: owner.bytes.baseAddress))
    }

    /// In place and copied give the same bits, for layouts that the in-place path cuts into several blocks of
    /// rows: inside one group (group 1, group 3), across whole groups (group 100), one row per group (depthwise).
    func testInPlaceAndCopiedFoldsGiveTheSameBits() throws {
        let cases: [(weights: [Int], group: Int)] = [([256, 128, 1, 1], 1), ([1200, 16, 3, 3], 3), ([600, 4, 3, 3], 100),
                                                     ([512, 1, 5, 5], 512)]
        for (shape, group) in cases {
            let inputs = shape[1] * group
            func fold(pinned: Bool) throws -> (Tensor, Bool) {
                // Mul before (column factors) and Mul after (row factors): both sides of the kernel's factors.
                let b = ModelBuilder(seed: 5)
                let x = b.input("x", [1, inputs, 5, 5])
                let scaled = b.node("Mul", [x, b.random("s", [1, inputs, 1, 1], in: 0.5...2)])
                let w = b.random("w", shape)
                let y = b.node("Conv", [scaled, w], [int("group", group), ints("pads", [1, 1, 1, 1])])
                b.output(b.node("Mul", [y, b.random("t", [1, shape[0], 1, 1], in: 0.5...2)]))
                let model = try b.model()
                let pin = pinned ? w.initializer : nil
                let before = weightAddress(model)
                XCTAssertTrue(try ConvBiasFolding().run(on: model, context: PassContext(opset: 17)))
                let folded = try XCTUnwrap(weightTensor(model))
                let inPlace = weightAddress(model) == before
                withExtendedLifetime(pin) {}
                return (folded, inPlace)
            }
            let (copied, copiedInPlace) = try fold(pinned: true)
            let (written, writtenInPlace) = try fold(pinned: false)
            XCTAssertFalse(copiedInPlace, "\(shape) group \(group): a pinned tensor is copied")
            XCTAssertTrue(writtenInPlace, "\(shape) group \(group): an unshared tensor is written in place")
            XCTAssertEqual(written.floatValues().map(\.bitPattern), copied.floatValues().map(\.bitPattern),
                           "\(shape) group \(group)")
        }
    }
}

/// Memory behind a read-only tensor view.
private final class ViewOwner {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    init(_ values: [Float]) {
        count = values.count
        pointer = .allocate(capacity: count)
        pointer.initialize(from: values, count: count)
    }

    deinit { pointer.deallocate() }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: pointer, count: count * MemoryLayout<Float>.stride) }
    var values: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}
