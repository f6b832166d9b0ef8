import IR
import Interpreter
import Passes
import XCTest

/// ShapeFolding: Shape/Size of statically shaped values become constants; with ConstantFolding the whole
/// shape-computation chain disappears. Shapes are exact integers, so outputs compare exactly.
final class ShapeFoldingTests: XCTestCase {
    /// y = Reshape(x, Concat([-1], Unsqueeze(Gather(Shape(x), 1)))): flattens all but dim 1.
    private func makeShapeChain(xShape: [Dim]) throws -> Model {
        let b = GraphBuilder()
        let x = Value(name: "x", type: .tensor(.float, Shape(xShape)))
        b.graph.inputs = [x]
        let shape = b.node("Shape", [x])
        let dim = b.node("Gather", [shape, b.constant("one", Tensor(int64s: [1], shape: []))], attributes: [Attribute("axis", .int(0))])
        let unsqueezed = b.node("Unsqueeze", [dim, b.constant("axes", int64s: [0])])
        let target = b.node("Concat", [b.constant("minus_one", int64s: [-1]), unsqueezed], attributes: [Attribute("axis", .int(0))])
        b.output(b.node("Reshape", [x, target], named: "y"))
        return try b.model()
    }

    func testShapeOfStaticValueBecomesConstantAndChainFolds() throws {
        let model = try makeShapeChain(xShape: [.known(2), .known(3), .known(4)])
        let input = Tensor(floats: testFloats(24), shape: [2, 3, 4])
        XCTAssertTrue(try checkPass(ShapeFolding(), on: model, inputs: [input]).changed)
        XCTAssertEqual(opTypes(model), ["Gather", "Unsqueeze", "Concat", "Reshape"])
        XCTAssertTrue(try checkPass(ConstantFolding(), on: model, inputs: [input]).changed)
        XCTAssertEqual(opTypes(model), ["Reshape"])
        let target = try XCTUnwrap(model.graph.nodes[0].input(1)?.initializer)
        XCTAssertEqual(target.int64Values(), [-1, 3])
    }

    func testDynamicShapeIsLeftAlone() throws {
        let model = try makeShapeChain(xShape: [.symbolic("batch"), .known(3), .known(4)])
        let input = Tensor(floats: testFloats(24), shape: [2, 3, 4])
        XCTAssertFalse(try checkPass(ShapeFolding(), on: model, inputs: [input]).changed)
        XCTAssertEqual(opTypes(model), ["Shape", "Gather", "Unsqueeze", "Concat", "Reshape"])
    }

    func testSizeAndShapeWithStartEnd() throws {
        let b = GraphBuilder()
        let x = b.input("x", [2, 3, 5])
        let size = b.node("Size", [x])
        let tail = b.node("Shape", [x], attributes: [Attribute("start", .int(-2))])
        let middle = b.node("Shape", [x], attributes: [Attribute("start", .int(1)), Attribute("end", .int(2))])
        let asFloat = b.node("Cast", [b.node("Concat", [b.node("Unsqueeze", [size, b.constant("axes", int64s: [0])]), tail, middle],
                                             attributes: [Attribute("axis", .int(0))])],
                             attributes: [Attribute("to", .int(Int64(ElementType.float.rawValue)))])
        b.output(b.node("ReduceSum", [x], attributes: [Attribute("keepdims", .int(0))], named: "sum"), asFloat)
        let model = try b.model(opset: 15)
        let result = try checkPass(ShapeFolding(), on: model, inputs: [Tensor(floats: testFloats(30), shape: [2, 3, 5])])
        XCTAssertTrue(result.changed)
        XCTAssertEqual(result.after[1].floatValues(), [30, 3, 5, 3])
        XCTAssertFalse(opTypes(model).contains("Shape"))
        XCTAssertFalse(opTypes(model).contains("Size"))
        XCTAssertEqual(model.graph.initializer(named: size.name)?.initializer?.shape, [])
    }

    func testShapeThatIsAGraphOutputStays() throws {
        let b = GraphBuilder()
        let x = b.input("x", [2, 3])
        b.output(b.node("Shape", [x], named: "dims"))
        let model = try b.model()
        XCTAssertFalse(try checkPass(ShapeFolding(), on: model, inputs: [Tensor(floats: testFloats(6), shape: [2, 3])]).changed)
        XCTAssertEqual(opTypes(model), ["Shape"])
    }
}
