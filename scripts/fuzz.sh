#!/usr/bin/env bash
# Runs segc's libFuzzer targets (architecture.md §4, issue 8 item 3).
#
#   scripts/fuzz.sh [target] [runs]      target: pickle | torch | onnx | plan | all (default all)
#                                         runs:   libFuzzer -runs (default 1000000)
#
# Builds the target with `-sanitize=fuzzer,address -DSEGC_FUZZ` into .build-fuzz,
# seeds /tmp/segc-fuzz/<target>/corpus from ../shared (or $SEGC_SHARED) and the
# repository's small fixtures, then runs libFuzzer under `nice`. Crashes, leaks,
# timeouts and OOMs land in /tmp/segc-fuzz/<target>/artifacts; copy a reproducer
# to Tests/Fuzz/<Target>/ once the reader is fixed (FuzzRegressionTests replays it).
#
# Environment:
#   SEGC_SHARED       shared folder (default ../shared)
#   FUZZ_ROOT         work folder (default /tmp/segc-fuzz); corpora never go in the repo
#   FUZZ_MAX_LEN      libFuzzer -max_len (default 65536; 16384 for onnx, 4096 for pickle:
#                     the VM allocates per opcode, so long pickles cost ~6x more per input;
#                     131072 for plan, so MiDE-Net's int8 seeds are not truncated)
#   FUZZ_MAX_TIME     libFuzzer -max_total_time in seconds (default 840, 0 = none)
#   FUZZ_SANITIZE     -sanitize value (default fuzzer,address; `fuzzer` alone is faster, no leak check)
#   FUZZ_EXTRA        extra libFuzzer flags
#   ASAN_OPTIONS      default malloc_context_size=0 (no stack per malloc: ~25% faster;
#                     rerun a reported input with ASAN_OPTIONS= for full allocation stacks)
#
# Needs python3 to seed; with PyTorch it also writes small synthetic checkpoints
# (zip and legacy, several dtypes, views, wrappers), without it only the shared files.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT_DIR=$PWD
SHARED=${SEGC_SHARED:-$ROOT_DIR/../shared}
FUZZ_ROOT=${FUZZ_ROOT:-/tmp/segc-fuzz}
TARGET=${1:-all}
RUNS=${2:-1000000}
SANITIZE=${FUZZ_SANITIZE:-fuzzer,address}
MAX_TIME=${FUZZ_MAX_TIME:-840}
export ASAN_OPTIONS=${ASAN_OPTIONS:-malloc_context_size=0}

product() {
    case $1 in
        pickle) echo FuzzPickle ;; torch) echo FuzzTorch ;; onnx) echo FuzzONNX ;; plan) echo FuzzPlan ;;
        *) echo "error: unknown target '$1' (pickle, torch, onnx, plan, all)" >&2; exit 2 ;;
    esac
}

build() {
    nice -n 10 swift build -c release --scratch-path .build-fuzz \
        -Xswiftc -sanitize="$SANITIZE" -Xswiftc -DSEGC_FUZZ --product "$1" >&2
}

