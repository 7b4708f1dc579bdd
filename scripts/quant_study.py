#!/usr/bin/env python3
"""int8 quantization figures (issue 14): for each network, quantize its fp32 plan with
each method, then measure argmax agreement with the fp32 plan (segc compare) on city1 and
every labelled Cityscapes frame, Cityscapes mIoU and MaxLogit AuPRC/FPR95 on RoadAnomaly21
and fs_static (segc eval), and plan bytes. Prints Markdown tables.

Usage: scripts/quant_study.py [--nets erfnet,enet,...] [--methods percentile,entropy,minmax]
                              [--fp32-layers none|auto] [--out DIR]
Everything runs through the segc binary (.build/release/segc, or $SEGC); Python only drives it."""
import argparse, json, os, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
SEGC = os.environ.get("SEGC") or os.path.join(ROOT, ".build/release/segc")
NETS = {"erfnet": "erfnet_cityscapes.pth", "enet": "enet_cityscapes.pth",
        "midenet": "midenet_distilled.pth", "bisenetv1": "bisenetv1_calibrated_random.pth"}

def segc(*args, optional=False):
    r = subprocess.run([SEGC, *args, "--json", "--quiet"], capture_output=True, text=True)
    if r.returncode != 0:
        if optional:
            print(f"(skipped: segc {' '.join(map(str, args))}: {r.stderr.strip()})", file=sys.stderr)
            return None
        sys.exit(f"segc {' '.join(args)} failed: {r.stderr}")
    return json.loads(r.stdout)

NAN = float("nan")

def evaluate(plan):
    d = os.path.join(SHARED, "data")
    # BiSeNetV1 (19 classes, no void) cannot be scored on the 20-class Cityscapes labels: mIoU left out.
    city = segc("eval", plan, "--dataset", os.path.join(d, "cityscapes"), optional=True)
    ra = segc("eval", plan, "--dataset", os.path.join(d, "RoadAnomaly21"), "--score", "maxlogit")
    fs = segc("eval", plan, "--dataset", os.path.join(d, "fs_static"), "--score", "maxlogit")
    return (city["miou"] if city else NAN), ra["auprc"], ra["fpr95"], fs["auprc"], fs["fpr95"]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nets", default="erfnet,enet,midenet,bisenetv1")
    ap.add_argument("--methods", default="percentile")
    ap.add_argument("--fp32-layers", default="auto")
    ap.add_argument("--out", default="/tmp/segc-quant")
    ap.add_argument("--extra", default="", help="more quantize arguments, e.g. '--target-agreement 0.99'")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    calib = os.path.join(SHARED, "data/fs_static/images")
    inputs = [os.path.join(SHARED, "inputs/city1_512x1024.npy"), os.path.join(SHARED, "data/cityscapes")]
    print("| network | method | precision | fp32 layers | calib agreement | city1 | Cityscapes frames (min) "
          "| mIoU | RA21 AuPRC / FPR95 | fs_static AuPRC / FPR95 | MB | quantize s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for net in a.nets.split(","):
        fp32 = os.path.join(a.out, f"{net}.segc")
        if not os.path.exists(fp32):
            segc("convert", os.path.join(SHARED, "models", NETS[net]), "-o", fp32)
        base = evaluate(fp32)
        print(f"| {net} | fp32 | fp32 | – | – | – | – | {100*base[0]:.2f} | {100*base[1]:.2f} / {100*base[2]:.2f} "
              f"| {100*base[3]:.2f} / {100*base[4]:.2f} | {os.path.getsize(fp32)/1e6:.2f} | – |", flush=True)
        for m in a.methods.split(","):
            q = os.path.join(a.out, f"{net}.{m}.int8.segc")
            extra = ([] if a.fp32_layers == "auto" else ["--fp32-layers", a.fp32_layers]) + a.extra.split()
            r = segc("quantize", fp32, "--calib", calib, "--method", m, "-o", q, *extra)
            c = segc("compare", fp32, q, *inputs)
            per = c["per_input"]
            city1 = per[0]["agreement"]
            frames = [p["agreement"] for p in per[1:]]
            e = evaluate(q)
            layers = ", ".join(r["fp32_layers"]) or "none"
            print(f"| {net} | {m} | {r['precision']} | {layers} | {100*r['calib_agreement']:.2f} | {100*city1:.2f} "
                  f"| {100*sum(frames)/len(frames):.2f} ({100*min(frames):.2f}) | {100*e[0]:.2f} "
                  f"| {100*e[1]:.2f} / {100*e[2]:.2f} | {100*e[3]:.2f} / {100*e[4]:.2f} "
                  f"| {r['bytes_after']/1e6:.2f} | {r['seconds']:.0f} |", flush=True)

main()
