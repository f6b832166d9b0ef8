import Foundation
import IR

/// Where calibration data comes from (`--calib DIR | random`).
public enum CalibrationSource: Sendable, Equatable {
    /// A folder of .jpg/.jpeg/.png/.npy/.raw files; for a multi-input model a subfolder per input name.
    case directory(String)
    /// Seeded pseudo-random tensors (ModelConverter's random calibration, but reproducible and opt-in only).
    case random(count: Int, seed: UInt64)
}

/// How many files to take and which (`--calib-max N`, `--calib-spread`, `--calib-seed`).
public struct CalibrationSelection: Sendable, Equatable {
    /// At most this many samples; nil takes all.
    public var maxCount: Int?
    /// Spread the picks over the whole sorted list (evenly spaced from a seeded offset) instead of ModelConverter's
    /// "first N by name".
    public var spread: Bool
    public var seed: UInt64

    public init(maxCount: Int? = nil, spread: Bool = false, seed: UInt64 = 0) {
        self.maxCount = maxCount
        self.spread = spread
        self.seed = seed
    }

    /// Indices of the chosen items among `count` sorted ones.
    public func pick(from count: Int) -> [Int] {
        guard let n = maxCount, n < count else { return Array(0..<count) }
        guard n > 0 else { return [] }
        guard spread else { return Array(0..<n) }
        var rng = SplitMix64(seed: seed)
        let step = Double(count) / Double(n)
        let offset = Double(rng.next() % UInt64(max(1, Int(step)))) 
        return (0..<n).map { min(count - 1, Int(offset + Double($0) * step)) }
    }
}

/// One calibration sample: a file (or a random draw) per graph input.
public struct CalibrationSample: Sendable {
    public enum Item: Sendable { case file(String), random(seed: UInt64) }
    public var label: String
    public var items: [Item]
}

/// The calibration set, listed and checked up front and loaded one sample at a time, so memory does not grow
/// with the number of images.
///
/// Files in a folder (non-recursive; lower-case `.jpg .jpeg .png .npy .raw` as ModelConverter globs) are sorted by
/// name. Images are decoded, converted to the input's colour encoding, fitted with its resize method and laid out
/// as the input wants, as float pixel values 0...255 — normalization is the graph's job (folded `--mean/--scale`).
/// `.npy` files are used as given and must match the input's shape (a missing batch dim, or NHWC for an NCHW
/// input, is accepted) and element type. `.raw` files are headerless data in SNPE's layout (NHWC for 4-D image
/// inputs) and must have exactly the input's byte size.
public struct CalibrationDataset: Sendable {
    public let inputs: [CalibrationInput]
    public let samples: [CalibrationSample]
    public let source: CalibrationSource

    public static let fileExtensions = ["jpg", "jpeg", "png", "npy", "raw"]

    public init(source: CalibrationSource, inputs: [CalibrationInput], selection: CalibrationSelection = .init()) throws {
        guard !inputs.isEmpty else { throw MCCError.usage("the model has no inputs to calibrate") }
        self.inputs = inputs
        self.source = source
        switch source {
        case .random(let count, let seed):
            guard count > 0 else { throw MCCError.usage("--calib random needs at least one sample") }
            for input in inputs where !input.elementType.isFloatingPoint && input.elementType != .uint8 {
                throw MCCError.usage("input '\(input.name)' is \(input.elementType); random calibration covers float and uint8 inputs only")
            }
            var rng = SplitMix64(seed: seed)
            samples = (0..<count).map { k in
                CalibrationSample(label: "random_\(k)", items: inputs.map { _ in .random(seed: rng.next()) })
            }
        case .directory(let path):
            samples = try Self.listDirectory(path, inputs: inputs, selection: selection)
        }
    }

