import IR
import Interpreter
import XCTest

/// A Conv followed by its only reader, an activation (or SiLU as Sigmoid + Mul), runs the activation inside the conv
/// kernel. The result must be bit-identical to running the nodes one by one (an observer turns fusion off), for
/// every conv path (im2col, pointwise, depthwise, N-d) and thread count, and the pattern must not fuse when the conv
/// output has another reader or is a graph output.
final class ConvEpilogueFusionTests: XCTestCase {
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

        func node(_ op: String, _ inputs: [Value?], attributes: [Attribute] = []) -> Value {
            counter += 1
            let v = Value(name: "v\(counter)")
            graph.append(Node(op, inputs: inputs, outputs: [v], attributes: attributes))
            return v
        }

        /// Conv with deterministic weights [m, c/group, k, k] and bias [m].
        func conv(_ input: Value, channels c: Int, outChannels m: Int, kernel k: Int, group: Int = 1, stride: Int = 1,
                  pad: Int = 0, spatialRank: Int = 2) -> Value {
            let taps = Int(pow(Double(k), Double(spatialRank)))
            let count = m * (c / group) * taps
            let w = Tensor(floats: (0..<count).map { Float(($0 * 7) % 13) * 0.05 - 0.3 },
                           shape: [m, c / group] + Array(repeating: k, count: spatialRank))
            let b = Tensor(floats: (0..<m).map { Float($0 % 5) * 0.1 - 0.2 }, shape: [m])
            return node("Conv", [input, constant(w), constant(b)], attributes: [
                Attribute("group", .int(Int64(group))),
                Attribute("strides", .ints(Array(repeating: Int64(stride), count: spatialRank))),
                Attribute("pads", .ints(Array(repeating: Int64(pad), count: 2 * spatialRank))),
            ])
        }

