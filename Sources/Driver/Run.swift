import ArgumentParser
import Foundation
import IR
import Interpreter
import ONNXFormat

/// `mcc run MODEL --inputs DIR -o OUTDIR`: reference inference with the interpreter.
///
/// DIR holds either `input_K.npy` / `input_K.pb` by graph-input position (as the corpus refs and ONNX node tests
/// do), writing `output_K.npy`; or ModelConverter's infer layout, a folder per input name with `0.npy, 1.npy, ...`,
/// writing a folder per output name with the same file names.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        // Named explicitly: deriving the name from the type reflects on it, a measurable part of startup.
        commandName: "run",
        abstract: "Run a model with the reference interpreter.")

    @Argument(help: "The ONNX model.") var model: String
    @Option(help: "Folder with the inputs.") var inputs: String
    @Option(name: [.customShort("o"), .customLong("output-dir")], help: "Folder for the outputs.") var outputDirectory: String
    @Option(name: .customLong("shape"), parsing: .singleValue, help: "Fix an input's dims: NAME=d0,d1,...")
    var shapes: [String] = []
    @Option(help: "Threads for kernels (default: all cores).") var threads: Int?
    @Option(name: .customLong("repeat"), help: "Run each sample this many times (for --profile).") var repetitions: Int = 1
    @Flag(help: "Print time per op type to stderr.") var profile = false

    func run() throws {
        if let threads, threads < 1 { throw MCCError.usage("--threads must be at least 1") }
        let overrides = try shapes.map(ShapeOverride.init(parsing:))
        let loaded = try ONNXReader.load(path: model)
        let fixed = try ShapeOverride.resolve(overrides, inputs: loaded.graph.inputs.map(\.name))
        if !fixed.isEmpty {
            _ = try ShapeInference(fixedInputShapes: fixed, opset: loaded.defaultOpset).run(on: loaded)
        }
        guard repetitions >= 1 else { throw MCCError.usage("--repeat must be at least 1") }
        let interpreter = try Interpreter(model: loaded, threads: threads)
        if profile { interpreter.profile = OpProfile() }
        let samples = try InputFolder(path: inputs, inputNames: loaded.graph.inputs.map(\.name))
        let output = try OutputDirectory(path: outputDirectory)
        let outputNames = loaded.graph.outputs.map(\.name)
        for sample in samples.samples {
            let tensors = try sample.files.map(readTensorFile)
            var results = try interpreter.run(tensors)
            for _ in 1..<repetitions { results = try interpreter.run(tensors) }
            for (k, tensor) in results.enumerated() {
                let relative = samples.layout == .positional
                    ? "output_\(k).npy"
                    : "\(safeFolderName(outputNames[k]))/\(sample.label).npy"
                try output.write(Data(try NumpyFile.encode(tensor)), to: relative)
            }
        }
        try output.commit()
        if let table = interpreter.profile?.table { printToStandardError(table + "\n") }
        print(output.destinationPath)
    }
}

/// Reads `.npy` or TensorProto `.pb`.
func readTensorFile(_ path: String) throws -> Tensor {
    if path.hasSuffix(".pb") { return try TensorProtoIO.readTensor(path: path).tensor }
    return try NumpyFile.read(path: path)
}

/// Output names can contain '/', which must not create nested or escaping folders.
func safeFolderName(_ name: String) -> String {
    let cleaned = name.map { $0 == "/" || $0 == "\\" ? "_" : $0 }
    let s = String(cleaned)
    return s == "." || s == ".." || s.isEmpty ? "_\(s)" : s
}

/// The samples found in an inputs folder.
struct InputFolder {
    enum Layout { case positional, perInputFolders }
    struct Sample {
        var label: String
        var files: [String]
    }

    var layout: Layout
    var samples: [Sample]

    init(path: String, inputNames: [String]) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw MCCError.usage("--inputs \(path): not a folder")
        }
        func file(_ k: Int) -> String? {
            for ext in ["npy", "pb"] {
                let p = "\(path)/input_\(k).\(ext)"
                if fm.fileExists(atPath: p) { return p }
            }
            return nil
        }
        if file(0) != nil || inputNames.isEmpty {
            var files: [String] = []
            for k in inputNames.indices {
                guard let f = file(k) else {
                    throw MCCError.usage("--inputs \(path): missing input_\(k).npy for input '\(inputNames[k])'")
                }
                files.append(f)
            }
            layout = .positional
            samples = [Sample(label: "0", files: files)]
            return
        }
        // Infer layout: <DIR>/<input name>/<label>.npy, the same labels in every folder.
        var labelsPerInput: [[String]] = []
        for name in inputNames {
            let folder = "\(path)/\(safeFolderName(name))"
            guard let entries = try? fm.contentsOfDirectory(atPath: folder) else {
                throw MCCError.usage("--inputs \(path): expected input_0.npy or a folder '\(safeFolderName(name))' for input '\(name)'")
            }
            let labels = entries.filter { $0.hasSuffix(".npy") || $0.hasSuffix(".pb") }
                .map { String($0[..<($0.lastIndex(of: ".") ?? $0.endIndex)]) }
                .sorted { a, b in (Int(a) ?? Int.max, a) < (Int(b) ?? Int.max, b) }
            guard !labels.isEmpty else { throw MCCError.usage("\(folder): no .npy files") }
            labelsPerInput.append(labels)
        }
        guard let firstLabels = labelsPerInput.first, labelsPerInput.allSatisfy({ $0 == firstLabels }) else {
            throw MCCError.usage("--inputs \(path): the per-input folders hold different sample names")
        }
        layout = .perInputFolders
        samples = firstLabels.map { label in
            Sample(label: label, files: inputNames.map { name in
                let base = "\(path)/\(safeFolderName(name))/\(label)"
                return fm.fileExists(atPath: base + ".npy") ? base + ".npy" : base + ".pb"
            })
        }
    }
}
