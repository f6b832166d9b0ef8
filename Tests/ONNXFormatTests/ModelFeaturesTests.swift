import Foundation
import IR
import ONNXFormat
import XCTest

/// IR features that must survive write → read: functions with attribute references, subgraphs reading outer
/// values, metadata, doc strings, absent optional inputs, and every ValueType kind.
final class ModelFeaturesTests: XCTestCase {
    private func roundTrip(_ model: Model) throws -> Model {
        let bytes = try ONNXWriter.serialize(model)
        let loaded = try ONNXReader.load(bytes: bytes, label: "features.onnx")
        XCTAssertEqual(try ONNXWriter.serialize(loaded), bytes, "second serialization differs")
        return loaded
    }

    func testMetadataTypesAndOptionalInputs() throws {
        let graph = Graph(name: "main")
        graph.docString = "the graph"
        let x = Value(name: "x", type: .tensor(.float, Shape([.symbolic("batch"), .unknown, .known(4)])))
        x.docString = "input doc"
        x.metadataProps = [("layout", "NCW")]
        let seq = Value(name: "s", type: .sequence(.tensor(.int64, nil)))
        let opt = Value(name: "o", type: .optional(.tensor(.float, Shape([2]))))
        let map = Value(name: "m", type: .map(key: .string, value: .tensor(.float, Shape([Dim]()))))
        graph.inputs = [x, seq, opt, map]
        let y = Value(name: "y", type: .tensor(.float, nil))
        let mid = Value(name: "mid", type: .tensor(.float, Shape([.symbolic("batch"), .unknown, .known(4)])))
        let clip = Node("Clip", name: "clip", inputs: [x, nil, nil], outputs: [mid])
        clip.docString = "clip doc"
        clip.metadataProps = [("k", "v")]
        graph.append(clip)
        graph.append(Node("Relu", name: "relu", inputs: [mid], outputs: [y]))
        graph.outputs = [y]
        let model = Model(graph: graph)
        model.opsetImports = [OpsetImport(domain: "", version: 18), OpsetImport(domain: "com.example", version: 1)]
        model.producerName = "mcc-test"
        model.producerVersion = "1"
        model.docString = "model doc"
        model.modelVersion = 3
        model.metadataProps = [("author", "me"), ("license", "MIT")]

        let loaded = try roundTrip(model)
        XCTAssertEqual(loaded.opsetImports, model.opsetImports)
        XCTAssertEqual(loaded.producerName, "mcc-test")
        XCTAssertEqual(loaded.modelVersion, 3)
        XCTAssertEqual(loaded.docString, "model doc")
        XCTAssertEqual(loaded.metadataProps.map { "\($0)=\($1)" }, ["author=me", "license=MIT"])
        XCTAssertEqual(loaded.graph.docString, "the graph")
        XCTAssertEqual(loaded.graph.inputs.map(\.type), [x.type, seq.type, opt.type, map.type])
        XCTAssertEqual(loaded.graph.inputs[0].docString, "input doc")
        XCTAssertEqual(loaded.graph.inputs[0].metadataProps.map(\.1), ["NCW"])
        XCTAssertEqual(loaded.graph.outputs[0].type, .tensor(.float, nil))
        let loadedClip = loaded.graph.nodes[0]
        XCTAssertEqual(loadedClip.inputs.count, 3)
        XCTAssertNil(loadedClip.input(1))
        XCTAssertEqual(loadedClip.docString, "clip doc")
        XCTAssertEqual(loadedClip.outputs[0].type, mid.type, "value_info of an intermediate value")
    }

    func testSubgraphReadsOuterValue() throws {
        let graph = Graph(name: "main")
        let cond = Value(name: "cond", type: .tensor(.bool, Shape([Dim]())))
        let x = Value(name: "x", type: .tensor(.float, Shape([2])))
        graph.inputs = [cond, x]
        let doubled = Value(name: "doubled", type: .tensor(.float, Shape([2])))
        graph.append(Node("Add", name: "double", inputs: [x, x], outputs: [doubled]))

        func branch(_ name: String, _ op: String) -> Graph {
            let g = Graph(name: name)
            let out = Value(name: "\(name)_out", type: .tensor(.float, Shape([2])))
            g.append(Node(op, name: "\(name)_op", inputs: [doubled], outputs: [out]))  // outer value
            g.outputs = [out]
            return g
        }
        let result = Value(name: "result", type: .tensor(.float, Shape([2])))
        graph.append(Node("If", name: "if", inputs: [cond], outputs: [result], attributes: [
            Attribute("then_branch", .graph(branch("then", "Relu"))),
            Attribute("else_branch", .graph(branch("else", "Neg"))),
        ]))
        graph.outputs = [result]
        let model = Model(graph: graph)
        model.opsetImports = [OpsetImport(domain: "", version: 17)]

        let loaded = try roundTrip(model)
        let outer = try XCTUnwrap(loaded.graph.nodes.first { $0.name == "double" }?.outputs.first)
        let ifNode = try XCTUnwrap(loaded.graph.nodes.first { $0.opType == "If" })
        for sub in ifNode.subgraphs {
            XCTAssertTrue(sub.nodes[0].inputs[0] === outer, "\(sub.name) should read the outer Value object")
        }
        XCTAssertEqual(outer.uses.count, 2)
        XCTAssertEqual(loaded.graph.allNodes().count, 4)
    }

