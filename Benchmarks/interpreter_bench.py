#!/usr/bin/env python3
"""Interpreter latency: mcc's reference interpreter vs onnxruntime (CPU EP, all graph optimizations) on the corpus
reference inputs, 1 and 2 threads, median of N runs after warm-up, measured in one run. Prints a markdown table with
the ratio mcc/ORT per model and the geometric mean."""
import argparse, json, math, os, subprocess, sys, time
import numpy as np
import onnxruntime as ort


def ort_median(path, feeds, threads, repeats):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    for _ in range(3):
        sess.run(None, feeds)
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); sess.run(None, feeds); times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--shared", required=True)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--opt", type=int, default=2, help="mcc pipeline run before timing (ORT applies its own graph optimizations)")
    ap.add_argument("--models", default="", help="comma-separated model names (default: every corpus model)")
    ap.add_argument("--keep-openblas-env", action="store_true", help="keep OPENBLAS_CORETYPE/L2_SIZE from the environment")
    args = ap.parse_args()
    corpus = os.path.join(args.shared, "corpus")
    manifest = json.load(open(os.path.join(corpus, "MANIFEST.json")))
    # OPENBLAS_CORETYPE pins OpenBLAS to one kernel family (this workplace sets Haswell); ORT's MLAS picks its own
    # kernels at run time, so mcc runs with OpenBLAS's own choice too unless --keep-openblas-env is given.
    bench_env = dict(os.environ)
    if not args.keep_openblas_env:
        for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
            bench_env.pop(key, None)
    print(f"OpenBLAS core type for mcc: {bench_env.get('OPENBLAS_CORETYPE', 'auto-detected')}; mcc graph: -O{args.opt}, "
          "ORT graph: ORT_ENABLE_ALL (its default)\n")
    # Timings on a shared machine are only comparable at similar load: print it before and after.
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}\n")
    # mcc CPU ms (all threads) tracks the work done even when other processes share the cores; the ratio is wall time.
    print("| model | threads | mcc ms | ORT ms | ratio mcc/ORT | mcc CPU ms |")
    print("|---|---|---|---|---|---|")
    ratios = {1: [], 2: []}
    selected = set(filter(None, args.models.split(",")))
    for e in manifest["models"]:
        if selected and e["name"] not in selected:
            continue
        path = os.path.join(corpus, e["file"])
        ref = os.path.join(corpus, "ref", e["name"])
        feeds = {i["name"]: np.load(os.path.join(corpus, i["ref"])) for i in e["inputs"]}
        for threads in (1, 2):
            proc = subprocess.run([args.bench, "run", path, ref, str(threads), str(args.repeats), str(args.opt)], capture_output=True,
                                  text=True, env=bench_env)
            if proc.returncode != 0:
                print(f"| {e['name']} | {threads} | error: {proc.stderr.strip()[:80]} | | | |")
                continue
            result = json.loads(proc.stdout)
            m = result["median_ms"]
            o = ort_median(path, feeds, threads, args.repeats)
            ratios[threads].append(m / o)
            print(f"| {e['name']} | {threads} | {m:.2f} | {o:.2f} | {m / o:.2f} | {result.get('median_cpu_ms', float('nan')):.2f} |")
    for threads, r in ratios.items():
        if r:
            print(f"\ngeomean ratio mcc/ORT, {threads} thread(s): {math.exp(sum(map(math.log, r)) / len(r)):.2f} over {len(r)} models")
    print(f"\nload average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
