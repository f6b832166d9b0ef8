#!/usr/bin/env bash
# -target onnx -O0 on every corpus model → onnx checker + onnxruntime vs the reference outputs.
set -uo pipefail
"$MCC_VENV/bin/python" scripts/oracle/corpus_onnx.py --mcc "$MCC_BIN" --shared "$MCC_SHARED" --work "$ORACLE_WORK/onnx-O0"
