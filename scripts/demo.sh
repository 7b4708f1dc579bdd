#!/bin/sh
# The README's first command: set up, build, and run the main job on the
# default model in Fixtures/demo/ — convert, run, write a heatmap.
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product segc
SEGC=.build/release/segc
mkdir -p out
$SEGC convert Fixtures/demo/midenet_distilled.pth -o out/midenet.segc
$SEGC inspect out/midenet.segc
$SEGC run out/midenet.segc Fixtures/demo/fs_static_0.jpg -o out/logits.npy --heatmap out/heatmap.png --segmentation out/segmentation.png
echo "demo: wrote out/midenet.segc, out/logits.npy, out/heatmap.png (MSP anomaly score), out/segmentation.png"
