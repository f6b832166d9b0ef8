import CKernels
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
/// and the new weights are written once by `tensor(in:)`, each element as Float(Double(w)·f) with f the product of its
/// per-channel factors in double precision — so a single scaling rounds exactly like double arithmetic would, with
/// no double copy of the weights. When the source tensor's memory is writable and seen by nothing else,
/// `scaledInPlace()` writes the edits there instead (no fresh pages to fault in and zero).
struct LinearWeights {
    enum Kind: Equatable {
        case conv(group: Int)
        case convTranspose(group: Int)
        case gemm(transB: Bool)
        case matMul
    }

    let kind: Kind
    let shape: [Int]
    /// The original float32 weights, written only by `scaledInPlace()`. Held in a class shared by every copy of
    /// these weights, so that the copies a fold passes around count as one reference to the tensor's storage.
    private let box: SourceBox
    private var source: Tensor { box.tensor }

    private final class SourceBox {
        var tensor: Tensor
        init(_ tensor: Tensor) { self.tensor = tensor }
    }
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
        self.box = SourceBox(tensor)
    }

    /// The source tensor (what `tensor(in:)` returns when nothing is edited).
    var sourceTensor: Tensor { source }

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
    private struct RowLayout {
        var rows: Int
        var columns: Int
        var kernel: Int
        var rowsAreOutputs: Bool
        var rowsPerGroup: Int
        var columnsPerGroup: Int

        @inline(__always)
        func columnBase(_ row: Int) -> Int { (row / rowsPerGroup) * columnsPerGroup }
    }

    private var rowLayout: RowLayout {
        let k = kernelSize
        switch kind {
        case .conv(let g):
            let (m, cg) = (shape[0], shape[1])
            return RowLayout(rows: m, columns: cg, kernel: k, rowsAreOutputs: true, rowsPerGroup: m / g, columnsPerGroup: cg)
        case .convTranspose(let g):
            let (c, mg) = (shape[0], shape[1])
            return RowLayout(rows: c, columns: mg, kernel: k, rowsAreOutputs: false, rowsPerGroup: c / g, columnsPerGroup: mg)
        case .gemm(true):
            return RowLayout(rows: shape[0], columns: shape[1], kernel: 1, rowsAreOutputs: true,
                             rowsPerGroup: max(shape[0], 1), columnsPerGroup: 0)
        case .gemm(false), .matMul:
            return RowLayout(rows: shape[0], columns: shape[1], kernel: 1, rowsAreOutputs: false,
                             rowsPerGroup: max(shape[0], 1), columnsPerGroup: 0)
        }
    }

    /// Calls `body(layout, rowFactors, columnFactors)` where element (row r, column c, tap e) is scaled by
    /// `columnFactors[columnBase(r) + c]·rowFactors[r]`; a side without pending factors is nil (all 1), so a single
    /// pending factor is applied as is (exact: the other one would be 1).
    @inline(__always)
    private func withRowFactors<R>(
        _ body: (RowLayout, UnsafePointer<Double>?, UnsafePointer<Double>?) -> R
    ) -> R {
        let layout = rowLayout
        let (rowF, colF) = layout.rowsAreOutputs ? (outputFactors, inputFactors) : (inputFactors, outputFactors)
        func pointer(_ f: [Double]?, _ next: (UnsafePointer<Double>?) -> R) -> R {
            guard let f else { return next(nil) }
            return f.withUnsafeBufferPointer { next($0.baseAddress) }
        }
        return pointer(rowF) { rows in pointer(colF) { columns in body(layout, rows, columns) } }
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

    /// Whether any edit is pending (otherwise `tensor(in:)` is the source tensor itself).
    var isEdited: Bool { outputFactors != nil || inputFactors != nil || inputSource != nil }

    /// Σ over input channels and kernel taps of W·x for an input constant per channel: per output channel, with
    /// the pending edits applied, accumulated in double. The order of summation is fixed per layout (so the result
    /// is deterministic) but is not a sequential sum: rows that are output channels use the vectorized order of
    /// `mcc_weighted_row_sums`; the result feeds float32 biases, whose rounding hides the last bits of a double.
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
            // Unsafe pointers: captured arrays would pay an exclusivity check per element in this module.
            sums.withUnsafeMutableBufferPointer { sums in
                perInput.withUnsafeBufferPointer { perInput in
                    withRowFactors { layout, rowFactors, columnFactors in
                        guard let sums = sums.baseAddress, let x = perInput.baseAddress else { return }
                        Self.accumulate(w, layout: layout, rowFactors: rowFactors, columnFactors: columnFactors, times: x, into: sums)
                    }
                }
            }
        }
        return sums
    }

    /// The loops of `sumOverInputs` without a permutation. Rows that are output channels (Conv, Gemm with transB)
    /// go to `mcc_weighted_row_sums`: per row Σ Double(w)·(x·columnFactor) in 16 vector partial sums, times the
    /// row factor (see CKernelsScale.h). Rows that are input channels scatter into the outputs here: each pair
    /// contributes (Σ_e Double(w)·f)·x with f = columnFactor·rowFactor, in memory order.
    private static func accumulate(
        _ w: UnsafePointer<Float>, layout: RowLayout, rowFactors: UnsafePointer<Double>?,
        columnFactors: UnsafePointer<Double>?, times x: UnsafePointer<Double>, into sums: UnsafeMutablePointer<Double>
    ) {
        let (columns, k) = (layout.columns, layout.kernel)
        let rowLength = columns &* k
        @inline(__always) func rowFactor(_ r: Int) -> Double { rowFactors?[r] ?? 1 }
        @inline(__always) func factor(_ base: Int, _ c: Int, _ rf: Double) -> Double {
            // 1·rf = rf exactly, so a missing column factor is the row factor itself.
            guard let columnFactors else { return rf }
            return columnFactors[base &+ c] * rf
        }
        if layout.rowsAreOutputs {
            // Contiguous rows: the C kernel's vector partial sums (same bits in every ISA variant).
            mcc_weighted_row_sums(w, layout.rows, columns, k, max(layout.rowsPerGroup, 1), layout.columnsPerGroup, rowFactors,
                                  columnFactors, x, sums)
        } else {
            for r in 0..<layout.rows {
                let base = layout.columnBase(r), rf = rowFactor(r), xr = x[r]
                var p = w + r &* rowLength
                for c in 0..<columns {
                    let f = factor(base, c, rf)
                    var s = 0.0
                    for e in 0..<k { s += Double(p[e]) * f }
                    sums[base &+ c] += s * xr
                    p += k
                }
            }
        }
    }

    /// The new weights: the source tensor when nothing changed, else one new float32 tensor written in one pass,
    /// each element Float(Double(w)·f).
    func tensor(in arena: WeightArena) -> Tensor {
        guard isEdited else { return source }
        let count = shape.reduce(1, *)
        // Every element is written below (each (row, column) pair once), so the buffer needs no zero fill.
        let storage = arena.uninitializedStorage(byteCount: count * MemoryLayout<Float>.stride)
        let out = storage.mutableBaseAddress.bindMemory(to: Float.self, capacity: max(count, 1))
        source.withUnsafeBufferPointer(as: Float.self) { buffer in
            guard let w = buffer.baseAddress else { return }
            if let order = inputSource {
                let k = kernelSize
                forEachGatheredPair(order) { start, from, _, _, f in
                    for e in 0..<k { out[start + e] = Float(Double(w[from + e]) * f) }
                }
                return
            }
            withRowFactors { layout, rowFactors, columnFactors in
                // Each element Float(Double(w)·(columnFactor·rowFactor)), the C kernel on the CPU's widest vectors
                // (same bits as the scalar definition, see CKernelsScale.h).
                mcc_scale_rows(w, out, layout.rows, layout.columns, layout.kernel, max(layout.rowsPerGroup, 1),
                               layout.columnsPerGroup, rowFactors, columnFactors)
            }
        }
        return Tensor(elementType: .float, shape: shape, storage: storage)
    }
}

