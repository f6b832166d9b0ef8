import IR
import Passes
import XCTest

/// PassContext.keepsRemovedObjects: dropped nodes and initializers stay referenced by the context (the mcc
/// executable's -disable-free), except the memory of large tensors; without it they are freed as passes drop them.
final class PassContextTests: XCTestCase {
    /// x → Identity → Relu → y, plus a large unused initializer and a small one: the O2 pipeline drops the
    /// Identity node and both initializers.
    private func model() throws -> (Model, identity: Node, large: Value, small: Value) {
        let b = GraphBuilder()
        let x = b.input("x", [4])
        let large = b.constant("large", floats: testFloats(4096), shape: [4096])
        let small = b.constant("small", floats: [1, 2], shape: [2])
        let passed = b.node("Identity", [x])
        b.output(b.node("Relu", [passed], named: "y"))
        let model = try b.model()
        guard let identity = passed.producer else { throw MCCError.failure("no Identity node") }
        return (model, identity, large, small)
    }

    private func run(keeping: Bool) throws -> (identity: Node?, large: Value?, largeTensor: TensorStorage?,
                                               small: Value?, smallTensor: TensorStorage?, model: Model,
                                               context: PassContext) {
        weak var weakIdentity: Node?
        weak var weakLarge: Value?
        weak var weakLargeStorage: TensorStorage?
        weak var weakSmall: Value?
        weak var weakSmallStorage: TensorStorage?
        let model: Model
        do {  // no strong reference outlives this scope but the model's own
            let built = try self.model()
            model = built.0
            weakIdentity = built.identity
            weakLarge = built.large
            weakLargeStorage = built.large.initializer?.storage
            weakSmall = built.small
            weakSmallStorage = built.small.initializer?.storage
        }
        let context = PassContext(opset: model.defaultOpset)
        context.keepsRemovedObjects = keeping
        var manager = PassManager(verifyEach: true)
        XCTAssertTrue(try manager.run(Pipelines.o2, on: model, context: context))
        XCTAssertEqual(opTypes(model), ["Relu"])
        XCTAssertTrue(model.graph.initializers.isEmpty)
        return (weakIdentity, weakLarge, weakLargeStorage, weakSmall, weakSmallStorage, model, context)
    }

    func testKeepsRemovedNodesAndInitializersWithoutLargeTensors() throws {
        let kept = try run(keeping: true)
        XCTAssertNotNil(kept.identity, "removed node kept")
        XCTAssertNotNil(kept.large, "removed initializer kept")
        XCTAssertNil(kept.large?.initializer, "its large tensor released")
        XCTAssertNil(kept.largeTensor, "large tensor storage freed")
        XCTAssertNotNil(kept.small, "small initializer kept")
        XCTAssertNotNil(kept.smallTensor, "small tensor kept with it")
        withExtendedLifetime(kept.context) {}
    }

    func testFreesRemovedObjectsByDefault() throws {
        let freed = try run(keeping: false)
        XCTAssertNil(freed.identity)
        XCTAssertNil(freed.large)
        XCTAssertNil(freed.largeTensor)
        XCTAssertNil(freed.small)
        XCTAssertNil(freed.smallTensor)
    }
}
