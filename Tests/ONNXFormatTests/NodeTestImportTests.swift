import Foundation
import IR
import ONNXFormat
import XCTest

/// Every ONNX backend node-test model and light model-zoo model imports, round-trips, and every
/// test_data_set_0 value file reads.
final class NodeTestImportTests: XCTestCase {
    private func nodeTestDirectories() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: "\(nodeTestsDirectory)/node").sorted()
    }

    func testAllNodeTestModelsImport() throws {
        let names = try nodeTestDirectories()
        XCTAssertEqual(names.count, 1765)
        let exportDirectory = ProcessInfo.processInfo.environment["MCC_EXPORT_DIR"]
        var failures: [String] = []
        for name in names {
            do {
                let model = try ONNXReader.load(path: "\(nodeTestsDirectory)/node/\(name)/model.onnx")
                if let exportDirectory { try ONNXWriter.write(model, to: "\(exportDirectory)/\(name).onnx") }
                // The export must read back to the same bytes when written again.
                let bytes = try ONNXWriter.serialize(model)
                let again = try ONNXWriter.serialize(try ONNXReader.load(bytes: bytes, label: name))
                if bytes != again { failures.append("\(name): reserialization differs") }
            } catch {
                failures.append("\(name): \(error)")
            }
        }
        XCTAssertTrue(failures.isEmpty, "\(failures.count) node tests failed:\n" + failures.joined(separator: "\n"))
    }

    func testLightModelsImport() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(nodeTestsDirectory)/light")
            .filter { $0.hasSuffix(".onnx") }.sorted()
        XCTAssertEqual(files.count, 9)
        for file in files {
            let model = try ONNXReader.load(path: "\(nodeTestsDirectory)/light/\(file)")
            XCTAssertFalse(model.graph.nodes.isEmpty, file)
            // IR 3: every initializer was also listed as an input; those inputs are dropped.
            let initializerNames = Set(model.graph.initializers.map(\.name))
            XCTAssertTrue(model.graph.inputs.allSatisfy { !initializerNames.contains($0.name) }, file)
            let output = try TensorProtoIO.readTensor(path: "\(nodeTestsDirectory)/light/\(file.dropLast(5))_output_0.pb")
            XCTAssertEqual(output.tensor.elementType, .float, file)
        }
    }

    /// Reads each input_K/output_K.pb as the message its graph input/output type calls for.
    func testAllTestDataFilesRead() throws {
        var failures: [String] = []
        var files = 0
        for name in try nodeTestDirectories() {
            let directory = "\(nodeTestsDirectory)/node/\(name)"
            do {
                let model = try ONNXReader.load(path: "\(directory)/model.onnx")
                let data = "\(directory)/test_data_set_0"
                for entry in try FileManager.default.contentsOfDirectory(atPath: data).sorted() where entry.hasSuffix(".pb") {
                    let isInput = entry.hasPrefix("input_")
                    guard let k = Int(entry.dropFirst(isInput ? 6 : 7).dropLast(3)) else { continue }
                    let values = isInput ? model.graph.inputs : model.graph.outputs
                    let type = k < values.count ? values[k].type : nil
                    let (_, value) = try TensorProtoIO.readValue(path: "\(data)/\(entry)", type: type)
                    if case .tensor(let tensor) = value, case .tensor(let e, let shape)? = type {
                        if tensor.elementType != e { failures.append("\(name)/\(entry): \(tensor.elementType) != \(e)") }
                        if let sizes = shape?.staticSizes, sizes != tensor.shape {
                            failures.append("\(name)/\(entry): shape \(tensor.shape) != \(sizes)")
                        }
                    }
                    files += 1
                }
            } catch {
                failures.append("\(name): \(error)")
            }
        }
        XCTAssertGreaterThan(files, 5000)
        XCTAssertTrue(failures.isEmpty, "\(failures.count) failures:\n" + failures.joined(separator: "\n"))
    }

    func testSequenceAndOptionalValues() throws {
        let seq = try TensorProtoIO.readValue(
            path: "\(nodeTestsDirectory)/node/test_identity_sequence/test_data_set_0/input_0.pb", type: .sequence(nil))
        guard case .sequence(let items) = seq.value else { return XCTFail("not a sequence") }
        XCTAssertFalse(items.isEmpty)
        XCTAssertNotNil(items.first?.tensor)

        let empty = try TensorProtoIO.readValue(
            path: "\(nodeTestsDirectory)/node/test_optional_has_element_empty_optional_input/test_data_set_0/input_0.pb",
            type: .optional(nil))
        guard case .optional(let inner) = empty.value else { return XCTFail("not an optional") }
        XCTAssertNil(inner)
    }

    /// A Loop body reads the outer scope by name; the importer links it to the outer Value.
    func testLoopBodyReadsOuterScope() throws {
        let model = try ONNXReader.load(path: "\(nodeTestsDirectory)/node/test_range_float_type_positive_delta_expanded/model.onnx")
        let loop = try XCTUnwrap(model.graph.nodes.first { $0.opType == "Loop" })
        let body = try XCTUnwrap(loop.attribute("body")?.graph)
        let captured = body.capturedValues()
        XCTAssertFalse(captured.isEmpty)
        for value in captured {
            XCTAssertTrue(value.producer?.graph === model.graph || (model.graph.inputs + model.graph.initializers).contains { $0 === value },
                          "'\(value.name)' should be an outer value")
        }
    }
}