    func testFunctionsAndAttributeReferences() throws {
        let body = Graph(name: "ScaledRelu")
        let fx = Value(name: "X"), fy = Value(name: "Y"), scaled = Value(name: "scaled")
        let alpha = Value(name: "alpha")
        body.inputs = [fx]
        body.append(Node("Constant", name: "alpha_const", outputs: [alpha], attributes: [
            Attribute("value_float", .float(0), refAttrName: "alpha"),
        ]))
        body.append(Node("Mul", inputs: [fx, alpha], outputs: [scaled]))
        body.append(Node("Relu", inputs: [scaled], outputs: [fy]))
        body.outputs = [fy]
        let function = Function(name: "ScaledRelu", domain: "custom", body: body)
        function.attributeDefaults = [Attribute("alpha", .float(2))]
        function.opsetImports = [OpsetImport(domain: "", version: 18)]
        function.docString = "relu(alpha * x)"

        let graph = Graph(name: "main")
        let x = Value(name: "x", type: .tensor(.float, Shape([3])))
        let y = Value(name: "y", type: .tensor(.float, Shape([3])))
        let c = Value(name: "c")
        graph.inputs = [x]
        graph.append(Node("Constant", name: "const", outputs: [c], attributes: [
            Attribute("value", .tensor(Tensor(floats: [1, 2, 3], shape: [3]))),
        ]))
        let cx = Value(name: "cx")
        graph.append(Node("Add", inputs: [x, c], outputs: [cx]))
        graph.append(Node("ScaledRelu", domain: "custom", name: "call", inputs: [cx], outputs: [y], attributes: [
            Attribute("alpha", .float(0.5)),
        ]))
        graph.outputs = [y]
        let model = Model(graph: graph)
        model.opsetImports = [OpsetImport(domain: "", version: 18), OpsetImport(domain: "custom", version: 1)]
        model.functions = [function]

        let loaded = try roundTrip(model)
        let f = try XCTUnwrap(loaded.functions.first)
        XCTAssertEqual(f.name, "ScaledRelu")
        XCTAssertEqual(f.domain, "custom")
        XCTAssertEqual(f.docString, "relu(alpha * x)")
        XCTAssertEqual(f.attributeDefaults.first?.float, 2)
        XCTAssertEqual(f.body.inputs.map(\.name), ["X"])
        XCTAssertEqual(f.body.outputs.map(\.name), ["Y"])
        XCTAssertEqual(f.body.nodes[0].attributes.first?.refAttrName, "alpha")
        XCTAssertTrue(f.body.nodes[1].inputs[0] === f.body.inputs[0])
        let constant = try XCTUnwrap(loaded.graph.nodes.first { $0.opType == "Constant" }?.attribute("value")?.tensor)
        XCTAssertEqual(constant.scalars(as: Float.self), [1, 2, 3])
    }

    func testIRVersion3ListsInitializersAsInputs() throws {
        let model = makeAddModel()
        model.irVersion = 3
        model.opsetImports = [OpsetImport(domain: "", version: 8)]
        let loaded = try roundTrip(model)
        XCTAssertEqual(loaded.graph.inputs.map(\.name), ["x"], "initializer inputs are dropped on read")
        XCTAssertEqual(loaded.graph.initializers.first?.initializer?.scalars(as: Float.self), [1, 2, 3, 4, 5, 6])
    }

    func testWriteIsAtomicAndReadable() throws {
        let directory = try makeTemporaryDirectory(self)
        let path = "\(directory)/m.onnx"
        try ONNXWriter.write(makeAddModel(), to: path)
        try ONNXWriter.write(makeAddModel(weights: [6, 5, 4, 3, 2, 1]), to: path)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory)
        XCTAssertEqual(files, ["m.onnx"], "no temporary files left behind")
        let loaded = try ONNXReader.load(path: path)
        XCTAssertEqual(loaded.graph.initializers[0].initializer?.scalars(as: Float.self), [6, 5, 4, 3, 2, 1])
    }
}
