#!/usr/bin/env bash
# The main job on the bundled sample: set up, build mcc (release), inspect and compile samples/ppocr_mobile_v2_cls.onnx.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --no-python
swift build -c release --product mcc 2>&1 | grep -E "error|Build complete" || true
mcc=.build/release/mcc
$mcc inspect samples/ppocr_mobile_v2_cls.onnx
$mcc samples/ppocr_mobile_v2_cls.onnx -target onnx -O0 --shape x=1,3,48,192 -o out/ppocr_mobile_v2_cls_onnx -v
$mcc run samples/ppocr_mobile_v2_cls.onnx --inputs samples/ppocr_mobile_v2_cls_ref -o out/ppocr_mobile_v2_cls_run
echo "reference output: samples/ppocr_mobile_v2_cls_ref/output_0.npy; mcc's: out/ppocr_mobile_v2_cls_run/output_0.npy"
