#!/usr/bin/env python3
"""Export the segc reference networks at opsets 11, 17 (TorchScript exporter) and
18 (torch.export) for the SegcONNX tests.

    python3 Fixtures/onnx/export_opsets.py [--out /tmp/segc-onnx] [--only bisenet,enet]

Uses ../shared/tools/export_onnx.py (same models, checkpoints and unpool patch as
the shared files), 1x3x128x256 inputs. The models are large (BiSeNetV1: 53 MB
each) and are NOT committed: they go to --out (default /tmp/segc-onnx), where
`SegcONNXTests` looks for them (env SEGC_ONNX_FIXTURES overrides) and compares
them with ../shared/reference/<net>_128x256.npy. Only this script and
`expected_opsets.json` (file list, written here) are committed.
"""
import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("SEGC_SHARED", HERE.parent.parent.parent / "shared")).resolve()
sys.path.insert(0, str(SHARED / "tools"))

import export_onnx as ex  # noqa: E402

NETS = ["erfnet", "enet", "midenet", "bisenet"]
VARIANTS = [("ts", 11), ("ts", 17), ("dynamo", 18)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/segc-onnx")
    ap.add_argument("--only", default=None)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tm = ex.import_torch_models(SHARED / "tools" / "torch_models.py")
    nets = args.only.split(",") if args.only else NETS
    written = []
    for net in nets:
        model = ex.build_model(tm, net, SHARED / "models", random_init=False)
        for kind, opset in VARIANTS:
            path = out / f"{net}_opset{opset}_{kind}.onnx"
            if kind == "ts":
                ex.export_ts(model, (128, 256), path, opset)
            else:
                ex.export_dynamo(model, (128, 256), path, opset)
            written.append({"file": path.name, "net": net, "opset": opset, "exporter": kind,
                            "reference": f"reference/{net}_128x256.npy"})
            print("wrote", path, flush=True)
    (HERE / "expected_opsets.json").write_text(json.dumps(written, indent=1) + "\n")


if __name__ == "__main__":
    main()
