import CKernels
import Foundation
import IR

/// Output `port` of IR layer `layer`: the IR's notion of a tensor.
public struct IRPort: Hashable, Sendable {
    public var layer: Int
    public var port: Int
}

/// Element type and static dims of one port, with the IR's two spellings of the type.
struct IRTensorType: Equatable {
    var elementType: ElementType
    var dims: [Int]

    /// `element_type` spelling (Parameter/Const `<data>`, Convert `destination_type`).
    var elementName: String { Self.elementName(elementType) }
    /// Port `precision` spelling.
    var precision: String { Self.precision(elementType) }

    static func elementName(_ type: ElementType) -> String {
        switch type {
        case .float: "f32"
        case .float16: "f16"
        case .bfloat16: "bf16"
        case .double: "f64"
        case .int64: "i64"
        case .int32: "i32"
        case .int16: "i16"
        case .int8: "i8"
        case .uint64: "u64"
        case .uint32: "u32"
        case .uint16: "u16"
        case .uint8: "u8"
        case .bool: "boolean"
        case .int4: "i4"
        case .uint4: "u4"
        default: "undefined"
        }
    }

    static func precision(_ type: ElementType) -> String {
        switch type {
        case .float: "FP32"
        case .float16: "FP16"
        case .bfloat16: "BF16"
        case .double: "FP64"
        case .int64: "I64"
        case .int32: "I32"
        case .int16: "I16"
        case .int8: "I8"
        case .uint64: "U64"
        case .uint32: "U32"
        case .uint16: "U16"
        case .uint8: "U8"
        case .bool: "BOOL"
        case .int4: "I4"
        case .uint4: "U4"
        default: "UNSPECIFIED"
        }
    }

    /// Element types an OpenVINO IR can carry.
    static func isRepresentable(_ type: ElementType) -> Bool { precision(type) != "UNSPECIFIED" }
}

/// One `<layer>`: type, op version, attributes in `<data>` order, port types, optional `<rt_info>` attributes.
struct IRLayer {
    let id: Int
    var name: String
    let type: String
    let version: String
    var data: [(String, String)]
    var inputs: [IRTensorType]
    var outputs: [IRTensorType]
    /// Tensor names per output port (`names="a,b"`).
    var outputNames: [[String]]
    /// `<rt_info>` attribute names (version 0, no value), e.g. "decompression".
    var rtInfo: [String]
}

/// Accumulates IR layers and edges and writes the `.xml` text. Ids are assigned in creation order, which the
/// emitter keeps topological, so the output is deterministic for a given graph.
final class IRBuilder {
    private(set) var layers: [IRLayer] = []
    private(set) var edges: [(from: IRPort, toLayer: Int, toPort: Int)] = []
    private var usedNames: Set<String> = []

    /// Names that only the layers explicitly given them may use (graph outputs, so their producers can take the
    /// ONNX tensor names that DepthAI addresses outputs by).
    var reservedNames: Set<String> = []

    func type(of port: IRPort) -> IRTensorType { layers[port.layer].outputs[port.port - layers[port.layer].inputs.count] }

    /// Adds a layer consuming `inputs` (edges are created) and producing `outputs`; returns its output ports.
    @discardableResult
    func addLayer(type: String, version: String, name: String, data: [(String, String)] = [],
                  inputs: [IRPort], outputs: [IRTensorType], rtInfo: [String] = [], reserved: Bool = false) -> [IRPort] {
        let id = layers.count
        let layer = IRLayer(id: id, name: uniqueName(name, reserved: reserved), type: type, version: version,
                            data: data, inputs: inputs.map { self.type(of: $0) }, outputs: outputs,
                            outputNames: Array(repeating: [], count: outputs.count), rtInfo: rtInfo)
        layers.append(layer)
        for (i, input) in inputs.enumerated() { edges.append((input, id, i)) }
        return outputs.indices.map { IRPort(layer: id, port: inputs.count + $0) }
    }

    /// Adds a tensor name to an output port.
    func addTensorName(_ name: String, to port: IRPort) {
        let index = port.port - layers[port.layer].inputs.count
        if !layers[port.layer].outputNames[index].contains(name) { layers[port.layer].outputNames[index].append(name) }
    }

    /// Renames a layer (used to give an output's producer the output tensor's name).
    func rename(layer: Int, to name: String) {
        usedNames.remove(layers[layer].name)
        layers[layer].name = name
        usedNames.insert(name)
    }

