#!/usr/bin/env python3
"""Metric parity cases for SegcEval's AuPRC / FPR95 (product.md §3.8).

Each case is generated from a seed by a tiny deterministic generator (splitmix64) that the
Swift test re-implements exactly, so only the parameters and the expected values are stored:
  label: u = next() % 1000: u < ignore -> 255 (ignored); u < ignore + pos -> 1; else 0
         (mode "exact95": the first `npos` pixels are positive, the rest negative)
  score: k = next() % q, then by mode
         plain:   k / q
         perfect: positives (q + k) / (2q), negatives k / (2q)
         shift:   positives min(q - 1, k + q // 4) / q, negatives k / q
         exact95: k / q
  dtype f32: numpy float32 arithmetic (np.float32(k) / np.float32(q)); f64: float64.
Expected values: sklearn.metrics.average_precision_score(labels, scores) and
ood_metrics.fpr_at_95_tpr(scores, labels) on the non-ignored pixels, stored with float.hex().
Writes metric_cases.json. Requires numpy, scikit-learn, ood-metrics.
"""
import json, os
import numpy as np
import sklearn
from sklearn.metrics import average_precision_score
from ood_metrics import fpr_at_95_tpr

M64 = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.s = seed & M64

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & M64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)


def generate(c):
    g = SplitMix64(c["seed"])
    n, q, mode = c["n"], c["q"], c["mode"]
    labels = np.empty(n, dtype=np.int64)
    ks = np.empty(n, dtype=np.int64)
    for i in range(n):
        u = g.next() % 1000
        if mode == "exact95":
            labels[i] = 1 if i < c["npos"] else 0
        elif u < c["ignore"]:
            labels[i] = 255
        elif u < c["ignore"] + c["pos"]:
            labels[i] = 1
        else:
            labels[i] = 0
        ks[i] = g.next() % q
    pos = labels == 1
    num = ks.copy()
    den = np.full(n, q, dtype=np.int64)
    if mode == "perfect":
        num = np.where(pos, q + ks, ks); den = np.full(n, 2 * q, dtype=np.int64)
    elif mode == "shift":
        num = np.where(pos, np.minimum(q - 1, ks + q // 4), ks)
    if c["dtype"] == "f32":
        scores = num.astype(np.float32) / den.astype(np.float32)
    else:
        scores = num.astype(np.float64) / den.astype(np.float64)
    return scores, labels


def main():
    cases = []
    seed = 1000
    def add(**kw):
        nonlocal seed
        seed += 1
        c = dict(seed=seed, ignore=0, pos=100, npos=0)
        c.update(kw)
        cases.append(c)
    for dtype in ("f32", "f64"):
        add(name=f"ties_small_q_{dtype}", n=3000, q=17, mode="plain", dtype=dtype, ignore=100, pos=200)
        add(name=f"ties_q100_{dtype}", n=20000, q=100, mode="shift", dtype=dtype, ignore=150, pos=50)
        add(name=f"rare_{dtype}", n=50000, q=1 << 16, mode="shift", dtype=dtype, ignore=300, pos=2)
        add(name=f"very_rare_{dtype}", n=40000, q=1000, mode="plain", dtype=dtype, ignore=0, pos=1)
        add(name=f"perfect_{dtype}", n=5000, q=1000, mode="perfect", dtype=dtype, ignore=200, pos=100)
        add(name=f"perfect_ties_{dtype}", n=5000, q=3, mode="perfect", dtype=dtype, ignore=0, pos=300)
        add(name=f"many_thresholds_{dtype}", n=60000, q=1 << 24, mode="shift", dtype=dtype, ignore=100, pos=80)
        add(name=f"many_thresholds_plain_{dtype}", n=30000, q=1 << 30, mode="plain", dtype=dtype, ignore=0, pos=500)
        for npos, q in ((20, 1 << 20), (100, 1 << 20), (200, 50), (40, 7), (60, 1 << 12)):
            add(name=f"exact95_{npos}_{q}_{dtype}", n=npos * 10, q=q, mode="exact95", dtype=dtype, npos=npos)
        for s in range(6):
            add(name=f"random_{s}_{dtype}", n=2000 + 1500 * s, q=[5, 64, 1000, 1 << 12, 1 << 20, 1 << 28][s],
                mode=["plain", "shift"][s % 2], dtype=dtype, ignore=50 * s, pos=10 + 60 * s)
    for c in cases:
        scores, labels = generate(c)
        keep = (labels == 0) | (labels == 1)
        s, l = scores[keep], labels[keep]
        ap = float(average_precision_score(l, s))
        fpr = float(fpr_at_95_tpr(s, l))
        c["positives"] = int((l == 1).sum()); c["negatives"] = int((l == 0).sum())
        c["distinct"] = int(np.unique(s).size)
        c["auprc"] = ap.hex(); c["fpr95"] = fpr.hex()
        c["auprc_repr"] = repr(ap); c["fpr95_repr"] = repr(fpr)
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "metric_cases.json"), "w") as fh:
        json.dump({"sklearn": sklearn.__version__, "numpy": np.__version__, "cases": cases}, fh, indent=1)
        fh.write("\n")
    print(len(cases), "cases")


if __name__ == "__main__":
    main()
