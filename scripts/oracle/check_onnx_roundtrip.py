#!/usr/bin/env python3
"""Oracle for mcc's ONNX writer: is a model mcc exported still the same model?

Checks that the exported file passes onnx.checker.check_model(full_check=True), has the original's structure
(node counts including subgraphs, initializer names, graph inputs/outputs), and that onnxruntime gives the
reference outputs (ref_dir/output_K.npy) for the reference inputs (ref_dir/input_K.npy, K = graph input
position) and the same outputs as the original model.

Prints one line: "OK <name>: ..." or "FAIL <name>: <reason>"; exits 0 or 1.

    check_onnx_roundtrip.py ORIGINAL.onnx EXPORTED.onnx REF_DIR [--rtol 1e-3] [--atol 1e-4]
"""
import argparse
import os
import sys


def count_nodes(graph):
    total = 0
    for node in graph.node:
        total += 1
        for attr in node.attribute:
            if attr.HasField("g"):
                total += count_nodes(attr.g)
            for g in attr.graphs:
                total += count_nodes(g)
    return total


def run(path, feeds):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, {n: feeds[n] for n in names})


def check(args):
    import numpy as np
    import onnx

    original = onnx.load(args.original)
    # Path form so external data and >2 GiB models are checked too.
    onnx.checker.check_model(args.exported, full_check=True)
    exported = onnx.load(args.exported)

    if count_nodes(original.graph) != count_nodes(exported.graph):
        return f"node count {count_nodes(exported.graph)} != original {count_nodes(original.graph)}"
    if [t.name for t in original.graph.initializer] != [t.name for t in exported.graph.initializer]:
        return "initializer names differ"
    init_names = {t.name for t in original.graph.initializer}
    inputs = [i.name for i in original.graph.input if i.name not in init_names]
    if inputs != [i.name for i in exported.graph.input if i.name not in init_names]:
        return "graph inputs differ"
    if [o.name for o in original.graph.output] != [o.name for o in exported.graph.output]:
        return "graph outputs differ"
    for a, b in zip(original.graph.initializer, exported.graph.initializer):
        if not np.array_equal(onnx.numpy_helper.to_array(a, os.path.dirname(args.original)),
                              onnx.numpy_helper.to_array(b, os.path.dirname(args.exported))):
            return f"initializer '{a.name}' values differ"

    feeds = {}
    for k, name in enumerate(inputs):
        path = os.path.join(args.ref_dir, f"input_{k}.npy")
        if not os.path.exists(path):
            return f"missing reference input {path}"
        feeds[name] = np.load(path)
    got = run(args.exported, feeds)
    want = run(args.original, feeds)
    worst = 0.0
    for k, (g, w) in enumerate(zip(got, want)):
        if g.shape != w.shape or not np.array_equal(g, w, equal_nan=True):
            return f"output {k} differs from the original model's"
        ref_path = os.path.join(args.ref_dir, f"output_{k}.npy")
        if os.path.exists(ref_path):
            ref = np.load(ref_path)
            if ref.shape != g.shape:
                return f"output {k} shape {g.shape} != reference {ref.shape}"
            if g.dtype.kind in "fc":
                if not np.allclose(g, ref, rtol=args.rtol, atol=args.atol, equal_nan=True):
                    return f"output {k} max abs diff {np.max(np.abs(g - ref)):.3g} exceeds tolerance"
                worst = max(worst, float(np.max(np.abs(g - ref))) if g.size else 0.0)
            elif not np.array_equal(g, ref):
                return f"output {k} differs from reference"
    return None, f"checker passed, {count_nodes(exported.graph)} nodes, {len(got)} outputs match (max abs diff vs ref {worst:.3g})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("original", help="the source ONNX model")
    parser.add_argument("exported", help="the model mcc wrote")
    parser.add_argument("ref_dir", help="directory with input_K.npy / output_K.npy")
    parser.add_argument("--rtol", type=float, default=1e-3)
    parser.add_argument("--atol", type=float, default=1e-4)
    args = parser.parse_args()
    name = os.path.splitext(os.path.basename(args.exported))[0]
    try:
        result = check(args)
    except Exception as e:  # checker, loader and runtime errors are all verdicts
        result = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    if isinstance(result, tuple):
        print(f"OK {name}: {result[1]}")
        return 0
    print(f"FAIL {name}: {result}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
