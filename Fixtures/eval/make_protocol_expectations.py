#!/usr/bin/env python3
"""Protocol expectations for SegcEval.evaluate (product.md §3.7) with a stand-in network.

The "network" returns its own input as logits (3 classes = the R, G, B planes of the
preprocessed image), and the score is maxlogit (-max over classes), which is exact in float32,
so AuPRC / FPR95 must match bit for bit. Preprocessing and labels follow the reference
evalAnomaly.py: Image.open(...).convert('RGB').resize((1024, 512), BILINEAR) / 255 (float32);
labels opened as they are, resize((1024, 512), NEAREST), 2 -> 1 when the path contains
'RoadAnomaly', frames without a 1 skipped, 1 = positive, 0 = negative, rest ignored.
Cityscapes: argmax of those logits vs labelTrainIds (255 -> 19), iouEval(20, 19) formula.
Writes protocol_expectations.json.
"""
import json, os
import numpy as np
from PIL import Image
from sklearn.metrics import average_precision_score
from ood_metrics import fpr_at_95_tpr

W, H = 1024, 512


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    data = os.path.abspath(os.path.join(here, "../../../shared/data"))
    out = {}
    for name, ext in (("RoadAnomaly21", ".png"), ("RoadObsticle21", ".webp"), ("FS_LostFound_full", ".png"),
                      ("fs_static", ".jpg"), ("RoadAnomaly", ".jpg")):
        root = os.path.join(data, name)
        imgs = sorted(f for f in os.listdir(os.path.join(root, "images")) if f.endswith(ext))
        scores, labels, used, skipped = [], [], 0, 0
        for f in imgs:
            stem = os.path.splitext(f)[0]
            mask = np.array(Image.open(os.path.join(root, "labels_masks", stem + ".png")).resize((W, H), Image.NEAREST))
            if "RoadAnomaly" in root:
                mask = np.where(mask == 2, 1, mask)
            if 1 not in np.unique(mask):
                skipped += 1
                continue
            used += 1
            img = Image.open(os.path.join(root, "images", f)).convert("RGB").resize((W, H), Image.BILINEAR)
            x = np.asarray(img).astype(np.float32) / np.float32(255)
            s = -x.max(axis=2)
            keep = (mask == 0) | (mask == 1)
            scores.append(s[keep]); labels.append(mask[keep].astype(np.int64))
        s = np.concatenate(scores); l = np.concatenate(labels)
        ap = float(average_precision_score(l, s)); fpr = float(fpr_at_95_tpr(s, l))
        out[name] = {"frames": len(imgs), "used": used, "skipped": skipped, "positives": int((l == 1).sum()),
                     "negatives": int((l == 0).sum()), "auprc": ap.hex(), "fpr95": fpr.hex()}
    # Cityscapes
    root = os.path.join(data, "cityscapes")
    tp = np.zeros(20, np.int64); fp = np.zeros(20, np.int64); fn = np.zeros(20, np.int64)
    for city in sorted(os.listdir(os.path.join(root, "leftImg8bit", "val"))):
        for f in sorted(os.listdir(os.path.join(root, "leftImg8bit", "val", city))):
            stem = f[: -len("_leftImg8bit.png")]
            img = Image.open(os.path.join(root, "leftImg8bit", "val", city, f)).convert("RGB").resize((W, H), Image.BILINEAR)
            x = np.asarray(img).astype(np.float32) / np.float32(255)
            pred = x.argmax(axis=2)
            lab = np.array(Image.open(os.path.join(root, "gtFine", "val", city, stem + "_gtFine_labelTrainIds.png")).convert("P").resize((W, H), Image.NEAREST)).astype(np.int64)
            lab[lab == 255] = 19
            valid = lab != 19
            for k in range(19):
                tp[k] += int(((pred == k) & (lab == k)).sum())
                fp[k] += int(((pred == k) & (lab != k) & valid).sum())
                fn[k] += int(((pred != k) & (lab == k)).sum())
    iou = [float(tp[k] / (((float(tp[k]) + float(fp[k])) + float(fn[k])) + 1e-15)) for k in range(19)]
    out["cityscapes"] = {"iou": [v.hex() for v in iou], "miou": (sum(iou) / 19).hex()}
    with open(os.path.join(here, "protocol_expectations.json"), "w") as fh:
        json.dump(out, fh, indent=1, sort_keys=True)
        fh.write("\n")
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "iou"} for k, v in out.items()}, indent=1))


if __name__ == "__main__":
    main()