    /// Drops layers that no root depends on (unused Consts, outputs nobody reads: MYRIAD rejects dangling data) and
    /// renumbers the rest 0..<n in their original order. Parameters are always kept (they are the model's inputs).
    func prune(keepingReachableFrom roots: [Int]) {
        var producers: [[Int]] = Array(repeating: [], count: layers.count)
        for edge in edges { producers[edge.toLayer].append(edge.from.layer) }
        var keep = Array(repeating: false, count: layers.count)
        var stack = roots + layers.indices.filter { layers[$0].type == "Parameter" }
        while let id = stack.popLast() {
            guard !keep[id] else { continue }
            keep[id] = true
            stack.append(contentsOf: producers[id])
        }
        guard keep.contains(false) else { return }
        var newID = Array(repeating: -1, count: layers.count)
        var kept: [IRLayer] = []
        for layer in layers where keep[layer.id] {
            newID[layer.id] = kept.count
            kept.append(IRLayer(id: kept.count, name: layer.name, type: layer.type, version: layer.version,
                                data: layer.data, inputs: layer.inputs, outputs: layer.outputs,
                                outputNames: layer.outputNames, rtInfo: layer.rtInfo))
        }
        edges = edges.filter { keep[$0.toLayer] }.map {
            (IRPort(layer: newID[$0.from.layer], port: $0.from.port), newID[$0.toLayer], $0.toPort)
        }
        layers = kept
    }

    private func uniqueName(_ base: String, reserved: Bool) -> String {
        let base = base.isEmpty ? "layer" : base
        var name = base
        var k = 1
        // One hash of the name per layer in the common case (insert tells whether it was taken).
        while true {
            if reserved || reservedNames.isEmpty || !reservedNames.contains(name) {
                if usedNames.insert(name).inserted { return name }
            }
            name = "\(base)_\(k)"
            k += 1
        }
    }

    /// The `.xml` document. `rtInfo` goes into the model-level `<rt_info>` as `<key value="..."/>`. Written as
    /// bytes (no string interpolation): for large models this is the emitter's hottest loop.
    func xml(netName: String, irVersion: Int, rtInfo: [(String, String)]) -> Data {
        var out = XMLBytes(capacity: layers.count * 600 + edges.count * 80 + 1024)
        out.raw("<?xml version=\"1.0\"?>\n<net name=\""); out.escaped(netName)
        out.raw("\" version=\""); out.int(irVersion); out.raw("\">\n\t<layers>\n")
        for layer in layers {
            out.raw("\t\t<layer id=\""); out.int(layer.id)
            out.raw("\" name=\""); out.escaped(layer.name)
            out.raw("\" type=\""); out.escaped(layer.type)
            out.raw("\" version=\""); out.escaped(layer.version); out.raw("\">\n")
            if !layer.data.isEmpty {
                out.raw("\t\t\t<data")
                for (key, value) in layer.data {
                    out.raw(" "); out.text(key); out.raw("=\""); out.escaped(value); out.raw("\"")
                }
                out.raw(" />\n")
            }
            if !layer.rtInfo.isEmpty {
                out.raw("\t\t\t<rt_info>\n")
                for attribute in layer.rtInfo {
                    out.raw("\t\t\t\t<attribute name=\""); out.escaped(attribute); out.raw("\" version=\"0\" />\n")
                }
                out.raw("\t\t\t</rt_info>\n")
            }
            if !layer.inputs.isEmpty {
                out.raw("\t\t\t<input>\n")
                for (i, port) in layer.inputs.enumerated() { writePort(&out, id: i, port, names: []) }
                out.raw("\t\t\t</input>\n")
            }
            if !layer.outputs.isEmpty {
                out.raw("\t\t\t<output>\n")
                for (i, port) in layer.outputs.enumerated() {
                    writePort(&out, id: layer.inputs.count + i, port, names: layer.outputNames[i])
                }
                out.raw("\t\t\t</output>\n")
            }
            out.raw("\t\t</layer>\n")
        }
        out.raw("\t</layers>\n\t<edges>\n")
        for edge in edges {
            out.raw("\t\t<edge from-layer=\""); out.int(edge.from.layer)
            out.raw("\" from-port=\""); out.int(edge.from.port)
            out.raw("\" to-layer=\""); out.int(edge.toLayer)
            out.raw("\" to-port=\""); out.int(edge.toPort); out.raw("\" />\n")
        }
        out.raw("\t</edges>\n")
        if !rtInfo.isEmpty {
            out.raw("\t<rt_info>\n")
            for (key, value) in rtInfo {
                out.raw("\t\t<"); out.escaped(key); out.raw(" value=\""); out.escaped(value); out.raw("\" />\n")
            }
            out.raw("\t</rt_info>\n")
        }
        out.raw("</net>\n")
        return out.data()
    }

    private func writePort(_ out: inout XMLBytes, id: Int, _ type: IRTensorType, names: [String]) {
        out.raw("\t\t\t\t<port id=\""); out.int(id); out.raw("\" precision=\""); out.text(type.precision); out.raw("\"")
        if !names.isEmpty {
            // Sorted, comma-joined; a comma inside a name is escaped as "\," (openvino-ir.md §1.3).
            let joined = names.count == 1 ? Self.escapingCommas(names[0])
                : names.sorted().map(Self.escapingCommas).joined(separator: ",")
            out.raw(" names=\""); out.escaped(joined); out.raw("\"")
        }
        if type.dims.isEmpty {
            out.raw(" />\n")
            return
        }
        out.raw(">\n")
        for d in type.dims { out.raw("\t\t\t\t\t<dim>"); out.int(d); out.raw("</dim>\n") }
        out.raw("\t\t\t\t</port>\n")
    }
}

