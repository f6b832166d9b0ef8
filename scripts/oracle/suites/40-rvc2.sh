#!/usr/bin/env bash
# -target rvc2 on the 8 corpus vision models: IR v11 → ov_check.py (FP16 tolerances, vs onnxruntime) + the real
# OpenVINO 2022.3.0 reader; --tool-version 2021.4 → compile_tool stand-in on the real 2021.4 MYRIAD plugin →
# DepthAI reads the blob (names, U8 input, shaves). Missing prerequisites count as failures (rvc2_check.py).
set -uo pipefail
home="${MCC_OV_LEGACY:-$HOME/.cache/mcc/ov_legacy}"
bin="$home/bin"
if [ ! -x "$bin/compile_tool" ] || [ ! -x "$bin/ov2022_tool" ]; then
  echo "building the OpenVINO 2021.4/2022.3 drivers into $bin (downloads two PyPI wheels once)"
  WORK="$home" PIP="$MCC_VENV/bin/python -m pip" bash "$MCC_SHARED/tools/ov_legacy/build.sh" "$bin" \
    || echo "ov_legacy build failed (see above); the checks that need it will fail"
fi
"$MCC_VENV/bin/python" scripts/oracle/rvc2_check.py --mcc "$MCC_BIN" --shared "$MCC_SHARED" \
  --work "$ORACLE_WORK/rvc2" --ov-legacy-bin "$bin"
