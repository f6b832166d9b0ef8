import IR
import Interpreter
import XCTest

/// Fused elementwise chains must give exactly what the nodes give one by one (an observer turns fusion off).
final class ElementwiseFusionTests: XCTestCase {
    /// A graph under construction: input "x", constants as initializers, nodes appended in order.
    private final class Builder {
        let graph = Graph()
        let x: Value
        private var counter = 0

        init(_ input: Tensor) {
            x = Value(name: "x", type: input.valueType)
            graph.inputs = [x]
        }

        func constant(_ t: Tensor) -> Value {
            counter += 1
            let v = Value(name: "c\(counter)", initializer: t)
            graph.initializers.append(v)
            return v
        }

        /// A Constant node's output (the other way models spell constants).
        func constantNode(_ t: Tensor) -> Value {
            counter += 1
            let v = Value(name: "k\(counter)")
            graph.append(Node("Constant", inputs: [], outputs: [v], attributes: [Attribute("value", .tensor(t))]))
            return v
        }

        @discardableResult
        func node(_ op: String, _ inputs: [Value?], attributes: [Attribute] = []) -> Value {
            counter += 1
            let v = Value(name: "v\(counter)")
            graph.append(Node(op, inputs: inputs, outputs: [v], attributes: attributes))
            return v
        }

        func model(outputs: [Value]) -> Model {
            graph.outputs = outputs
            let model = Model(graph: graph)
            model.opsetImports = [OpsetImport(domain: "", version: 18)]
            return model
        }
    }

    private func ramp(_ shape: [Int], scale: Float = 0.37, offset: Float = -5) -> Tensor {
        let n = shape.reduce(1, *)
        return Tensor(floats: (0..<n).map { Float($0 % 29) * scale + offset }, shape: shape)
    }

    /// Outputs fused (plain run) and unfused (observed run); asserts they are bit-identical and returns the fused.
    private func runBothWays(_ model: Model, _ input: Tensor, registry: OpRegistry = .standard) throws -> [Tensor] {
        let fused = try Interpreter(model: model, registry: registry, threads: 1).run([input])
        let plain = try Interpreter(model: model, registry: registry, threads: 1)
        plain.observer = { _, _ in }
        let reference = try plain.run([input])
        XCTAssertEqual(fused.count, reference.count)
        for (a, b) in zip(fused, reference) {
            XCTAssertEqual(a.shape, b.shape)
            XCTAssertEqual(a.elementType, b.elementType)
            if a.elementType == .float {
                XCTAssertEqual(a.floatValues().map(\.bitPattern), b.floatValues().map(\.bitPattern))
            } else {
                XCTAssertEqual(a.int64Values(), b.int64Values())
            }
        }
        return fused
    }

    func testHardSwishThenPerChannelAffine() throws {
        let input = ramp([2, 3, 5, 7])
        let b = Builder(input)
        let t = b.node("Add", [b.x, b.constant(Tensor(scalar: 3))])
        let c = b.node("Clip", [t, b.constantNode(Tensor(scalar: 0)), b.constantNode(Tensor(scalar: 6))])
        let m = b.node("Mul", [b.x, c])
        let d = b.node("Div", [m, b.constant(Tensor(floats: [6], shape: [1]))])
        let s = b.node("Mul", [b.constant(Tensor(floats: [1, 2, 3], shape: [1, 3, 1, 1])), d])
        let y = b.node("Add", [s, b.constant(Tensor(floats: [0.5, -0.5, 0.25], shape: [3, 1, 1]))])
        let out = try runBothWays(b.model(outputs: [y]), input)[0].floatValues()
        let xs = input.floatValues()
        for i in 0..<xs.count {
            let channel = (i / 35) % 3
            let v = xs[i] * min(max(xs[i] + 3, 0), 6) / 6
            XCTAssertEqual(out[i], v * [1, 2, 3][channel] + [0.5, -0.5, 0.25][channel], accuracy: 1e-5)
        }
    }

