#!/usr/bin/env bash
# -target onnx -O2 on every corpus model → onnx checker + onnxruntime vs the reference outputs (same tolerance as
# -O0), no more nodes than the input model (subgraphs included) and unchanged opsets.
set -uo pipefail
"$MCC_VENV/bin/python" scripts/oracle/corpus_onnx.py --mcc "$MCC_BIN" --shared "$MCC_SHARED" --work "$ORACLE_WORK/onnx-O2" \
  --opt 2 --no-more-nodes
