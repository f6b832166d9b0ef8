import IR

/// A graph rewrite over a whole model (main graph, subgraphs and functions as the pass sees fit).
///
/// Contract every pass keeps (the verifier checks it between passes in tests and with `--verify-each`):
/// - the model stays SSA, topologically ordered and linked (use-lists, producers);
/// - graph inputs and outputs keep their names, element types and order;
/// - a value the pass creates gets a type (`Value.type`) whenever the values it was built from have one;
/// - numerics are preserved exactly or within float rounding (FP16 casting is the one deliberate exception and says so);
/// - one run reaches the pass's own fixed point (running it again right away changes nothing): the pass manager
///   does not rerun the pass that made the last change.
public protocol Pass: Sendable {
    /// Stable identifier used by `--print-after NAME`, `-v` timing and pipeline listings (kebab-case).
    var name: String { get }
    /// Rewrites `model` in place; returns whether anything changed.
    func run(on model: Model, context: PassContext) throws -> Bool
    /// Whether merging equal initializers (same element type, shape, bytes and declared type; none a graph input,
    /// the kept one keeps its name) can never give
    /// this pass something to do: it reads constants by value, type and shape only, never compares a constant's
    /// identity with another value's, and asks use counts of constants only in ways a merge cannot turn from
    /// failing to passing (a single reader, no reader: the kept initializer only gains readers, and the merged
    /// ones leave the graph). The pass manager then keeps the pass idle across a change that only merged
    /// such initializers (see `PassContext.changeOnlyMergedEqualConstants`). Default false.
    var isUnaffectedByMergingEqualConstants: Bool { get }
    /// Whether folding per-channel affine ops into the linear layers next to them (a change that sets
    /// `PassContext.changeOnlyFoldedIntoLayers`) can never give this pass something to do. Default false.
    var isUnaffectedByFoldingIntoLayers: Bool { get }
}

extension Pass {
    public var isUnaffectedByMergingEqualConstants: Bool { false }
    public var isUnaffectedByFoldingIntoLayers: Bool { false }
}

/// What passes share during one pipeline run: options from the command line and diagnostics.
public final class PassContext {
    /// Default-domain opset of the model being rewritten.
    public var opset: Int64
    /// Warnings for the user (one line each, naming node or value); the driver prints them.
    public private(set) var warnings: [String] = []
    /// Free-form options for passes that need user input (normalization, layout, precision),
    /// set by the driver; each pass documents the keys it reads.
    public var options: PassOptions

    /// Whether the nodes and initializers passes drop are kept referenced here instead of being freed as they go
    /// (like clang's -disable-free). Freeing them one by one (nodes, their output values, attribute arrays, the
    /// small unpacked protobuf messages behind small tensors) is a fifth of the passes' work, wasted when the
    /// process exits right after compiling: the mcc executable sets this and keeps the context until exit.
    /// Library users and tests leave it off (dropped objects are freed at once). What is kept holds little memory:
    /// a dropped initializer's tensor is released first unless it is small, and a node holding a large tensor
    /// attribute is not kept, so peak memory stays that of freeing everything.
    public var keepsRemovedObjects = false
    private var removedObjects: [AnyObject] = []
    /// Tensors up to this size stay with a kept object (biases, scalars, shapes). Read-only views up to
    /// `keptViewByteLimit` too: those are the importer's unpacked protobuf pieces, each freed alone (a kept view
    /// never pins a shared region: the importer's weight region holds only pieces of 64 KiB and more, and the
    /// passes' WeightArena, writable, only tensors of 16 KiB and more).
    static let keptTensorByteLimit = 4 << 10
    static let keptViewByteLimit = 32 << 10

    private static func isSmall(_ tensor: Tensor) -> Bool {
        let bytes = tensor.storage.byteCount
        return bytes <= keptTensorByteLimit || (!tensor.storage.isWritable && bytes <= keptViewByteLimit)
    }

    public init(opset: Int64, options: PassOptions = PassOptions()) {
        self.opset = opset
        self.options = options
    }

    public func warn(_ message: String) { warnings.append(message) }

    /// Set by a pass whose change (this run) only merged equal initializers into one (the readers of the later
    /// ones read the first, which keeps its name and has the same declared type): CommonSubexpressionElimination
    /// when it merged no node. The pass manager clears it before every pass.
    public var changeOnlyMergedEqualConstants = false

