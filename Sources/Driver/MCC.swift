import ArgumentParser
import Foundation
import IR

/// The `mcc` command line. `mcc MODEL -target T -O2` compiles (the default subcommand); `inspect` and `run` are
/// named subcommands. Exit codes: 0 ok, 1 failure, 2 usage/config error, 3 unsupported.
public struct MCC: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "mcc",
        abstract: "Native model compiler for Luxonis cameras (ONNX to RVC2/RVC3/RVC4/Hailo).",
        version: mccVersion,
        subcommands: [Compile.self, Inspect.self, Run.self],
        defaultSubcommand: Compile.self
    )

    public init() {}

    /// Set by the mcc executable, which exits as soon as the command returns: the compiled model is then left for
    /// the process exit to reclaim (freeing its thousands of objects one by one is wasted work at that point).
    nonisolated(unsafe) public static var leavesModelToExit = false
    nonisolated(unsafe) static var keptUntilExit: [AnyObject] = []

    /// Parses `arguments`, runs the command and returns the process exit code. Errors print one line to stderr.
    public static func runMain(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> Int32 {
        Invocation.arguments = arguments
        do {
            if let job = CompileJob(fastParsing: arguments) {
                try job.run()
                return 0
            }
            var command = try parseAsRoot(arguments)
            try command.run()
            return 0
        } catch let error as MCCError {
            printError(error.message)
            return error.exitCode
        } catch let error as ExitCode {
            return error.rawValue
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                // --help and --version arrive as errors that print to stdout.
                print(fullMessage(for: error))
                return 0
            }
            printError(message(for: error))
            return 2
        }
    }
}

let mccVersion = "0.1.0"

func printError(_ message: String) {
    FileHandle.standardError.write(Data("mcc: error: \(message)\n".utf8))
}

func printWarning(_ message: String) {
    FileHandle.standardError.write(Data("mcc: warning: \(message)\n".utf8))
}

func printToStandardError(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
}
