#!/usr/bin/env python3
"""PyTorch reference for issue 2's full-size check: every manifest model at the
paper's 512x1024 on a real Cityscapes frame.

Input: ../shared/inputs/city1_512x1024.npy (frankfurt_000000_000294, Pillow
BILINEAR resize, /255 — see ../shared/inputs/README.md). Output (committed,
small): Fixtures/expected/argmax_512x1024.zip with one uint8 [512,1024] argmax
map per model (<name>.npy, deflated) and argmax_512x1024.json with per-model
max|logit| and the sha256 of the logits. The logits themselves are not
committed; segc's test compares argmax agreement (>= 99.9 %).

Run from the repository root:  python3 Fixtures/torch_reference_512.py
Needs torch (CPU is enough) and numpy. Deterministic: one thread.
"""
import hashlib, io, json, os, sys, zipfile
from pathlib import Path
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SEGC_SHARED", ROOT.parent / "shared"))
sys.path.insert(0, str(SHARED / "tools"))
import torch_models as tm  # noqa: E402

def main():
    torch.set_num_threads(1)
    manifest = json.loads((SHARED / "reference" / "manifest.json").read_text())
    x = np.load(SHARED / "inputs" / "city1_512x1024.npy")
    out_zip = ROOT / "Fixtures" / "expected" / "argmax_512x1024.zip"
    summary = {"input": "inputs/city1_512x1024.npy", "torch": torch.__version__, "models": {}}
    with zipfile.ZipFile(out_zip, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for e in manifest:
            net = tm.build_model(e["arch"], e["classes"])
            tm.load_checkpoint(net, str(SHARED / e["checkpoint"]))
            net.eval()
            with torch.no_grad():
                logits = net(torch.from_numpy(x)).numpy().astype(np.float32)
            am = logits[0].argmax(axis=0).astype(np.uint8)
            buf = io.BytesIO(); np.save(buf, am)
            info = zipfile.ZipInfo(f"{e['name']}.npy", date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, buf.getvalue())
            # Margin between the best and second-best logit: pixels with a tiny
            # margin are the ones an fp32 re-implementation may legitimately flip.
            top2 = np.sort(logits[0], axis=0)[-2:]
            margin = top2[1] - top2[0]
            summary["models"][e["name"]] = {
                "checkpoint": e["checkpoint"], "shape": list(logits.shape),
                "max_abs": float(np.abs(logits).max()),
                "logits_sha256": hashlib.sha256(logits.tobytes()).hexdigest(),
                "pixels_margin_below_1e-3": int((margin < 1e-3).sum()),
            }
            print(e["name"], logits.shape, float(np.abs(logits).max()), flush=True)
    (ROOT / "Fixtures" / "expected" / "argmax_512x1024.json").write_text(json.dumps(summary, indent=1) + "\n")

if __name__ == "__main__":
    main()
