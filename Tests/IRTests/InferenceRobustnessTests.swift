import IR
import XCTest

/// Every rule must either infer or throw an MCCError on garbage: never trap.
final class InferenceRobustnessTests: XCTestCase {
    private struct SplitMix64 {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func int(_ range: ClosedRange<Int>) -> Int {
            range.lowerBound + Int(next() % UInt64(range.upperBound - range.lowerBound + 1))
        }
        mutating func bool() -> Bool { next() & 1 == 0 }
        /// Mostly small values, sometimes extremes that overflow naive arithmetic.
        mutating func value(_ range: ClosedRange<Int>) -> Int64 {
            let extremes: [Int64] = [.max, .min, 1 << 40, -(1 << 40), Int64(Int32.max)]
            return int(0...11) == 0 ? extremes[int(0...4)] : Int64(int(range))
        }
    }

    private static let intAttributes = [
        "axis", "keepdims", "group", "to", "blocksize", "k", "hidden_size", "layout", "transA", "transB",
        "num_outputs", "ceil_mode", "allowzero", "start", "end", "noop_with_empty_axes", "batch_dims", "fmod",
    ]
    private static let intsAttributes = [
        "axes", "perm", "pads", "strides", "kernel_shape", "dilations", "split", "starts", "ends", "output_shape",
        "output_padding", "shape", "pooled_shape", "paddings", "scan_input_axes",
    ]
    private static let stringAttributes: [(String, [String])] = [
        ("auto_pad", ["SAME_UPPER", "VALID", "NOTSET", "BOGUS"]), ("direction", ["bidirectional", "reverse", "sideways"]),
        ("equation", ["ij,jk->ik", "...i->i", "ii", "a,b->c", "->", "i...j...->"]),
        ("keep_aspect_ratio_policy", ["not_larger", "not_smaller"]),
    ]

    func testRandomGraphsNeverTrap() throws {
        var rng = SplitMix64(state: 42)
        let ops = ShapeInference.supportedOps.filter { !$0.contains("::") }
        XCTAssertGreaterThan(ops.count, 150)
        var failures = 0, successes = 0
        for op in ops {
            for _ in 0..<150 {
                let b = GraphBuilder()
                var inputs: [Value?] = []
                for k in 0..<rng.int(0...5) {
                    switch rng.int(0...3) {
                    case 0: inputs.append(nil)
                    case 1:
                        let n = rng.int(0...4)
                        inputs.append(b.ints((0..<n).map { _ in rng.value(-3...9) }, shape: rng.bool() ? [n] : nil))
                    default:
                        let rank = rng.int(0...5)
                        let dims: [Dim] = (0..<rank).map { _ in
                            switch rng.int(0...6) {
                            case 0: .unknown
                            case 1: .symbolic("s\(rng.int(0...2))")
                            default: .known(rng.int(0...7))
                            }
                        }
                        inputs.append(b.input("in\(k)", rng.bool() ? .float : .int64, rng.int(0...9) == 0 ? nil : dims))
                    }
                }
                var attributes: [Attribute] = []
                for name in Self.intAttributes where rng.int(0...5) == 0 {
                    attributes.append(attr(name, rng.value(-4...20)))
                }
                for name in Self.intsAttributes where rng.int(0...5) == 0 {
                    attributes.append(attr(name, (0..<rng.int(0...6)).map { _ in rng.value(-3...9) }))
                }
                for (name, choices) in Self.stringAttributes where rng.int(0...5) == 0 {
                    attributes.append(attr(name, choices[rng.int(0...(choices.count - 1))]))
                }
                if rng.int(0...4) == 0 { attributes.append(Attribute("value", .tensor(Tensor(int64s: [3], shape: [1])))) }
                b.node(op, inputs, outputs: rng.int(1...3), attributes)
                do {
                    try b.infer(opset: Int64(rng.int(7...19)))
                    successes += 1
                } catch let error as MCCError {
                    XCTAssertFalse(error.message.contains("\n"))
                    XCTAssertTrue(error.message.contains("\(op) node"), "\(op): \(error.message)")
                    failures += 1
                }
            }
        }
        XCTAssertGreaterThan(successes, 0)
        XCTAssertGreaterThan(failures, 0)
    }

    func testHugeDeclaredInputsAreRejectedNotTrapped() {
        let b = GraphBuilder()
        let x = b.input("x", .float, [1 << 40, 1 << 40])
        _ = b.op("Relu", [x])
        XCTAssertMCCError(.failure, ["graph input 'x'", "2^40"]) { try b.infer() }
        let b2 = GraphBuilder()
        let y = b2.input("y", .float, [1, 4, 1 << 30, 2])
        _ = b2.op("ConvTranspose", [y, b2.weights([4, 2, 3, 3])], name: "up", [attr("strides", [1 << 20, 1 << 20])])
        XCTAssertMCCError(.failure, ["ConvTranspose node 'up'"]) { try b2.infer() }
    }
}