# Small plans made by the built `segc convert` (normal build, own scratch path).
make_plans() {
    local out=$1
    if [ ! -x .build-fuzzreg/release/segc ]; then
        nice -n 10 swift build -c release --scratch-path .build-fuzzreg --product segc >&2
    fi
    local segc=.build-fuzzreg/release/segc
    for f in Fixtures/onnx/ops_opset11.onnx Fixtures/onnx/ops_opset17.onnx Fixtures/onnx/ops_opset18.onnx; do
        [ -f "$f" ] && "$segc" convert "$f" -o "$out/$(basename "$f" .onnx).segc" >/dev/null 2>&1 || true
    done
    if [ -f "$SHARED/models/midenet_distilled.pth" ]; then
        "$segc" convert "$SHARED/models/midenet_distilled.pth" --input-size 64x128 -o "$out/midenet_64x128.segc" >/dev/null 2>&1 || true
    fi
    # int8 / mixed plans (qconv ops, META range_guard and value_grids, a STAT section
    # of LEB128 histograms), calibrated on 3 fs_static images (the demo frame without
    # them). The quantized ops fixtures are ~21 KB; MiDE-Net's mixed plan (~115 KB) and
    # its int8 plan without STAT (~82 KB) fit only the plan target's -max_len of 131072:
    # libFuzzer truncates longer seeds, and a truncated plan fails at step 4 (file size).
    local calib=$out/calib count=3
    mkdir -p "$calib"
    if [ -d "$SHARED/data/fs_static/images" ]; then
        calib=$SHARED/data/fs_static/images
    else
        cp Fixtures/demo/*.jpg "$calib/" 2>/dev/null || true; count=1
    fi
    for f in "$out"/ops_opset11.segc "$out"/ops_opset18.segc; do
        [ -f "$f" ] || continue
        "$segc" quantize "$f" --calib "$calib" --calib-count $count --fp32-layers none --quiet \
            -o "${f%.segc}.int8.segc" >/dev/null 2>&1 || echo "warning: quantize $f failed" >&2
    done
    if [ -f "$out/midenet_64x128.segc" ]; then
        "$segc" quantize "$out/midenet_64x128.segc" --calib "$calib" --calib-count $count --quiet \
            -o "$out/midenet_64x128.mixed.segc" >/dev/null 2>&1 || echo "warning: quantize (mixed) failed" >&2
        "$segc" quantize "$out/midenet_64x128.segc" --calib "$calib" --calib-count $count --fp32-layers none --no-stats --quiet \
            -o "$out/midenet_64x128.int8.segc" >/dev/null 2>&1 || echo "warning: quantize (int8) failed" >&2
    fi
    rm -rf "$out/calib"
}

seed() {
    local t=$1 dir=$2
    mkdir -p "$dir"
    [ -n "$(ls -A "$dir" 2>/dev/null)" ] && return 0   # keep an existing corpus
    local tmp=$FUZZ_ROOT/seed-tmp
    rm -rf "$tmp"; mkdir -p "$tmp"
    case $t in
        pickle|torch)
            python3 - "$t" "$dir" "$SHARED" "$tmp" <<'PY' || echo "warning: seeding with python3 failed" >&2
import io, os, pickletools, sys, zipfile
t, out, shared, tmp = sys.argv[1:5]
models = os.path.join(shared, "models")
def w(name, data):
    with open(os.path.join(out, name), "wb") as f: f.write(data)
def pickles(data, n):
    """Byte ranges of the first n pickles of a legacy stream."""
    f, spans = io.BytesIO(data), []
    for _ in range(n):
        start = f.tell()
        for _op in pickletools.genops(f): pass
        spans.append((start, f.tell()))
    return spans
small = []
try:
    import torch
    torch.manual_seed(0)
    base = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    sd = {"conv.weight": torch.randn(4, 3, 3, 3), "conv.bias": torch.zeros(4),
          "bn.running_mean": torch.zeros(4), "bn.num_batches_tracked": torch.tensor(3),
          "half": torch.randn(2, 2).half(), "bf16": torch.randn(3).bfloat16(), "i8": torch.arange(5, dtype=torch.int8),
          "view": base[:, 1:, ::2], "t": base.transpose(0, 2), "shared": base[1], "scalar": torch.tensor(1.5),
          "empty": torch.zeros(0, 3), "f64": torch.ones(2, dtype=torch.float64), "b": torch.tensor([True, False])}
    try:
        sd["q"] = torch.quantize_per_tensor(torch.randn(2, 3), 0.1, 3, torch.qint8)
        sd["qc"] = torch.quantize_per_channel(torch.randn(2, 3), torch.tensor([0.1, 0.2]), torch.tensor([0, 1]), 0, torch.quint8)
    except Exception: pass
    variants = {"plain": sd, "wrapped": {"state_dict": {"module." + k: v for k, v in sd.items()}, "epoch": 3, "best": 0.5, "arch": "x"},
                "model": {"model": sd, "optimizer": {"lr": 0.1, "m": [1, 2, (3, 4)]}}}
    for name, obj in variants.items():
        for zipped in (True, False):
            p = os.path.join(tmp, f"{name}_{'zip' if zipped else 'legacy'}.pth")
            torch.save(obj, p, _use_new_zipfile_serialization=zipped)
            small.append(p)
except Exception as e:
    print(f"note: no synthetic checkpoints ({e})", file=sys.stderr)
real = [os.path.join(models, m) for m in ("midenet_distilled.pth", "enet_legacy_checkpoint.pth", "enet_cityscapes.pth",
                                          "erfnet_cityscapes.pth", "erfnet_fx_int8_state.pth")]
real = [p for p in real if os.path.exists(p)]
if t == "torch":
    for p in small: w("syn_" + os.path.basename(p), open(p, "rb").read())
    # Real checkpoints only where they fit -max_len; otherwise their pickles in a fresh small zip.
    for p in real:
        data = open(p, "rb").read()
        if len(data) <= 65536: w(os.path.basename(p), data)
else:
    # FuzzPickle input: first byte even = zip data.pkl, odd = legacy object pickle (+ the rest).
    for p in small + real:
        data = open(p, "rb").read()
        base = os.path.basename(p)
        if zipfile.is_zipfile(p):
            with zipfile.ZipFile(p) as z:
                pk = [n for n in z.namelist() if n.endswith("/data.pkl")]
                if pk: w("zip_" + base, b"\x00" + z.read(pk[0]))
        else:
            spans = pickles(data, 5)
            # object pickle + storage key list (the raw storages are left out).
            w("legacy_" + base, b"\x01" + data[spans[3][0]:spans[4][1]])
PY
            ;;
        onnx)
            cp Fixtures/onnx/*.onnx "$dir"/ 2>/dev/null || true
            for f in "$SHARED"/onnx/*.onnx; do
                [ -f "$f" ] && [ "$(stat -c %s "$f")" -le 65536 ] && cp "$f" "$dir"/
            done
            ;;
        plan)
            make_plans "$tmp"
            cp "$tmp"/*.segc "$dir"/ 2>/dev/null || true
            ;;
    esac
    rm -rf "$tmp"
    echo "seeded $dir: $(ls "$dir" | wc -l) file(s), $(du -sh "$dir" | cut -f1)" >&2
}

run() {
    local t=$1 p; p=$(product "$t")
    local max_len=${FUZZ_MAX_LEN:-}
    if [ -z "$max_len" ]; then
        case $t in pickle) max_len=4096 ;; onnx) max_len=16384 ;; plan) max_len=131072 ;; *) max_len=65536 ;; esac
    fi
    local work=$FUZZ_ROOT/$t
    mkdir -p "$work/corpus" "$work/artifacts"
    echo "== $p: build" >&2
    build "$p"
    seed "$t" "$work/corpus"
    local seeds=$work/corpus
    echo "== $p: $RUNS runs, -max_len=$max_len, -max_total_time=$MAX_TIME, sanitize=$SANITIZE" >&2
    local log=$work/fuzz.log status=0
    nice -n 10 .build-fuzz/release/"$p" "$seeds" \
        -runs="$RUNS" -max_len="$max_len" -rss_limit_mb=2048 -timeout=10 -max_total_time="$MAX_TIME" \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/" ${FUZZ_EXTRA:-} >"$log" 2>&1 || status=$?
    # Execs and coverage: the last status line and libFuzzer's final stats.
    grep -E '^#[0-9]+' "$log" | tail -1 || true
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log" || true
    if [ "$status" -ne 0 ]; then
        echo "== $p: libFuzzer exited $status — finding(s) in $work/artifacts (log: $log)" >&2
        grep -E 'ERROR: |SUMMARY: |Test unit written' "$log" | head -20 >&2 || true
        return "$status"
    fi
    echo "== $p: no crash, hang or leak (log: $log)" >&2
}

if [ "$TARGET" = all ]; then
    rc=0
    for t in pickle torch onnx plan; do run "$t" || rc=1; done
    exit $rc
fi
product "$TARGET" >/dev/null
run "$TARGET"
