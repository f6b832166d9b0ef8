import IR

/// The weight tensor of a linear layer (Conv, ConvTranspose, Gemm, MatMul) with the mapping of its elements to
/// output and input channels, so folds can scale or sum along either side without caring about the layout.
///
/// Layouts (ONNX):
/// - Conv: W[M, C/group, k…]; output channel m reads input channels (m / (M/group))·(C/group) + ci.
/// - ConvTranspose: W[C, M/group, k…]; element [ci, j, …] feeds output channel (ci / (C/group))·(M/group) + j.
/// - Gemm: B[K, N] (transB = 0) or B[N, K] (transB = 1); output channel = n, input channel = k.
/// - MatMul: B[K, N].
///
/// Edits are recorded, not applied: the float32 source tensor (often a view of the loaded file) is read in place
/// and the new weights are written once by `tensor()`, each element as Float(Double(w)·f) with f the product of its
/// per-channel factors in double precision — so a single scaling rounds exactly like double arithmetic would, with
/// no double copy of the weights.
struct LinearWeights {
    enum Kind: Equatable {
        case conv(group: Int)
        case convTranspose(group: Int)
        case gemm(transB: Bool)
        case matMul
    }

    let kind: Kind
    let shape: [Int]
    /// The original float32 weights; never written.
    private let source: Tensor
    /// Pending factors per output channel and per (source) input channel; nil means all 1.
    private var outputFactors: [Double]?
    private var inputFactors: [Double]?
    /// Pending input-channel gather: new input channel i takes the weights of source channel `inputSource[i]`.
    private var inputSource: [Int]?

    /// Nil when the shape does not fit the kind (wrong rank, channels not divisible by the group) or the tensor is
    /// not float32 with that many elements.
    init?(kind: Kind, shape: [Int], tensor: Tensor) {
        guard Self.fits(kind: kind, shape: shape), tensor.elementType == .float,
              tensor.elementCount == shape.reduce(1, *), tensor.storage.byteCount >= tensor.byteCount else { return nil }
        self.kind = kind
        self.shape = shape
        self.source = tensor
    }

    /// Whether a weight shape fits the layer kind.
    static func fits(kind: Kind, shape: [Int]) -> Bool {
        switch kind {
        case .conv(let g), .convTranspose(let g):
            return shape.count >= 3 && g >= 1 && shape.allSatisfy { $0 > 0 } && shape[0] % g == 0
        case .gemm, .matMul:
            return shape.count == 2
        }
    }

    /// Elements per (row, column) pair of the first two axes: the kernel size for convolutions, 1 otherwise.
    private var kernelSize: Int { shape.count > 2 ? shape[2...].reduce(1, *) : 1 }

    var outputChannels: Int { Self.outputChannels(kind: kind, shape: shape) }
    var inputChannels: Int { Self.inputChannels(kind: kind, shape: shape) }

    /// Output channels for a shape that `fits` the kind.
    static func outputChannels(kind: Kind, shape: [Int]) -> Int {
        switch kind {
        case .conv: shape[0]
        case .convTranspose(let g): shape[1] * g
        case .gemm(let t): t ? shape[0] : shape[1]
        case .matMul: shape[1]
        }
    }

    /// Input channels for a shape that `fits` the kind.
    static func inputChannels(kind: Kind, shape: [Int]) -> Int {
        switch kind {
        case .conv(let g): shape[1] * g
        case .convTranspose: shape[0]
        case .gemm(let t): t ? shape[1] : shape[0]
        case .matMul: shape[0]
        }
    }

    /// Calls `body(flatIndexOfFirstKernelElement, outputChannel, inputChannel)` for every (row, column) pair of
    /// the first two axes in memory order; the kernel elements follow contiguously (`kernelSize` of them).
    @inline(__always)
    private func forEachPair(_ body: (Int, Int, Int) -> Void) {
        let k = kernelSize
        switch kind {
        case .conv(let g):
            let (m, cg) = (shape[0], shape[1])
            let mg = m / g
            for o in 0..<m {
                for ci in 0..<cg { body((o * cg + ci) * k, o, (o / mg) * cg + ci) }
            }
        case .convTranspose(let g):
            let (c, mg) = (shape[0], shape[1])
            let cg = c / g
            for ci in 0..<c {
                for j in 0..<mg { body((ci * mg + j) * k, (ci / cg) * mg + j, ci) }
            }
        case .gemm(true):
            for n in 0..<shape[0] { for kk in 0..<shape[1] { body(n * shape[1] + kk, n, kk) } }
        case .gemm(false), .matMul:
            for kk in 0..<shape[0] { for n in 0..<shape[1] { body(kk * shape[1] + n, n, kk) } }
        }
    }

