import IR

/// The weight tensor of a linear layer (Conv, ConvTranspose, Gemm, MatMul) with the mapping of its elements to
/// output and input channels, so folds can scale or sum along either side without caring about the layout.
///
/// Layouts (ONNX):
/// - Conv: W[M, C/group, k…]; output channel m reads input channels (m / (M/group))·(C/group) + ci.
/// - ConvTranspose: W[C, M/group, k…]; element [ci, j, …] feeds output channel (ci / (C/group))·(M/group) + j.
/// - Gemm: B[K, N] (transB = 0) or B[N, K] (transB = 1); output channel = n, input channel = k.
/// - MatMul: B[K, N].
/// Arithmetic is done in double precision and rounded to float once when the tensor is rebuilt.
struct LinearWeights {
    enum Kind: Equatable {
        case conv(group: Int)
        case convTranspose(group: Int)
        case gemm(transB: Bool)
        case matMul
    }

    let kind: Kind
    let shape: [Int]
    var values: [Double]

    /// Nil when the shape does not fit the kind (wrong rank, channels not divisible by the group).
    init?(kind: Kind, shape: [Int], values: [Double]) {
        guard Self.fits(kind: kind, shape: shape), values.count == shape.reduce(1, *) else { return nil }
        self.kind = kind
        self.shape = shape
        self.values = values
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
    /// the first two axes; the kernel elements follow contiguously (`kernelSize` of them).
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
        let k = kernelSize
        var v = values
        forEachPair { start, o, _ in
            for e in start..<(start + k) { v[e] *= factors[o] }
        }
        values = v
    }

    /// W·f along input channels (f has `inputChannels` entries).
    mutating func scaleInputChannels(by factors: [Double]) {
        let k = kernelSize
        var v = values
        forEachPair { start, _, i in
            for e in start..<(start + k) { v[e] *= factors[i] }
        }
        values = v
    }

    /// Input channel i of the new weights takes the weights of input channel `source[i]` (a permutation).
    /// Only for layouts where the permutation stays inside one group (group 1 convolutions, Gemm, MatMul).
    mutating func permuteInputChannels(_ source: [Int]) {
        let k = kernelSize
        let old = values
        var v = values
        // Per output channel, gather the kernel rows of each input channel.
        var rows: [Int: [Int: Int]] = [:]  // output channel -> input channel -> start
        forEachPair { start, o, i in rows[o, default: [:]][i] = start }
        for (_, byInput) in rows {
            for (i, start) in byInput {
                guard let from = byInput[source[i]] else { continue }
                for e in 0..<k { v[start + e] = old[from + e] }
            }
        }
        values = v
    }

    /// Σ over input channels and kernel taps of W·x for an input constant per channel: per output channel.
    func sumOverInputs(times perInput: [Double]) -> [Double] {
        let k = kernelSize
        var sums = Array(repeating: 0.0, count: outputChannels)
        let v = values
        forEachPair { start, o, i in
            var s = 0.0
            for e in start..<(start + k) { s += v[e] }
            sums[o] += s * perInput[i]
        }
        return sums
    }

    func tensor() -> Tensor { Tensor(floats: values.map { Float($0) }, shape: shape) }
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
