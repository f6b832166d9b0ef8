#!/usr/bin/env python3
"""Oracle: every corpus model compiled with `mcc MODEL -target onnx -O<level> --shape ...` (MANIFEST static shapes)
must pass onnx.checker (full_check), have static inputs, and run in onnxruntime to the reference outputs within
|a-b| <= 1e-4*max(1,max|ref|) + 1e-3*|ref| (the issue's tolerance: ORT's own opt-vs-noopt gap is up to 2.4e-4
on YOLO box outputs, which are in pixels, hence the max|ref| scaling). Prints one line per model and a final
'oracle: N passed, N failed'. Test tooling only; mcc never needs Python."""
import argparse, json, os, subprocess, sys, time
import numpy as np
import onnx
import onnxruntime as ort


def compare(name, got, ref):
    if got.shape != ref.shape:
        return f"{name}: shape {got.shape} != reference {ref.shape}"
    if got.dtype != ref.dtype:
        return f"{name}: dtype {got.dtype} != reference {ref.dtype}"
    if ref.dtype.kind in "biu":
        bad = int(np.sum(got != ref))
        return f"{name}: {bad} integer elements differ" if bad else None
    a, b = got.astype(np.float64), ref.astype(np.float64)
    atol = 1e-4 * max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
    excess = np.abs(a - b) - (atol + 1e-3 * np.abs(b))
    if np.any(np.isnan(a) != np.isnan(b)) or np.any(excess > 0):
        i = int(np.nanargmax(excess))
        return f"{name}: max excess {float(np.nanmax(excess)):.3g} at flat index {i} (got {a.flat[i]:.6g}, ref {b.flat[i]:.6g})"
    return None


def count_nodes(graph):
    """Nodes of a graph including those in subgraphs (If/Loop/Scan bodies)."""
    total = 0
    for node in graph.node:
        total += 1
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                total += count_nodes(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                total += sum(count_nodes(g) for g in attr.graphs)
    return total


def opsets(model):
    return sorted((o.domain or "ai.onnx", o.version) for o in model.opset_import)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mcc", required=True)
    ap.add_argument("--shared", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--opt", default="0", help="optimization level passed as -O<opt>")
    ap.add_argument("--only", nargs="*", help="model names to check")
    ap.add_argument("--no-more-nodes", action="store_true",
                    help="also require no more nodes (subgraphs included) than the input model and the same opsets")
    args = ap.parse_args()
    corpus = os.path.join(args.shared, "corpus")
    manifest = json.load(open(os.path.join(corpus, "MANIFEST.json")))
    os.makedirs(args.work, exist_ok=True)
    passed = failed = 0
    for entry in manifest["models"]:
        name = entry["name"]
        if args.only and name not in args.only:
            continue
        out_dir = os.path.join(args.work, f"{name}_O{args.opt}")
        cmd = [args.mcc, os.path.join(corpus, entry["file"]), "-target", "onnx", f"-O{args.opt}", "-o", out_dir]
        for inp in entry["inputs"]:
            if inp["dynamic_dims"]:
                cmd += ["--shape", f"{inp['name']}=" + ",".join(str(d) for d in inp["static_shape"])]
        t0 = time.time()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        elapsed = time.time() - t0
        problems = []
        if proc.returncode != 0:
            problems.append(f"mcc exit {proc.returncode}: {proc.stderr.strip()[:300]}")
        else:
            path = os.path.join(out_dir, os.path.splitext(os.path.basename(entry["file"]))[0] + ".onnx")
            try:
                model = onnx.load(path)
                onnx.checker.check_model(model, full_check=True)
                for vi in model.graph.input:
                    dims = vi.type.tensor_type.shape.dim
                    if any(not d.HasField("dim_value") for d in dims):
                        problems.append(f"input {vi.name} is not static")
                sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
                feeds = {inp["name"]: np.load(os.path.join(corpus, inp["ref"])) for inp in entry["inputs"]}
                outs = sess.run(None, feeds)
                for o, got in zip(entry["outputs"], outs):
                    p = compare(o["name"], np.asarray(got), np.load(os.path.join(corpus, o["ref"])))
                    if p:
                        problems.append(p)
                nodes_out = sum(1 for _ in model.graph.node)
                if args.no_more_nodes:
                    original = onnx.load(os.path.join(corpus, entry["file"]))
                    total_in, total_out = count_nodes(original.graph), count_nodes(model.graph)
                    if total_out > total_in:
                        problems.append(f"{total_out} nodes (subgraphs included) > {total_in} in the input")
                    if opsets(model) != opsets(original):
                        problems.append(f"opsets changed: {opsets(original)} -> {opsets(model)}")
                    nodes_out = f"{nodes_out}, all nodes {total_in} -> {total_out}"
            except Exception as e:  # any oracle-side failure is a failed check, reported on one line
                problems.append(f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}")
        if problems:
            failed += 1
            print(f"FAIL {name} (-O{args.opt}, {elapsed:.2f}s): " + "; ".join(problems))
        else:
            passed += 1
            print(f"ok   {name} (-O{args.opt}, {elapsed:.2f}s, top-level nodes {nodes_out})")
    print(f"oracle: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
