#!/usr/bin/env python3
"""Argmax agreement of segc's int8 plans made from quantized models with the models' own
runtimes (issue 14, point 5; the table in Docs/CLI.md, `convert`).

  python3 scripts/int8_sources_check.py [--segc .build/release/segc] [--out /tmp/segc_int8src]

* ERFNet QDQ (../shared/onnx/bench/erfnet_512x1024_int8_qdq.onnx): segc `convert` (real
  int8) and `convert --simulate-quant` against ONNX Runtime with graph optimisations off
  (the QDQ graph as ONNX defines it; see Fixtures/onnx/qdq_reference.py).
* ERFNet FX int8 (../shared/models/erfnet_fx_int8_state.pth): segc `convert --keep-quant`,
  `--keep-quant --simulate-quant` and the plain (dequantized fp32) import against PyTorch's
  quantized model (../shared/tools/torch_reference.py erfnet_int8_model, fbgemm engine).

Frames: inputs/city1_512x1024.npy and the three other Cityscapes val frames of
../shared/data/cityscapes (Pillow RGB, BILINEAR to 1024x512, /255). Needs onnxruntime, torch,
numpy, Pillow.
"""
import argparse, os, subprocess, sys, warnings
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SEGC_SHARED", ROOT.parent / "shared"))
FRAMES = ["aachen/aachen_000000_000019", "unknowncity/unknowncity_000000_000000", "zurich/zurich_000121_000019"]


def frames(out):
    from PIL import Image
    paths = {"city1": SHARED / "inputs" / "city1_512x1024.npy"}
    for f in FRAMES:
        img = Image.open(SHARED / f"data/cityscapes/leftImg8bit/val/{f}_leftImg8bit.png").convert("RGB")
        a = np.asarray(img.resize((1024, 512), Image.BILINEAR), dtype=np.uint8).astype(np.float32) / np.float32(255)
        p = out / (f.split("/")[0] + ".npy")
        np.save(p, np.ascontiguousarray(a.transpose(2, 0, 1)[None]))
        paths[f.split("/")[0]] = p
    return paths


def segc_logits(segc, plan, x, out):
    o = out / "logits.npy"
    subprocess.run([segc, "run", str(plan), str(x), "-o", str(o), "--quiet"], check=True, capture_output=True)
    return np.load(o)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--segc", default=str(ROOT / ".build" / "release" / "segc"))
    ap.add_argument("--out", default="/tmp/segc_int8src")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    qdq = SHARED / "onnx/bench/erfnet_512x1024_int8_qdq.onnx"
    fx = SHARED / "models/erfnet_fx_int8_state.pth"
    plans = {
        "qdq int8": (qdq, []), "qdq --simulate-quant": (qdq, ["--simulate-quant"]),
        "fx --keep-quant": (fx, ["--keep-quant"]), "fx --keep-quant --simulate-quant": (fx, ["--keep-quant", "--simulate-quant"]),
        "fx fp32 import": (fx, []),
    }
    for name, (model, flags) in plans.items():
        subprocess.run([a.segc, "convert", str(model), "-o", str(out / (name.replace(" ", "_") + ".segc")), "--quiet"] + flags,
                       check=True)
    xs = frames(out)

    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(qdq), so, providers=["CPUExecutionProvider"])
    warnings.filterwarnings("ignore")
    sys.path.insert(0, str(SHARED / "tools"))
    import torch
    import torch_reference
    qnet = torch_reference.erfnet_int8_model(torch.from_numpy(np.load(xs["city1"])))

    for frame, path in xs.items():
        x = np.load(path)
        ref = {"qdq": sess.run(None, {sess.get_inputs()[0].name: x})[0].argmax(1)}
        with torch.no_grad():
            ref["fx"] = qnet(torch.from_numpy(x)).numpy().argmax(1)
        row = []
        for name in plans:
            mine = segc_logits(a.segc, out / (name.replace(" ", "_") + ".segc"), path, out).argmax(1)
            row.append(f"{name} {100 * np.mean(mine == ref[name.split()[0]]):.2f} %")
        print(f"{frame}: " + "; ".join(row), flush=True)


if __name__ == "__main__":
    main()
