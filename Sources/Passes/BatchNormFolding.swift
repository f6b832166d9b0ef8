import CKernels
import IR

/// Folds inference-mode BatchNormalization into the layer that produces its input, or lowers it to Mul + Add.
///
/// BN(x) = a·x + b per channel (axis 1) with a = scale / sqrt(var + epsilon) and b = B − mean·a, computed in
/// double precision and rounded to float once.
///
/// Preconditions for any rewrite: default domain; a single output (inference form: `training_mode` absent or 0,
/// no running-statistics outputs); opset < 9 `spatial` absent or 1; scale, B, mean and var constant float 1-D
/// tensors of one length C. Rules, first match wins:
/// In 1–4 the layer's output channel axis must be the BN's axis 1 (so MatMul only with a rank-2 output).
/// 1. x = Conv(u, W[, bias]) with constant W (and bias), x read by the BN only and not a graph output:
///    W'[m, …] = a[m]·W[m, …], bias'[m] = a[m]·bias[m] + b[m] (bias 0 when absent).
/// 2. x = ConvTranspose(u, W[, bias]), same conditions; W is [C_in, C_out/group, k…] and element [ci, j, …] feeds
///    output channel (ci / (C_in/group))·(C_out/group) + j, which is the factor it is scaled by.
/// 3. x = Gemm(A, B[, C]) with constant B (and C), output [M, N] with N = C: column n of op(B) scaled by a[n];
///    the bias becomes C' = a·(beta·C) + b (numpy broadcast of C against [N]) and beta := 1.
/// 4. x = MatMul(A, B) with A of known rank 2 and constant B [K, N]: becomes Gemm(A, B·a, b).
/// 5. x = Relu(y) or LeakyRelu(y) read by the BN only, y from a layer as in 1–4, and every a[c] > 0: these
///    activations are positively homogeneous (f(a·y) = a·f(y) for a > 0), so a folds into the layer as in 1–4
///    and the BN becomes Add(x, b) with a [1, C, 1, …] constant (rank of x).
/// 6. Otherwise, when x's rank r ≥ 2 is known: BN → Mul(x, a) → Add(·, b) with constants of shape [1, C, 1, …]
///    (rank r); emitters map that to a per-channel scale-shift, and ConvBiasFolding may fold it further.
/// The BN's output value (name, uses, graph-output role) is then produced by the folded layer or the final Add.
/// Main graph only.
public struct BatchNormFolding: Pass {
    public var name: String { "batch-norm-folding" }
    /// Constants are read by value, type and shape; single-reader tests only on non-constants (see `Pass`).
    public var isUnaffectedByMergingEqualConstants: Bool { true }

    public init() {}

    public func run(on model: Model, context: PassContext) throws -> Bool {
        let rw = GraphRewriter(model: model, context: context)
        var changed = false
        // Whether any BN became Mul/Add nodes (rules 5 and 6) rather than only folding into its layer (1-4).
        var lowered = false
        for bn in rw.graph.nodes where Rewriting.isNamed(bn.opType, "BatchNormalization") && isONNX(bn) && rw.isAlive(bn) {
            guard let (a, b) = affine(of: bn, rw: rw), let x = bn.input(0) else { continue }
            if let layer = foldableLayer(producing: x, reader: bn, rw: rw), rw.foldOutputAffine(into: layer, scale: a, shift: b) {
                rw.absorb(bn, into: layer)
                changed = true
            } else if a.allSatisfy({ $0 > 0 }), let activation = x.producer, ["Relu", "LeakyRelu"].contains(activation.opType),
                      isONNX(activation), rw.isOnlyUse(x, by: bn), let y = activation.input(0),
                      let layer = foldableLayer(producing: y, reader: activation, rw: rw),
                      rw.foldOutputAffine(into: layer, scale: a, shift: nil) {
                lowered = true
                changed = lower(bn, scale: nil, shift: b, rw: rw) || changed
            } else if lower(bn, scale: a, shift: b, rw: rw) {
                lowered = true
                changed = true
            }
        }
        if changed && !lowered { context.changeOnlyFoldedIntoLayers = true }
        return changed
    }