    func testSiLUAndActivations() throws {
        let input = ramp([1, 4, 9, 9], scale: 0.9, offset: -12)
        let b = Builder(input)
        let s = b.node("Sigmoid", [b.x])
        let m = b.node("Mul", [s, b.x])
        let r = b.node("LeakyRelu", [m], attributes: [Attribute("alpha", .float(0.1))])
        let h = b.node("HardSigmoid", [r])
        let y = b.node("Sub", [b.constant(Tensor(scalar: 1)), h])
        let out = try runBothWays(b.model(outputs: [y]), input)[0].floatValues()
        let xs = input.floatValues()
        for i in 0..<xs.count {
            var v = xs[i] / (1 + exp(-xs[i]))
            v = v < 0 ? v * 0.1 : v
            XCTAssertEqual(out[i], 1 - min(max(v * 0.2 + 0.5, 0), 1), accuracy: 1e-5)
        }
    }

    /// A value that is also a graph output, or has a second reader, ends the chain.
    func testIntermediateGraphOutputAndSecondReader() throws {
        let input = ramp([3, 40])
        let b = Builder(input)
        let a = b.node("Add", [b.x, b.constant(Tensor(scalar: 1))])
        let r = b.node("Relu", [a])
        let m = b.node("Mul", [r, b.constant(Tensor(scalar: 2))])
        let t = b.node("Tanh", [m])
        let u = b.node("Add", [t, m])
        let outs = try runBothWays(b.model(outputs: [r, u]), input)
        let xs = input.floatValues()
        XCTAssertEqual(outs[0].floatValues(), xs.map { max($0 + 1, 0) })
        XCTAssertEqual(outs[1].floatValues()[5], tanh(2 * max(xs[5] + 1, 0)) + 2 * max(xs[5] + 1, 0), accuracy: 1e-5)
    }

    /// Integer chains, constants that vary along the last axis and constants that grow the shape take the
    /// node-by-node path inside the fused head.
    func testGeneralPathCases() throws {
        let ints = Tensor(.int32, shape: [2, 5], values: [Int32](-5..<5))
        let b = Builder(ints)
        let a = b.node("Add", [b.x, b.constant(Tensor(.int32, shape: [], values: [Int32(2)]))])
        let r = b.node("Relu", [a])
        let y = b.node("Mul", [r, b.constant(Tensor(.int32, shape: [5], values: [Int32](1...5)))])
        let out = try runBothWays(b.model(outputs: [y]), ints)[0]
        XCTAssertEqual(out.scalars(as: Int32.self), [0, 0, 0, 0, 5, 2, 6, 12, 20, 30])

        let input = ramp([1, 2, 8])
        let g = Builder(input)
        let p = g.node("Mul", [g.x, g.constant(ramp([8], scale: 0.5, offset: 1))])
        let q = g.node("Sigmoid", [p])
        let z = g.node("Add", [q, g.constant(ramp([3, 1, 1], scale: 1, offset: 0))])
        let grown = try runBothWays(g.model(outputs: [z]), input)[0]
        XCTAssertEqual(grown.shape, [3, 2, 8])
    }

    /// A custom kernel for one op of a chain keeps that op (and its neighbours) out of fusion.
    func testOverriddenKernelIsNotFused() throws {
        var registry = OpRegistry.standard
        registry.register("Mul") { ctx in
            let a = try ctx.input(0), c = try ctx.input(1).floatValues()[0]
            return [Tensor(floats: a.floatValues().map { $0 - c }, shape: a.shape)]
        }
        let input = ramp([4, 4])
        let b = Builder(input)
        let a = b.node("Add", [b.x, b.constant(Tensor(scalar: 1))])
        let m = b.node("Mul", [a, b.constant(Tensor(scalar: 3))])
        let y = b.node("Relu", [m])
        let out = try runBothWays(b.model(outputs: [y]), input, registry: registry)[0]
        XCTAssertEqual(out.floatValues(), input.floatValues().map { max($0 + 1 - 3, 0) })
    }
}
