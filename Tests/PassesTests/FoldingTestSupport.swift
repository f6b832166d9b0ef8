import IR
import Interpreter
import Passes
import XCTest

/// Deterministic random numbers for test inputs and weights (SplitMix64).
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func floats(_ count: Int, in range: ClosedRange<Float> = -1...1) -> [Float] {
        (0..<count).map { _ in Float.random(in: range, using: &self) }
    }

    mutating func tensor(_ shape: [Int], in range: ClosedRange<Float> = -1...1) -> Tensor {
        Tensor(floats: floats(shape.reduce(1, *), in: range), shape: shape)
    }
}

/// Builds small models in code: inputs, initializers, nodes with one output each.
final class ModelBuilder {
    let graph = Graph(name: "test")
    let opset: Int64
    var rng: SeededGenerator
    private var counter = 0

    init(opset: Int64 = 17, seed: UInt64 = 1) {
        self.opset = opset
        rng = SeededGenerator(seed: seed)
    }

    @discardableResult
    func input(_ name: String, _ shape: [Int], _ type: ElementType = .float) -> Value {
        let v = Value(name: name, type: .tensor(type, Shape(shape)))
        graph.inputs.append(v)
        return v
    }

    func constant(_ name: String, _ values: [Float], _ shape: [Int]) -> Value {
        let v = Value(name: name, initializer: Tensor(floats: values, shape: shape))
        graph.initializers.append(v)
        return v
    }

    func int64s(_ name: String, _ values: [Int64]) -> Value {
        let v = Value(name: name, initializer: Tensor(int64s: values, shape: [values.count]))
        graph.initializers.append(v)
        return v
    }

    func scalar(_ name: String, _ value: Float) -> Value { constant(name, [value], []) }

    func random(_ name: String, _ shape: [Int], in range: ClosedRange<Float> = -1...1) -> Value {
        constant(name, rng.floats(shape.reduce(1, *), in: range), shape)
    }

    /// A `Constant` node (as Paddle exports write weights) holding random data.
    func constantNode(_ name: String, _ shape: [Int], in range: ClosedRange<Float> = -1...1) -> Value {
        let out = Value(name: name)
        graph.append(Node("Constant", name: "\(name)_node", outputs: [out],
                          attributes: [Attribute("value", .tensor(rng.tensor(shape, in: range)))]))
        return out
    }

    @discardableResult
    func node(_ op: String, _ inputs: [Value?], _ attributes: [Attribute] = [], name: String? = nil) -> Value {
        counter += 1
        let label = name ?? "\(op.lowercased())\(counter)"
        let out = Value(name: label)
        graph.append(Node(op, name: label, inputs: inputs, outputs: [out], attributes: attributes))
        return out
    }

    func output(_ values: Value...) { graph.outputs += values }

    /// The model with shapes inferred (as the driver does before any pass).
    func model() throws -> Model {
        let model = Model(graph: graph)
        model.opsetImports = [OpsetImport(domain: "", version: opset)]
        model.irVersion = 8
        _ = try ShapeInference().run(on: model)
        try Verifier.verify(model)
        return model
    }
}

func ints(_ name: String, _ values: [Int]) -> Attribute { Attribute(name, .ints(values.map(Int64.init))) }
func int(_ name: String, _ value: Int) -> Attribute { Attribute(name, .int(Int64(value))) }
func float(_ name: String, _ value: Float) -> Attribute { Attribute(name, .float(value)) }
func string(_ name: String, _ value: String) -> Attribute { Attribute(name, .string(Array(value.utf8))) }

func evaluate(_ model: Model, _ inputs: [Tensor]) throws -> [Tensor] {
    try Interpreter(model: model, threads: 1).run(inputs)
}

/// Op type → count over the main graph.
func opCounts(_ model: Model) -> [String: Int] {
    model.graph.nodes.reduce(into: [:]) { $0[$1.opType, default: 0] += 1 }
}

/// Largest violation of |a − b| ≤ atol + rtol·|b| (≤ 0 means within tolerance), plus where it happened.
func excess(_ got: Tensor, _ expected: Tensor, atol: Double, rtol: Double) -> (excess: Double, index: Int) {
    let a = got.floatValues(), b = expected.floatValues()
    guard got.shape == expected.shape, a.count == b.count else { return (.infinity, -1) }
    var worst = (-Double.infinity, -1)
    for i in 0..<a.count {
        let e = abs(Double(a[i]) - Double(b[i])) - (atol + rtol * abs(Double(b[i])))
        if e.isNaN || e > worst.0 { worst = (e.isNaN ? .infinity : e, i) }
    }
    return a.isEmpty ? (0, -1) : worst
}

/// Folding tolerance: before and after compute the same real function; only rounding differs (folded weights
/// rounded once to float from double, dot products summed in another order). For the small layers of these tests
/// (≤ 200 products of magnitude ≲ 10) that is a few hundred float ulps of the output's scale at most, hence
/// |a − b| ≤ 1e-5·max(1, max|ref|) + 1e-5·|ref|.
func assertClose(_ got: [Tensor], _ expected: [Tensor], rtol: Double = 1e-5, atolScale: Double = 1e-5,
                 _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(got.count, expected.count, message, file: file, line: line)
    for (k, (g, e)) in zip(got, expected).enumerated() {
        XCTAssertEqual(g.shape, e.shape, "output \(k) shape \(message)", file: file, line: line)
        let scale = e.floatValues().reduce(1) { max($0, abs(Double($1))) }
        let (worst, index) = excess(g, e, atol: atolScale * scale, rtol: rtol)
        XCTAssertLessThanOrEqual(worst, 0, "output \(k) exceeds tolerance at \(index) \(message)", file: file, line: line)
    }
}

/// Runs `pass` with `options` after recording outputs for `inputs`; verifies the model, checks the outputs are
/// unchanged within tolerance and returns whether the pass reported a change.
@discardableResult
func checkEquivalent(_ pass: any Pass, on model: Model, inputs: [Tensor], options: PassOptions = PassOptions(),
                     file: StaticString = #filePath, line: UInt = #line) throws -> Bool {
    let before = try evaluate(model, inputs)
    let changed = try pass.run(on: model, context: PassContext(opset: model.defaultOpset, options: options))
    try Verifier.verify(model)
    let after = try evaluate(model, inputs)
    assertClose(after, before, file: file, line: line)
    return changed
}
