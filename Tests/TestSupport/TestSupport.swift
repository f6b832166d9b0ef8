import Foundation

/// Paths and fixtures shared by the test targets: the repository, ../shared (corpus, node tests), the built
/// `mcc` binary, and scratch directories.
public enum TestPaths {
    /// The package root, derived from this file's location.
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// ../shared beside the checkout, or $MCC_SHARED.
    public static let shared: URL = {
        if let env = ProcessInfo.processInfo.environment["MCC_SHARED"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        return repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared")
    }()

    public static var corpus: URL { shared.appendingPathComponent("corpus") }
    public static var nodeTests: URL { shared.appendingPathComponent("onnx-node-tests") }

    /// The directory holding build products (the test bundle sits beside `mcc`).
    public static let productsDirectory: URL = {
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? "")
        var dir = executable.deletingLastPathComponent()
        // `swift test` runs `<products>/mccPackageTests.xctest`; walk up to the folder that holds it.
        while !dir.path.isEmpty, dir.path != "/",
              !FileManager.default.fileExists(atPath: dir.appendingPathComponent("mcc").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir
    }()

    public static var mccBinary: URL { productsDirectory.appendingPathComponent("mcc") }

    public static func model(_ name: String) -> URL { corpus.appendingPathComponent("models/\(name).onnx") }
}

/// A fresh directory under the system temp dir, removed by `remove()`.
public struct ScratchDirectory {
    public let url: URL

    public init(_ label: String = "mcc-test") throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(label)-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    public func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    public func remove() { try? FileManager.default.removeItem(at: url) }
}

/// The corpus MANIFEST (the fields tests use).
public struct CorpusManifest: Decodable {
    public struct TensorEntry: Decodable {
        public var name: String
        public var dtype: String
        public var staticShape: [Int]
        public var dynamicDims: [Int]
        public var ref: String
        enum CodingKeys: String, CodingKey {
            case name, dtype, ref
            case staticShape = "static_shape"
            case dynamicDims = "dynamic_dims"
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            dtype = try c.decode(String.self, forKey: .dtype)
            ref = try c.decode(String.self, forKey: .ref)
            // Outputs carry no static shape or dynamic dims in the MANIFEST.
            staticShape = try c.decodeIfPresent([Int].self, forKey: .staticShape) ?? []
            dynamicDims = try c.decodeIfPresent([Int].self, forKey: .dynamicDims) ?? []
        }
    }

    public struct Entry: Decodable {
        public var name: String
        public var file: String
        public var irVersion: Int
        public var nodeCount: Int
        public var initializerCount: Int
        public var paramCount: Int
        public var subgraphCount: Int
        public var opHistogram: [String: Int]
        public var inputs: [TensorEntry]
        public var outputs: [TensorEntry]
        enum CodingKeys: String, CodingKey {
            case name, file, inputs, outputs
            case irVersion = "ir_version"
            case nodeCount = "node_count"
            case initializerCount = "initializer_count"
            case paramCount = "param_count"
            case subgraphCount = "subgraph_count"
            case opHistogram = "op_histogram"
        }

        public var path: URL { TestPaths.corpus.appendingPathComponent(file) }
        /// `--shape` arguments that fix this model's dynamic inputs to the reference shapes.
        public var shapeArguments: [String] {
            inputs.filter { !$0.dynamicDims.isEmpty }.flatMap {
                ["--shape", "\($0.name)=" + $0.staticShape.map(String.init).joined(separator: ",")]
            }
        }
    }

    public var models: [Entry]

    public static func load() throws -> CorpusManifest {
        let data = try Data(contentsOf: TestPaths.corpus.appendingPathComponent("MANIFEST.json"))
        return try JSONDecoder().decode(CorpusManifest.self, from: data)
    }
}

/// Result of running the `mcc` binary.
public struct CommandResult {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs the built `mcc` with `arguments` and captures its output.
public func runMCC(_ arguments: [String]) throws -> CommandResult {
    let process = Process()
    process.executableURL = TestPaths.mccBinary
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Drain stderr on another thread while reading stdout: a child filling either pipe (IR dumps go to stderr)
    // must never block on the other one.
    final class Box: @unchecked Sendable { var data = Data() }
    let errBox = Box()
    let drained = DispatchSemaphore(value: 0)
    let errHandle = err.fileHandleForReading
    DispatchQueue.global().async {
        errBox.data = errHandle.readDataToEndOfFile()
        drained.signal()
    }
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    drained.wait()
    let stderr = errBox.data
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                         stderr: String(decoding: stderr, as: UTF8.self))
}
