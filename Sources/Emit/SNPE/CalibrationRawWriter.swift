import Foundation
import IR

/// `input_list.txt` plus headerless float32 `.raw` files for `snpe-dlc-quant --input_list` (docs/vendor-formats.md
/// §1.6): one line per sample, `name:=/abs/path.raw` for every input (as ModelConverter writes it), tensors in
/// SNPE's layout — 4-D NCHW inputs transposed to NHWC, everything else as is — little-endian float32.
public struct CalibrationRawWriter {
    /// Input names and whether each is an NCHW image tensor to transpose.
    public let inputs: [(name: String, transposeToNHWC: Bool)]

    public init(inputs: [(name: String, transposeToNHWC: Bool)]) {
        self.inputs = inputs
    }

    /// Bytes of one input tensor as SNPE reads it.
    public func rawBytes(_ tensor: Tensor, transpose: Bool) throws -> [UInt8] {
        let values = tensor.floatValues()
        var ordered = values
        if transpose, tensor.rank == 4 {
            let (n, c, h, w) = (tensor.shape[0], tensor.shape[1], tensor.shape[2], tensor.shape[3])
            for b in 0..<n {
                for y in 0..<h {
                    for x in 0..<w {
                        for ch in 0..<c { ordered[((b * h + y) * w + x) * c + ch] = values[((b * c + ch) * h + y) * w + x] }
                    }
                }
            }
        }
        var bytes = [UInt8](repeating: 0, count: ordered.count * 4)
        for (i, v) in ordered.enumerated() {
            let bits = v.bitPattern.littleEndian
            bytes[4 * i] = UInt8(truncatingIfNeeded: bits)
            bytes[4 * i + 1] = UInt8(truncatingIfNeeded: bits >> 8)
            bytes[4 * i + 2] = UInt8(truncatingIfNeeded: bits >> 16)
            bytes[4 * i + 3] = UInt8(truncatingIfNeeded: bits >> 24)
        }
        return bytes
    }

    /// Relative path of sample `k`'s file for input `i` (`raw/<k>.raw`, or `raw/<input>/<k>.raw` for several inputs).
    public func relativePath(sample k: Int, input i: Int) -> String {
        inputs.count == 1 ? "raw/\(k).raw" : "raw/\(safeName(inputs[i].name))/\(k).raw"
    }

    /// The input list for `sampleCount` samples whose files will live under `root` (an absolute path).
    public func inputList(sampleCount: Int, root: String) -> String {
        (0..<sampleCount).map { k in
            inputs.indices.map { i in "\(inputs[i].name):=\(root)/\(relativePath(sample: k, input: i))" }.joined(separator: " ")
        }.joined(separator: "\n") + "\n"
    }

    func safeName(_ s: String) -> String { String(s.map { $0 == "/" || $0 == "\\" || $0 == ":" ? "_" : $0 }) }
}