        func model(outputs: [Value]) -> Model {
            graph.outputs = outputs
            let model = Model(graph: graph)
            model.opsetImports = [OpsetImport(domain: "", version: 18)]
            return model
        }
    }

    private func ramp(_ shape: [Int]) -> Tensor {
        let n = shape.reduce(1, *)
        return Tensor(floats: (0..<n).map { Float($0 % 31) * 0.29 - 4 }, shape: shape)
    }

    /// Runs fused and unfused at 1 and 2 threads; asserts all four agree bit for bit.
    @discardableResult
    private func assertFusionExact(_ model: Model, _ input: Tensor, file: StaticString = #filePath,
                                   line: UInt = #line) throws -> [Tensor] {
        var results: [[Tensor]] = []
        for threads in [1, 2] {
            results.append(try Interpreter(model: model, threads: threads).run([input]))
            let plain = try Interpreter(model: model, threads: threads)
            plain.observer = { _, _ in }
            results.append(try plain.run([input]))
        }
        for other in results.dropFirst() {
            XCTAssertEqual(other.count, results[0].count, file: file, line: line)
            for (a, b) in zip(results[0], other) {
                XCTAssertEqual(a.shape, b.shape, file: file, line: line)
                XCTAssertEqual(a.floatValues().map(\.bitPattern), b.floatValues().map(\.bitPattern), file: file, line: line)
            }
        }
        return results[0]
    }

    func testIm2colConvWithRelu() throws {
        let input = ramp([1, 3, 17, 19])
        let b = Builder(input)
        let y = b.node("Relu", [b.conv(b.x, channels: 3, outChannels: 8, kernel: 3, pad: 1)])
        let out = try assertFusionExact(b.model(outputs: [y]), input)[0].floatValues()
        XCTAssertTrue(out.allSatisfy { $0 >= 0 })
        XCTAssertTrue(out.contains { $0 > 0 })
    }

    func testPointwiseConvWithHardSwishAndLeakyRelu() throws {
        let input = ramp([2, 8, 9, 11])
        let b = Builder(input)
        let h = b.node("HardSwish", [b.conv(b.x, channels: 8, outChannels: 16, kernel: 1)])
        let l = b.node("LeakyRelu", [b.conv(h, channels: 16, outChannels: 4, kernel: 1)],
                       attributes: [Attribute("alpha", .float(0.2))])
        try assertFusionExact(b.model(outputs: [l]), input)
    }

    func testDepthwiseConvWithClipAndSiLU() throws {
        let input = ramp([1, 12, 23, 21])
        let b = Builder(input)
        let c = b.node("Clip", [b.conv(b.x, channels: 12, outChannels: 12, kernel: 3, group: 12, stride: 2, pad: 1),
                                b.constant(Tensor(scalar: Float(0))), b.constant(Tensor(scalar: Float(6)))])
        let d = b.conv(c, channels: 12, outChannels: 12, kernel: 5, group: 12, pad: 2)
        let s = b.node("Sigmoid", [d])
        let y = b.node("Mul", [d, s])
        let out = try assertFusionExact(b.model(outputs: [y]), input)[0].floatValues()
        XCTAssertTrue(out.allSatisfy { $0.isFinite })
    }

    /// HardSwish as PaddlePaddle exports it, y · HardSigmoid(y; 0.1666667, 0.5), in either Mul operand order; the
    /// second conv is big enough (batch 4, ~1.2 M multiply-adds) to split over images at 2 threads (ConvSplit).
    func testConvWithHardSigmoidGate() throws {
        let input = ramp([4, 8, 17, 19])
        let b = Builder(input)
        let gateAttributes = [Attribute("alpha", .float(0.1666667)), Attribute("beta", .float(0.5))]
        let c1 = b.conv(b.x, channels: 8, outChannels: 16, kernel: 1)
        let g1 = b.node("Mul", [c1, b.node("HardSigmoid", [c1], attributes: gateAttributes)])
        let c2 = b.conv(g1, channels: 16, outChannels: 16, kernel: 3, pad: 1)
        let g2 = b.node("Mul", [b.node("HardSigmoid", [c2], attributes: gateAttributes), c2])
        let out = try assertFusionExact(b.model(outputs: [g2]), input)[0].floatValues()
        XCTAssertTrue(out.contains { $0 < 0 } && out.contains { $0 > 1 }, "both the gated and the linear ranges occur")
    }

    func testThreeDimensionalConvWithSigmoidAndTanh() throws {
        let input = ramp([1, 2, 5, 6, 7])
        let b = Builder(input)
        let s = b.node("Sigmoid", [b.conv(b.x, channels: 2, outChannels: 3, kernel: 3, pad: 1, spatialRank: 3)])
        let t = b.node("Tanh", [b.conv(s, channels: 3, outChannels: 2, kernel: 1, spatialRank: 3)])
        let out = try assertFusionExact(b.model(outputs: [t]), input)[0].floatValues()
        XCTAssertTrue(out.allSatisfy { abs($0) < 1 })
    }

    /// LeakyRelu then Max with a scalar constant (oww_embedding: Max(LeakyRelu(y; 0.2), -0.4)) joins the epilogue, in
    /// either Max operand order; the first conv (24→24, 1×3 on 74×32, ~4 M multiply-adds) splits over columns at 2
    /// threads (ConvSplit), the smaller ones run serially. A zero constant, or one of higher rank, stays unfused.
    func testConvWithLeakyReluThenMaxFloor() throws {
        let input = ramp([1, 24, 74, 32])
        let b = Builder(input)
        let leaky = [Attribute("alpha", .float(0.2))]
        let floor = b.constant(Tensor(floats: [-0.4], shape: [1, 1, 1, 1]))
        let c1 = b.conv(b.x, channels: 24, outChannels: 24, kernel: 3, pad: 1)
        let m1 = b.node("Max", [b.node("LeakyRelu", [c1], attributes: leaky), floor])
        let c2 = b.conv(m1, channels: 24, outChannels: 32, kernel: 3, stride: 8)
        let m2 = b.node("Max", [b.constant(Tensor(floats: [-0.3], shape: [1])), b.node("LeakyRelu", [c2], attributes: leaky)])
        let c3 = b.conv(m2, channels: 32, outChannels: 8, kernel: 1)
        let m3 = b.node("Max", [b.constant(Tensor(scalar: Float(0))), b.node("LeakyRelu", [c3], attributes: leaky)])
        let c4 = b.conv(m3, channels: 8, outChannels: 4, kernel: 1)
        let m4 = b.node("Max", [b.node("LeakyRelu", [c4], attributes: leaky),
                                b.constant(Tensor(floats: [-0.1], shape: [1, 1, 1, 1, 1]))])
        let outs = try assertFusionExact(b.model(outputs: [m1, m2, m3, m4]), input)
        let first = outs[0].floatValues()
        XCTAssertTrue(first.contains(-0.4) && first.contains { $0 > -0.4 && $0 < 0 } && first.contains { $0 > 0 },
                      "the floor, the leaky slope and the linear range all occur")
        XCTAssertTrue(outs[1].floatValues().allSatisfy { $0 >= -0.3 })
        XCTAssertEqual(outs[3].shape, [1, 1, 4, 9, 4], "the rank-5 constant broadcasts the output up")
    }

    /// The same epilogue on a depthwise conv and on a batch of 4 (ConvSplit over images at 2 threads).
    func testDepthwiseAndBatchedConvWithLeakyReluThenMaxFloor() throws {
        let input = ramp([4, 12, 23, 21])
        let b = Builder(input)
        let leaky = [Attribute("alpha", .float(0.2))]
        let floor = b.constant(Tensor(floats: [-0.4], shape: [1, 1, 1, 1]))
        let d = b.conv(b.x, channels: 12, outChannels: 12, kernel: 3, group: 12, pad: 1)
        let m1 = b.node("Max", [b.node("LeakyRelu", [d], attributes: leaky), floor])
        let c = b.conv(m1, channels: 12, outChannels: 24, kernel: 3, pad: 1)
        let m2 = b.node("Max", [floor, b.node("LeakyRelu", [c], attributes: leaky)])
        let outs = try assertFusionExact(b.model(outputs: [m2]), input)
        XCTAssertTrue(outs[0].floatValues().contains(-0.4))
    }

    /// A second reader, or the conv output being a graph output, must see the conv output without the activation.
    func testNotFusedWhenConvOutputIsAlsoRead() throws {
        let input = ramp([1, 4, 8, 8])
        let b = Builder(input)
        let conv = b.conv(b.x, channels: 4, outChannels: 4, kernel: 3, pad: 1)
        let relu = b.node("Relu", [conv])
        let sum = b.node("Add", [relu, conv])
        let conv2 = b.conv(sum, channels: 4, outChannels: 4, kernel: 1)
        let relu2 = b.node("Relu", [conv2])
        let outs = try assertFusionExact(b.model(outputs: [relu2, conv2, sum]), input)
        XCTAssertTrue(outs[1].floatValues().contains { $0 < 0 }, "conv2 is a graph output and keeps negative values")
        XCTAssertEqual(outs[0].floatValues(), outs[1].floatValues().map { max($0, 0) })
        XCTAssertTrue(outs[2].floatValues().contains { $0 < 0 }, "Add reads the conv output before Relu")
    }
}
