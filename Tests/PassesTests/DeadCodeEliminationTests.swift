import IR
import Interpreter
import Passes
import XCTest

/// DeadCodeElimination: unused nodes go, whole chains at once; graph outputs, values captured by subgraphs and
/// custom-domain nodes stay. Removing unused nodes cannot change any output, so results compare exactly.
final class DeadCodeEliminationTests: XCTestCase {
    func testRemovesDeadChain() throws {
        let b = GraphBuilder()
        let x = b.input("x", [4])
        let relu = b.node("Relu", [x])
        b.node("Sigmoid", [b.node("Neg", [relu])])  // nobody reads this chain's end
        b.output(b.node("Abs", [x], named: "y"))
        let model = try b.model()
        let result = try checkPass(DeadCodeElimination(), on: model, inputs: [Tensor(floats: [-1, 0, 1, 2], shape: [4])])
        XCTAssertTrue(result.changed)
        XCTAssertEqual(opTypes(model), ["Abs"])
        XCTAssertEqual(x.uses.count, 1)
    }

    func testKeepsGraphOutputsAndCustomOps() throws {
        let b = GraphBuilder()
        let x = b.input("x", [4])
        let relu = b.node("Relu", [x], named: "first")
        b.node("Logger", [relu], domain: "com.example")  // unknown domain: may have effects
        b.output(relu, b.node("Abs", [relu], named: "second"))
        let model = Model(graph: b.graph)
        model.opsetImports = [OpsetImport(domain: "", version: 17), OpsetImport(domain: "com.example", version: 1)]
        XCTAssertFalse(try DeadCodeElimination().run(on: model, context: PassContext(opset: 17)))
        try Verifier.verify(model)
        XCTAssertEqual(opTypes(model), ["Relu", "Logger", "Abs"])
    }

    func testValuesCapturedBySubgraphsStayAndDeadSubgraphNodesGo() throws {
        let b = GraphBuilder()
        let x = b.input("x", [2])
        let cond = b.input("cond", [], .bool)
        let captured = b.node("Neg", [x], named: "negx")  // only read inside the then-branch
        let thenBranch = GraphBuilder(name: "then")
        thenBranch.node("Exp", [captured])  // dead inside the branch
        thenBranch.output(thenBranch.node("Add", [x, captured], named: "then_out"))
        let elseBranch = GraphBuilder(name: "else")
        elseBranch.output(elseBranch.node("Identity", [x], named: "else_out"))
        b.output(b.node("If", [cond], attributes: [Attribute("then_branch", .graph(thenBranch.graph)),
                                                   Attribute("else_branch", .graph(elseBranch.graph))], named: "y"))
        let model = try b.model()
        let inputs = [Tensor(floats: [1, 2], shape: [2]), Tensor(.bool, shape: [], values: [UInt8(1)])]
        XCTAssertTrue(try checkPass(DeadCodeElimination(), on: model, inputs: inputs).changed)
        XCTAssertEqual(opTypes(model), ["Neg", "If"])
        XCTAssertEqual(thenBranch.graph.nodes.map(\.opType), ["Add"])
        XCTAssertFalse(try checkPass(DeadCodeElimination(), on: model, inputs: inputs).changed)
    }

    func testDeadIfTakesItsCapturesWithIt() throws {
        let b = GraphBuilder()
        let x = b.input("x", [2])
        let cond = b.input("cond", [], .bool)
        let captured = b.node("Neg", [x])
        let thenBranch = GraphBuilder(name: "then")
        thenBranch.output(thenBranch.node("Identity", [captured], named: "then_out"))
        let elseBranch = GraphBuilder(name: "else")
        elseBranch.output(elseBranch.node("Identity", [x], named: "else_out"))
        b.node("If", [cond], attributes: [Attribute("then_branch", .graph(thenBranch.graph)),
                                          Attribute("else_branch", .graph(elseBranch.graph))])
        b.output(b.node("Abs", [x], named: "y"))
        let model = try b.model()
        let inputs = [Tensor(floats: [1, -2], shape: [2]), Tensor(.bool, shape: [], values: [UInt8(0)])]
        XCTAssertTrue(try checkPass(DeadCodeElimination(), on: model, inputs: inputs).changed)
        XCTAssertEqual(opTypes(model), ["Abs"])
    }
}
