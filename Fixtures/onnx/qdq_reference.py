#!/usr/bin/env python3
"""ONNX Runtime reference for the QDQ int8 ERFNet (issue 3's QDQ acceptance point).

Model: ../shared/onnx/bench/erfnet_512x1024_int8_qdq.onnx (ORT quantize_static, QDQ,
U8S8, per-channel weights; see ../shared/docs/performance.md). segc converts it to real
int8 on the model's own scales, or with --simulate-quant simulates the activations' int8
rounding in float32 (quantize_dequantize ops); Tests/segcTests/QDQTests.swift checks both
against the `exact` reference. Two ORT references:

* `exact`: graph optimisations disabled (ORT_DISABLE_ALL), so ORT runs every
  QuantizeLinear / DequantizeLinear / Conv node as ONNX defines it (float32 conv on
  dequantized values). This is the QDQ model's meaning, independent of the CPU.
* `default`: ORT's default optimisations (QDQ groups fused into QLinearConv/QLinearAdd,
  real int8 GEMMs). On an x86-64 CPU *without* VNNI (AVX2 only, like the 2-core test
  VM) MLAS's U8S8 kernel uses VPMADDUBSW, whose int16 pair sums saturate (documented
  ORT limitation for U8S8 without VNNI): already the first conv differs from the exact
  result by up to 18 quantization steps on 4 % of its outputs, and the logits by up to
  ~1x max|ref|. With the input halved (no u8*s8 pair above 32767 in that conv) the first
  conv's int8 output is identical in both modes. On VNNI CPUs the default path
  accumulates exactly in int32, i.e. reproduces `exact` up to float rounding.

  python3 Fixtures/onnx/qdq_reference.py reference [--out /tmp/segc_qdq]
      ORT logits for inputs/city1_512x1024.npy and for three Cityscapes val frames
      (Pillow convert("RGB") -> resize((1024, 512), BILINEAR) -> /255), saved as
      <out>/<name>_ort_exact.npy and <out>/<name>_ort_default.npy (not committed), and
      each input as <out>/<name>_input.npy.
  python3 Fixtures/onnx/qdq_reference.py compare REF.npy SEGC.npy
      max|diff|, max|diff| / max|ref|, argmax agreement (as JSON).
  python3 Fixtures/onnx/qdq_reference.py expected [--out /tmp/segc_qdq]
      writes Fixtures/expected/qdq_argmax_city1.zip: the `exact` ORT reference's uint8
      [512,1024] argmax map for city1 (`erfnet_int8_qdq.npy`, deflated), read by
      Tests/segcTests/QDQTests.swift.

Needs onnxruntime, numpy, Pillow. Deterministic: one intra-op thread.
"""
import io, json, os, sys, zipfile
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parent.parent.parent
SHARED = Path(os.environ.get("SEGC_SHARED", ROOT.parent / "shared"))
MODEL = SHARED / "onnx" / "bench" / "erfnet_512x1024_int8_qdq.onnx"
FRAMES = [
    "data/cityscapes/leftImg8bit/val/aachen/aachen_000000_000019_leftImg8bit.png",
    "data/cityscapes/leftImg8bit/val/zurich/zurich_000121_000019_leftImg8bit.png",
    "data/cityscapes/leftImg8bit/val/unknowncity/unknowncity_000000_000000_leftImg8bit.png",
]


def session(exact):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    if exact:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(MODEL), so, providers=["CPUExecutionProvider"])


def load_frame(path):
    from PIL import Image
    img = Image.open(path).convert("RGB").resize((1024, 512), Image.BILINEAR)
    a = np.asarray(img, dtype=np.uint8).astype(np.float32) / np.float32(255)
    return np.ascontiguousarray(a.transpose(2, 0, 1)[None])


def inputs():
    yield "city1", np.load(SHARED / "inputs" / "city1_512x1024.npy")
    for f in FRAMES:
        yield Path(f).name.split("_leftImg8bit")[0], load_frame(SHARED / f)


def run(sess, x):
    name = sess.get_inputs()[0].name
    return sess.run(None, {name: x})[0].astype(np.float32)


def compare(ref, got):
    ref = ref.astype(np.float64); got = got.astype(np.float64)
    if ref.shape != got.shape:
        raise SystemExit(f"shape mismatch: {ref.shape} vs {got.shape}")
    d = np.abs(ref - got).max()
    m = np.abs(ref).max()
    agree = float((ref[0].argmax(0) == got[0].argmax(0)).mean())
    return {"max_abs_diff": float(d), "max_abs_ref": float(m), "rel": float(d / m), "argmax_agreement": agree}


def main():
    args = sys.argv[1:]
    if not args:
        raise SystemExit(__doc__)
    out = Path("/tmp/segc_qdq")
    if "--out" in args:
        out = Path(args[args.index("--out") + 1])
    if args[0] == "compare":
        print(json.dumps(compare(np.load(args[1]), np.load(args[2]))))
        return
    out.mkdir(parents=True, exist_ok=True)
    if args[0] == "reference":
        sessions = {"exact": session(True), "default": session(False)}
        for name, x in inputs():
            np.save(out / f"{name}_input.npy", x)
            ys = {k: run(s, x) for k, s in sessions.items()}
            for k, y in ys.items():
                np.save(out / f"{name}_ort_{k}.npy", y)
            print(name, ys["exact"].shape, "max|ref|", float(np.abs(ys["exact"]).max()),
                  "default vs exact:", json.dumps(compare(ys["exact"], ys["default"])), flush=True)
    elif args[0] == "expected":
        x = np.load(SHARED / "inputs" / "city1_512x1024.npy")
        am = run(session(True), x)[0].argmax(axis=0).astype(np.uint8)
        buf = io.BytesIO(); np.save(buf, am)
        dst = ROOT / "Fixtures" / "expected" / "qdq_argmax_city1.zip"
        with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
            info = zipfile.ZipInfo("erfnet_int8_qdq.npy", date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, buf.getvalue())
        print(dst, dst.stat().st_size, "bytes")
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
