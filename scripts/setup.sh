#!/usr/bin/env bash
# Installs what building and testing mcc needs, idempotently: Debian packages listed in scripts/requirements/*.apt
# and, for the oracle tools (onnxruntime/OpenVINO checks in tests; never needed by mcc itself), a Python venv with
# the packages of scripts/requirements/*.pip. One file per concern so each feature states its own prerequisites.
# Usage: scripts/setup.sh [--no-python]
set -euo pipefail
cd "$(dirname "$0")/.."

read_list() { grep -hv '^\s*#' "$@" | tr -s ' \t' '\n' | grep -v '^$' | sort -u; }

mapfile -t packages < <(if [ "${1:-}" = "--no-python" ]; then read_list scripts/requirements/core.apt; else read_list scripts/requirements/*.apt; fi)
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
[ -x "$venv/bin/python" ] || { echo "setup: creating Python venv for the oracle tools in $venv"; python3 -m venv "$venv"; }
# A stamp of the requirement files makes the common case (nothing changed) free.
stamp="$venv/.mcc-requirements"
wanted=$(cat scripts/requirements/*.pip | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  mapfile -t pips < <(read_list scripts/requirements/*.pip)
  echo "setup: installing Python packages for the oracle tools: ${pips[*]}"
  "$venv/bin/pip" install -q --disable-pip-version-check "${pips[@]}"
  echo "$wanted" > "$stamp"
fi
