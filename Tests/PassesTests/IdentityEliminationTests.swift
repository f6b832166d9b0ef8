import IR
import Interpreter
import Passes
import XCTest

/// IdentityElimination: pass-through nodes go and their readers read the input; graph outputs keep their names.
/// Only data that was already there is forwarded, so outputs compare exactly.
final class IdentityEliminationTests: XCTestCase {
    private let input = Tensor(floats: testFloats(24, seed: 7), shape: [2, 3, 4])

    /// x -> Relu -> <op under test> -> Sigmoid -> y
    private func sandwich(_ build: (GraphBuilder, Value) -> Value, opset: Int64 = 17) throws -> Model {
        let b = GraphBuilder()
        let x = b.input("x", [2, 3, 4])
        let relu = b.node("Relu", [x], named: "relu")
        b.output(b.node("Sigmoid", [build(b, relu)], named: "y"))
        return try b.model(opset: opset)
    }

    func testRemovesPassThroughNodes() throws {
        let cases: [(String, (GraphBuilder, Value) -> Value)] = [
            ("Identity", { b, v in b.node("Identity", [v]) }),
            ("Dropout", { b, v in b.nodes("Dropout", [v, b.constant("ratio", floats: [0.5], shape: [])], outputs: 2)[0] }),
            ("Cast", { b, v in b.node("Cast", [v], attributes: [Attribute("to", .int(Int64(ElementType.float.rawValue)))]) }),
            ("CastLike", { b, v in b.node("CastLike", [v, b.constant("like", floats: [0], shape: [1])]) }),
            ("Reshape", { b, v in b.node("Reshape", [v, b.constant("same", int64s: [2, -1, 4])]) }),
            ("Expand", { b, v in b.node("Expand", [v, b.constant("to", int64s: [3, 1])]) }),
            ("Transpose", { b, v in b.node("Transpose", [v], attributes: [Attribute("perm", .ints([0, 1, 2]))]) }),
            ("Slice", { b, v in b.node("Slice", [v, b.constant("starts", int64s: [0]), b.constant("ends", int64s: [Int64.max]),
                                                 b.constant("axes", int64s: [1]), b.constant("steps", int64s: [1])]) }),
            ("Pad", { b, v in b.node("Pad", [v, b.constant("pads", int64s: [0, 0, 0, 0, 0, 0])]) }),
            ("Tile", { b, v in b.node("Tile", [v, b.constant("repeats", int64s: [1, 1, 1])]) }),
            ("Concat", { b, v in b.node("Concat", [v], attributes: [Attribute("axis", .int(0))]) }),
        ]
        for (op, build) in cases {
            let model = try sandwich(build)
            XCTAssertTrue(try checkPass(IdentityElimination(), on: model, inputs: [input]).changed, op)
            XCTAssertEqual(opTypes(model), ["Relu", "Sigmoid"], op)
            XCTAssertEqual(model.graph.nodes[1].input(0)?.name, "relu", op)
        }
    }

    func testKeepsNodesThatChangeData() throws {
        let cases: [(String, (GraphBuilder, Value) -> Value)] = [
            ("Cast", { b, v in b.node("Cast", [b.node("Cast", [v], attributes: [Attribute("to", .int(Int64(ElementType.float16.rawValue)))])],
                                      attributes: [Attribute("to", .int(Int64(ElementType.float.rawValue)))]) }),
            ("Transpose", { b, v in b.node("Transpose", [v], attributes: [Attribute("perm", .ints([0, 2, 1]))]) }),
            ("Slice", { b, v in b.node("Slice", [v, b.constant("starts", int64s: [-1]), b.constant("ends", int64s: [Int64.min]),
                                                 b.constant("axes", int64s: [1]), b.constant("steps", int64s: [-1])]) }),
            ("Pad", { b, v in b.node("Pad", [v, b.constant("pads", int64s: [0, 0, 1, 0, 0, 0])]) }),
            ("Reshape", { b, v in b.node("Reshape", [v, b.constant("other", int64s: [6, 4])]) }),
        ]
        for (op, build) in cases {
            let model = try sandwich(build)
            let before = opTypes(model)
            let result = try checkPass(IdentityElimination(), on: model, inputs: [input])
            // Casts between different types (the f32->f16->f32 round trip rounds) are not pass-throughs.
            XCTAssertFalse(result.changed, op)
            XCTAssertEqual(opTypes(model), before, op)
        }
    }

    func testDropoutNeedsInferenceModeAndUnusedMask() throws {
        let b = GraphBuilder()
        let x = b.input("x", [4])
        let training = b.input("training", [], .bool)
        let trained = b.node("Dropout", [x, b.constant("ratio", floats: [0.5], shape: []), training])
        let masked = b.nodes("Dropout", [x], outputs: 2)
        let maskAsFloat = b.node("Cast", [masked[1]], attributes: [Attribute("to", .int(Int64(ElementType.float.rawValue)))])
        b.output(b.node("Add", [trained, b.node("Add", [masked[0], maskAsFloat])], named: "y"))
        let model = try b.model()
        let inputs = [Tensor(floats: [1, 2, 3, 4], shape: [4]), Tensor(.bool, shape: [], values: [UInt8(0)])]
        XCTAssertFalse(try checkPass(IdentityElimination(), on: model, inputs: inputs).changed)
        XCTAssertEqual(opTypes(model).filter { $0 == "Dropout" }.count, 2)
    }

    func testGraphOutputKeepsItsName() throws {
        let b = GraphBuilder()
        let x = b.input("x", [2, 3, 4])
        let relu = b.node("Relu", [x], named: "relu")
        b.output(b.node("Identity", [relu], named: "y"))
        let model = try b.model()
        XCTAssertTrue(try checkPass(IdentityElimination(), on: model, inputs: [input]).changed)
        XCTAssertEqual(opTypes(model), ["Relu"])
        XCTAssertEqual(model.graph.outputs.map(\.name), ["y"])
        XCTAssertTrue(model.graph.outputs[0] === relu, "the Relu output took over the name")
    }

    func testInputThatIsAlsoAnOutputKeepsAnIdentity() throws {
        let b = GraphBuilder()
        let x = b.input("x", [2, 3, 4])
        b.output(b.node("Reshape", [x, b.constant("same", int64s: [2, 3, 4])], named: "y"),
                 b.node("Identity", [x], named: "z"))
        let model = try b.model()
        XCTAssertTrue(try checkPass(IdentityElimination(), on: model, inputs: [input]).changed)
        XCTAssertEqual(opTypes(model), ["Identity", "Identity"])
        XCTAssertEqual(model.graph.outputs.map(\.name), ["y", "z"])
        XCTAssertFalse(try checkPass(IdentityElimination(), on: model, inputs: [input]).changed, "fixed point")
    }
}
