#!/usr/bin/env python3
"""Mutation campaign over segc's readers (issue 8, acceptance point 2).

Makes a few hundred damaged copies of the shared models (MiDE-Net zip, legacy
ENet, ERFNet), ONNX files and plans (truncations, bit flips, huge length fields,
spliced random bytes) and runs the release `segc` on each:

  segc inspect FILE --json
  segc convert FILE --input-size 64x128 -o TMP/out.segc     (models and ONNX files)
  segc run PLAN input.npy -o TMP/out.npy                     (plans; input of the plan's shape)

each with a timeout. It reports, and exits 1 on, any of:
  - a signal (exit status < 0, or >= 128: a crash),
  - a timeout (a hang),
  - a mutated plan accepted by `run` that is not byte-identical to its original,
  - an output left behind by a command that failed (no partial outputs).

Usage: scripts/mutate.py [--count N] [--seed S] [--segc PATH] [--shared DIR]
                         [--work DIR] [--timeout SECONDS] [--keep]

Reproducers of findings are copied to WORK/findings/. Needs numpy (for the
.npy inputs) only through the plan inputs; everything else is the standard
library. Without --segc it builds `swift build -c release --scratch-path
.build-fuzzreg --product segc`.
"""
import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

HUGE = [0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF0, 0x40000000, 0x10000000,
        0xFFFFFFFFFFFFFFFF, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 1 << 40, 1 << 33]


def le(b, at, n):
    return int.from_bytes(b[at:at + n], "little")


def put(b, at, n, v):
    if 0 <= at and at + n <= len(b):
        b[at:at + n] = (v & ((1 << (8 * n)) - 1)).to_bytes(n, "little")


# ---------------------------------------------------------------- mutators

