#!/usr/bin/env python3
"""Pass pipeline benchmark over the corpus: node counts (subgraphs included) of the input model, mcc -O1, mcc -O2
and onnxsim (all with the MANIFEST static shapes), and the -O2 compile wall time (median of N runs of the mcc
process) with the share spent in the pass pipeline (the 'passes (O2)' stage of `mcc -v`). The issue's goal: all
passes together under 10% of the total compile wall time. Prints a markdown table. Test tooling only."""
import argparse, json, os, re, statistics, subprocess, sys, tempfile, time
import onnx


def count_nodes(graph):
    total = 0
    for node in graph.node:
        total += 1
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                total += count_nodes(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                total += sum(count_nodes(g) for g in attr.graphs)
    return total


def compile_model(mcc, path, level, shapes, out, verbose=False):
    cmd = [mcc, path, "-target", "onnx", f"-O{level}", "-o", out] + shapes + (["-v"] if verbose else [])
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = (time.perf_counter() - t0) * 1e3
    if proc.returncode != 0:
        raise RuntimeError(f"mcc -O{level} exit {proc.returncode}: {proc.stderr.strip()[:200]}")
    return wall, proc.stderr


def onnxsim_count(path, static_shapes, notes):
    # Imported only after every timing: onnxsim runs onnxruntime, whose idle worker threads would compete with the
    # timed mcc processes for this machine's cores.
    try:
        import onnxsim
    except ImportError:  # reported in the table instead of failing the whole benchmark
        return "not installed"
    # onnxsim prints tracebacks of the constant folds it skips to stderr (fd 2, from C++ and Python): silence them.
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        model = onnx.load(path)
        simplified, ok = onnxsim.simplify(model, overwrite_input_shapes=static_shapes)
        return count_nodes(simplified.graph) if ok else "check failed"
    except Exception as e:  # onnxsim fails on some models; the reason goes below the table
        notes.append(f"onnxsim on {os.path.basename(path)}: {type(e).__name__}: {str(e).strip().splitlines()[0][:160]}")
        return "error"
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mcc", required=True, help="release mcc binary")
    ap.add_argument("--shared", required=True)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    corpus = os.path.join(args.shared, "corpus")
    manifest = json.load(open(os.path.join(corpus, "MANIFEST.json")))
    work = tempfile.mkdtemp(prefix="mcc-passes-bench-")
    load_before = os.getloadavg()

    # 1. Node counts at -O1/-O2.
    models, rows, notes = [], {}, []
    for entry in manifest["models"]:
        name = entry["name"]
        path = os.path.join(corpus, entry["file"])
        shapes, static = [], {}
        for inp in entry["inputs"]:
            static[inp["name"]] = inp["static_shape"]
            if inp["dynamic_dims"]:
                shapes += ["--shape", f"{inp['name']}=" + ",".join(str(d) for d in inp["static_shape"])]
        stem = os.path.splitext(os.path.basename(entry["file"]))[0]
        model = {"name": name, "path": path, "shapes": shapes, "static": static, "walls": [], "passes": []}
        try:
            model["counts"] = {}
            for level in (1, 2):
                out = os.path.join(work, f"{name}_O{level}")
                compile_model(args.mcc, path, level, shapes, out)
                model["counts"][level] = count_nodes(onnx.load(os.path.join(out, stem + ".onnx")).graph)
        except Exception as e:
            model["error"] = str(e)[:80]
        models.append(model)

    # 2. -O2 timings, round-robin over the models so that a slow moment of the machine is spread over all of them
    #    instead of landing on one model's runs.
    for _ in range(args.repeats):
        for model in models:
            if "error" in model:
                continue
            try:
                wall, log = compile_model(args.mcc, model["path"], 2, model["shapes"],
                                          os.path.join(work, f"{model['name']}_O2"), verbose=True)
            except Exception as e:
                model["error"] = str(e)[:80]
                continue
            match = re.search(r"mcc: passes \(O2\): ([0-9.]+) ms", log)
            model["walls"].append(wall)
            model["passes"].append(float(match.group(1)) if match else float("nan"))
            model["log"] = log
    load_after = os.getloadavg()

    # 3. onnxsim, last (see onnxsim_count).
    print(f"mcc -O2 wall time: median of {args.repeats} runs of the process (import, shape inference, passes, export), "
          f"models timed round-robin; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after\n")
    print("| model | nodes in | mcc -O1 | mcc -O2 | onnxsim | -O2 wall ms | passes ms | passes share | slowest pass |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    shares = []
    for model in models:
        if "error" in model:
            row = f"error: {model['error']} | | | | | | |"
        else:
            wall, pass_ms = statistics.median(model["walls"]), statistics.median(model["passes"])
            per_pass = [(float(ms), p) for p, ms in re.findall(r"mcc:   pass ([\w-]+): ([0-9.]+) ms", model["log"])]
            slowest = max(per_pass) if per_pass else (float("nan"), "?")
            share = pass_ms / wall
            shares.append(share)
            counts = model["counts"]
            row = (f"{counts[1]} | {counts[2]} | {onnxsim_count(model['path'], model['static'], notes)} | {wall:.0f} | "
                   f"{pass_ms:.1f} | {100 * share:.1f}% | {slowest[1]} {slowest[0]:.1f} ms")
        print(f"| {model['name']} | {count_nodes(onnx.load(model['path']).graph)} | {row} |", flush=True)
    for note in notes:
        print(f"\n{note}")
    if shares:
        print(f"\npasses share of -O2 compile wall time: max {100 * max(shares):.1f}%, "
              f"mean {100 * statistics.mean(shares):.1f}% (goal: under 10%)")


if __name__ == "__main__":
    sys.exit(main())
