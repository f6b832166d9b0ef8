#!/usr/bin/env bash
# Installs what building and testing mcc needs, idempotently: Debian -dev packages and, for the oracle tools
# (onnxruntime/OpenVINO checks in tests; never needed by mcc itself), a Python venv.
# Usage: scripts/setup.sh [--no-python]
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libprotobuf-c-dev libopenblas-dev libpng-dev libjpeg62-turbo-dev liblzma-dev pkg-config)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ "${1:-}" = "--no-python" ] && exit 0

venv="${MCC_VENV:-$HOME/.cache/mcc/venv}"
if ! "$venv/bin/python" -c "import numpy, onnx, onnxruntime" 2>/dev/null; then
  echo "setup: creating Python venv for the oracle tools in $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check numpy onnx onnxruntime
fi
