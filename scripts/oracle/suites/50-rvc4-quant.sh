#!/usr/bin/env bash
# -target rvc4 on corpus image models, calibrated from images: QDQ accuracy on held-out images (quant_score.py vs the
# best INT8 anchor), interpreter vs onnxruntime on the QDQ model, raw calibration files vs PIL, AIMET encodings.
set -uo pipefail
"$MCC_VENV/bin/python" scripts/oracle/rvc4_quant.py --mcc "$MCC_BIN" --shared "$MCC_SHARED" --work "$ORACLE_WORK/rvc4"