    /// W·f along output channels (f has `outputChannels` entries).
    mutating func scaleOutputChannels(by factors: [Double]) {
        precondition(factors.count == outputChannels, "one factor per output channel")
        outputFactors = outputFactors.map { zip($0, factors).map { $0 * $1 } } ?? factors
    }

    /// W·f along input channels (f has `inputChannels` entries).
    mutating func scaleInputChannels(by factors: [Double]) {
        precondition(factors.count == inputChannels, "one factor per input channel")
        // Factors are kept per source channel: new channel i reads source channel inputSource[i].
        var perSource = factors
        if let order = inputSource { for (i, s) in order.enumerated() { perSource[s] = factors[i] } }
        inputFactors = inputFactors.map { zip($0, perSource).map { $0 * $1 } } ?? perSource
    }

    /// Input channel i of the new weights takes the weights of input channel `source[i]` (a permutation).
    /// Only for layouts where the permutation stays inside one group (group 1 convolutions, Gemm, MatMul); a
    /// channel whose source lies in another group keeps its own weights.
    mutating func permuteInputChannels(_ source: [Int]) {
        precondition(source.count == inputChannels, "one source per input channel")
        let current = inputSource ?? Array(0..<inputChannels)
        inputSource = source.map { current[$0] }
    }

    /// The source input channel whose weights new input channel `i` takes (for output channel `o`'s group).
    @inline(__always)
    private func sourceChannel(_ i: Int, output o: Int, order: [Int]) -> Int {
        let s = order[i]
        switch kind {
        case .conv(let g):
            let cg = shape[1], mg = shape[0] / g
            return s / cg == o / mg ? s : i
        case .convTranspose(let g):
            let cg = shape[0] / g, mg = shape[1]
            return s / cg == o / mg ? s : i
        case .gemm, .matMul:
            return s
        }
    }

    /// The weights as rows of the first axis: row r holds `columns` (row, column) pairs of `kernel` contiguous
    /// elements. `rowsAreOutputs` tells which side the rows are (Conv, Gemm with transB: output channels;
    /// ConvTranspose, Gemm, MatMul: input channels); the other side's channel of column c in row r is
    /// `columnBase(r) + c` (group-aware).
    private var rowLayout: (rows: Int, columns: Int, kernel: Int, rowsAreOutputs: Bool, columnBase: (Int) -> Int) {
        let k = kernelSize
        switch kind {
        case .conv(let g):
            let (m, cg) = (shape[0], shape[1])
            let mg = m / g
            return (m, cg, k, true, { ($0 / mg) * cg })
        case .convTranspose(let g):
            let (c, mg) = (shape[0], shape[1])
            let cg = c / g
            return (c, mg, k, false, { ($0 / cg) * mg })
        case .gemm(true):
            return (shape[0], shape[1], 1, true, { _ in 0 })
        case .gemm(false), .matMul:
            return (shape[0], shape[1], 1, false, { _ in 0 })
        }
    }

    /// Calls `body(row, columnFactors, rowFactor)` per row of `rowLayout`, where element (row, c, e) is scaled by
    /// `columnFactors[columnBase + c]·rowFactor` (a single pending factor is then exact: the other one is 1).
    @inline(__always)
    private func forEachRow(_ body: (_ row: Int, _ base: Int, _ columnFactors: UnsafePointer<Double>, _ rowFactor: Double) -> Void) {
        let layout = rowLayout
        let inF = inputFactors ?? Array(repeating: 1, count: inputChannels)
        let outF = outputFactors ?? Array(repeating: 1, count: outputChannels)
        let (rowF, colF) = layout.rowsAreOutputs ? (outF, inF) : (inF, outF)
        colF.withUnsafeBufferPointer { columns in
            guard let columns = columns.baseAddress else { return }
            for r in 0..<layout.rows { body(r, layout.columnBase(r), columns, rowF[r]) }
        }
    }

