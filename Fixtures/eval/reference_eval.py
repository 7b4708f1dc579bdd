#!/usr/bin/env python3
"""Python reference of the paper's evaluation protocol (issue 7, end-to-end acceptance).

"Real-Time Anomaly Segmentation for Road Scenes" (Sanna et al.) evaluates with the course code's
`eval/evalAnomaly.py` (AuPRC / FPR95) and `eval/eval_iou.py` (mIoU).  This script re-does that
protocol with PyTorch + Pillow + scikit-learn + ood_metrics, independently of segc, for the
configurations of issue 7's acceptance list, and writes `reference_eval_expected.json` next to
itself.  `compare_eval.py` and `Tests/segcTests/EvalParityTests.swift` compare `segc eval` with it.

Protocol (product.md §3.3, §3.7, §3.8):
  * image: Image.open(p).convert('RGB').resize((1024, 512), BILINEAR), uint8 -> float32 / 255,
    HWC -> CHW (ToTensor), batch of 1; network from shared/tools/torch_models.py in eval mode;
  * scores from the logits z [C, H, W] (float32, torch):
      msp        = 1 - max_c softmax(z / T)_c          (torch.softmax, then numpy max)
      maxlogit   = - max_c z_c
      maxentropy = - sum_c p_c * log(p_c + 1e-10),  p = softmax(z)   (float32, torch.sum)
      void       = softmax(z)_{C-1}
  * anomaly label: Image.open(mask) as it is, resize((1024, 512), NEAREST), 2 -> 1 when the path
    contains 'RoadAnomaly'; frames without a label-1 pixel are skipped; pixels with label 0
    (negative) or 1 (positive) of all used frames are pooled; AuPRC =
    sklearn.metrics.average_precision_score(labels, scores), FPR95 =
    ood_metrics.fpr_at_95_tpr(scores, labels), scores float32;
  * Cityscapes (gtFine val): argmax of the logits; label = labelTrainIds PNG .convert('P'),
    NEAREST to 1024x512, 255 -> 19; iouEval(20, ignoreIndex=19): for class k < 19, over pixels
    whose label != 19: TP = #(pred=k, gt=k), FP = #(pred=k, gt!=k), FN = #(pred!=k, gt=k)
    (FN also over all pixels with gt=k), IoU_k = TP / (TP + FP + FN + 1e-15) in float64,
    mIoU = mean over the 19 classes.

Runtime: each model's score maps are cached per frame under --cache (default
/tmp/segc_reference_eval_cache) so re-runs only redo the metrics.

Usage: python3 Fixtures/eval/reference_eval.py [--shared ../shared] [--threads 1] [--only SUBSTR]
       [--cache DIR] [-o Fixtures/eval/reference_eval_expected.json]
"""
import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.metrics import average_precision_score
from ood_metrics import fpr_at_95_tpr

W, H = 1024, 512

ANOMALY_SETS = [  # (folder, image extension)
    ("RoadAnomaly21", ".png"),
    ("RoadObsticle21", ".webp"),
    ("FS_LostFound_full", ".png"),
    ("fs_static", ".jpg"),
    ("RoadAnomaly", ".jpg"),
]

MODELS = {  # checkpoint -> (torch_models arch, classes)
    "enet_void.pth": ("enet", 20),
    "midenet_distilled.pth": ("midenet", 20),
    "erfnet_cityscapes.pth": ("erfnet", 20),
}

CITYSCAPES_NAMES = ["road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
                    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
                    "motorcycle", "bicycle"]


def anomaly_configs():
    """The acceptance list of issue 7: (checkpoint, score, temperature, dataset)."""
    out = []
    for ds, _ in ANOMALY_SETS:
        out.append(("enet_void.pth", "void", 1.0, ds))
    for ds, _ in ANOMALY_SETS:
        out.append(("midenet_distilled.pth", "msp", 1.0, ds))
    for ds in ("RoadAnomaly21", "fs_static"):
        for score, t in (("msp", 1.0), ("maxlogit", 1.0), ("maxentropy", 1.0), ("msp", 2.15)):
            out.append(("erfnet_cityscapes.pth", score, t, ds))
    return out


IOU_MODELS = ["erfnet_cityscapes.pth", "midenet_distilled.pth", "enet_void.pth"]


def config_id(model, score, t, ds):
    s = score if (score != "msp" or t == 1.0) else "msp_T%g" % t
    return "%s/%s/%s" % (os.path.splitext(model)[0], s, ds)


# ---------------------------------------------------------------------------------------------

