import CKernels
import Foundation
import IR

/// Lowers one ONNX node into IR layers.
typealias OpLowering = @Sendable (Node, Lowering) throws -> Void

/// The state of one ONNX → OpenVINO IR translation: which IR port carries each ONNX value, the constants,
/// the `.bin` being filled. Op families (ConvMapping.swift, ...) add layers through the helpers here.
final class Lowering {
    let model: Model
    let options: OpenVINOEmitOptions
    let builder = IRBuilder()
    var weights = WeightsFile()
    let opset: Int64

    /// IR port of each ONNX value already lowered.
    private var ports: [ObjectIdentifier: IRPort] = [:]
    /// Constant data of initializers and Constant-node outputs.
    private var constants: [ObjectIdentifier: Tensor] = [:]
    /// `Cast(to=FLOAT)` outputs of f16 constants (the FP16 pass's form): the f16 data, emitted as a compressed Const.
    private var compressedConstants: [ObjectIdentifier: Tensor] = [:]
    /// Const layers already emitted, per value and shape.
    private var constPorts: [ConstKey: IRPort] = [:]
    /// Nodes lowered as part of another node (fusions) or not lowered at all (Constant, decompression Casts).
    var absorbed: Set<ObjectIdentifier> = []
    /// Nodes replaced by a fused pattern, keyed by the node that emits the fused layer.
    var fusions: [ObjectIdentifier: Fusion] = [:]
    private let graphOutputs: Set<ObjectIdentifier>

    enum Fusion {
        /// `x * Sigmoid(x)` → Swish(x).
        case swish(Value)
        /// `x * HardSigmoid(x; 1/6, 1/2)` → HSwish(x).
        case hswish(Value)
    }

    private struct ConstKey: Hashable {
        var value: ObjectIdentifier
        var shape: [Int]
        var compress: Bool
    }

    init(model: Model, options: OpenVINOEmitOptions) {
        self.model = model
        self.options = options
        self.opset = model.defaultOpset
        graphOutputs = Set(model.graph.outputs.map(ObjectIdentifier.init))
        builder.reservedNames = Set(model.graph.outputs.map(\.name))
    }

    /// All op families' lowerings.
    static let table: [String: OpLowering] = {
        var table: [String: OpLowering] = [:]
        for family in [convLowerings, normalizationLowerings, activationLowerings, elementwiseLowerings,
                       poolLowerings, shapeLowerings, matMulLowerings, resizeLowerings] {
            table.merge(family) { first, _ in first }
        }
        return table
    }()

    // MARK: Driving

    /// Fails with one line naming the first node whose op has no mapping (and how many others), before any output.
    func checkSupport() throws {
        var unsupported: [Node] = []
        for node in model.graph.nodes where node.opType != "Constant" {
            let known = (node.domain.isEmpty || node.domain == "ai.onnx") && Self.table[node.opType] != nil
            if !known { unsupported.append(node) }
        }
        guard let first = unsupported.first else { return }
        let domain = first.domain.isEmpty ? "" : "\(first.domain)::"
        let others = Set(unsupported.dropFirst().map { $0.domain.isEmpty ? $0.opType : "\($0.domain)::\($0.opType)" })
        var message = "\(first.label): op \(domain)\(first.opType) has no OpenVINO mapping for target rvc2"
        if !others.isEmpty { message += " (also unsupported: \(others.sorted().joined(separator: ", ")))" }
        throw MCCError.unsupported(message)
    }