extension IRBuilder {
    /// `name` with each "," written "\\," (byte-wise; Foundation's replacingOccurrences was a visible share of emit).
    static func escapingCommas(_ name: String) -> String {
        guard name.utf8.contains(UInt8(ascii: ",")) else { return name }
        var bytes: [UInt8] = []
        for c in name.utf8 {
            if c == UInt8(ascii: ",") { bytes.append(UInt8(ascii: "\\")) }
            bytes.append(c)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// UTF-8 output buffer with XML attribute escaping: a malloc'd buffer filled through raw pointers (an [UInt8] checks
/// uniqueness and capacity on every append, which made this loop a tenth of emission) and handed to `Data` without a
/// copy.
struct XMLBytes: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    private var count = 0
    private var capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 256)
        guard let memory = malloc(self.capacity) else { fatalError("XMLBytes: out of memory") }
        base = memory.assumingMemoryBound(to: UInt8.self)
    }

    deinit { free(base) }

    /// The bytes written so far, as `Data` that takes over the buffer.
    consuming func data() -> Data {
        let data = Data(bytesNoCopy: base, count: count, deallocator: .free)
        discard self
        return data
    }

    /// The bytes written so far (tests).
    var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

    @inline(__always)
    private mutating func reserve(_ extra: Int) {
        if count + extra > capacity { grow(to: count + extra) }
    }

    private mutating func grow(to needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        guard let memory = realloc(base, newCapacity) else { fatalError("XMLBytes: out of memory") }
        base = memory.assumingMemoryBound(to: UInt8.self)
        capacity = newCapacity
    }

    @inline(__always)
    private mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        reserve(bytes.count)
        (base + count).update(from: source, count: bytes.count)
        count += bytes.count
    }

    @inline(__always)
    private mutating func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    @inline(__always)
    mutating func raw(_ s: StaticString) {
        append(UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    mutating func text(_ s: String) {
        var s = s
        s.withUTF8 { append($0) }
    }

    mutating func int(_ value: Int) {
        reserve(20)
        if value < 0 { base[count] = UInt8(ascii: "-"); count += 1 }
        var v = value.magnitude
        var digits = 1
        var scale: UInt = 10
        while v >= scale && digits < 19 { digits += 1; scale &*= 10 }
        if digits == 19 && v >= scale { digits = 20 }
        var i = count + digits - 1
        repeat {
            base[i] = UInt8(ascii: "0") + UInt8(v % 10)
            v /= 10
            i -= 1
        } while v > 0
        count += digits
    }

    /// Attribute text: & < > " ' and control characters escaped.
    mutating func escaped(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            // Names rarely need escaping: copy runs of plain bytes at once.
            var runStart = 0
            for (i, c) in utf8.enumerated() {
                let replacement: StaticString
                switch c {
                case UInt8(ascii: "&"): replacement = "&amp;"
                case UInt8(ascii: "<"): replacement = "&lt;"
                case UInt8(ascii: ">"): replacement = "&gt;"
                case UInt8(ascii: "\""): replacement = "&quot;"
                case UInt8(ascii: "'"): replacement = "&apos;"
                case 0..<0x20: replacement = ""
                default: continue
                }
                append(UnsafeBufferPointer(rebasing: utf8[runStart..<i]))
                if c < 0x20 {
                    raw("&#"); int(Int(c)); append(UInt8(ascii: ";"))
                } else {
                    raw(replacement)
                }
                runStart = i + 1
            }
            append(UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
    }
}

/// How `<data>` values are spelled: lists joined by ", ", floats with enough digits to round-trip.
enum IRFormat {
    static func ints<T: BinaryInteger>(_ values: [T]) -> String {
        // Byte-wise: every Const's shape goes through here (map + joined was a visible share of emission).
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * 6)
        for (i, value) in values.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")); bytes.append(UInt8(ascii: " ")) }
            guard let v = Int64(exactly: value) else { bytes.append(contentsOf: String(value).utf8); continue }
            if v < 0 { bytes.append(UInt8(ascii: "-")) }
            var magnitude = v.magnitude
            let start = bytes.count
            repeat {
                bytes.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
                magnitude /= 10
            } while magnitude > 0
            bytes[start...].reverse()
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func float(_ value: Float) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        // C's %.17g (through CKernels): String(format:) first pulls in Foundation's formatting machinery, about 1%
        // of a whole -target rvc2 compile for a handful of values.
        var buffer = [CChar](repeating: 0, count: 32)
        let length = Int(mcc_format_double_g17(Double(value), &buffer, buffer.count))
        return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// "d0,d1,...", built by appending (joined(separator:) looks up an associated-type witness at its first use).
    static func shape(_ dims: [Int]) -> String {
        var text = ""
        for (i, d) in dims.enumerated() {
            if i > 0 { text += "," }
            text += String(d)
        }
        return text
    }
}
