import IR
import XCTest

/// Builds small graphs by hand for inference tests.
final class GraphBuilder {
    let graph = Graph(name: "test")
    private var counter = 0

    @discardableResult
    func input(_ name: String, _ elementType: ElementType = .float, _ dims: [Dim]?) -> Value {
        let v = Value(name: name, type: .tensor(elementType, dims.map(Shape.init)))
        graph.inputs.append(v)
        return v
    }

    @discardableResult
    func input(_ name: String, _ elementType: ElementType = .float, _ sizes: [Int]) -> Value {
        input(name, elementType, sizes.map { Dim.known($0) })
    }

    func ints(_ values: [Int64], shape: [Int]? = nil, name: String? = nil) -> Value {
        counter += 1
        let v = Value(name: name ?? "c\(counter)", initializer: Tensor(int64s: values, shape: shape ?? [values.count]))
        graph.initializers.append(v)
        return v
    }

    func floats(_ values: [Float], shape: [Int]? = nil) -> Value {
        counter += 1
        let v = Value(name: "f\(counter)", initializer: Tensor(floats: values, shape: shape ?? [values.count]))
        graph.initializers.append(v)
        return v
    }

    /// A float initializer of `shape` (weights).
    func weights(_ shape: [Int]) -> Value {
        counter += 1
        let v = Value(name: "w\(counter)", initializer: Tensor(zeros: .float, shape: shape))
        graph.initializers.append(v)
        return v
    }

    @discardableResult
    func node(_ op: String, _ inputs: [Value?], outputs: Int = 1, domain: String = "", name: String? = nil,
              _ attributes: [Attribute] = []) -> [Value] {
        counter += 1
        let outs = (0..<outputs).map { Value(name: "\(op.lowercased())\(counter)_\($0)") }
        let n = Node(op, domain: domain, name: name ?? "\(op)_\(counter)", inputs: inputs, outputs: outs, attributes: attributes)
        graph.append(n)
        return outs
    }

    func op(_ op: String, _ inputs: [Value?], name: String? = nil, _ attributes: [Attribute] = []) -> Value {
        node(op, inputs, name: name, attributes)[0]
    }

    func model(opset: Int64 = 17) -> Model {
        graph.outputs = graph.nodes.last.map { $0.outputs } ?? []
        let m = Model(graph: graph)
        m.opsetImports = [OpsetImport(domain: "", version: opset)]
        return m
    }

    @discardableResult
    func infer(opset: Int64 = 17, fixed: [String: [Int]] = [:]) throws -> ShapeInferenceReport {
        try ShapeInference(fixedInputShapes: fixed).run(on: model(opset: opset))
    }
}

func attr(_ name: String, _ v: Int64) -> Attribute { Attribute(name, .int(v)) }
func attr(_ name: String, _ v: [Int64]) -> Attribute { Attribute(name, .ints(v)) }
func attr(_ name: String, _ v: String) -> Attribute { Attribute(name, .string(Array(v.utf8))) }
func attrf(_ name: String, _ v: Float) -> Attribute { Attribute(name, .float(v)) }

func sym(_ s: String) -> Dim { .symbolic(s) }

func XCTAssertShape(_ value: Value, _ expected: [Dim]?, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(value.shape, expected.map(Shape.init), "value \(value.name): \(value.type.map(\.description) ?? "nil")",
                   file: file, line: line)
}

func XCTAssertShape(_ value: Value, _ expected: [Int], file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertShape(value, expected.map { Dim.known($0) }, file: file, line: line)
}

/// Asserts `body` throws an MCCError of `kind` whose one-line message contains every fragment.
func XCTAssertMCCError(_ kind: MCCError.Kind, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line,
                       _ body: () throws -> Void) {
    do {
        try body()
        XCTFail("expected an error containing \(fragments)", file: file, line: line)
    } catch let error as MCCError {
        XCTAssertEqual(error.kind, kind, error.message, file: file, line: line)
        XCTAssertFalse(error.message.contains("\n"), "message must be one line: \(error.message)", file: file, line: line)
        for f in fragments {
            XCTAssertTrue(error.message.contains(f), "'\(error.message)' lacks '\(f)'", file: file, line: line)
        }
    } catch {
        XCTFail("unexpected error \(error)", file: file, line: line)
    }
}