    func run() throws {
        let graph = model.graph
        // An initializer that is also a graph input (IR < 4 style) is an overridable default: a Parameter.
        let inputIDs = Set(graph.inputs.map(ObjectIdentifier.init))
        for value in graph.initializers where !inputIDs.contains(ObjectIdentifier(value)) {
            if let tensor = value.initializer { constants[ObjectIdentifier(value)] = tensor }
        }
        for node in graph.nodes where node.opType == "Constant" {
            absorbed.insert(ObjectIdentifier(node))
            guard let output = node.outputs.first else { continue }
            constants[ObjectIdentifier(output)] = try constantNodeValue(node)
        }
        findDecompressionCasts()
        planFusions()

        for input in graph.inputs {
            let type = try tensorType(input, what: "graph input '\(input.name)'")
            let port = builder.addLayer(type: "Parameter", version: "opset1", name: input.name,
                                        data: [("shape", IRFormat.shape(type.dims)), ("element_type", type.elementName)],
                                        inputs: [], outputs: [type], reserved: true)[0]
            ports[ObjectIdentifier(input)] = port
            builder.addTensorName(input.name, to: port)
        }

        for node in graph.nodes where !absorbed.contains(ObjectIdentifier(node)) {
            guard let lower = Self.table[node.opType] else {
                throw MCCError.unsupported("\(node.label): op \(node.opType) has no OpenVINO mapping")
            }
            try lower(node, self)
        }

        var results: [Int] = []
        for output in graph.outputs {
            let port: IRPort
            if let p = ports[ObjectIdentifier(output)] {
                port = p
            } else if constants[ObjectIdentifier(output)] != nil || compressedConstants[ObjectIdentifier(output)] != nil {
                port = try constPort(for: output)
                builder.rename(layer: port.layer, to: output.name)
            } else {
                throw MCCError.failure("graph output '\(output.name)' is not computed by any node")
            }
            builder.addLayer(type: "Result", version: "opset1", name: "\(output.name)/sink_port_0",
                             inputs: [port], outputs: [])
            results.append(builder.layers.count - 1)
        }
        builder.prune(keepingReachableFrom: results)
    }

    /// A Constant node's tensor (value, value_float(s), value_int(s)).
    private func constantNodeValue(_ node: Node) throws -> Tensor {
        guard let attribute = node.attributes.first else { throw MCCError.failure("\(node.label): Constant has no value") }
        switch attribute.value {
        case .tensor(let t): return t
        case .float(let f): return Tensor(scalar: f)
        case .floats(let fs): return Tensor(floats: fs, shape: [fs.count])
        case .int(let i): return Tensor(int64s: [i], shape: [])
        case .ints(let is_): return Tensor(int64s: is_, shape: [is_.count])
        default: throw MCCError.unsupported("\(node.label): Constant attribute '\(attribute.name)' is not supported")
        }
    }

    /// `Cast(to=FLOAT)` of an f16 constant is the FP16 pass's marker for "keep these weights in f16": it becomes an
    /// f16 Const + decompression Convert where it is used (openvino-ir.md §3).
    private func findDecompressionCasts() {
        let floatCode = Int64(ElementType.float.rawValue)
        for node in model.graph.nodes where node.opType == "Cast" {
            guard let to = node.attribute("to"), let code = to.int, code == floatCode else { continue }
            guard let input = node.input(0), let output = node.outputs.first else { continue }
            guard let tensor = constants[ObjectIdentifier(input)], tensor.elementType == .float16 else { continue }
            if graphOutputs.contains(ObjectIdentifier(output)) { continue }
            compressedConstants[ObjectIdentifier(output)] = tensor
            absorbed.insert(ObjectIdentifier(node))
        }
    }

    /// Patterns lowered to one OpenVINO op: x·Sigmoid(x) → Swish, x·HardSigmoid(x) with α=1/6, β=1/2 → HSwish.
    private func planFusions() {
        for node in model.graph.nodes where node.opType == "Mul" && node.inputs.count == 2 {
            guard let a = node.input(0), let b = node.input(1) else { continue }
            for (x, gate) in [(a, b), (b, a)] {
                guard let producer = gate.producer, producer.input(0) === x, gate.uses.count == 1,
                      !graphOutputs.contains(ObjectIdentifier(gate)) else { continue }
                if producer.opType == "Sigmoid" {
                    fusions[ObjectIdentifier(node)] = .swish(x)
                } else if producer.opType == "HardSigmoid",
                          abs((producer.attribute("alpha")?.float ?? 0.2) - 1.0 / 6.0) < 1e-7,
                          abs((producer.attribute("beta")?.float ?? 0.5) - 0.5) < 1e-7 {
                    fusions[ObjectIdentifier(node)] = .hswish(x)
                } else {
                    continue
                }
                absorbed.insert(ObjectIdentifier(producer))
                break
            }
        }
    }

