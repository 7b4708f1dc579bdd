#!/usr/bin/env python3
"""Pillow expectations for SegcEval's image decoding and resizing.

For every image and label mask under DATA_DIR (default ../../../shared/data) this records
  * the decoded size and sha256 of Image.open(p).convert('RGB') bytes (full resolution),
  * the sha256 of .resize((1024, 512), BILINEAR) of that RGB image,
  * for single-channel masks ('L'/'P'): sha256 of .resize((1024, 512), NEAREST) of the raw values,
  * two 8x8 crops of the bilinear result (hex) so a mismatch can be measured.
Writes pillow_expectations.json next to this script. Optionally, with --dump DIR, writes the
full resized arrays as .npy for diagnosis (not committed).

Usage: python3 make_pillow_expectations.py [DATA_DIR] [--dump DIR]
"""
import hashlib, json, os, sys
import numpy as np
import PIL
from PIL import Image

W, H = 1024, 512
CROPS = [(37, 101), (300, 700)]  # (row, col) of 8x8 crops in the 512x1024 result


def main():
    args = [a for a in sys.argv[1:]]
    dump = None
    if "--dump" in args:
        i = args.index("--dump"); dump = args[i + 1]; del args[i:i + 2]
        os.makedirs(dump, exist_ok=True)
    here = os.path.dirname(os.path.abspath(__file__))
    data = os.path.abspath(args[0] if args else os.path.join(here, "../../../shared/data"))
    entries = []
    for root, _, files in sorted(os.walk(data)):
        for f in sorted(files):
            if not f.lower().endswith((".png", ".jpg", ".jpeg", ".webp")):
                continue
            p = os.path.join(root, f)
            rel = os.path.relpath(p, data)
            im = Image.open(p)
            mode = im.mode
            rgb = im.convert("RGB")
            full = hashlib.sha256(rgb.tobytes()).hexdigest()
            bil = rgb.resize((W, H), Image.BILINEAR)
            arr = np.asarray(bil)
            e = {"path": rel, "mode": mode, "format": im.format, "width": im.width, "height": im.height,
                 "rgb_sha256": full, "bilinear_sha256": hashlib.sha256(bil.tobytes()).hexdigest(),
                 "crops": [{"row": r, "col": c, "hex": arr[r:r + 8, c:c + 8].tobytes().hex()} for r, c in CROPS]}
            if mode in ("L", "P"):
                near = im.resize((W, H), Image.NEAREST)
                e["nearest_sha256"] = hashlib.sha256(near.tobytes()).hexdigest()
                if dump:
                    np.save(os.path.join(dump, rel.replace("/", "__") + ".nearest.npy"), np.asarray(near))
            if dump:
                np.save(os.path.join(dump, rel.replace("/", "__") + ".bilinear.npy"), arr)
            entries.append(e)
    out = {"pillow": PIL.__version__, "size": [W, H], "images": entries}
    with open(os.path.join(here, "pillow_expectations.json"), "w") as fh:
        json.dump(out, fh, indent=0, sort_keys=True)
        fh.write("\n")
    print(f"{len(entries)} images, Pillow {PIL.__version__}")


if __name__ == "__main__":
    main()