    /// Set by a pass whose change (this run) only folded per-channel affine ops into the Conv, ConvTranspose, Gemm
    /// or MatMul next to them (ConvBiasFolding; BatchNormFolding when no BN became Mul/Add nodes): the folded nodes
    /// (BatchNormalization; Add, Sub, Mul, Div with a constant) are removed, the layer takes over the output of a
    /// following one and the reader of a preceding one reads its input instead, the layer gets new parameter
    /// initializers, a MatMul may become Gemm, a convolution's padding may become an explicit Pad node and a
    /// Pad's fill value may change. Such a change creates no node other than Pad and Gemm, changes no existing
    /// constant's values (in-place weight writes only touch weights the layer alone reads), makes no value
    /// constant or non-constant, and changes no non-constant value's number of readers. Cleared before every pass.
    public var changeOnlyFoldedIntoLayers = false

    /// Takes nodes removed from their graph (detached, outputs unused): kept when `keepsRemovedObjects` and they
    /// hold no large tensor, else left to be freed by the caller's last reference.
    func retire(_ nodes: [Node]) {
        guard keepsRemovedObjects else { return }
        for node in nodes where Self.holdsLittleMemory(node) { removedObjects.append(node) }
    }

    /// Takes an initializer removed from its graph (no uses left): kept when `keepsRemovedObjects`, its tensor
    /// released first unless small.
    func retire(initializer value: Value) {
        guard keepsRemovedObjects else { return }
        if let tensor = value.initializer, !Self.isSmall(tensor) { value.initializer = nil }
        removedObjects.append(value)
    }

    /// No tensor attribute or output initializer that `isSmall` rejects, no subgraph.
    private static func holdsLittleMemory(_ node: Node) -> Bool {
        for index in node.attributes.indices {
            switch node.attributes[index].value {
            case .float, .int, .string, .type, .floats, .ints, .strings, .types: continue
            case .tensor(let tensor): if !isSmall(tensor) { return false }
            default: return false
            }
        }
        for output in node.outputs {
            if let tensor = output.initializer, !isSmall(tensor) { return false }
        }
        return true
    }
}

/// User-level options that reach passes. Everything here comes from the command line or config file.
public struct PassOptions: Sendable {
    /// Per graph-input preprocessing to fold into the model (`--mean`, `--scale`, `--encoding`), keyed by input name;
    /// the driver resolves unnamed flags ("every image input") to names and validates counts against channels.
    public var normalization: [String: InputNormalization] = [:]
    /// Per graph-input layout the user will feed (`--layout NAME=NHWC`), "NCHW" or "NHWC" (upper case), only for
    /// rank-4 inputs; absent means the model's own layout.
    public var inputLayouts: [String: String] = [:]
    /// Whether an FP16 pass may cast weights (set by targets that run in FP16, e.g. rvc2).
    public var castToFP16 = false

    public init() {}
}

/// ModelConverter's preprocessing semantics for one input: the model expects
/// `y = (reverse_if_encoding_differs(x) - mean) / scale`, with `mean`/`scale` given in the *source model's* channel
/// order (see ../shared/docs/modelconverter.md). Folding makes the compiled model take raw `x` in the `to` encoding.
public struct InputNormalization: Sendable, Equatable {
    public var mean: [Float]?
    public var scale: [Float]?
    /// Colour encoding the model was trained on (`from`) and the encoding the compiled model will be fed (`to`),
    /// e.g. "RGB", "BGR", "GRAY", "NONE". A reversal is folded when both are 3-channel and differ.
    public var encodingFrom: String?
    public var encodingTo: String?
    /// Axis of the input (in the model's own layout) that holds the channels `mean`/`scale` index, as the driver
    /// resolved it (ModelConverter's layout guess: 1 for NCHW, 3 for NHWC). The driver always sets it; `mean` and
    /// `scale`, when present, have exactly one value per channel (a single CLI value is broadcast).
    public var channelAxis: Int?

    public init(mean: [Float]? = nil, scale: [Float]? = nil, encodingFrom: String? = nil, encodingTo: String? = nil,
                channelAxis: Int? = nil) {
        self.mean = mean
        self.scale = scale
        self.encodingFrom = encodingFrom
        self.encodingTo = encodingTo
        self.channelAxis = channelAxis
    }

    public var reversesChannels: Bool {
        guard let from = encodingFrom?.uppercased(), let to = encodingTo?.uppercased() else { return false }
        return Set([from, to]) == Set(["RGB", "BGR"])
    }

    public var isIdentity: Bool {
        !reversesChannels && (mean ?? []).allSatisfy { $0 == 0 } && (scale ?? []).allSatisfy { $0 == 1 }
    }
}
