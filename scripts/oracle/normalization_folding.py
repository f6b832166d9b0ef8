#!/usr/bin/env python3
"""Oracle for folded input preprocessing (issue 4): for each image model of the corpus, compile with
`mcc MODEL -target onnx -O2 --shape ... --mean ... --scale ... --encoding FROM:TO` (and the other levels given with
--levels: -O0 keeps the preprocessing as explicit ops) using the MANIFEST's mean/std
scaled to 0..255 pixels and a channel reversal, feed onnxruntime raw pixels in the reversed colour order, and
match the reference outputs within |a-b| <= 1e-4*max(1,max|ref|) + 1e-3*|ref| (the corpus tolerance).

The MANIFEST formula is y[c] = (pixel[c]*pixel_scale - mean[c]) / std[c] with c the tensor channel in the model's
color_order, so ModelConverter's mean/scale (source channel order, pixel units) are mean[c]/pixel_scale and
std[c]/pixel_scale. The raw input is derived from the reference input: pixel = y*scale + mean (float64), then the
channel axis is reversed (the compiled model is fed the other colour order). Models that are not 3-channel
RGB/BGR images are skipped with the reason. Also checked: onnx.checker (full), the input keeps its name, float32
type and static shape. Ends with 'oracle: N passed, M failed'. Test tooling only; mcc never needs Python."""
import argparse, json, os, subprocess, sys, time
import numpy as np
import onnx
import onnxruntime as ort


def compare(name, got, ref):
    if got.shape != ref.shape:
        return f"{name}: shape {got.shape} != reference {ref.shape}"
    a, b = got.astype(np.float64), ref.astype(np.float64)
    atol = 1e-4 * max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
    excess = np.abs(a - b) - (atol + 1e-3 * np.abs(b))
    if np.any(np.isnan(a) != np.isnan(b)) or np.any(excess > 0):
        i = int(np.nanargmax(excess))
        return f"{name}: max excess {float(np.nanmax(excess)):.3g} at flat index {i} (got {a.flat[i]:.6g}, ref {b.flat[i]:.6g})"
    return None


def skip_reason(entry):
    p = entry.get("preprocessing") or {}
    if p.get("modality") != "image":
        return f"modality {p.get('modality')}, not an image"
    if p.get("color_order") not in ("RGB", "BGR"):
        return f"colour order {p.get('color_order')} is not RGB/BGR"
    if len(p.get("mean") or []) != 3 or len(p.get("std") or []) != 3 or not p.get("pixel_scale"):
        return "no 3-channel mean/std/pixel_scale"
    if len(entry["inputs"]) != 1:
        return "more than one input"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mcc", required=True)
    ap.add_argument("--shared", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--only", nargs="*", help="model names to check")
    ap.add_argument("--levels", nargs="+", default=["2"], help="optimization levels to check (-O<level> each)")
    args = ap.parse_args()
    corpus = os.path.join(args.shared, "corpus")
    manifest = json.load(open(os.path.join(corpus, "MANIFEST.json")))
    os.makedirs(args.work, exist_ok=True)
    passed = failed = 0
    runs = [(level, entry) for level in args.levels for entry in manifest["models"]
            if not args.only or entry["name"] in args.only]
    for level, entry in runs:
        name = entry["name"]
        reason = skip_reason(entry)
        if reason:
            print(f"skip {name} (-O{level}): {reason}")
            continue
        p = entry["preprocessing"]
        inp = entry["inputs"][0]
        mean = np.array(p["mean"], dtype=np.float64) / p["pixel_scale"]
        scale = np.array(p["std"], dtype=np.float64) / p["pixel_scale"]
        source = p["color_order"]
        target = "BGR" if source == "RGB" else "RGB"
        reference = np.load(os.path.join(corpus, inp["ref"]))
        axis = 1 if p["layout"].startswith("NC") else reference.ndim - 1
        shape = [1] * reference.ndim
        shape[axis] = 3
        pixels = reference.astype(np.float64) * scale.reshape(shape) + mean.reshape(shape)
        raw = np.ascontiguousarray(np.flip(pixels, axis=axis)).astype(np.float32)

        out_dir = os.path.join(args.work, f"{name}_O{level}_norm")
        cmd = [args.mcc, os.path.join(corpus, entry["file"]), "-target", "onnx", f"-O{level}", "-o", out_dir,
               "--mean", ",".join(repr(float(v)) for v in mean), "--scale", ",".join(repr(float(v)) for v in scale),
               "--encoding", f"{source}:{target}"]
        if inp["dynamic_dims"]:
            cmd += ["--shape", f"{inp['name']}=" + ",".join(str(d) for d in inp["static_shape"])]
        t0 = time.time()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        elapsed = time.time() - t0
        problems = []
        nodes = "?"
        if proc.returncode != 0:
            problems.append(f"mcc exit {proc.returncode}: {proc.stderr.strip()[:300]}")
        else:
            path = os.path.join(out_dir, os.path.splitext(os.path.basename(entry["file"]))[0] + ".onnx")
            try:
                model = onnx.load(path)
                onnx.checker.check_model(model, full_check=True)
                nodes = len(model.graph.node)
                inits = {i.name for i in model.graph.initializer}
                graph_inputs = [i for i in model.graph.input if i.name not in inits]
                if [i.name for i in graph_inputs] != [inp["name"]]:
                    problems.append(f"inputs {[i.name for i in graph_inputs]} != ['{inp['name']}']")
                else:
                    t = graph_inputs[0].type.tensor_type
                    dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
                    if t.elem_type != onnx.TensorProto.FLOAT or dims != list(inp["static_shape"]):
                        problems.append(f"input type {t.elem_type} dims {dims}, expected float32 {inp['static_shape']}")
                sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
                outs = sess.run(None, {inp["name"]: raw})
                for o, got in zip(entry["outputs"], outs):
                    problem = compare(o["name"], np.asarray(got), np.load(os.path.join(corpus, o["ref"])))
                    if problem:
                        problems.append(problem)
            except Exception as e:  # any oracle-side failure is a failed check, reported on one line
                problems.append(f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}")
        label = f"{source}->{target}, mean {np.round(mean, 3).tolist()}, scale {np.round(scale, 3).tolist()}"
        if problems:
            failed += 1
            print(f"FAIL {name} (-O{level}, {label}, {elapsed:.2f}s): " + "; ".join(problems))
        else:
            passed += 1
            print(f"ok   {name} (-O{level}, {label}, {elapsed:.2f}s, nodes {nodes})")
    print(f"oracle: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
