#!/usr/bin/env bash
# The test command (README): sets up what it needs, builds in release once (tests included), runs the XCTest
# suites, then the oracle checks (onnxruntime on mcc's outputs), and ends with one line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
export MCC_SHARED="${MCC_SHARED:-$(cd .. && pwd)/shared}"
venv="${MCC_VENV:-$HOME/.cache/mcc/venv}"
export MCC_VENV="$venv"
logdir=$(mktemp -d)

bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

echo "== build (release, with tests)"
if ! swift build -c release --build-tests 2>&1 | tee "$logdir/build.log" | grep -E "error:|warning: unre|Compiling|Build complete" | grep -v "^\[" ; then :; fi
if ! grep -q "Build complete" "$logdir/build.log"; then
  grep -E "error:" "$logdir/build.log" | head -40
  echo "0 passed, 1 failed"
  exit 1
fi

echo "== unit and integration tests (XCTest, release)"
swift test -c release --skip-build --disable-swift-testing 2>&1 | tee "$logdir/test.log" \
  | grep -E "error:|failed|Executed .* tests" | grep -v "^Test Case .* passed"
# XCTest's summary counts failed assertions; count failed test cases instead.
summary=$(grep -E "^\s*Executed [0-9]+ tests?, with [0-9]+ failures?" "$logdir/test.log" | tail -1)
unit_total=$(echo "$summary" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')
unit_failed=$(grep -cE "^Test Case '.*' failed" "$logdir/test.log")
if [ -z "$summary" ]; then unit_total=$((unit_failed + 1)); unit_failed=$((unit_failed + 1)); echo "XCTest did not finish (crash?)"; fi
unit_passed=$((unit_total - unit_failed))

echo "== oracle checks (external judges on mcc outputs: onnxruntime, OpenVINO, ...)"
# Every scripts/oracle/suites/*.sh runs from the repo root and ends with "oracle: N passed, M failed".
oracle_passed=0; oracle_failed=0
export MCC_BIN="$PWD/.build/release/mcc" ORACLE_WORK="$logdir/oracle"
for suite in scripts/oracle/suites/*.sh; do
  name=$(basename "$suite" .sh)
  echo "-- oracle suite $name"
  bash "$suite" 2>&1 | tee "$logdir/oracle-$name.log"
  line=$(grep -E "^oracle: [0-9]+ passed, [0-9]+ failed" "$logdir/oracle-$name.log" | tail -1)
  if [ -n "$line" ]; then
    oracle_passed=$((oracle_passed + $(echo "$line" | sed -E 's/oracle: ([0-9]+) passed.*/\1/')))
    oracle_failed=$((oracle_failed + $(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')))
  else
    echo "oracle suite $name did not report a result"
    oracle_failed=$((oracle_failed + 1))
  fi
done

passed=$((unit_passed + oracle_passed)); failed=$((unit_failed + oracle_failed))
echo "unit: $unit_passed passed, $unit_failed failed; oracle: $oracle_passed passed, $oracle_failed failed"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
