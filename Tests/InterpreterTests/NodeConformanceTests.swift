import Foundation
import IR
import Interpreter
import ONNXFormat
import TestSupport
import XCTest

/// ONNX backend node tests (../shared/onnx-node-tests/node, 1765 tests): every test whose ops the interpreter
/// claims (all registered) must pass — there is no exceptions list. Tolerance is onnx's own runner default,
/// rtol 1e-3 / atol 1e-7, widened only where onnx's test case definitions widen it for that test.
final class NodeConformanceTests: XCTestCase {
    private struct Index: Decodable {
        struct Entry: Decodable {
            var ops: [String]
            var inputs: [String]
            var outputs: [String]
            /// Sequence/optional I/O (SequenceProto/OptionalProto files) is outside the tensor interpreter.
            var hasTensorIOOnly: Bool { !(inputs + outputs).contains { $0 == "sequence_type" || $0 == "optional_type" } }
        }
        var tests: [String: Entry]
    }

    /// Per-test tolerances that onnx/backend/test/case/node/*.py sets (atol, rtol).
    private static let looserTolerances: [String: (Double, Double)] = [:]

    func testClaimedNodeTestsPass() throws {
        let root = TestPaths.nodeTests
        let index = try JSONDecoder().decode(Index.self, from: Data(contentsOf: root.appendingPathComponent("index.json")))
        let supported = Set(OpRegistry.standard.supportedOps)
        var claimed: [String] = []
        var failures: [String] = []
        for (name, entry) in index.tests.sorted(by: { $0.key < $1.key })
        where entry.ops.allSatisfy(supported.contains) && entry.hasTensorIOOnly {
            // index.json lists top-level ops only: a test is claimed when its subgraphs' ops are registered too.
            let directory = root.appendingPathComponent("node/\(name)")
            if let model = try? ONNXReader.load(path: directory.appendingPathComponent("model.onnx").path),
               !model.graph.allNodes().allSatisfy({ supported.contains(Self.registryKey($0)) }) {
                continue
            }
            claimed.append(name)
            do {
                try runNodeTest(directory: root.appendingPathComponent("node/\(name)"), name: name)
            } catch {
                failures.append("\(name): \(error)")
            }
        }
        let claimedOps = supported.filter { op in index.tests.values.contains { $0.ops.contains(op) } }
        let sequenceTests = index.tests.values.filter { !$0.hasTensorIOOnly }.count
        print("node tests: \(sequenceTests) with sequence/optional I/O not claimed (no sequence type in the interpreter)")
        print("node tests: \(claimed.count) claimed (ops: \(claimedOps.count) of \(supported.count) registered), \(claimed.count - failures.count) passed, \(failures.count) failed")
        XCTAssertEqual(failures, [], "\(failures.count) of \(claimed.count) claimed node tests failed")
    }

    private static func registryKey(_ node: Node) -> String {
        node.domain.isEmpty || node.domain == "ai.onnx" ? node.opType : "\(node.domain)::\(node.opType)"
    }

    private func runNodeTest(directory: URL, name: String) throws {
        let model = try ONNXReader.load(path: directory.appendingPathComponent("model.onnx").path)
        let interpreter = try Interpreter(model: model, threads: 1)
        let fm = FileManager.default
        let sets = try fm.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("test_data_set_") }.sorted()
        for set in sets {
            let dir = directory.appendingPathComponent(set)
            let inputs = try model.graph.inputs.indices.map { k in
                try TensorProtoIO.readTensor(path: dir.appendingPathComponent("input_\(k).pb").path).tensor
            }
            let outputs = try interpreter.run(inputs)
            for (k, got) in outputs.enumerated() {
                let expected = try TensorProtoIO.readTensor(path: dir.appendingPathComponent("output_\(k).pb").path).tensor
                let (atol, rtol) = Self.looserTolerances[name] ?? (1e-7, 1e-3)
                if let problem = compare(got, expected, atol: atol, rtol: rtol) {
                    throw MCCError.failure("\(set) output \(k): \(problem)")
                }
            }
        }
    }
}

/// nil when `got` matches `expected` (same type and shape; numerics within atol + rtol·|expected|; NaN where NaN).
func compare(_ got: Tensor, _ expected: Tensor, atol: Double, rtol: Double) -> String? {
    guard got.elementType == expected.elementType else { return "type \(got.elementType) != \(expected.elementType)" }
    guard got.shape == expected.shape else { return "shape \(got.shape) != \(expected.shape)" }
    if got.elementType == .string { return got.strings == expected.strings ? nil : "strings differ" }
    switch got.elementType {
    case .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float8e8m0, .float4e2m1, .int4, .uint4,
         .int2, .uint2, .complex64, .complex128:
        // No arithmetic conversion here: these compare bit for bit, as onnx's runner does for them.
        let a = Array(got.storage.bytes.prefix(got.byteCount)), b = Array(expected.storage.bytes.prefix(expected.byteCount))
        return a == b ? nil : "bytes differ"
    default:
        break
    }
    if got.elementType.isInteger || got.elementType == .bool {
        let a = got.int64Values(), b = expected.int64Values()
        if let i = a.indices.first(where: { a[$0] != b[$0] }) { return "element \(i): \(a[i]) != \(b[i])" }
        return nil
    }
    let a = got.doubleValues(), b = expected.doubleValues()
    for i in a.indices {
        if a[i].isNaN || b[i].isNaN {
            if a[i].isNaN != b[i].isNaN { return "element \(i): \(a[i]) != \(b[i])" }
            continue
        }
        if a[i] == b[i] { continue }  // equal infinities
        if abs(a[i] - b[i]) > atol + rtol * abs(b[i]) { return "element \(i): \(a[i]) != \(b[i])" }
    }
    return nil
}

extension Tensor {
    /// Elements as Double (for comparisons; float types only here).
    func doubleValues() -> [Double] {
        if elementType == .double { return scalars(as: Double.self) }
        return floatValues().map(Double.init)
    }
}