    static func listDirectory(_ path: String, inputs: [CalibrationInput], selection: CalibrationSelection) throws -> [CalibrationSample] {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw MCCError.usage("calibration folder \(path) does not exist")
        }
        func files(in dir: String) throws -> [String] {
            let names = try fm.contentsOfDirectory(atPath: dir)
            return try names.filter { name in
                guard let dot = name.lastIndex(of: ".") else { return false }
                let ext = String(name[name.index(after: dot)...])
                guard fileExtensions.contains(ext) else { return false }
                var isDir: ObjCBool = false
                // fileExists follows links: a calibration file that is a dangling link is named here rather than
                // silently skipped (a folder of such links would otherwise read as "holds no files").
                guard fm.fileExists(atPath: dir + "/" + name, isDirectory: &isDir) else {
                    guard let target = try? fm.destinationOfSymbolicLink(atPath: dir + "/" + name) else {
                        throw MCCError.usage("calibration file \(dir)/\(name) cannot be read")
                    }
                    throw MCCError.usage("calibration file \(dir)/\(name) is a symbolic link to \(target), which does not exist")
                }
                return !isDir.boolValue
            }.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }.map { dir + "/" + $0 }
        }
        let perInputFolders = inputs.allSatisfy { input in
            var d: ObjCBool = false
            return fm.fileExists(atPath: path + "/" + input.name, isDirectory: &d) && d.boolValue
        }
        var lists: [[String]]
        if perInputFolders {
            lists = try inputs.map { try files(in: path + "/" + $0.name) }
        } else {
            guard inputs.count == 1 else {
                throw MCCError.usage("calibration folder \(path) needs a subfolder per input (\(inputs.map(\.name).joined(separator: ", "))) for a model with \(inputs.count) inputs")
            }
            lists = [try files(in: path)]
        }
        for (input, list) in zip(inputs, lists) where list.isEmpty {
            let dir = perInputFolders ? path + "/" + input.name : path
            throw MCCError.usage("calibration folder \(dir) holds no .jpg, .jpeg, .png, .npy or .raw files")
        }
        if Set(lists.map(\.count)).count > 1 {
            let counts = zip(inputs, lists).map { "\($0.name): \($1.count)" }.joined(separator: ", ")
            throw MCCError.usage("calibration folders of \(path) hold different numbers of files (\(counts)); inputs are paired by sorted name")
        }
        let picked = selection.pick(from: lists[0].count)
        return picked.map { k in
            let name = URL(fileURLWithPath: lists[0][k]).deletingPathExtension().lastPathComponent
            return CalibrationSample(label: name, items: lists.map { .file($0[k]) })
        }
    }

    /// Loads sample `index`: one tensor per input, in input order. Errors name the file and what is wrong.
    public func load(_ index: Int) throws -> [Tensor] {
        let sample = samples[index]
        return try zip(inputs, sample.items).map { input, item in
            switch item {
            case .random(let seed): return Self.randomTensor(for: input, seed: seed)
            case .file(let path): return try Self.loadFile(path, for: input)
            }
        }
    }

    static func loadFile(_ path: String, for input: CalibrationInput) throws -> Tensor {
        let lower = path.lowercased()
        if lower.hasSuffix(".npy") { return try loadNumpy(path, for: input) }
        if lower.hasSuffix(".raw") { return try loadRaw(path, for: input) }
        let image = try ImageDecoder.decodeRGB(path: path)
        return try input.tensor(from: image, label: path)
    }

    static func loadNumpy(_ path: String, for input: CalibrationInput) throws -> Tensor {
        let tensor: Tensor
        do { tensor = try NumpyFile.read(path: path) } catch let error as MCCError {
            throw MCCError.failure("calibration file \(path): \(error.message)")
        }
        guard tensor.elementType == input.elementType else {
            throw MCCError.usage("calibration file \(path) holds \(tensor.elementType) data; input '\(input.name)' takes \(input.elementType)")
        }
        if tensor.shape == input.shape { return tensor }
        if [1] + tensor.shape == input.shape { return Tensor(elementType: tensor.elementType, shape: input.shape, storage: tensor.storage) }
        if let nhwc = nhwcShape(of: input), tensor.shape == nhwc || [1] + tensor.shape == nhwc {
            return try transposeNHWCToNCHW(Tensor(elementType: tensor.elementType, shape: nhwc, storage: tensor.storage), label: path)
        }
        throw MCCError.usage("calibration file \(path) has shape \(tensor.shape); input '\(input.name)' takes \(input.shape)")
    }

    static func loadRaw(_ path: String, for input: CalibrationInput) throws -> Tensor {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw MCCError.failure("cannot read calibration file \(path): \(error.localizedDescription)")
        }
        let count = input.shape.reduce(1, *)
        let expected = input.elementType.byteCount(for: count)
        guard data.count == expected else {
            throw MCCError.usage("calibration file \(path) has \(data.count) bytes; input '\(input.name)' (\(input.elementType) \(input.shape)) takes \(expected)")
        }
        let storage = data.withUnsafeBytes { TensorStorage(copying: $0) }
        if let nhwc = nhwcShape(of: input) {
            return try transposeNHWCToNCHW(Tensor(elementType: input.elementType, shape: nhwc, storage: storage), label: path)
        }
        return Tensor(elementType: input.elementType, shape: input.shape, storage: storage)
    }

    /// The NHWC shape SNPE uses for a 4-D NCHW input (nil when the input is not NCHW).
    static func nhwcShape(of input: CalibrationInput) -> [Int]? {
        guard input.shape.count == 4, input.resolvedLayout == "NCHW" else { return nil }
        return [input.shape[0], input.shape[2], input.shape[3], input.shape[1]]
    }

    static func transposeNHWCToNCHW(_ t: Tensor, label: String) throws -> Tensor {
        let (n, h, w, c) = (t.shape[0], t.shape[1], t.shape[2], t.shape[3])
        let size = t.elementType.byteCount(for: 1)
        guard size * 8 == t.elementType.bitWidth else { throw MCCError.unsupported("calibration file \(label): \(t.elementType) data") }
        let out = TensorStorage(zeroed: t.byteCount)
        let src = t.storage.baseAddress, dst = out.mutableBaseAddress
        for b in 0..<n {
            for y in 0..<h {
                for x in 0..<w {
                    for ch in 0..<c {
                        let from = (((b * h + y) * w + x) * c + ch) * size
                        let to = (((b * c + ch) * h + y) * w + x) * size
                        dst.advanced(by: to).copyMemory(from: src.advanced(by: from), byteCount: size)
                    }
                }
            }
        }
        return Tensor(elementType: t.elementType, shape: [n, c, h, w], storage: out)
    }

    /// ModelConverter's random calibration values — normal(127.5, 35) clipped to [0, 255] — from a seeded generator.
    static func randomTensor(for input: CalibrationInput, seed: UInt64) -> Tensor {
        var rng = SplitMix64(seed: seed)
        let count = input.shape.reduce(1, *)
        var values = [Float](repeating: 0, count: count)
        var k = 0
        while k < count {
            // Box-Muller: two normals per pair of uniforms.
            let u1 = max(Double(rng.next() >> 11) / Double(1 << 53), 1e-300), u2 = Double(rng.next() >> 11) / Double(1 << 53)
            let r = (-2 * Foundation.log(u1)).squareRoot()
            for z in [r * cos(2 * .pi * u2), r * sin(2 * .pi * u2)] where k < count {
                values[k] = Float(min(255, max(0, 127.5 + 35 * z)))
                k += 1
            }
        }
        let t = Tensor(floats: values, shape: input.shape)
        return (try? CalibrationInput.cast(t, to: input.elementType, input: input.name, label: "random")) ?? t
    }
}

/// SplitMix64: small, fast, seedable and identical on every platform (determinism across machines).
public struct SplitMix64: Sendable {
    var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
