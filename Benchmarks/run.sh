#!/usr/bin/env bash
# Builds the benchmark tool in release and runs every benchmark against its anchor in one run.
set -euo pipefail
cd "$(dirname "$0")"
bash ../scripts/setup.sh
shared="${MCC_SHARED:-$(cd ../.. && pwd)/shared}"
venv="${MCC_VENV:-$HOME/.cache/mcc/venv}"
# SwiftPM can miss source files added to a path dependency; dropping the build plan makes it rescan them.
rm -f .build/release.yaml .build/release/description.json
swift build -c release --product mcc-bench 2>&1 | grep -E "error|complete"
echo "## Model load (ONNXReader.load vs onnx.load)"
"$venv/bin/python" load_bench.py --bench .build/release/mcc-bench --shared "$shared"
echo
echo "## Interpreter latency (mcc reference interpreter vs onnxruntime)"
"$venv/bin/python" interpreter_bench.py --bench .build/release/mcc-bench --shared "$shared"
echo
echo "## Pass pipeline (node counts vs onnxsim, -O2 compile time and the passes' share)"
# The mcc binary as shipped (scripts/demo.sh): Swift runtime and Foundation linked statically.
(cd .. && swift build -c release --static-swift-stdlib --product mcc --scratch-path .build-static 2>&1 | grep -E "error|complete")
"$venv/bin/python" passes_bench.py --mcc ../.build-static/release/mcc --shared "$shared"
echo
echo "## -target rvc2 front end (mcc -O2, IR only) vs ovc --compress_to_fp16=True (telemetry off)"
"$venv/bin/python" rvc2_bench.py --mcc ../.build-static/release/mcc --shared "$shared"
echo
echo "## -target rvc4 quantization vs onnxruntime quantize_static / NNCF (scripts/requirements/quant-anchors.pip)"
"$venv/bin/python" quant_bench.py --mcc ../.build-static/release/mcc --shared "$shared" --out "${TMPDIR:-/tmp}/mcc_quant_bench" \
  --anchor-python "${QUANT_ANCHOR_PYTHON:-$venv/bin/python}" --anchors "${QUANT_ANCHORS:-full}"