    // MARK: Values

    /// The IR port of input `index` of `node`; constants become Const layers (compressed when allowed).
    func input(_ node: Node, _ index: Int) throws -> IRPort {
        guard let value = node.input(index) else { throw MCCError.failure("\(node.label): input \(index) is missing") }
        return try port(for: value, node: node)
    }

    func port(for value: Value, node: Node) throws -> IRPort {
        if let port = ports[ObjectIdentifier(value)] { return port }
        if isConstant(value) { return try constPort(for: value) }
        throw MCCError.failure("\(node.label): input '\(value.name)' is not computed before it is used")
    }

    /// Input `index` with a different static shape: constants are re-described (same bytes), other values go
    /// through a Reshape layer.
    func input(_ node: Node, _ index: Int, reshapedTo shape: [Int]) throws -> IRPort {
        guard let value = node.input(index) else { throw MCCError.failure("\(node.label): input \(index) is missing") }
        if isConstant(value) { return try constPort(for: value, shape: shape) }
        let port = try self.port(for: value, node: node)
        if builder.type(of: port).dims == shape { return port }
        return reshape(port, to: shape, name: "\(value.name)/reshape")
    }

    /// Makes output 0 of `node` the constant `tensor` (materialized as a Const where it is used).
    func bindConstant(_ node: Node, _ tensor: Tensor) throws {
        guard let output = node.outputs.first else { return }
        if let declared = output.shape?.staticSizes, declared != tensor.shape {
            throw MCCError.failure("\(node.label): computed shape \(tensor.shape) differs from inferred \(declared)")
        }
        constants[ObjectIdentifier(output)] = tensor
    }

    func isConstant(_ value: Value) -> Bool {
        constants[ObjectIdentifier(value)] != nil || compressedConstants[ObjectIdentifier(value)] != nil
    }

    /// Constant data of `value` (f16 data of a decompression Cast comes back as f16), or nil.
    func constantTensor(_ value: Value?) -> Tensor? {
        guard let value else { return nil }
        return constants[ObjectIdentifier(value)] ?? compressedConstants[ObjectIdentifier(value)]
    }

    /// Constant input as floats, or an error naming the node when it is not constant.
    func constantFloats(_ node: Node, _ index: Int, what: String) throws -> [Float] {
        guard let tensor = constantTensor(node.input(index)) else {
            throw MCCError.unsupported("\(node.label): \(what) (input \(index)) must be a constant for OpenVINO IR; compile with -O1 or higher to fold it")
        }
        return tensor.floatValues()
    }

    /// Constant integer input (shape, axes, pads...), or an error naming the node.
    func constantInts(_ node: Node, _ index: Int, what: String) throws -> [Int64] {
        guard let tensor = constantTensor(node.input(index)) else {
            throw MCCError.unsupported("\(node.label): \(what) (input \(index)) must be a constant for OpenVINO IR; compile with -O1 or higher to fold it")
        }
        return tensor.int64Values()
    }

    /// Static dims of `value` (from its type, or its data for constants).
    func shape(_ value: Value?, of node: Node) throws -> [Int] {
        guard let value else { throw MCCError.failure("\(node.label): missing input") }
        if let tensor = constantTensor(value) { return tensor.shape }
        guard let sizes = value.shape?.staticSizes else {
            throw MCCError.unsupported("\(node.label): '\(value.name)' has no static shape (\(value.shape?.description ?? "unknown rank")); fix the input dims with --shape")
        }
        return sizes
    }