    /// The Conv/ConvTranspose/Gemm/MatMul producing `x` when `reader` is x's only reader and the layer's channel
    /// axis is axis 1 (the BN's).
    private func foldableLayer(producing x: Value, reader: Node, rw: GraphRewriter) -> Node? {
        guard let layer = x.producer, rw.isOnlyUse(x, by: reader), layer.outputs.count == 1,
              ["Conv", "ConvTranspose", "Gemm", "MatMul"].contains(layer.opType), rw.outputLayout(of: layer)?.axis == 1
        else { return nil }
        return layer
    }

    /// (a, b) per channel, or nil when the BN is not an inference-mode BN with constant parameters.
    private func affine(of bn: Node, rw: GraphRewriter) -> ([Double], [Double])? {
        guard let first = bn.outputs.first, !first.isAbsent, bn.outputs.dropFirst().allSatisfy(\.isAbsent),
              (bn.intAttribute("training_mode") ?? 0) == 0, (bn.intAttribute("spatial") ?? 1) == 1,
              let scale = floatVector(bn.input(1), rw: rw), let bias = floatVector(bn.input(2), rw: rw),
              let mean = floatVector(bn.input(3), rw: rw), let variance = floatVector(bn.input(4), rw: rw) else { return nil }
        let c = scale.shape[0]
        guard c > 0, bias.shape[0] == c, mean.shape[0] == c, variance.shape[0] == c else { return nil }
        let epsilon = Double(bn.floatAttribute("epsilon") ?? 1e-5)
        var a = [Double](repeating: 0, count: c), b = a
        // Read in place: the four parameter vectors are never copied (this runs once per BN of the model).
        let ok = scale.tensor.withUnsafeBufferPointer(as: Float.self) { s in
            bias.tensor.withUnsafeBufferPointer(as: Float.self) { t in
                mean.tensor.withUnsafeBufferPointer(as: Float.self) { m in
                    variance.tensor.withUnsafeBufferPointer(as: Float.self) { v in
                        a.withUnsafeMutableBufferPointer { a in
                            b.withUnsafeMutableBufferPointer { b in
                                guard s.count >= c, t.count >= c, m.count >= c, v.count >= c else { return false }
                                // The C kernel (vectorized, same bits as the scalar definition in CKernelsScale.h).
                                guard let s = s.baseAddress, let t = t.baseAddress, let m = m.baseAddress,
                                      let v = v.baseAddress, let a = a.baseAddress, let b = b.baseAddress else { return false }
                                return mcc_batch_norm_affine(s, t, m, v, epsilon, c, a, b) != 0
                            }
                        }
                    }
                }
            }
        }
        return ok ? (a, b) : nil
    }

    /// A constant float32 1-D tensor (the BN parameters), not converted.
    private func floatVector(_ value: Value?, rw: GraphRewriter) -> (tensor: Tensor, shape: [Int])? {
        guard let t = rw.constant(value), t.elementType == .float, t.shape.count == 1 else { return nil }
        return (t, t.shape)
    }

    /// BN → Mul(x, scale) → Add(·, shift) with [1, C, 1, …] constants (either step left out when nil).
    private func lower(_ bn: Node, scale: [Double]?, shift: [Double], rw: GraphRewriter) -> Bool {
        guard let x = bn.input(0), let rank = x.knownRank, rank >= 2 else { return false }
        if let channels = x.shape?.dims[1].value, channels != shift.count { return false }
        let shape = channelShape(rank: rank, axis: 1, channels: shift.count)
        let base = bn.name.isEmpty ? bn.outputs[0].name : bn.name
        let output = bn.outputs[0]
        var current = x
        if let scale {
            let factors = rw.addFloatInitializer("\(base)_scale", scale, shape: shape)
            let scaled = rw.makeValue("\(base)_scaled", type: output.type)
            rw.insert(rw.makeNode("Mul", name: "\(base)_mul", inputs: [x, factors], outputs: [scaled]), before: bn)
            current = scaled
        }
        let offsets = rw.addFloatInitializer("\(base)_shift", shift, shape: shape)
        bn.setOutputs([])
        rw.insert(rw.makeNode("Add", name: "\(base)_add", inputs: [current, offsets], outputs: [output]), before: bn)
        rw.remove(bn)
        return true
    }
}
