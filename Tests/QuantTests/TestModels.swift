import Foundation
import IR
import Quant

/// Small models built in code for the quantizer tests.
enum TestModels {
    /// Deterministic pseudo-random floats in [-1, 1).
    static func values(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in (Float(rng.next() >> 40) / Float(1 << 24) * 2 - 1) * scale }
    }

    /// x[1,3,8,8] → Conv(3→4, 3x3, pad 1) → Relu → Conv(4→2, 1x1) → Mul(·, constant per channel) → Reshape → y.
    static func convNet(opset: Int64 = 13) -> Model {
        let g = Graph(name: "convnet")
        let x = Value(name: "x", type: .tensor(.float, Shape([1, 3, 8, 8])))
        g.inputs = [x]
        func constant(_ name: String, _ values: [Float], _ shape: [Int]) -> Value {
            let v = Value(name: name, initializer: Tensor(floats: values, shape: shape))
            g.initializers.append(v)
            return v
        }
        let w1 = constant("w1", values(4 * 3 * 9, seed: 1, scale: 0.5), [4, 3, 3, 3])
        let b1 = constant("b1", values(4, seed: 2), [4])
        let w2 = constant("w2", values(2 * 4, seed: 3), [2, 4, 1, 1])
        let b2 = constant("b2", [0.1, -0.2], [2])
        let m = constant("m", [1.5, -0.5], [1, 2, 1, 1])
        let shape = Value(name: "shape", initializer: Tensor(int64s: [1, 128], shape: [2]))
        g.initializers.append(shape)
        let c1 = Value(name: "c1", type: .tensor(.float, Shape([1, 4, 8, 8])))
        let r1 = Value(name: "r1", type: .tensor(.float, Shape([1, 4, 8, 8])))
        let c2 = Value(name: "c2", type: .tensor(.float, Shape([1, 2, 8, 8])))
        let m2 = Value(name: "m2", type: .tensor(.float, Shape([1, 2, 8, 8])))
        let y = Value(name: "y", type: .tensor(.float, Shape([1, 128])))
        g.append(Node("Conv", name: "conv1", inputs: [x, w1, b1], outputs: [c1],
                      attributes: [Attribute("pads", .ints([1, 1, 1, 1])), Attribute("kernel_shape", .ints([3, 3]))]))
        g.append(Node("Relu", name: "relu1", inputs: [c1], outputs: [r1]))
        g.append(Node("Conv", name: "conv2", inputs: [r1, w2, b2], outputs: [c2]))
        g.append(Node("Mul", name: "mul", inputs: [c2, m], outputs: [m2]))
        g.append(Node("Reshape", name: "flatten", inputs: [m2, shape], outputs: [y]))
        g.outputs = [y]
        let model = Model(graph: g)
        model.opsetImports = [OpsetImport(domain: "", version: opset)]
        return model
    }

    static func input(seed: UInt64) -> Tensor { Tensor(floats: values(192, seed: seed, scale: 2), shape: [1, 3, 8, 8]) }
}

/// A dataset of in-memory random samples for a model with one float input (seeded, so tests are repeatable).
func randomDataset(for model: Model, count: Int) throws -> CalibrationDataset {
    let inputs = model.graph.inputs.map { CalibrationInput(name: $0.name, shape: $0.shape?.staticSizes ?? [], elementType: .float) }
    return try CalibrationDataset(source: .random(count: count, seed: 3), inputs: inputs)
}