class Runner:
    def __init__(self, shared, cache):
        self.shared = shared
        self.cache = cache
        self.nets = {}
        sys.path.insert(0, os.path.join(shared, "tools"))

    def net(self, model):
        if model not in self.nets:
            from torch_models import build_model, load_checkpoint
            arch, classes = MODELS[model]
            n = build_model(arch, classes)
            load_checkpoint(n, os.path.join(self.shared, "models", model))
            n.eval()
            self.nets[model] = n
        return self.nets[model]

    @staticmethod
    def image_tensor(path):
        img = Image.open(path).convert("RGB").resize((W, H), Image.BILINEAR)
        x = np.asarray(img, dtype=np.uint8).astype(np.float32) / np.float32(255.0)  # ToTensor
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]

    def logits(self, model, path):
        with torch.no_grad():
            return self.net(model)(self.image_tensor(path))[0]  # [C, H, W] float32

    @staticmethod
    def score(z, score, t):
        """z: torch [C, H, W] float32 -> numpy float32 [H, W], as evalAnomaly.py computes it."""
        with torch.no_grad():
            if score == "msp":
                p = F.softmax(z / t, dim=0) if t != 1.0 else F.softmax(z, dim=0)
                return (1.0 - np.max(p.numpy(), axis=0)).astype(np.float32)
            if score == "maxlogit":
                return (-np.max(z.numpy(), axis=0)).astype(np.float32)
            if score == "maxentropy":
                p = F.softmax(z, dim=0)
                return (-torch.sum(p * torch.log(p + 1e-10), dim=0)).numpy().astype(np.float32)
            if score == "void":
                return F.softmax(z, dim=0)[z.shape[0] - 1].numpy().astype(np.float32)
        raise ValueError(score)

    def _cache_path(self, model, path, what):
        key = hashlib.sha1(("%s|%s|%s|%dx%d" % (model, os.path.abspath(path), what, W, H)).encode()).hexdigest()[:20]
        return os.path.join(self.cache, key + ".npy")

    def scores(self, model, path, wanted):
        """{(score, T): float32 map} for every (score, T) in wanted, from the cache or one forward."""
        out, missing = {}, []
        for s, t in wanted:
            cp = self._cache_path(model, path, "%s@%r" % (s, t))
            if os.path.exists(cp):
                out[(s, t)] = np.load(cp)
            else:
                missing.append((s, t))
        if missing:
            z = self.logits(model, path)
            for s, t in missing:
                m = self.score(z, s, t)
                out[(s, t)] = m
                if self.cache:
                    np.save(self._cache_path(model, path, "%s@%r" % (s, t)), m)
        return out

    def argmax(self, model, path):
        cp = self._cache_path(model, path, "argmax")
        if os.path.exists(cp):
            return np.load(cp)
        with torch.no_grad():
            a = torch.argmax(self.logits(model, path), dim=0).numpy().astype(np.uint8)
        if self.cache:
            np.save(cp, a)
        return a


def anomaly_label(mask_path):
    lab = np.array(Image.open(mask_path).resize((W, H), Image.NEAREST))
    if "RoadAnomaly" in mask_path:
        lab = np.where(lab == 2, 1, lab)
    return lab


def dataset_frames(root, ext):
    imgs = sorted((f for f in os.listdir(os.path.join(root, "images")) if f.lower().endswith(ext)),
                  key=lambda f: (len(os.path.splitext(f)[0]), f))
    return [(os.path.join(root, "images", f), os.path.join(root, "labels_masks", os.path.splitext(f)[0] + ".png"))
            for f in imgs]


def run_anomaly(runner, configs, log):
    """Groups configurations by (model, dataset) so each frame is forwarded once."""
    groups = {}
    for c in configs:
        groups.setdefault((c[0], c[3]), []).append(c)
    results = {}
    for (model, ds), cs in groups.items():
        ext = dict(ANOMALY_SETS)[ds]
        root = os.path.join(runner.shared, "data", ds)
        frames = dataset_frames(root, ext)
        wanted = [(c[1], c[2]) for c in cs]
        pools = {w: [] for w in wanted}
        labels, used, skipped, ignored = [], 0, 0, 0
        t0 = time.time()
        for img, mask in frames:
            lab = anomaly_label(mask)
            if not (lab == 1).any():
                skipped += 1
                continue
            used += 1
            keep = (lab == 0) | (lab == 1)
            ignored += int(lab.size - keep.sum())
            maps = runner.scores(model, img, wanted)
            for w in wanted:
                pools[w].append(maps[w][keep])
            labels.append(lab[keep].astype(np.uint8))
        lab = np.concatenate(labels)
        pos, neg = int((lab == 1).sum()), int((lab == 0).sum())
        for c in cs:
            s = np.concatenate(pools[(c[1], c[2])]).astype(np.float32)
            ap = float(average_precision_score(lab, s))
            fpr = float(fpr_at_95_tpr(s, lab))
            cid = config_id(*c)
            results[cid] = {
                "model": model, "dataset": ds, "score": c[1], "temperature": c[2],
                "auprc": ap, "fpr95": fpr, "frames": len(frames), "frames_used": used, "frames_skipped": skipped,
                "pixels": {"anomaly": pos, "inlier": neg, "ignored": ignored},
            }
            log("%-45s AuPRC %7.3f  FPR95 %7.3f  (%d/%d frames, %.0fs)" % (cid, 100 * ap, 100 * fpr, used,
                                                                         len(frames), time.time() - t0))
    return results


