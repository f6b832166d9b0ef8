#!/usr/bin/env bash
# -target onnx -O2 (folded) and -O0 (explicit ops) with the corpus image models' mean/std and a channel reversal
# → onnxruntime on raw pixels in the reversed colour order vs the reference outputs.
set -uo pipefail
"$MCC_VENV/bin/python" scripts/oracle/normalization_folding.py --mcc "$MCC_BIN" --shared "$MCC_SHARED" --work "$ORACLE_WORK/normalization-folding" --levels 2 0
