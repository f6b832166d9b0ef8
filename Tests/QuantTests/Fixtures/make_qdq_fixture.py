#!/usr/bin/env python3
"""Writes qdq_ort_fixture.json: onnxruntime's QuantizeLinear -> DequantizeLinear on inputs chosen to hit the
edge cases (exact ties, saturation at both ends, zero points at the grid's ends, per-axis parameters), for
QuantTests/FakeQuantizeOracleTests. Re-run with the oracle venv: python make_qdq_fixture.py"""
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

CASES = [
    # name, storage, scales, zero points, axis, shape
    ("uint8_tensor", TensorProto.UINT8, [0.02], [128], None, [64]),
    ("uint8_low_zero", TensorProto.UINT8, [0.5], [0], None, [64]),
    ("int8_tensor", TensorProto.INT8, [0.03], [-5], None, [64]),
    ("uint16_tensor", TensorProto.UINT16, [0.001], [30000], None, [64]),
    ("int16_tensor", TensorProto.INT16, [0.0007], [0], None, [64]),
    ("int8_axis1", TensorProto.INT8, [0.1, 0.02, 0.5], [0, 0, 0], 1, [2, 3, 8]),
    ("uint8_axis0", TensorProto.UINT8, [0.25, 0.01], [10, 250], 0, [2, 24]),
]
NP = {TensorProto.UINT8: np.uint8, TensorProto.INT8: np.int8, TensorProto.UINT16: np.uint16, TensorProto.INT16: np.int16}


def inputs(shape, scales, zeros, axis, rng):
    x = rng.normal(0, 1, size=shape).astype(np.float32)
    flat = x.reshape(-1)
    n = flat.size
    # Exact ties (k + 0.5) * scale, values far outside the range, and zero.
    per = np.ones(n, np.float32) * scales[0]
    if axis is not None:
        idx = np.indices(shape)[axis].reshape(-1)
        per = np.asarray(scales, np.float32)[idx]
    k = rng.integers(-40, 40, size=n)
    flat[: n // 3] = ((k[: n // 3] + 0.5) * per[: n // 3]).astype(np.float32)
    flat[n // 3 : n // 3 + 4] = [1e6, -1e6, 0.0, -0.0]
    flat[n // 2 :] *= per[n // 2 :] * 300
    return flat.reshape(shape)


def main():
    rng = np.random.default_rng(7)
    cases = []
    for name, storage, scales, zeros, axis, shape in CASES:
        x = inputs(shape, scales, zeros, axis, rng)
        pshape = [len(scales)] if axis is not None else []
        s = numpy_helper.from_array(np.asarray(scales, np.float32).reshape(pshape), "s")
        z = numpy_helper.from_array(np.asarray(zeros, NP[storage]).reshape(pshape), "z")
        attrs = {"axis": axis} if axis is not None else {}
        g = helper.make_graph(
            [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], **attrs),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], **attrs)],
            name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)], initializer=[s, z])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
        m.ir_version = 10
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        y = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        cases.append({"name": name, "storage": {TensorProto.UINT8: "uint8", TensorProto.INT8: "int8",
                                                  TensorProto.UINT16: "uint16", TensorProto.INT16: "int16"}[storage],
                      "scales": scales, "zero_points": zeros, "axis": axis, "shape": shape,
                      "x_bits": x.reshape(-1).view(np.uint32).tolist(), "y_bits": y.reshape(-1).view(np.uint32).tolist()})
    out = {"generator": "make_qdq_fixture.py", "onnxruntime": ort.__version__, "cases": cases}
    Path(__file__).with_name("qdq_ort_fixture.json").write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
