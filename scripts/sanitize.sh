#!/bin/sh
# Runs the test suite under AddressSanitizer and UndefinedBehaviorSanitizer (Swift and C
# targets alike, via SwiftPM's --sanitize). Debug build in its own scratch folder; the
# slow whole-network parity suites are skipped (they exercise the same kernels the
# kernel tests cover, at 100x the cost under ASan).
#   scripts/sanitize.sh [address|undefined]   (default: both, one after the other)
set -eu
cd "$(dirname "$0")/.."
for s in ${1:-address undefined}; do
    echo "== sanitize=$s" >&2
    swift test --sanitize="$s" --scratch-path ".build-$s" \
        --skip FullSizeArgmaxTests --skip ReferenceParityTests --skip TimingTests --skip PillowParityTests \
        --skip SessionTests.testERFNetTiming
done