    /// Calls `body(start, sourceStart, outputChannel, inputChannel, factor)` for every (row, column) pair of the
    /// new weights with the pending gather applied (the slow general path, used only with a permutation).
    private func forEachGatheredPair(_ order: [Int], _ body: (Int, Int, Int, Int, Double) -> Void) {
        let c = inputChannels
        let inF = inputFactors ?? Array(repeating: 1, count: c)
        let outF = outputFactors ?? Array(repeating: 1, count: outputChannels)
        var starts = Array(repeating: 0, count: outputChannels * c)
        forEachPair { start, o, i in starts[o * c + i] = start }
        forEachPair { start, o, i in
            let s = sourceChannel(i, output: o, order: order)
            body(start, starts[o * c + s], o, i, inF[s] * outF[o])
        }
    }

    /// Whether any edit is pending (otherwise `tensor()` is the source tensor itself).
    var isEdited: Bool { outputFactors != nil || inputFactors != nil || inputSource != nil }

    /// Σ over input channels and kernel taps of W·x for an input constant per channel: per output channel, with
    /// the pending edits applied, accumulated in double (in memory order).
    func sumOverInputs(times perInput: [Double]) -> [Double] {
        precondition(perInput.count == inputChannels, "one value per input channel")
        let k = kernelSize
        var sums = Array(repeating: 0.0, count: outputChannels)
        source.withUnsafeBufferPointer(as: Float.self) { buffer in
            guard let w = buffer.baseAddress else { return }
            if let order = inputSource {
                forEachGatheredPair(order) { _, from, o, i, f in
                    var s = 0.0
                    for e in from..<(from + k) { s += Double(w[e]) * f }
                    sums[o] += s * perInput[i]
                }
                return
            }
            let layout = rowLayout
            // Unsafe pointers: captured arrays would pay an exclusivity check per element in this module.
            sums.withUnsafeMutableBufferPointer { sums in
                perInput.withUnsafeBufferPointer { perInput in
                    forEachRow { r, base, columnFactors, rowFactor in
                        var p = r * layout.columns * k
                        for c in 0..<layout.columns {
                            let f = columnFactors[base + c] * rowFactor
                            var s = 0.0
                            for e in p..<(p + k) { s += Double(w[e]) * f }
                            p += k
                            if layout.rowsAreOutputs { sums[r] += s * perInput[base + c] } else { sums[base + c] += s * perInput[r] }
                        }
                    }
                }
            }
        }
        return sums
    }

    /// The new weights: the source tensor when nothing changed, else one new float32 tensor written in one pass,
    /// each element Float(Double(w)·f).
    func tensor() -> Tensor {
        guard isEdited else { return source }
        let k = kernelSize
        let count = shape.reduce(1, *)
        let storage = TensorStorage(zeroed: count * MemoryLayout<Float>.stride)
        let out = storage.mutableBaseAddress.bindMemory(to: Float.self, capacity: count)
        source.withUnsafeBufferPointer(as: Float.self) { buffer in
            guard let w = buffer.baseAddress else { return }
            if let order = inputSource {
                forEachGatheredPair(order) { start, from, _, _, f in
                    for e in 0..<k { out[start + e] = Float(Double(w[from + e]) * f) }
                }
                return
            }
            let layout = rowLayout
            forEachRow { r, base, columnFactors, rowFactor in
                let row = r * layout.columns * k
                if k == 1 {
                    // 1×1 convolutions, Gemm, MatMul: one element per pair, a vectorizable row.
                    for c in 0..<layout.columns {
                        out[row + c] = Float(Double(w[row + c]) * (columnFactors[base + c] * rowFactor))
                    }
                    return
                }
                var p = row
                for c in 0..<layout.columns {
                    let f = columnFactors[base + c] * rowFactor
                    for e in p..<(p + k) { out[e] = Float(Double(w[e]) * f) }
                    p += k
                }
            }
        }
        return Tensor(elementType: .float, shape: shape, storage: storage)
    }
}

extension LinearWeights.Kind {
    /// The kind of a Conv / ConvTranspose node's weight (input 1).
    static func of(_ node: Node) -> LinearWeights.Kind? {
        let group = Int(node.intAttribute("group") ?? 1)
        switch node.opType {
        case "Conv": return .conv(group: group)
        case "ConvTranspose": return .convTranspose(group: group)
        default: return nil
        }
    }
}