def truncate(rng, data, kind):
    n = len(data)
    cut = rng.choice([0, 1, 7, 8, 63, 64, n // 2, n - 1, rng.randrange(max(n, 1))])
    return data[:max(0, min(cut, n - 1))], f"truncate@{min(cut, n - 1)}"


def bitflip(rng, data, kind):
    b = bytearray(data)
    flips = rng.choice([1, 1, 2, 4, 8, 32])
    for _ in range(flips):
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
    return bytes(b), f"bitflip x{flips}"


def splice(rng, data, kind):
    b = bytearray(data)
    at = rng.randrange(len(b))
    junk = bytes(rng.randrange(256) for _ in range(rng.choice([1, 4, 16, 64, 512, 4096])))
    if rng.random() < 0.5:
        b[at:at + len(junk)] = junk  # overwrite
        how = "overwrite"
    else:
        b[at:at] = junk  # insert
        how = "insert"
    return bytes(b), f"splice-{how} {len(junk)}B@{at}"


def zip_fields(data):
    """(offset, width) of the size/offset/count fields of a zip's EOCD, central
    directory entries and local headers."""
    out = []
    e = data.rfind(b"PK\x05\x06")
    if e < 0:
        return out
    out += [(e + 8, 2), (e + 10, 2), (e + 12, 4), (e + 16, 4), (e + 20, 2)]
    cd = le(data, e + 16, 4)
    for _ in range(le(data, e + 10, 2)):
        if data[cd:cd + 4] != b"PK\x01\x02":
            break
        out += [(cd + 20, 4), (cd + 24, 4), (cd + 28, 2), (cd + 30, 2), (cd + 32, 2), (cd + 42, 4)]
        local = le(data, cd + 42, 4)
        if data[local:local + 4] == b"PK\x03\x04":
            out += [(local + 18, 4), (local + 22, 4), (local + 26, 2), (local + 28, 2)]
        cd += 46 + le(data, cd + 28, 2) + le(data, cd + 30, 2) + le(data, cd + 32, 2)
    return out


def plan_fields(data):
    out = [(16, 8), (24, 4), (32, 8)]
    for i in range(min(le(data, 24, 4), 16)):
        e = 64 + 32 * i
        out += [(e + 8, 8), (e + 16, 8)]
    return out


def pickle_fields(data):
    """Length fields of BINUNICODE (X, 4), SHORT_BINUNICODE-free long forms,
    BINBYTES (B, 4), LONG1 (0x8a, 1), LONG4 (0x8b, 4), FRAME (0x95, 8) near the
    start of a legacy stream or inside data.pkl."""
    out = []
    for i in range(min(len(data), 200_000) - 9):
        op = data[i]
        if op in (0x58, 0x42, 0x8B) and le(data, i + 1, 4) < 4096 and i % 7 == 0:
            out.append((i + 1, 4))
        elif op == 0x95:
            out.append((i + 1, 8))
    return out


def onnx_fields(data):
    """Varint lengths of length-delimited fields at the top level of the
    ModelProto and inside its graph (field 7)."""
    out = []

    def walk(start, end, depth):
        pos = start
        while pos < end and len(out) < 4000:
            key, p = varint(data, pos)
            if key is None:
                return
            wt = key & 7
            if wt == 0:
                _, p = varint(data, p)
                if p is None:
                    return
            elif wt == 1:
                p += 8
            elif wt == 5:
                p += 4
            elif wt == 2:
                n, q = varint(data, p)
                if n is None:
                    return
                out.append((p, q - p))
                if depth < 2 and (key >> 3) in (7, 1, 5):
                    walk(q, min(q + n, end), depth + 1)
                p = q + n
            else:
                return
            pos = p
    walk(0, len(data), 0)
    return out


def varint(b, pos):
    v = shift = 0
    while pos < len(b) and shift < 70:
        c = b[pos]
        pos += 1
        v |= (c & 0x7F) << shift
        if c < 0x80:
            return v, pos
        shift += 7
    return None, None


def huge_length(rng, data, kind):
    b = bytearray(data)
    if kind == "plan":
        fields = plan_fields(data)
    elif kind == "onnx":
        fields = onnx_fields(data)
    elif data[:4] == b"PK\x03\x04":
        fields = zip_fields(data)
        if rng.random() < 0.3:
            # data.pkl lengths are inside a stored entry covered by a CRC; the zip
            # layer refuses those, which is worth testing too.
            fields = fields + pickle_fields(data[:200_000])
    else:
        fields = pickle_fields(data)
    if not fields:
        at = rng.randrange(max(1, len(b) - 8))
        fields = [(at, rng.choice([4, 8]))]
    at, width = rng.choice(fields)
    v = rng.choice(HUGE)
    if kind == "onnx":
        # Re-encode as a varint of the same width (so the framing around stays put)
        # when it fits, else a 10-byte varint (shifts the rest: also a test).
        enc = bytearray()
        x = v
        while True:
            c = x & 0x7F
            x >>= 7
            if x:
                enc.append(c | 0x80)
            else:
                enc.append(c)
                break
        if len(enc) < width:
            enc[-1] |= 0x80
            enc += b"\x80" * (width - len(enc) - 1) + b"\x00"
        b[at:at + width] = enc
        return bytes(b), f"huge-varint {v:#x}@{at}"
    put(b, at, width, v)
    return bytes(b), f"huge-len {v:#x}@{at}/{width}"


MUTATORS = [("truncate", truncate), ("bitflip", bitflip), ("huge-length", huge_length), ("splice", splice)]


# ---------------------------------------------------------------- running

def run(cmd, timeout, cwd=None):
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, cwd=cwd)
        return p.returncode, p.stderr.decode("utf-8", "replace"), time.monotonic() - t0
    except subprocess.TimeoutExpired:
        return None, "timeout", time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=320, help="total mutated files (default 320)")
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--segc")
    ap.add_argument("--shared", default=os.environ.get("SEGC_SHARED", os.path.join(ROOT, "..", "shared")))
    ap.add_argument("--work", default="/tmp/segc-mutate")
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--keep", action="store_true", help="keep the mutated files")
    a = ap.parse_args()
    rng = random.Random(a.seed)

    segc = a.segc
    if not segc:
        subprocess.run(["swift", "build", "-c", "release", "--scratch-path", ".build-fuzzreg", "--product", "segc"],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        segc = os.path.join(ROOT, ".build-fuzzreg", "release", "segc")
    segc = os.path.abspath(segc)

    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(os.path.join(a.work, "originals"))
    os.makedirs(os.path.join(a.work, "findings"))
    S = lambda *p: os.path.join(a.shared, *p)

    # Originals: (path, kind, weight).
    originals = []
    for m in ["midenet_distilled.pth", "enet_legacy_checkpoint.pth", "erfnet_cityscapes.pth"]:
        if os.path.exists(S("models", m)):
            originals.append((S("models", m), "model", 4))
    for o in ["midenet_opset13_ts.onnx", "erfnet_external.onnx", "enet_opset13_ts.onnx"]:
        if os.path.exists(S("onnx", o)):
            originals.append((S("onnx", o), "onnx", 2))
    for o in ["ops_opset11.onnx", "ops_opset18.onnx"]:
        p = os.path.join(ROOT, "Fixtures", "onnx", o)
        if os.path.exists(p):
            originals.append((p, "onnx", 1))
    plans = []
    for src, name in [(S("models", "midenet_distilled.pth"), "midenet_64x128.segc"),
                      (os.path.join(ROOT, "Fixtures", "onnx", "ops_opset11.onnx"), "ops_opset11.segc"),
                      (S("models", "enet_legacy_checkpoint.pth"), "enet_64x128.segc")]:
        out = os.path.join(a.work, "originals", name)
        rc, err, _ = run([segc, "convert", src, "--input-size", "64x128", "-o", out], 120)
        if rc == 0:
            originals.append((out, "plan", 4))
            plans.append(out)
        else:
            print(f"note: cannot make {name}: {err.strip()[:200]}", file=sys.stderr)

    # One input per plan, of the plan's shape (from `inspect --json`).
    import numpy as np
    inputs = {}
    for p in plans:
        info = json.loads(subprocess.run([segc, "inspect", p, "--json"], stdout=subprocess.PIPE, check=True).stdout)
        h, w = info["input_size"]
        shape = [1, 3, h, w]
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        inp = p[:-5] + ".input.npy"
        np.save(inp, x)
        inputs[p] = inp
        rc, err, _ = run([segc, "run", p, inp, "-o", os.path.join(a.work, "check.npy")], 60)
        if rc != 0:
            print(f"error: original plan {p} does not run: {err}", file=sys.stderr)
            return 2

    total_w = sum(w for _, _, w in originals)
    per = [(o, k, max(1, round(a.count * w / total_w))) for o, k, w in originals]
    stats = {"files": 0, "commands": 0, "exit0": 0, "exit1": 0, "other_exit": {}, "signals": [], "timeouts": [],
             "accepted_corrupt_plans": [], "partial_outputs": [], "by_mutator": {}, "by_kind": {}, "exit0_by": {},
             "plans_run_accepted_identical": 0, "max_seconds": 0.0}
    mdir = os.path.join(a.work, "mutants")
    os.makedirs(mdir)
    t_start = time.monotonic()
    for orig, kind, n in per:
        data = open(orig, "rb").read()
        base = os.path.basename(orig)
        for i in range(n):
            mname, mut = MUTATORS[i % len(MUTATORS)]
            mdata, how = mut(rng, data, kind)
            ext = {"model": ".pth", "onnx": ".onnx", "plan": ".segc"}[kind]
            f = os.path.join(mdir, f"{base}.{i:03d}.{mname}{ext}")
            with open(f, "wb") as fh:
                fh.write(mdata)
            if kind == "onnx" and os.path.exists(orig + ".data"):
                # External data resolves against the model's folder.
                dst = os.path.join(mdir, os.path.basename(orig) + ".data")
                if not os.path.exists(dst):
                    os.symlink(orig + ".data", dst)
            stats["files"] += 1
            stats["by_mutator"][mname] = stats["by_mutator"].get(mname, 0) + 1
            stats["by_kind"][kind] = stats["by_kind"].get(kind, 0) + 1
            out_dir = os.path.join(a.work, "out")
            shutil.rmtree(out_dir, ignore_errors=True)
            os.makedirs(out_dir)
            cmds = [("inspect", [segc, "inspect", f, "--json"], None),
                    ("convert", [segc, "convert", f, "--input-size", "64x128", "-o", os.path.join(out_dir, "c.segc")],
                     os.path.join(out_dir, "c.segc"))]
            if kind == "plan":
                cmds.append(("run", [segc, "run", f, inputs[orig], "-o", os.path.join(out_dir, "r.npy")],
                             os.path.join(out_dir, "r.npy")))
            for cname, cmd, output in cmds:
                rc, err, secs = run(cmd, a.timeout)
                stats["commands"] += 1
                stats["max_seconds"] = max(stats["max_seconds"], secs)
                tag = f"{os.path.basename(f)} [{how}] {cname}"
                if rc is None:
                    stats["timeouts"].append(tag)
                    shutil.copy(f, os.path.join(a.work, "findings"))
                    continue
                if rc < 0 or rc >= 128:
                    stats["signals"].append(f"{tag}: status {rc}: {err.strip()[-300:]}")
                    shutil.copy(f, os.path.join(a.work, "findings"))
                    continue
                if rc == 0:
                    stats["exit0"] += 1
                    k = f"{kind} {cname}"
                    stats["exit0_by"][k] = stats["exit0_by"].get(k, 0) + 1
                elif rc == 1:
                    stats["exit1"] += 1
                else:
                    stats["other_exit"][rc] = stats["other_exit"].get(rc, 0) + 1
                if rc != 0 and output and os.path.exists(output):
                    stats["partial_outputs"].append(tag)
                if kind == "plan" and cname == "run" and rc == 0:
                    if mdata != data:
                        stats["accepted_corrupt_plans"].append(f"{tag}")
                        shutil.copy(f, os.path.join(a.work, "findings"))
                    else:
                        stats["plans_run_accepted_identical"] += 1
            if not a.keep:
                os.remove(f)
    stats["seconds"] = round(time.monotonic() - t_start, 1)
    stats["max_seconds"] = round(stats["max_seconds"], 2)
    stats["originals"] = [f"{os.path.basename(o)} ({k}, {n} mutants)" for o, k, n in per]
    print(json.dumps(stats, indent=2))
    bad = stats["signals"] or stats["timeouts"] or stats["accepted_corrupt_plans"] or stats["partial_outputs"]
    print(("FAIL" if bad else "OK") + f": {stats['files']} mutated files, {stats['commands']} commands, "
          f"{len(stats['signals'])} signals, {len(stats['timeouts'])} timeouts, "
          f"{len(stats['accepted_corrupt_plans'])} corrupted plans accepted by run, "
          f"{len(stats['partial_outputs'])} partial outputs", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
