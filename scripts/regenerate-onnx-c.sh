#!/usr/bin/env bash
# Regenerates Sources/COnnx from the ONNX protobuf schema in proto/onnx (copied from the onnx 1.23.2 wheel).
# Needs Debian's protobuf-c-compiler (protoc-c 1.4.1). The output is committed, so builds only need libprotobuf-c-dev.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/onnx"
cp proto/onnx/onnx.proto "$tmp/onnx/onnx-ml.proto"   # onnx-data.proto imports onnx/onnx-ml.proto; the two differ only in a comment
cp proto/onnx/onnx-data.proto "$tmp/onnx/onnx-data.proto"
(cd "$tmp" && protoc-c --c_out=. onnx/onnx-ml.proto onnx/onnx-data.proto)
for f in onnx-ml onnx-data; do
  sed -e 's|#include "onnx/onnx-ml.pb-c.h"|#include "onnx-ml.pb-c.h"|' -e "s|#include \"onnx/$f.pb-c.h\"|#include \"$f.pb-c.h\"|" \
      "$tmp/onnx/$f.pb-c.h" > "Sources/COnnx/include/$f.pb-c.h"
  sed -e "s|#include \"onnx/$f.pb-c.h\"|#include \"$f.pb-c.h\"|" "$tmp/onnx/$f.pb-c.c" > "Sources/COnnx/$f.pb-c.c"
done
echo "regenerated Sources/COnnx"
