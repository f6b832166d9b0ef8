import IR
import Interpreter
import Passes
import XCTest

/// ConstantFolding: nodes on constants become initializers computed by the interpreter's kernels. Folding runs the
/// very kernels the interpreter would run, so outputs before and after are compared exactly (tolerance 0).
final class ConstantFoldingTests: XCTestCase {
    func testFoldsArithmeticOnInitializers() throws {
        let b = GraphBuilder()
        let x = b.input("x", [2, 3])
        let c1 = b.constant("c1", floats: [1, 2, 3], shape: [3])
        let c2 = b.constant("c2", floats: [0.5, 0.25, 4], shape: [3])
        let sum = b.node("Add", [c1, c2], named: "bias")
        let scaled = b.node("Mul", [sum, b.constant("two", floats: [2], shape: [])])
        b.output(b.node("Add", [x, scaled], named: "y"))
        let model = try b.model()
        let result = try checkPass(ConstantFolding(), on: model, inputs: [Tensor(floats: testFloats(6), shape: [2, 3])])
        XCTAssertTrue(result.changed)
        XCTAssertEqual(opTypes(model), ["Add"])
        let folded = try XCTUnwrap(model.graph.initializer(named: scaled.name))
        XCTAssertEqual(folded.initializer?.floatValues(), [3, 4.5, 14])
        XCTAssertEqual(folded.type, .tensor(.float, Shape([3])))
        XCTAssertEqual(model.graph.outputs.map(\.name), ["y"])
    }

    func testConstantNodesBecomeInitializers() throws {
        let b = GraphBuilder()
        let x = b.input("x", [4])
        let k = b.node("Constant", [], attributes: [Attribute("value", .tensor(Tensor(floats: [1, -1, 2, -2], shape: [4])))])
        let axes = b.node("Constant", [], attributes: [Attribute("value_ints", .ints([0]))])
        let unsqueezed = b.node("Unsqueeze", [k, axes])
        b.output(b.node("Mul", [x, unsqueezed], named: "y"))
        let model = try b.model()
        let result = try checkPass(ConstantFolding(), on: model, inputs: [Tensor(floats: [1, 2, 3, 4], shape: [4])])
        XCTAssertTrue(result.changed)
        XCTAssertEqual(opTypes(model), ["Mul"])
        XCTAssertEqual(model.graph.initializer(named: unsqueezed.name)?.initializer?.shape, [1, 4])
    }

    func testLeavesNodesWithRuntimeInputsAlone() throws {
        let b = GraphBuilder()
        let x = b.input("x", [3])
        let c = b.constant("c", floats: [1, 2, 3], shape: [3])
        b.output(b.node("Add", [x, c], named: "y"))
        let model = try b.model()
        let result = try checkPass(ConstantFolding(), on: model, inputs: [Tensor(floats: [1, 1, 1], shape: [3])])
        XCTAssertFalse(result.changed)
        XCTAssertEqual(opTypes(model), ["Add"])
    }

    func testDoesNotFoldRandomOps() throws {
        // The interpreter has no random kernels, so this checks the exclusion happens before evaluation: no change
        // and no "evaluation failed" warning.
        let b = GraphBuilder()
        let x = b.input("x", [2])
        let noise = b.node("RandomNormal", [], attributes: [Attribute("shape", .ints([2])), Attribute("seed", .float(3))])
        b.output(b.node("Add", [x, noise], named: "y"))
        let model = try b.model()
        let context = PassContext(opset: 17)
        XCTAssertFalse(try ConstantFolding().run(on: model, context: context))
        XCTAssertEqual(context.warnings, [])
        XCTAssertEqual(opTypes(model), ["RandomNormal", "Add"])
    }

    func testDoesNotFoldGraphOutputs() throws {
        let b = GraphBuilder()
        let x = b.input("x", [2])
        let direct = b.node("Constant", [], attributes: [Attribute("value_float", .float(7))], named: "seven")
        b.output(b.node("Neg", [x], named: "y"), direct)
        let model = try b.model()
        let result = try checkPass(ConstantFolding(), on: model, inputs: [Tensor(floats: [1, 2], shape: [2])])
        XCTAssertFalse(result.changed)
        XCTAssertEqual(opTypes(model), ["Constant", "Neg"])
        XCTAssertEqual(model.graph.outputs.map(\.name), ["y", "seven"])
    }

