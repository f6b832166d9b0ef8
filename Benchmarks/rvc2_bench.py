#!/usr/bin/env python3
"""-target rvc2 front end: `mcc MODEL -target rvc2 -O2` (IR only: no compile_tool on PATH) vs OpenVINO's own converter
`ovc MODEL --compress_to_fp16=True` with telemetry declined (as ../shared/tools/time_ovc.py times it), on every corpus
model, in one run. Wall = median of --runs (perf_counter around the child process), peak RSS = the child's
ru_maxrss from wait4, max over runs.
Goal (issue 5): mcc >= 20x faster, and mcc peak RSS <= 1.2 x ONNX size + 30 MB. Prints a markdown table."""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path


def timed(cmd, env):
    """Wall seconds (perf_counter around the child) and the child's own peak RSS in MB (wait4), or an error line."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        lines = [l for l in err.decode(errors="replace").splitlines() if l.strip()]
        return None, None, (lines[-1] if lines else f"exit {code}")
    return seconds, usage.ru_maxrss / 1024.0, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mcc", required=True, help="release mcc binary")
    ap.add_argument("--shared", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ovc-runs", type=int, default=3)
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args()
    ovc = str(Path(sys.executable).parent / "ovc")
    corpus = Path(args.shared) / "corpus"
    manifest = json.loads((corpus / "MANIFEST.json").read_text())
    work = Path(tempfile.mkdtemp(prefix="rvc2-bench-"))
    optout = work / "home"
    (optout / "intel").mkdir(parents=True)
    (optout / "intel" / "openvino_telemetry").write_text("0")    # telemetry declined (time_ovc.py)
    ovc_env = dict(os.environ, HOME=str(optout))
    mcc_env = dict(os.environ, PATH="/usr/bin:/bin")               # no compile_tool: the IR is the product here
    mcc_env.pop("MCC_COMPILE_TOOL", None)
    rows = []
    load_before = os.getloadavg()
    for e in manifest["models"]:
        model = corpus / e["file"]
        size_mb = e["bytes"] / 1048576
        shapes = []
        for i in e["inputs"]:
            if i["dynamic_dims"]:
                shapes += ["--shape", f"{i['name']}=" + ",".join(map(str, i["static_shape"]))]
        row = {"model": e["name"], "onnx_mb": size_mb, "rss_budget_mb": 1.2 * size_mb + 30}
        walls, rsss = [], []
        for k in range(args.runs):
            out = work / f"mcc-{e['name']}-{k}"
            w, r, err = timed([args.mcc, str(model), "-target", "rvc2", "-O2", *shapes, "-o", str(out)], mcc_env)
            shutil.rmtree(out, ignore_errors=True)
            if err:
                row["mcc_error"] = err
                break
            walls.append(w); rsss.append(r)
        if walls:
            row["mcc_s"], row["mcc_rss_mb"] = statistics.median(walls), max(rsss)
        walls, rsss = [], []
        for k in range(args.ovc_runs):
            out = work / "ovc"
            w, r, err = timed([ovc, str(model), "--compress_to_fp16=True", "--output_model", str(out / "model.xml")], ovc_env)
            shutil.rmtree(out, ignore_errors=True)
            if err:
                row["ovc_error"] = err
                break
            walls.append(w); rsss.append(r)
        if walls:
            row["ovc_s"], row["ovc_rss_mb"] = statistics.median(walls), max(rsss)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    shutil.rmtree(work, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, sort_keys=True))

    def f(v, fmt):
        return format(v, fmt) if isinstance(v, (int, float)) else "–"
    # Wall times on a shared machine are only comparable at a similar load: print it with the table.
    load_after = os.getloadavg()
    print(f"load average (1/5/15 min): {' '.join(f'{x:.2f}' for x in load_before)} before, "
          f"{' '.join(f'{x:.2f}' for x in load_after)} after; mcc runs {args.runs}, ovc runs {args.ovc_runs}\n")
    print("| model | ONNX MB | mcc wall ms | ovc wall ms | speedup | mcc peak RSS MB | budget MB (1.2×ONNX+30) | ovc peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        speed = r["ovc_s"] / r["mcc_s"] if "ovc_s" in r and "mcc_s" in r else None
        mcc_ms = f(r.get("mcc_s", 0) * 1000, ".0f") if "mcc_s" in r else f"fails: {r.get('mcc_error', '')[:60]}"
        ovc_ms = f(r.get("ovc_s", 0) * 1000, ".0f") if "ovc_s" in r else f"fails: {r.get('ovc_error', '')[:60]}"
        rss_ok = "" if "mcc_rss_mb" not in r else (" ✓" if r["mcc_rss_mb"] <= r["rss_budget_mb"] else " ✗")
        print(f"| {r['model']} | {r['onnx_mb']:.2f} | {mcc_ms} | {ovc_ms} | {f(speed, '.1f')}{'×' if speed else ''} | "
              f"{f(r.get('mcc_rss_mb'), '.1f')}{rss_ok} | {r['rss_budget_mb']:.1f} | {f(r.get('ovc_rss_mb'), '.1f')} |")


if __name__ == "__main__":
    main()
