#!/usr/bin/env python3
"""Compares `segc eval --json` with the Python reference (reference_eval_expected.json).

For every configuration of issue 7's acceptance list (written by reference_eval.py) this runs
`segc eval MODEL.pth --dataset DIR --score S [--temperature T] --json` (or, for the Cityscapes
rows, `segc eval MODEL.pth --dataset cityscapes --json`) and prints a table: Python AuPRC / FPR95
in %, segc AuPRC / FPR95 in %, |diff| in points (acceptance: <= 0.05), frame and pixel counts
(must be equal), then the mIoU rows (Python vs segc, |diff| in points, worst per-class |diff|).

Usage: python3 Fixtures/eval/compare_eval.py [--segc PATH] [--shared ../shared] [--only SUBSTR]
       [--json OUT.json]
Exit status 1 if any configuration fails the tolerance or a count differs.
"""
import argparse
import json
import os
import subprocess
import sys
import time

TOL_POINTS = 0.05


def find_segc(root):
    cands = [os.path.join(root, d, "release", "segc") for d in (".build", ".build-me")]
    cands = [c for c in cands if os.path.exists(c)]
    if not cands:
        sys.exit("no segc binary under .build/release or .build-me/release (swift build -c release)")
    return max(cands, key=os.path.getmtime)


def run_segc(segc, args):
    t0 = time.time()
    p = subprocess.run([segc] + args + ["--json"], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("segc %s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr.strip()[-500:]))
    return json.loads(p.stdout), time.time() - t0


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.abspath(os.path.join(here, "../.."))
    ap = argparse.ArgumentParser()
    ap.add_argument("--segc", default=None)
    ap.add_argument("--shared", default=os.path.abspath(os.path.join(root, "../shared")))
    ap.add_argument("--expected", default=os.path.join(here, "reference_eval_expected.json"))
    ap.add_argument("--only", default="", help="substring filter on configuration ids")
    ap.add_argument("--json", default=None, help="also write the comparison as JSON here")
    a = ap.parse_args()
    segc = a.segc or find_segc(root)
    with open(a.expected) as f:
        expected = json.load(f)["configs"]

    rows, failures, out = [], [], {}
    for cid, ref in expected.items():
        if a.only not in cid:
            continue
        model = os.path.join(a.shared, "models", ref["model"])
        ds = os.path.join(a.shared, "data", ref["dataset"])
        if "miou" in ref:
            args = ["eval", model, "--dataset", ds]
        else:
            args = ["eval", model, "--dataset", ds, "--score", ref["score"]]
            if ref["score"] == "msp":
                args += ["--temperature", repr(ref["temperature"])]
        try:
            got, secs = run_segc(segc, args)
        except Exception as e:  # noqa: BLE001
            failures.append("%s: %s" % (cid, e))
            rows.append((cid, ref, None, 0.0))
            print("%-45s segc FAILED: %s" % (cid, e), file=sys.stderr, flush=True)
            continue
        rows.append((cid, ref, got, secs))
        out[cid] = {"python": ref, "segc": got}
        print("  done %-45s (%.0f s)" % (cid, secs), file=sys.stderr, flush=True)

    print()
    print("| configuration | Python AuPRC | Python FPR95 | segc AuPRC | segc FPR95 | |dAuPRC| pts | |dFPR95| pts | frames used/skipped | pixels anomaly/inlier | counts |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for cid, ref, got, secs in rows:
        if "miou" in ref:
            continue
        if got is None:
            print("| %s | %.3f | %.3f | – | – | – | – | – | – | FAILED |" % (cid, 100 * ref["auprc"], 100 * ref["fpr95"]))
            continue
        da = abs(ref["auprc"] - got["auprc"]) * 100
        df = abs(ref["fpr95"] - got["fpr95"]) * 100
        counts_ok = (ref["frames"] == got["frames"] and ref["frames_used"] == got["frames_used"]
                     and ref["frames_skipped"] == got["frames_skipped"]
                     and all(ref["pixels"][k] == got["pixels"][k] for k in ("anomaly", "inlier", "ignored")))
        ok = da <= TOL_POINTS and df <= TOL_POINTS and counts_ok
        if not ok:
            failures.append("%s: dAuPRC %.4f dFPR95 %.4f counts %s" % (cid, da, df, "ok" if counts_ok else "DIFFER"))
        print("| %s | %.3f | %.3f | %.3f | %.3f | %.4f | %.4f | %d/%d | %d/%d | %s |" % (
            cid, 100 * ref["auprc"], 100 * ref["fpr95"], 100 * got["auprc"], 100 * got["fpr95"], da, df,
            got["frames_used"], got["frames_skipped"], got["pixels"]["anomaly"], got["pixels"]["inlier"],
            ("equal" if counts_ok else "DIFFER") + ("" if ok else " FAIL")))

    print()
    print("| configuration | Python mIoU | segc mIoU | |dmIoU| pts | worst class |dIoU| pts | frames |")
    print("|---|---|---|---|---|---|")
    for cid, ref, got, secs in rows:
        if "miou" not in ref:
            continue
        if got is None:
            print("| %s | %.3f | – | – | – | FAILED |" % (cid, 100 * ref["miou"]))
            continue
        dm = abs(ref["miou"] - got["miou"]) * 100
        worst = max(((abs(ref["iou"][n] - got["iou"].get(n, float("nan"))) * 100, n) for n in ref["iou"]),
                    key=lambda t: (t[0] != t[0], t[0]))
        ok = dm <= TOL_POINTS and worst[0] <= TOL_POINTS and ref["frames"] == got["frames"]
        if not ok:
            failures.append("%s: dmIoU %.4f worst %s %.4f" % (cid, dm, worst[1], worst[0]))
        print("| %s | %.3f | %.3f | %.4f | %.4f (%s) | %d%s |" % (cid, 100 * ref["miou"], 100 * got["miou"], dm,
                                                               worst[0], worst[1], got["frames"], "" if ok else " FAIL"))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    print()
    if failures:
        print("FAILED (%d):" % len(failures))
        for f in failures:
            print("  " + f)
        sys.exit(1)
    print("all %d configurations within %.2f points, counts equal" % (len(rows), TOL_POINTS))


if __name__ == "__main__":
    main()
