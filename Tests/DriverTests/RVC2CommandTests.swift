import Foundation
import IR
import ONNXFormat
import TestSupport
import XCTest

/// `mcc MODEL -target rvc2`: output directory layout, buildinfo.json, the compile_tool step (a scripted stand-in
/// here that records its arguments; the real MYRIAD compiler runs in scripts/oracle/rvc2_check.py), superblob
/// layout, and bad input. Numerics of the IR are checked by ov_check.py in the oracle suite.
final class RVC2CommandTests: XCTestCase {
    private var scratch: ScratchDirectory!

    override func setUpWithError() throws { scratch = try ScratchDirectory("mcc-rvc2") }
    override func tearDown() { scratch.remove() }

    private var sample: String { TestPaths.repositoryRoot.appendingPathComponent("samples/ppocr_mobile_v2_cls.onnx").path }
    private let shape = ["--shape", "x=1,3,48,192"]

    /// Runs mcc with PATH limited to the system directories (no compile_tool) plus `environment`.
    private func mcc(_ arguments: [String], environment: [String: String] = [:]) throws -> RVC2Result {
        let process = Process()
        process.executableURL = TestPaths.mccBinary
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = "/usr/bin:/bin"
        env["MCC_COMPILE_TOOL"] = nil
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return RVC2Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                          stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// A compile_tool double: prints a version banner like the real tool, records its arguments and the config,
    /// and writes a blob whose bytes depend on the config (so shave variants differ), or fails like the MYRIAD
    /// compiler does on an unsupported layer.
    private func fakeCompileTool(failing: Bool = false) throws -> String {
        let path = scratch.path("compile_tool")
        let script = """
        #!/bin/sh
        echo "OpenVINO Runtime version ......... 2021.4.2"
        echo "$@" >> "\(scratch.path("calls.txt"))"
        out=""; conf=""
        while [ $# -gt 0 ]; do case "$1" in -o) out="$2"; shift;; -c) conf="$2"; shift;; esac; shift; done
        \(failing ? "echo '[ GENERAL_ERROR ] Failed to compile layer \"Conv_0\": unsupported layer type \"FancyOp\"' >&2; exit 1" : "")
        { printf 'BLOB'; head -c 3000 /dev/zero | tr '\\0' 'x'; cat "$conf"; } > "$out"
        """
        try Data(script.utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o755)
        return path
    }

    private func json(_ path: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func testWritesIRIntermediateONNXAndBuildinfoWithoutCompiler() throws {
        let out = scratch.path("cls")
        let result = try mcc([sample, "-target", "rvc2", "-O2"] + shape + ["-o", out])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("compile_tool not found"), result.stderr)
        for file in ["ppocr_mobile_v2_cls.xml", "ppocr_mobile_v2_cls.bin", "buildinfo.json",
                     "intermediate_outputs/ppocr_mobile_v2_cls.onnx"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/\(file)"), file)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(out)/ppocr_mobile_v2_cls.blob"))
        let info = try json("\(out)/buildinfo.json")
        XCTAssertEqual(info["target"] as? String, "rvc2")
        XCTAssertEqual(info["ir_version"] as? Int, 11)
        XCTAssertEqual(info["compress_to_fp16"] as? Bool, true)
        XCTAssertTrue(info["blob"] is NSNull)
        let commands = try XCTUnwrap(info["cmd_info"] as? [String: [String]])
        XCTAssertEqual(commands["mcc"], ["mcc", sample, "-target", "rvc2", "-O2"] + shape + ["-o", out])
        // Keys are written sorted (deterministic output), and a rerun is byte-identical.
        let text = try String(contentsOfFile: "\(out)/buildinfo.json", encoding: .utf8)
        let keys = text.split(separator: "\n").filter { $0.hasPrefix("  \"") }.map { $0.split(separator: "\"")[1] }
        XCTAssertEqual(keys, keys.sorted())
        let xml = try Data(contentsOf: URL(fileURLWithPath: "\(out)/ppocr_mobile_v2_cls.xml"))
        let bin = try Data(contentsOf: URL(fileURLWithPath: "\(out)/ppocr_mobile_v2_cls.bin"))
        XCTAssertEqual(try mcc([sample, "-target", "rvc2", "-O2"] + shape + ["-o", out]).status, 0)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(out)/ppocr_mobile_v2_cls.xml")), xml)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(out)/ppocr_mobile_v2_cls.bin")), bin)
        XCTAssertTrue(String(decoding: xml, as: UTF8.self).contains("<net name=\"ppocr_mobile_v2_cls\" version=\"11\">"))
    }

    func testRunsCompileToolAsModelConverterDoes() throws {
        let tool = try fakeCompileTool()
        let out = scratch.path("cls")
        let result = try mcc([sample, "-target", "rvc2", "-O2", "--tool-version", "2021.4", "--shaves", "4",
                              "--no-fp16", "--compile-tool", tool] + shape + ["-o", out])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("compile_tool: OpenVINO Runtime version"), "progress is shown: \(result.stderr)")
        let blob = try Data(contentsOf: URL(fileURLWithPath: "\(out)/ppocr_mobile_v2_cls.blob"))
        let config = String(decoding: blob.dropFirst(3004), as: UTF8.self)
        XCTAssertEqual(config, "MYRIAD_NUMBER_OF_SHAVES 4\nMYRIAD_NUMBER_OF_CMX_SLICES 4\nMYRIAD_THROUGHPUT_STREAMS 1\n",
                       "2021.4 config has no MYRIAD_ENABLE_MX_BOOT")
        let info = try json("\(out)/buildinfo.json")
        let commands = try XCTUnwrap(info["cmd_info"] as? [String: [String]])
        XCTAssertEqual(commands["compile_tool"], ["compile_tool", "-m", "ppocr_mobile_v2_cls.xml", "-d", "MYRIAD", "-ip", "U8",
                                                  "-o", "ppocr_mobile_v2_cls.blob", "-c",
                                                  "intermediate_outputs/ppocr_mobile_v2_cls.compile_tool.conf"])
        XCTAssertEqual(info["compile_tool_version"] as? String, "2021.4.2")
        XCTAssertEqual(info["number_of_shaves"] as? Int, 4)
        XCTAssertEqual(info["ir_version"] as? Int, 10)
        XCTAssertEqual(info["compress_to_fp16"] as? Bool, false)
        let xml = try String(contentsOfFile: "\(out)/ppocr_mobile_v2_cls.xml", encoding: .utf8)
        XCTAssertTrue(xml.contains("version=\"10\">"))
        XCTAssertFalse(xml.contains("element_type=\"f16\""))

        // The environment variable works too, and the 2022.3 config adds MYRIAD_ENABLE_MX_BOOT NO.
        let out2 = scratch.path("cls2")
        XCTAssertEqual(try mcc([sample, "-target", "rvc2"] + shape + ["-o", out2], environment: ["MCC_COMPILE_TOOL": tool]).status, 0)
        let blob2 = try Data(contentsOf: URL(fileURLWithPath: "\(out2)/ppocr_mobile_v2_cls.blob"))
        XCTAssertTrue(String(decoding: blob2.dropFirst(3004), as: UTF8.self).hasPrefix("MYRIAD_ENABLE_MX_BOOT NO\nMYRIAD_NUMBER_OF_SHAVES 8\n"))
    }

    func testCompileToolFailureNamesTheLayerAndLeavesNoOutput() throws {
        let tool = try fakeCompileTool(failing: true)
        let out = scratch.path("cls")
        let result = try mcc([sample, "-target", "rvc2", "--compile-tool", tool] + shape + ["-o", out])
        XCTAssertEqual(result.status, 1)
        let error = result.stderr.split(separator: "\n").filter { $0.hasPrefix("mcc: error:") }
        XCTAssertEqual(error.count, 1, result.stderr)
        XCTAssertTrue(error.first?.contains("'Conv_0'") == true && error.first?.contains("FancyOp") == true, result.stderr)
        XCTAssertTrue(error.first?.contains("try") == true, "says what to try: \(result.stderr)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    func testSuperblobIsBaseBlobPlusBsdiffPatches() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/bsdiff"),
              FileManager.default.isExecutableFile(atPath: "/usr/bin/bspatch") else {
            throw XCTSkip("bsdiff not installed (scripts/requirements/openvino.apt installs it)")
        }
        let tool = try fakeCompileTool()
        let out = scratch.path("cls")
        let result = try mcc([sample, "-target", "rvc2", "--superblob", "--compile-tool", tool] + shape + ["-o", out])
        XCTAssertEqual(result.status, 0, result.stderr)
        let superblob = try Data(contentsOf: URL(fileURLWithPath: "\(out)/ppocr_mobile_v2_cls.superblob"))
        let sizes = (0..<17).map { i in superblob[(i * 8)..<(i * 8 + 8)].reduce(0) { $0 << 8 | Int($1) } }
        let base = try Data(contentsOf: URL(fileURLWithPath: "\(out)/intermediate_outputs/blobs/ppocr_mobile_v2_cls_8shave.blob"))
        XCTAssertEqual(sizes[0], base.count)
        XCTAssertEqual(sizes[8], 0, "no patch for the 8-shave base")
        XCTAssertEqual(superblob.count, 136 + sizes.reduce(0, +))
        XCTAssertEqual(superblob[136..<(136 + base.count)], base)
        var offset = 136 + base.count
        for shaves in 1...16 where shaves != 8 {
            let patch = superblob[offset..<(offset + sizes[shaves])]
            offset += sizes[shaves]
            XCTAssertEqual(patch.prefix(8), Data("BSDIFF40".utf8))
            let patchPath = scratch.path("p\(shaves)"), rebuilt = scratch.path("b\(shaves)")
            try Data(patch).write(to: URL(fileURLWithPath: patchPath))
            let bspatch = Process()
            bspatch.executableURL = URL(fileURLWithPath: "/usr/bin/bspatch")
            bspatch.arguments = ["\(out)/intermediate_outputs/blobs/ppocr_mobile_v2_cls_8shave.blob", rebuilt, patchPath]
            try bspatch.run()
            bspatch.waitUntilExit()
            let blob = try Data(contentsOf: URL(fileURLWithPath: rebuilt))
            XCTAssertTrue(String(decoding: blob, as: UTF8.self).contains("MYRIAD_NUMBER_OF_SHAVES \(shaves)\n"), "\(shaves)")
        }
        let info = try json("\(out)/buildinfo.json")
        XCTAssertEqual(info["is_superblob"] as? Bool, true)
        XCTAssertEqual((info["cmd_info"] as? [String: Any])?.keys.filter { $0.hasPrefix("bsdiff_") }.count, 15)
    }

    func testUnsupportedOpExitsThreeNamingNodeBeforeWriting() throws {
        let graph = Graph(name: "g")
        let x = Value(name: "x", type: .tensor(.float, Shape([1, 4])))
        let k = Value(name: "k", initializer: Tensor(int64s: [1], shape: [1]))
        let v = Value(name: "v"), i = Value(name: "i")
        graph.inputs = [x]
        graph.initializers = [k]
        graph.append(Node("TopK", name: "my_topk", inputs: [x, k], outputs: [v, i]))
        graph.outputs = [v]
        let model = Model(graph: graph)
        model.opsetImports = [OpsetImport(domain: "", version: 13)]
        let path = scratch.path("topk.onnx")
        try ONNXWriter.write(model, to: path)
        let out = scratch.path("o")
        let result = try mcc([path, "-target", "rvc2", "-o", out])
        XCTAssertEqual(result.status, 3, result.stderr)
        XCTAssertTrue(result.stderr.contains("my_topk") && result.stderr.contains("TopK"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).filter { $0.hasPrefix(".o") }, [],
                       "no staging directory left behind")
    }

    func testBadRVC2FlagsAreUsageErrors() throws {
        for (args, needle) in [(["--shaves", "17"], "--shaves"), (["--tool-version", "2020.1"], "2020.1"),
                               (["--compile-tool", "/nonexistent/compile_tool"], "/nonexistent/compile_tool")] {
            let out = scratch.path("o")
            let result = try mcc([sample, "-target", "rvc2"] + shape + args + ["-o", out])
            XCTAssertEqual(result.status, 2, "\(args): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(needle), result.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        }
        let result = try mcc([sample, "-target", "onnx", "--shaves", "4"] + shape + ["-o", scratch.path("o")])
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(result.stderr.contains("-target rvc2"), result.stderr)
    }
}

private struct RVC2Result {
    var status: Int32
    var stdout: String
    var stderr: String
}
