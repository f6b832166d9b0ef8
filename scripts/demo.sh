#!/usr/bin/env bash
# The main job on the bundled sample: set up, build mcc (release), then on samples/ppocr_mobile_v2_cls.onnx:
# inspect it, compile it for RVC2 at -O2 with its preprocessing folded in (BGR pixels 0..255 → mean 127.5,
# scale 127.5), run it in the reference interpreter, and write the optimized static ONNX.
# The blob step runs when compile_tool is installed (or MCC_COMPILE_TOOL is set); otherwise mcc says so and keeps the IR.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --no-python
# Shipped form: the Swift runtime and Foundation linked statically (starts in ~10 ms with ~13 MB resident instead of
# ~40 ms / ~20 MB); only libc, libstdc++ and libprotobuf-c stay shared, OpenBLAS is opened when a GEMM first runs.
swift build -c release --static-swift-stdlib --product mcc --scratch-path .build-static 2>&1 | grep -E "error|Build complete" || true
mcc=.build-static/release/mcc
model=samples/ppocr_mobile_v2_cls.onnx
rm -rf out/demo && mkdir -p out/demo
$mcc inspect $model
$mcc $model -target rvc2 -O2 --shape x=1,3,48,192 --mean 127.5 --scale 127.5 -o out/demo/rvc2 -v
ls -l out/demo/rvc2
$mcc $model -target onnx -O2 --shape x=1,3,48,192 -o out/demo/onnx
$mcc run $model --inputs samples/ppocr_mobile_v2_cls_ref -o out/demo/run
echo "reference output: samples/ppocr_mobile_v2_cls_ref/output_0.npy; mcc's: out/demo/run/output_0.npy"
