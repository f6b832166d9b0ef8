import IR

/// Where the graph keeps a constant's tensor (an initializer, or a `Constant` node's `value` attribute), so that a
/// pass can let go of the graph's reference while it asks whether the tensor's buffer is uniquely referenced (to
/// rewrite it in place), and take the tensor back when it is not rewritten.
enum ConstantHolder {
    case initializer(Value)
    case constantNode(Node, attributeIndex: Int)

    /// The holder of `value`'s tensor: its initializer (for a value no node produces), or the `value` attribute of
    /// the ONNX `Constant` node that produces it; nil for other values.
    init?(of value: Value) {
        if value.initializer != nil, value.producer == nil {
            self = .initializer(value)
            return
        }
        guard let node = value.producer, node.opType == "Constant", isONNX(node), node.outputs.count == 1,
              let index = node.attributes.firstIndex(where: { $0.name == "value" }),
              case .tensor = node.attributes[index].value else { return nil }
        self = .constantNode(node, attributeIndex: index)
    }

    /// The holder of `value`'s tensor when that tensor shares `tensor`'s storage; nil for other constants.
    init?(of value: Value, holding tensor: Tensor) {
        guard let holder = ConstantHolder(of: value), holder.tensor?.storage === tensor.storage else { return nil }
        self = holder
    }

    /// The tensor held (nil after `letGo`).
    var tensor: Tensor? {
        switch self {
        case .initializer(let value): return value.initializer
        case .constantNode(let node, let index):
            guard case .tensor(let tensor) = node.attributes[index].value else { return nil }
            return tensor
        }
    }

    func letGo() {
        switch self {
        case .initializer(let value): value.initializer = nil
        // The attribute keeps its place and name with an empty value until `restore` or the node's removal.
        case .constantNode(let node, let index): node.attributes[index].value = .tensors([])
        }
    }

    func restore(_ tensor: Tensor) {
        switch self {
        case .initializer(let value): value.initializer = tensor
        case .constantNode(let node, let index): node.attributes[index].value = .tensor(tensor)
        }
    }
}
