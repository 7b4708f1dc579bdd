#!/bin/sh
# Regenerates Sources/CONNXProto from Schemas/onnx.proto with protoc-c
# (Debian: protobuf-c-compiler). The output is committed; run this only after
# editing the schema.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cd "$here"
protoc-c --c_out="$out" onnx.proto
dest="$root/Sources/CONNXProto"
mkdir -p "$dest/include"
# SwiftPM exposes include/ as the public header folder; the .c file finds the
# header there, and the header finds protobuf-c through the system include path.
sed -e 's|#include "onnx.pb-c.h"|#include "include/onnx.pb-c.h"|' "$out/onnx.pb-c.c" > "$dest/onnx.pb-c.c"
cp "$out/onnx.pb-c.h" "$dest/include/onnx.pb-c.h"
rm -f "$dest/placeholder.c"
echo "regenerated $dest/onnx.pb-c.c and $dest/include/onnx.pb-c.h"
