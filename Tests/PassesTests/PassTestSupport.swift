import IR
import Interpreter
import Passes
import XCTest

/// Builds small models in code for pass tests: inputs, initializers, nodes with generated output names.
final class GraphBuilder {
    let graph: Graph
    private var counter = 0

    init(name: String = "main") { graph = Graph(name: name) }

    @discardableResult
    func input(_ name: String, _ shape: [Int], _ elementType: ElementType = .float) -> Value {
        let value = Value(name: name, type: .tensor(elementType, Shape(shape)))
        graph.inputs.append(value)
        return value
    }

    @discardableResult
    func constant(_ name: String, _ tensor: Tensor) -> Value {
        let value = Value(name: name, initializer: tensor)
        graph.initializers.append(value)
        return value
    }

    @discardableResult
    func constant(_ name: String, floats: [Float], shape: [Int]) -> Value {
        constant(name, Tensor(floats: floats, shape: shape))
    }

    @discardableResult
    func constant(_ name: String, int64s: [Int64], shape: [Int]? = nil) -> Value {
        constant(name, Tensor(int64s: int64s, shape: shape ?? [int64s.count]))
    }

    /// Appends a node with `outputs` fresh output values; returns them.
    @discardableResult
    func nodes(_ opType: String, _ inputs: [Value?], outputs: Int, domain: String = "",
               attributes: [Attribute] = [], named outputNames: [String]? = nil) -> [Value] {
        counter += 1
        let names = outputNames ?? (0..<outputs).map { "\(opType.lowercased())\(counter)_\($0)" }
        let values = names.map { Value(name: $0) }
        graph.append(Node(opType, domain: domain, name: "\(opType.lowercased())\(counter)", inputs: inputs,
                          outputs: values, attributes: attributes))
        return values
    }

    /// Appends a single-output node; returns its output.
    @discardableResult
    func node(_ opType: String, _ inputs: [Value?], domain: String = "", attributes: [Attribute] = [],
              named name: String? = nil) -> Value {
        nodes(opType, inputs, outputs: 1, domain: domain, attributes: attributes, named: name.map { [$0] })[0]
    }

    func output(_ values: Value...) { graph.outputs += values }

    /// The model with opset `opset`, types filled by shape inference as the driver does before the pipeline.
    func model(opset: Int64 = 17) throws -> Model {
        let model = Model(graph: graph)
        model.opsetImports = [OpsetImport(domain: "", version: opset)]
        try ShapeInference().run(on: model)
        try Verifier.verify(model)
        return model
    }
}

/// Runs one pass the way the pass manager does in tests (verifier after it) and checks numerical equivalence.
struct PassCheck {
    var changed: Bool
    var before: [Tensor]
    var after: [Tensor]
    var context: PassContext
}

/// Runs `pass` on `model`, verifying the result and comparing interpreter outputs on `inputs` before and after.
/// `tolerance` is the allowed max |a-b|; passes that move or fold data with the same kernels are exact (0).
@discardableResult
func checkPass(_ pass: any Pass, on model: Model, inputs: [Tensor], tolerance: Float = 0,
               options: PassOptions = PassOptions(), file: StaticString = #filePath, line: UInt = #line) throws -> PassCheck {
    let before = try Interpreter(model: model).run(inputs)
    let context = PassContext(opset: model.defaultOpset, options: options)
    var manager = PassManager(verifyEach: true)
    let changed = try manager.run(Pipeline(name: "test", passes: [pass]), on: model, context: context)
    try Verifier.verify(model)
    let after = try Interpreter(model: model).run(inputs)
    assertClose(after, before, tolerance: tolerance, file: file, line: line)
    return PassCheck(changed: changed, before: before, after: after, context: context)
}

func assertClose(_ got: [Tensor], _ expected: [Tensor], tolerance: Float, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(got.count, expected.count, "output count", file: file, line: line)
    for (k, (a, b)) in zip(got, expected).enumerated() {
        XCTAssertEqual(a.elementType, b.elementType, "output \(k) element type", file: file, line: line)
        XCTAssertEqual(a.shape, b.shape, "output \(k) shape", file: file, line: line)
        let x = a.floatValues(), y = b.floatValues()
        let worst = zip(x, y).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, tolerance, "output \(k) differs by \(worst)", file: file, line: line)
    }
}

/// Op types of the main graph's nodes, in order.
func opTypes(_ model: Model) -> [String] { model.graph.nodes.map(\.opType) }

/// Deterministic pseudo-random floats in [-1, 1) (tests must not depend on the run).
func testFloats(_ count: Int, seed: UInt64 = 1) -> [Float] {
    var state = seed &* 6364136223846793005 &+ 1442695040888963407
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int64(bitPattern: state >> 11) % 2000) / 1000 - 1
    }
}
