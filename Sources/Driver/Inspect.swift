import ArgumentParser
import Foundation
import IR
import ONNXFormat

/// `mcc inspect MODEL [--json]`: inputs/outputs, opsets, op histogram, parameters, dynamic dims.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        // Named explicitly: deriving the name from the type reflects on it, a measurable part of startup.
        commandName: "inspect",
        abstract: "Describe a model's inputs, outputs, ops and parameters.")

    @Argument(help: "The ONNX model.") var model: String
    @Flag(help: "Print JSON (sorted keys) instead of text.") var json = false

    func run() throws {
        let loaded = try ONNXReader.load(path: model)
        let summary = ModelSummary(model: loaded, file: model)
        if json {
            print(try summary.jsonString())
        } else {
            print(summary.text)
        }
    }
}

extension Encodable {
    /// Pretty, key-sorted JSON: byte-identical for identical input.
    public func jsonString() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}