// MARK: - In place

extension LinearWeights {
    /// Applies the pending factors to the source tensor's own memory and returns it (now the new weights, with no
    /// edit pending), when nothing else can observe that memory: the storage is writable (owned, or a writable
    /// view whose bytes belong to it alone), referenced by these weights only (Swift's `isKnownUniquelyReferenced`:
    /// the caller must have let go of the graph's reference; every other holder, another model, value or copy,
    /// keeps the count above one), exactly the tensor's size and float-aligned. Nil, nothing changed, otherwise, or
    /// when a channel gather is pending (not an element-wise rewrite). Same bits as `tensor(in:)`: each element is
    /// Float(Double(w)·f) from the same kernel.
    mutating func scaledInPlace() -> Tensor? {
        guard isEdited, inputSource == nil, box.tensor.storage.isWritable,
              box.tensor.storage.byteCount == box.tensor.byteCount, box.tensor.storage.isAligned(for: Float.self),
              isKnownUniquelyReferenced(&box.tensor.storage) else { return nil }
        let weights = box.tensor.storage.mutableBaseAddress.assumingMemoryBound(to: Float.self)
        withRowFactors { layout, rowFactors, columnFactors in
            // Element-wise, so the kernel reads and writes the same memory (same bits as `tensor(in:)`).
            mcc_scale_rows_in_place(weights, layout.rows, layout.columns, layout.kernel, max(layout.rowsPerGroup, 1),
                                    layout.columnsPerGroup, rowFactors, columnFactors)
        }
        outputFactors = nil
        inputFactors = nil
        return box.tensor
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
