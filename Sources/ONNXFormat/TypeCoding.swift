import COnnx
import CProtobufC
import IR

// TypeProto <-> ValueType.

/// An ONNX data type number as an element type. 0 (UNDEFINED) is nil; numbers mcc does not know are `.unsupported`.
func elementType(_ raw: Int32, _ context: @autoclosure () -> String) throws -> ElementType? {
    if raw == 0 { return nil }
    guard let type = ElementType(rawValue: raw) else {
        throw MCCError.unsupported("\(context()): unsupported element type \(raw)")
    }
    return type
}

/// A TypeProto as a ValueType; nil when the proto leaves the type open (no value, opaque, undefined element type).
func valueType(_ proto: UnsafeMutablePointer<Onnx__TypeProto>?, _ context: @autoclosure () -> String) throws -> ValueType? {
    guard let tp = proto?.pointee else { return nil }
    switch tp.value_case {
    case ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE:
        guard let t = tp.tensor_type?.pointee, t.has_elem_type != 0,
              let e = try elementType(t.elem_type, context()) else { return nil }
        return .tensor(e, shape(t.shape))
    case ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE:
        guard let t = tp.sparse_tensor_type?.pointee, t.has_elem_type != 0,
              let e = try elementType(t.elem_type, context()) else { return nil }
        return .sparseTensor(e, shape(t.shape))
    case ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE:
        return .sequence(try valueType(tp.sequence_type?.pointee.elem_type, context()))
    case ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE:
        return .optional(try valueType(tp.optional_type?.pointee.elem_type, context()))
    case ONNX__TYPE_PROTO__VALUE_MAP_TYPE:
        guard let m = tp.map_type?.pointee, m.has_key_type != 0, let key = try elementType(m.key_type, context()) else {
            return nil
        }
        return .map(key: key, value: try valueType(m.value_type, context()))
    default:
        return nil
    }
}

/// A TensorShapeProto; nil (unknown rank) when absent. Negative dim values, which some exporters write for
/// "unknown", read as unknown dims.
private func shape(_ proto: UnsafeMutablePointer<Onnx__TensorShapeProto>?) -> Shape? {
    guard let s = proto?.pointee else { return nil }
    return Shape(messages(s.dim, s.n_dim).map { d -> Dim in
        switch d.pointee.value_case {
        case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE:
            let v = d.pointee.dim_value
            return v >= 0 && v <= Int64(Int32.max) * 1024 ? .known(Int(v)) : .unknown
        case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM:
            return optionalString(d.pointee.dim_param).map(Dim.symbolic) ?? .unknown
        default:
            return .unknown
        }
    })
}

/// A malloc'ed TypeProto for `type`; nil writes a TypeProto with no value (an open type).
func typeProto(_ type: ValueType?) -> UnsafeMutablePointer<Onnx__TypeProto> {
    newMessage { (tp: UnsafeMutablePointer<Onnx__TypeProto>) in
        onnx__type_proto__init(tp)
        guard let type else { return }
        switch type {
        case .tensor(let e, let s):
            tp.pointee.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE
            tp.pointee.tensor_type = newMessage { (t: UnsafeMutablePointer<Onnx__TypeProto__Tensor>) in
                onnx__type_proto__tensor__init(t)
                t.pointee.has_elem_type = 1
                t.pointee.elem_type = e.rawValue
                t.pointee.shape = s.map(shapeProto)
            }
        case .sparseTensor(let e, let s):
            tp.pointee.value_case = ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE
            tp.pointee.sparse_tensor_type = newMessage { (t: UnsafeMutablePointer<Onnx__TypeProto__SparseTensor>) in
                onnx__type_proto__sparse_tensor__init(t)
                t.pointee.has_elem_type = 1
                t.pointee.elem_type = e.rawValue
                t.pointee.shape = s.map(shapeProto)
            }
        case .sequence(let element):
            tp.pointee.value_case = ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE
            tp.pointee.sequence_type = newMessage { (t: UnsafeMutablePointer<Onnx__TypeProto__Sequence>) in
                onnx__type_proto__sequence__init(t)
                t.pointee.elem_type = element.map(typeProto)
            }
        case .optional(let element):
            tp.pointee.value_case = ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE
            tp.pointee.optional_type = newMessage { (t: UnsafeMutablePointer<Onnx__TypeProto__Optional>) in
                onnx__type_proto__optional__init(t)
                t.pointee.elem_type = element.map(typeProto)
            }
        case .map(let key, let value):
            tp.pointee.value_case = ONNX__TYPE_PROTO__VALUE_MAP_TYPE
            tp.pointee.map_type = newMessage { (t: UnsafeMutablePointer<Onnx__TypeProto__Map>) in
                onnx__type_proto__map__init(t)
                t.pointee.has_key_type = 1
                t.pointee.key_type = key.rawValue
                t.pointee.value_type = value.map(typeProto)
            }
        }
    }
}

private func shapeProto(_ shape: Shape) -> UnsafeMutablePointer<Onnx__TensorShapeProto> {
    newMessage { (s: UnsafeMutablePointer<Onnx__TensorShapeProto>) in
        onnx__tensor_shape_proto__init(s)
        let dims = shape.dims.map { dim in
            newMessage { (d: UnsafeMutablePointer<Onnx__TensorShapeProto__Dimension>) in
                onnx__tensor_shape_proto__dimension__init(d)
                switch dim {
                case .known(let v):
                    d.pointee.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE
                    d.pointee.dim_value = Int64(v)
                case .symbolic(let name):
                    d.pointee.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM
                    d.pointee.dim_param = cString(name)
                case .unknown:
                    break
                }
            }
        }
        s.pointee.n_dim = dims.count
        s.pointee.dim = cMessageArray(dims)
    }
}