    func tensorType(_ value: Value, what: String) throws -> IRTensorType {
        guard let element = value.elementType, IRTensorType.isRepresentable(element) else {
            throw MCCError.unsupported("\(what): element type \(value.elementType?.description ?? "unknown") is not representable in OpenVINO IR")
        }
        guard let sizes = value.shape?.staticSizes else {
            throw MCCError.unsupported("\(what) has no static shape (\(value.shape?.description ?? "unknown rank")); fix the input dims with --shape")
        }
        return IRTensorType(elementType: element, dims: sizes)
    }

    /// IR type of output `index` of `node`.
    func outputType(_ node: Node, _ index: Int = 0) throws -> IRTensorType {
        guard index < node.outputs.count else { throw MCCError.failure("\(node.label): missing output \(index)") }
        return try tensorType(node.outputs[index], what: "\(node.label): output '\(node.outputs[index].name)'")
    }

    /// Records that `port` carries ONNX value `value`: the port gets the tensor name, and a graph output's producer
    /// is named after it (DepthAI and the blob address outputs by the producing layer's name, §5).
    func bind(_ value: Value, to port: IRPort) {
        guard !value.isAbsent else { return }
        ports[ObjectIdentifier(value)] = port
        builder.addTensorName(value.name, to: port)
        if graphOutputs.contains(ObjectIdentifier(value)) { builder.rename(layer: port.layer, to: value.name) }
    }

    /// The layer name for `node` (its name, else its first output's), with an optional `/suffix` for helper layers.
    func layerName(_ node: Node, _ suffix: String? = nil) -> String {
        let base = node.name.isEmpty ? (node.outputs.first?.name ?? node.opType) : node.name
        return suffix.map { "\(base)/\($0)" } ?? base
    }

    /// Adds the layer that produces ONNX output `outputIndex` of `node` and binds it.
    @discardableResult
    func emit(_ node: Node, type: String, version: String, data: [(String, String)] = [], inputs: [IRPort],
              outputIndex: Int = 0) throws -> IRPort {
        let port = builder.addLayer(type: type, version: version, name: layerName(node), data: data,
                                    inputs: inputs, outputs: [try outputType(node, outputIndex)])[0]
        bind(node.outputs[outputIndex], to: port)
        return port
    }

    /// Adds a helper layer (not bound to an ONNX value) whose output has `type`.
    func helper(_ node: Node, _ suffix: String, type: String, version: String, data: [(String, String)] = [],
                inputs: [IRPort], output: IRTensorType) -> IRPort {
        builder.addLayer(type: type, version: version, name: layerName(node, suffix), data: data,
                         inputs: inputs, outputs: [output])[0]
    }

    // MARK: Constants

    /// Const layer(s) for a constant ONNX value, optionally re-described with another shape of the same size.
    func constPort(for value: Value, shape: [Int]? = nil) throws -> IRPort {
        guard let tensor = constantTensor(value) else { throw MCCError.failure("'\(value.name)' is not a constant") }
        let dims = shape ?? tensor.shape
        guard checkedElementCount(dims) == tensor.elementCount else {
            throw MCCError.failure("constant '\(value.name)' of shape \(tensor.shape) cannot be viewed as \(dims)")
        }
        let fromCast = compressedConstants[ObjectIdentifier(value)] != nil
        let key = ConstKey(value: ObjectIdentifier(value), shape: dims, compress: fromCast)
        if let port = constPorts[key] { return port }
        let port = try makeConst(tensor, dims: dims, name: value.name, compress: fromCast ? .alreadyF16 : .ifAllowed)
        constPorts[key] = port
        return port
    }

    enum Compression {
        /// Float data stays as it is.
        case never
        /// f32 data is stored as f16 + Convert when the options ask for it and every value fits f16.
        case ifAllowed
        /// The data is f16 weights to be decompressed to f32.
        case alreadyF16
    }

