import IR
import Interpreter
import Passes
import XCTest

/// UnusedInitializerRemoval: initializers nobody reads go; those read by nodes or subgraphs, and those that are
/// graph inputs or outputs, stay. Data is untouched, so outputs compare exactly.
final class UnusedInitializerRemovalTests: XCTestCase {
    func testRemovesOnlyUnreadInitializers() throws {
        let b = GraphBuilder()
        let x = b.input("x", [2])
        let cond = b.input("cond", [], .bool)
        let used = b.constant("used", floats: [1, 2], shape: [2])
        b.constant("unused", floats: [3, 4], shape: [2])
        let capturedOnly = b.constant("captured", floats: [5, 6], shape: [2])
        let overridable = b.constant("default_input", floats: [7, 8], shape: [2])
        b.graph.inputs.append(overridable)
        let thenBranch = GraphBuilder(name: "then")
        thenBranch.constant("unused_inner", floats: [0], shape: [1])
        thenBranch.output(thenBranch.node("Add", [x, capturedOnly], named: "then_out"))
        let elseBranch = GraphBuilder(name: "else")
        elseBranch.output(elseBranch.node("Identity", [x], named: "else_out"))
        let chosen = b.node("If", [cond], attributes: [Attribute("then_branch", .graph(thenBranch.graph)),
                                                        Attribute("else_branch", .graph(elseBranch.graph))])
        b.output(b.node("Mul", [chosen, used], named: "y"))
        let model = try b.model()
        let inputs = [Tensor(floats: [1, 2], shape: [2]), Tensor(.bool, shape: [], values: [UInt8(1)]),
                      Tensor(floats: [7, 8], shape: [2])]
        XCTAssertTrue(try checkPass(UnusedInitializerRemoval(), on: model, inputs: inputs).changed)
        XCTAssertEqual(model.graph.initializers.map(\.name), ["used", "captured", "default_input"])
        XCTAssertEqual(thenBranch.graph.initializers.map(\.name), [])
        XCTAssertFalse(try checkPass(UnusedInitializerRemoval(), on: model, inputs: inputs).changed)
    }
}