    func testInitializerThatIsAlsoAGraphInputIsNotConstant() throws {
        let b = GraphBuilder()
        let x = b.input("x", [2])
        let overridable = b.constant("w", floats: [1, 2], shape: [2])
        b.graph.inputs.append(overridable)
        let doubled = b.node("Add", [overridable, overridable])
        b.output(b.node("Mul", [x, doubled], named: "y"))
        let model = try b.model()
        let result = try checkPass(ConstantFolding(), on: model,
                                   inputs: [Tensor(floats: [1, 2], shape: [2]), Tensor(floats: [5, 6], shape: [2])])
        XCTAssertFalse(result.changed)
        XCTAssertEqual(opTypes(model), ["Add", "Mul"])
    }

    func testGrowthLimitKeepsLargeBroadcasts() throws {
        func makeModel() throws -> Model {
            let b = GraphBuilder()
            let x = b.input("x", [1, 1024])
            let shape = b.constant("shape", int64s: [1, 1024])
            let filled = b.node("ConstantOfShape", [shape], attributes: [Attribute("value", .tensor(Tensor(floats: [0.5], shape: [1])))])
            b.output(b.node("Add", [x, filled], named: "y"))
            return try b.model()
        }
        let input = Tensor(floats: testFloats(1024), shape: [1, 1024])
        // 4 KiB of output from 16 bytes of input exceeds a 1 KiB growth allowance: kept.
        let small = try makeModel()
        XCTAssertFalse(try checkPass(ConstantFolding(maxGrowthBytes: 1024), on: small, inputs: [input]).changed)
        XCTAssertEqual(opTypes(small), ["ConstantOfShape", "Add"])
        // Within the default 1 MiB allowance: folded.
        let large = try makeModel()
        XCTAssertTrue(try checkPass(ConstantFolding(), on: large, inputs: [input]).changed)
        XCTAssertEqual(opTypes(large), ["Add"])
    }

    func testFoldsInsideSubgraphsButNotTheIfItself() throws {
        let b = GraphBuilder()
        let x = b.input("x", [2])
        let cond = b.input("cond", [], .bool)
        let c = b.constant("c", floats: [3, 4], shape: [2])

        let thenBranch = GraphBuilder(name: "then")
        let negated = thenBranch.node("Neg", [c])  // reads an outer constant
        thenBranch.output(thenBranch.node("Add", [x, negated], named: "then_out"))
        let elseBranch = GraphBuilder(name: "else")
        elseBranch.output(elseBranch.node("Identity", [x], named: "else_out"))
        b.output(b.node("If", [cond], attributes: [Attribute("then_branch", .graph(thenBranch.graph)),
                                                   Attribute("else_branch", .graph(elseBranch.graph))], named: "y"))
        let model = try b.model()
        for flag in [true, false] {
            let inputs = [Tensor(floats: [1, 2], shape: [2]), Tensor(.bool, shape: [], values: [UInt8(flag ? 1 : 0)])]
            _ = try checkPass(ConstantFolding(), on: model, inputs: inputs)
        }
        XCTAssertEqual(opTypes(model), ["If"])
        XCTAssertEqual(thenBranch.graph.nodes.map(\.opType), ["Add"])
        XCTAssertEqual(thenBranch.graph.initializer(named: negated.name)?.initializer?.floatValues(), [-3, -4])
    }

    func testFailingEvaluationWarnsAndKeepsNode() throws {
        let b = GraphBuilder()
        let x = b.input("x", [2])
        let data = b.constant("data", floats: [1, 2, 3], shape: [3])
        let badShape = b.constant("bad_shape", int64s: [2, 2])
        let reshaped = b.node("Reshape", [data, badShape])
        b.output(b.node("Add", [x, b.node("ReduceSum", [reshaped])], named: "y"))
        let model = Model(graph: b.graph)
        model.opsetImports = [OpsetImport(domain: "", version: 17)]
        let context = PassContext(opset: 17)
        XCTAssertFalse(try ConstantFolding().run(on: model, context: context))
        XCTAssertEqual(opTypes(model), ["Reshape", "ReduceSum", "Add"])
        XCTAssertEqual(context.warnings.count, 1)
        XCTAssertTrue(context.warnings[0].contains("Reshape"), context.warnings[0])
    }
}