    /// A Const of `tensor` (viewed as `dims`), possibly FP16-compressed.
    func makeConst(_ tensor: Tensor, dims: [Int]? = nil, name: String, compress: Compression) throws -> IRPort {
        let dims = dims ?? tensor.shape
        guard IRTensorType.isRepresentable(tensor.elementType) else {
            throw MCCError.unsupported("constant '\(name)': element type \(tensor.elementType) is not representable in OpenVINO IR")
        }
        switch compress {
        case .alreadyF16:
            return compressedConst(tensor, dims: dims, name: name)
        case .ifAllowed where options.compressWeightsToFP16 && tensor.elementType == .float:
            if let half = Self.toFloat16(tensor) { return compressedConst(half, dims: dims, name: name) }
            fallthrough
        default:
            return rawConst(tensor, dims: dims, name: name)
        }
    }

    /// f16 Const named `<name>_compressed` + Convert(f32) named `<name>` carrying the decompression rt_info.
    private func compressedConst(_ half: Tensor, dims: [Int], name: String) -> IRPort {
        let constant = rawConst(half, dims: dims, name: "\(name)_compressed")
        return builder.addLayer(type: "Convert", version: "opset1", name: name, data: [("destination_type", "f32")],
                                inputs: [constant], outputs: [IRTensorType(elementType: .float, dims: dims)],
                                rtInfo: ["decompression"])[0]
    }

    private func rawConst(_ tensor: Tensor, dims: [Int], name: String) -> IRPort {
        let offset = weights.append(tensor.storage, count: tensor.byteCount)
        let type = IRTensorType(elementType: tensor.elementType, dims: dims)
        return builder.addLayer(type: "Const", version: "opset1", name: name,
                                data: [("element_type", type.elementName), ("shape", IRFormat.ints(dims)),
                                       ("offset", String(offset)), ("size", String(tensor.byteCount))],
                                inputs: [], outputs: [type])[0]
    }

    /// An i64 Const (shapes, axes, orders...).
    func int64Const(_ values: [Int64], shape: [Int]? = nil, name: String) -> IRPort {
        rawConst(Tensor(int64s: values, shape: shape ?? [values.count]), dims: shape ?? [values.count], name: name)
    }

    /// An f32 Const that is never compressed (scalars of decompositions, Interpolate scales).
    func float32Const(_ values: [Float], shape: [Int], name: String) -> IRPort {
        rawConst(Tensor(floats: values, shape: shape), dims: shape, name: name)
    }

    /// A new float Const derived from weights (folded BatchNorm...), compressed like the weights are.
    func weightConst(_ values: [Float], shape: [Int], name: String) throws -> IRPort {
        try makeConst(Tensor(floats: values, shape: shape), name: name, compress: .ifAllowed)
    }

    /// A Reshape of `port` to the static `shape`.
    func reshape(_ port: IRPort, to shape: [Int], name: String) -> IRPort {
        let target = int64Const(shape.map(Int64.init), name: "\(name)/shape")
        var type = builder.type(of: port)
        type.dims = shape
        return builder.addLayer(type: "Reshape", version: "opset1", name: name, data: [("special_zero", "false")],
                                inputs: [port, target], outputs: [type])[0]
    }

    /// f16 copy of f32 data, or nil when a value does not fit f16 (it would become inf; mo keeps such data f32).
    static func toFloat16(_ tensor: Tensor) -> Tensor? {
        let n = tensor.elementCount
        var half = Tensor(zeros: .float16, shape: tensor.shape)
        let out = half.storage.mutableBaseAddress.assumingMemoryBound(to: UInt16.self)
        // The bits of `HalfPrecision.bits(of:)` for every value, F16C when the CPU has it.
        let fits = tensor.withUnsafeBufferPointer(as: Float.self) { src -> Bool in
            guard let base = src.baseAddress else { return true }
            return mcc_half_from_float(base, out, n) != 0
        }
        guard fits else { return nil }
        half.shape = tensor.shape
        return half
    }
}