def run_cityscapes(runner, models, log, split="val"):
    root = os.path.join(runner.shared, "data", "cityscapes")
    pairs = []
    for city in sorted(os.listdir(os.path.join(root, "leftImg8bit", split))):
        d = os.path.join(root, "leftImg8bit", split, city)
        for f in sorted(os.listdir(d)):
            if f.endswith("_leftImg8bit.png"):
                stem = f[: -len("_leftImg8bit.png")]
                pairs.append((os.path.join(d, f),
                              os.path.join(root, "gtFine", split, city, stem + "_gtFine_labelTrainIds.png")))
    out = {}
    for model in models:
        t0 = time.time()
        tp = np.zeros(19, np.int64); fp = np.zeros(19, np.int64); fn = np.zeros(19, np.int64)
        ignored = 0
        for img, lab_path in pairs:
            pred = runner.argmax(model, img).astype(np.int64)
            gt = np.array(Image.open(lab_path).convert("P").resize((W, H), Image.NEAREST)).astype(np.int64)
            gt[gt == 255] = 19
            valid = gt != 19
            ignored += int((~valid).sum())
            for k in range(19):
                pk, gk = pred == k, gt == k
                tp[k] += int((pk & gk).sum())
                fp[k] += int((pk & ~gk & valid).sum())
                fn[k] += int((~pk & gk).sum())
        iou = tp.astype(np.float64) / (((tp + fp).astype(np.float64) + fn) + 1e-15)
        miou = float(np.sum(iou) / 19)
        cid = "%s/miou/cityscapes" % os.path.splitext(model)[0]
        out[cid] = {"model": model, "dataset": "cityscapes", "split": split, "frames": len(pairs),
                    "miou": miou, "iou": {n: float(v) for n, v in zip(CITYSCAPES_NAMES, iou)},
                    "pixels": {"labelled": int(W * H * len(pairs) - ignored), "ignored": ignored}}
        log("%-45s mIoU %7.3f  (%d frames, %.0fs)" % (cid, 100 * miou, len(pairs), time.time() - t0))
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.abspath(os.path.join(here, "../../../shared")))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache", default="/tmp/segc_reference_eval_cache", help="'' disables the cache")
    ap.add_argument("--only", default="", help="substring filter on configuration ids")
    ap.add_argument("-o", "--output", default=os.path.join(here, "reference_eval_expected.json"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.cache:
        os.makedirs(a.cache, exist_ok=True)
    runner = Runner(a.shared, a.cache)

    def log(msg):
        print(msg, flush=True)

    configs = [c for c in anomaly_configs() if a.only in config_id(*c)]
    iou_models = [m for m in IOU_MODELS if a.only in "%s/miou/cityscapes" % os.path.splitext(m)[0]]
    results = run_anomaly(runner, configs, log) if configs else {}
    results.update(run_cityscapes(runner, iou_models, log) if iou_models else {})

    # Merge into an existing file when only part of the list was run.
    doc = {}
    if a.only and os.path.exists(a.output):
        with open(a.output) as f:
            doc = json.load(f)
    doc.setdefault("configs", {})
    doc["configs"].update(results)
    order = [config_id(*c) for c in anomaly_configs()] + ["%s/miou/cityscapes" % os.path.splitext(m)[0]
                                                          for m in IOU_MODELS]
    doc["configs"] = {k: doc["configs"][k] for k in order if k in doc["configs"]}
    import sklearn, PIL  # noqa: E401
    from importlib.metadata import version
    doc["generator"] = {
        "script": "Fixtures/eval/reference_eval.py",
        "input_size": [H, W],
        "torch": torch.__version__, "pillow": PIL.__version__, "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "ood_metrics": version("ood-metrics"),
        "note": "auprc/fpr95/miou/iou are fractions (multiply by 100 for the paper's points)",
    }
    with open(a.output, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    log("wrote %s (%d configurations)" % (a.output, len(doc["configs"])))


if __name__ == "__main__":
    main()
