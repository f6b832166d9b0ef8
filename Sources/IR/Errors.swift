/// The one error type mcc reports to users. `kind` decides the exit code; `message` is one line that names the
/// file, node, tensor or key at fault.
public struct MCCError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        /// Bad or inconsistent input, a failed tool, an I/O error: exit 1.
        case failure
        /// Command-line or configuration misuse: exit 2.
        case usage
        /// Valid input that mcc (or the chosen target) does not support: exit 3.
        case unsupported
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public static func failure(_ message: String) -> MCCError { MCCError(.failure, message) }
    public static func usage(_ message: String) -> MCCError { MCCError(.usage, message) }
    public static func unsupported(_ message: String) -> MCCError { MCCError(.unsupported, message) }

    public var exitCode: Int32 {
        switch kind {
        case .failure: 1
        case .usage: 2
        case .unsupported: 3
        }
    }

    public var description: String { message }

    /// The same error with `context` prepended ("model.onnx: " + message).
    public func prefixed(_ context: String) -> MCCError { MCCError(kind, "\(context): \(message)") }
}
