import IR
import Interpreter
import Kernels
import XCTest

/// Conv weights the tap-sum path packs once per interpreter (PackedWeightCache): repeated runs must give the same
/// result as the first, and replacing the weight initializer between runs must repack (not reuse stale weights).
final class PackedWeightCacheTests: XCTestCase {
    private func weights(_ count: Int, scale: Float) -> [Float] {
        (0..<count).map { Float(($0 * 7) % 13) * scale - 0.3 }
    }

    func testRepeatedRunsAndReplacedInitializer() throws {
        // 32 → 8 channels, 3×3, 34×34 output (≥ 1024 positions): the tap-sum path with packed weights.
        let (c, m, h, w) = (32, 8, 34, 34)
        let graph = Graph()
        let x = Value(name: "x", type: .tensor(.float, Shape([1, c, h, w])))
        graph.inputs = [x]
        let weight = Value(name: "w", initializer: Tensor(floats: weights(m * c * 9, scale: 0.05), shape: [m, c, 3, 3]))
        graph.initializers.append(weight)
        let y = Value(name: "y")
        graph.append(Node("Conv", inputs: [x, weight], outputs: [y], attributes: [
            Attribute("pads", .ints([1, 1, 1, 1])),
        ]))
        graph.outputs = [y]
        let model = Model(graph: graph)
        model.opsetImports = [OpsetImport(domain: "", version: 18)]
        let input = Tensor(floats: (0..<(c * h * w)).map { Float($0 % 31) * 0.07 - 1 }, shape: [1, c, h, w])

        let interpreter = try Interpreter(model: model, threads: 1)
        let first = try interpreter.run([input])[0].floatValues()
        let second = try interpreter.run([input])[0].floatValues()
        XCTAssertEqual(first, second, "a cached packing must give bit-identical results")

        // A fresh interpreter on a model whose weights differ must not see the other's packing; same for a
        // replaced initializer on the same interpreter.
        weight.initializer = Tensor(floats: weights(m * c * 9, scale: -0.02), shape: [m, c, 3, 3])
        let replaced = try interpreter.run([input])[0].floatValues()
        let fresh = try Interpreter(model: model, threads: 1).run([input])[0].floatValues()
        XCTAssertEqual(replaced, fresh)
        XCTAssertNotEqual(replaced, first)
    }
}
