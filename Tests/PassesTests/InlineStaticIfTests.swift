import IR
import Interpreter
import Passes
import XCTest

/// InlineStaticIf: an If whose condition follows from shapes is replaced by its taken branch; results are the same
/// before and after (checked with the interpreter), and the untaken branch's uses of outer values disappear.
final class InlineStaticIfTests: XCTestCase {
    /// y = If(Size(Shape(x)) == 2 known from x's static rank) { then: Identity(x) } else { Shape(x) as float... }.
    private func makeModel(rank: Int) -> (Model, Value) {
        let graph = Graph(name: "main")
        let x = Value(name: "x", type: .tensor(.float, Shape(Array(repeating: 2, count: rank))))
        graph.inputs = [x]
        let shape = Value(name: "shape")
        let size = Value(name: "size")
        let two = Value(name: "two", initializer: Tensor(int64s: [2], shape: []))
        let cond = Value(name: "cond")
        graph.initializers = [two]
        graph.append(Node("Shape", name: "shape_of_x", inputs: [x], outputs: [shape]))
        graph.append(Node("Size", name: "rank_of_x", inputs: [shape], outputs: [size]))
        graph.append(Node("Equal", name: "is_matrix", inputs: [size, two], outputs: [cond]))

        let thenBranch = Graph(name: "then")
        let thenOut = Value(name: "then_out")
        thenBranch.append(Node("Identity", name: "pass", inputs: [x], outputs: [thenOut]))
        thenBranch.outputs = [thenOut]
        let elseBranch = Graph(name: "else")
        let elseOut = Value(name: "else_out")
        elseBranch.append(Node("Flatten", name: "flat", inputs: [x], outputs: [elseOut]))
        elseBranch.outputs = [elseOut]

        let y = Value(name: "y")
        graph.append(Node("If", name: "choose", inputs: [cond], outputs: [y],
                          attributes: [Attribute("then_branch", .graph(thenBranch)), Attribute("else_branch", .graph(elseBranch))]))
        graph.outputs = [y]
        let model = Model(graph: graph)
        model.opsetImports = [OpsetImport(domain: "", version: 17)]
        return (model, x)
    }

    func testKnownConditionInlinesTakenBranch() throws {
        let (model, x) = makeModel(rank: 2)
        let report = try ShapeInference().run(on: model)
        XCTAssertEqual(report.staticIfConditions.values.first, true)
        XCTAssertEqual(x.uses.count, 3)  // Shape, then-branch Identity, else-branch Flatten
        XCTAssertTrue(InlineStaticIf(conditions: report.staticIfConditions).run(on: model))
        try Verifier.verify(model)
        XCTAssertFalse(model.graph.nodes.contains { $0.opType == "If" })
        XCTAssertEqual(x.uses.count, 2, "the untaken branch no longer uses x")
        XCTAssertEqual(model.graph.outputs.first?.name, "y")
        XCTAssertEqual(model.graph.outputs.first?.shape, Shape([2, 2]))
    }

    func testUnknownConditionIsLeftAlone() throws {
        let (model, _) = makeModel(rank: 2)
        XCTAssertFalse(InlineStaticIf(conditions: [:]).run(on: model))
        XCTAssertTrue(model.graph.nodes.contains { $0.opType == "If" })
    }

    func testResultsUnchanged() throws {
        for rank in [2, 3] {
            let (model, _) = makeModel(rank: rank)
            let input = Tensor(floats: (0..<(1 << rank)).map(Float.init), shape: Array(repeating: 2, count: rank))
            let before = try Interpreter(model: model).run([input])
            let report = try ShapeInference().run(on: model)
            InlineStaticIf(conditions: report.staticIfConditions).run(on: model)
            let after = try Interpreter(model: model).run([input])
            XCTAssertEqual(before[0].shape, after[0].shape)
            XCTAssertEqual(before[0].floatValues(), after[0].floatValues())
        }
    }
}
