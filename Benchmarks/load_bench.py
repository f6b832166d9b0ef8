#!/usr/bin/env python3
"""Model load: mcc's ONNXReader.load vs onnx.load on the corpus (median time of N loads in one process; peak RSS over
the process's own baseline, each tool in a fresh process). Prints a markdown table with ratios."""
import argparse, json, os, resource, subprocess, sys, time

CHILD = r'''
import json, resource, sys, time
def rss():
    with open("/proc/self/statm") as f: return int(f.read().split()[1]) * 4096
import onnx
base = rss()
times = []
for i in range(int(sys.argv[2])):
    t = time.perf_counter(); m = onnx.load(sys.argv[1]); times.append((time.perf_counter() - t) * 1e3)
    if i == 0: retained = rss() - base
    del m
times.sort()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"tool": "onnx.load", "median_ms": times[len(times)//2], "min_ms": times[0],
  "peak_rss_over_baseline_mb": (peak - base) / 1048576,
  "retained_rss_mb": retained / 1048576}, sort_keys=True))
'''

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True, help="path to mcc-bench")
    ap.add_argument("--shared", required=True)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args()
    corpus = os.path.join(args.shared, "corpus")
    manifest = json.load(open(os.path.join(corpus, "MANIFEST.json")))
    rows = []
    for e in sorted(manifest["models"], key=lambda e: -e["bytes"]):
        path = os.path.join(corpus, e["file"])
        mcc = json.loads(subprocess.run([args.bench, "load", path, str(args.repeats)], check=True,
                                        capture_output=True, text=True).stdout)
        ref = json.loads(subprocess.run([args.python, "-c", CHILD, path, str(args.repeats)], check=True,
                                        capture_output=True, text=True).stdout)
        rows.append((e["name"], e["bytes"] / 1048576, mcc, ref))
    print("| model | MB | mcc load ms | onnx.load ms | time ratio mcc/onnx | mcc peak RSS MB | onnx peak RSS MB | mcc retained MB |")
    print("|---|---|---|---|---|---|---|---|")
    for name, mb, m, r in rows:
        print(f"| {name} | {mb:.1f} | {m['median_ms']:.1f} | {r['median_ms']:.1f} | {m['median_ms']/r['median_ms']:.2f} | "
              f"{m['peak_rss_over_baseline_mb']:.1f} | {r['peak_rss_over_baseline_mb']:.1f} | {m['retained_rss_mb']:.1f} |")

if __name__ == "__main__":
    main()
