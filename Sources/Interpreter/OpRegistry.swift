import IR

/// Maps (domain, op type) to kernels. Each op family registers itself from its own file; `standard` holds them all.
public struct OpRegistry: Sendable {
    private var kernels: [String: OpKernel] = [:]
    /// Keys registered through `registerFusible` and not overridden since: only these may join fused chains.
    private var fusibleKeys: Set<String> = []

    public init() {}

    public mutating func register(_ opType: String, domain: String = "", _ kernel: @escaping OpKernel) {
        kernels[Self.key(domain, opType)] = kernel
        fusibleKeys.remove(Self.key(domain, opType))
    }

    /// Registers an elementwise kernel that may run as part of a fused chain (see `ElementwiseFusion`).
    mutating func registerFusible(_ opType: String, _ kernel: @escaping OpKernel) {
        register(opType, fusing(kernel))
        fusibleKeys.insert(Self.key("", opType))
    }

    /// Lets the kernel registered for `opType` take part in fusion without the elementwise wrapper (Conv, which
    /// applies activation epilogues itself).
    mutating func markFusible(_ opType: String) { fusibleKeys.insert(Self.key("", opType)) }

    /// Whether `node`'s kernel is the standard fusible one.
    func isFusible(_ node: Node) -> Bool { fusibleKeys.contains(Self.key(node.domain, node.opType)) }

    public func kernel(for node: Node) -> OpKernel? { kernels[Self.key(node.domain, node.opType)] }

    /// Registered op types, "domain::Op" for non-default domains, sorted.
    public var supportedOps: [String] { kernels.keys.sorted() }

    private static func key(_ domain: String, _ opType: String) -> String {
        domain.isEmpty || domain == "ai.onnx" ? opType : "\(domain)::\(opType)"
    }

    /// Every op family of the reference interpreter.
    public static let standard: OpRegistry = {
        var r = OpRegistry()
        // Sized for every op up front (about 170): growing rehashed all keys so far several times, a good part of
        // the set-up that constant folding pays the first time it evaluates a node.
        r.kernels.reserveCapacity(256)
        r.fusibleKeys.reserveCapacity(128)
        registerControlFlowOps(&r)
        registerShapeOps(&r)
        registerCastOps(&r)
        registerElementwiseOps(&r)
        registerLogicalOps(&r)
        registerUnaryOps(&r)
        registerActivationOps(&r)
        registerSoftmaxOps(&r)
        registerDataMovementOps(&r)
        registerIndexingOps(&r)
        registerReduceOps(&r)
        registerEinsumOps(&r)
        registerConvOps(&r)
        registerPoolOps(&r)
        registerMatMulOps(&r)
        registerNormalizationOps(&r)
        registerResizeOps(&r)
        registerSpaceDepthOps(&r)
        registerRecurrentOps(&r)
        registerQuantizationOps(&r)
        registerQuantizedLinearOps(&r)
        registerRegionOps(&r)
        registerCol2ImOps(&r)
        registerGridSampleOps(&r)
        registerDeformConvOps(&r)
        return r
    }()
}
