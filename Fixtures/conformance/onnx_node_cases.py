#!/usr/bin/env python3
"""ONNX backend node conformance for segc (issue 17).

Takes onnx's own backend node test cases (`onnx.backend.test.case.node.collect_testcases`,
the cases ONNX Runtime and every backend are checked against) for every operator segc's
ONNX importer lists (read from Sources/SegcONNX/Ops/*.swift), keeps those whose first input
is a rank-4 float32 tensor, turns every further input into an initializer (segc plans have
one input), converts each with `segc convert`, runs it with `segc run` on the case's input
and compares every output at 1e-4 * max(1, max|ref|). Writes the pass/fail table with
the reason of every failure to Docs/Conformance.md.

    python3 Fixtures/conformance/onnx_node_cases.py [--segc PATH] [--commit-subset]

`--commit-subset` also copies the small passing cases (model.onnx, input.npy,
expected.npy and expected_<k>.npy for further outputs) to Fixtures/conformance/cases/, which `ConformanceTests` replays through the
CLI. Python only generates and compares here; segc itself never runs Python.
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import onnx
from onnx import helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOL = 1e-4
# Why each kind of failure is one, for the table in Docs/Conformance.md.
WHY = {
    "int64": "segc plan outputs are float32; MaxPool's Indices output is kept only inside the graph (for MaxUnpool)",
    "uint8": "segc plan outputs are float32; QuantizeLinear is imported only as a QuantizeLinear→DequantizeLinear pair",
    "MaxUnpool whose indices": "the indices are a constant here; the plan's unpool reads indices computed by a "
                  "MaxPool of the same graph (constant operands of an unpool are not supported by the plan format)",
}
SUBSET_MAX_BYTES = 16 * 1024  # per case, so the committed subset stays small


def segc_ops():
    ops = set()
    for f in glob.glob(os.path.join(ROOT, "Sources/SegcONNX/Ops/*.swift")):
        ops.update(re.findall(r'OpImporter\("([A-Za-z]+)"', open(f).read()))
    return sorted(ops)


def cases(ops):
    from onnx.backend.test.case.node import collect_testcases
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        all_cases = collect_testcases(None)
    for c in all_cases:
        g = c.model.graph
        if len(g.node) != 1 or g.node[0].op_type not in ops or g.node[0].domain not in ("", "ai.onnx"):
            continue
        if not c.data_sets:
            continue
        ins, outs = c.data_sets[0]
        if not ins or not isinstance(ins[0], np.ndarray) or ins[0].ndim != 4 or ins[0].dtype != np.float32:
            continue
        yield c, ins, outs


def with_initializers(model, ins):
    """The case's model with every input after the first as an initializer."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    names = [i.name for i in g.input]
    keep = g.input[0]
    for name, value in zip(names[1:], ins[1:]):
        if value is None:
            # An optional input the case leaves out (e.g. Pad's constant_value): ONNX spells
            # that as an empty input name on the node.
            for n in g.node:
                n.input[:] = ["" if i == name else i for i in n.input]
            continue
        if isinstance(value, np.generic):
            value = np.asarray(value)
        if not isinstance(value, np.ndarray):
            raise ValueError(f"input '{name}' is not a tensor")
        g.initializer.append(numpy_helper.from_array(value, name))
    del g.input[1:]
    assert g.input[0].name == keep.name
    return m


def opset_of(model):
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def first_line(s):
    s = s.strip().splitlines()
    return s[0] if s else ""


def file_name(name, k, used):
    """The file `segc run -o DIR` writes for output `name` (RunCommand.outputFileNames)."""
    f = "".join(c if (c.isascii() and (c.isalnum() or c in "._-")) else "_" for c in name)
    if not f or set(f) == {"."} or f in used:
        f = f"output{k}"
    used.add(f)
    return f


def compare(got, ref):
    """None when `got` matches `ref` at the contract's tolerance, else the reason."""
    if got.shape != ref.shape:
        return f"output shape {list(got.shape)}, expected {list(ref.shape)}"
    err = float(np.max(np.abs(got.astype(np.float64) - ref.astype(np.float64)))) if ref.size else 0.0
    bound = TOL * max(1.0, float(np.max(np.abs(ref))) if ref.size else 0.0)
    return None if err <= bound else f"max |error| {err:.3g} > {bound:.3g}"


def run_case(segc, c, ins, outs, work):
    """Returns (passed, reason)."""
    os.makedirs(work, exist_ok=True)
    model_path = os.path.join(work, "model.onnx")
    onnx.save(with_initializers(c.model, ins), model_path)
    np.save(os.path.join(work, "input.npy"), ins[0])
    np.save(os.path.join(work, "expected.npy"), outs[0])
    for k, o in enumerate(outs[1:], 1):
        np.save(os.path.join(work, f"expected_{k}.npy"), o)
    for k, o in enumerate(outs):
        if not isinstance(o, np.ndarray) or o.dtype != np.float32:
            return False, f"output {k} is {getattr(o, 'dtype', type(o))}; segc plan outputs are float32"
    plan = os.path.join(work, "model.segc")
    r = subprocess.run([segc, "convert", model_path, "-o", plan, "--quiet"], capture_output=True, text=True)
    if r.returncode != 0:
        return False, "convert: " + first_line(r.stderr).replace(model_path, "model.onnx")
    out = os.path.join(work, "out")
    r = subprocess.run([segc, "run", plan, os.path.join(work, "input.npy"), "-o", out + (".npy" if len(outs) == 1 else "")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return False, "run: " + first_line(r.stderr).replace(plan, "model.segc")
    if len(outs) == 1:
        got = [np.load(out + ".npy")]
    else:
        used = set()
        names = [file_name(o.name, k, used) for k, o in enumerate(c.model.graph.output)]
        got = []
        for k, n in enumerate(names):
            f = os.path.join(out, n + ".npy")
            if not os.path.exists(f):
                return False, f"output {k} ('{c.model.graph.output[k].name}') was not written"
            got.append(np.load(f))
    for k, (g, ref) in enumerate(zip(got, outs)):
        why = compare(g, ref)
        if why:
            return False, (f"output {k}: " if len(outs) > 1 else "") + why
    err = max(float(np.max(np.abs(g.astype(np.float64) - ref.astype(np.float64)))) if ref.size else 0.0
              for g, ref in zip(got, outs))
    return True, f"max |error| {err:.2g}" + (f" over {len(outs)} outputs" if len(outs) > 1 else "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--segc", default=os.path.join(ROOT, ".build-wt17/release/segc"))
    ap.add_argument("--commit-subset", action="store_true")
    ap.add_argument("--doc", default=os.path.join(ROOT, "Docs/Conformance.md"))
    args = ap.parse_args()
    ops = segc_ops()
    rows = []
    subset_dir = os.path.join(ROOT, "Fixtures/conformance/cases")
    if args.commit_subset:
        shutil.rmtree(subset_dir, ignore_errors=True)
        os.makedirs(subset_dir)
    with tempfile.TemporaryDirectory() as tmp:
        for c, ins, outs in cases(set(ops)):
            op = c.model.graph.node[0].op_type
            work = os.path.join(tmp, c.name)
            try:
                ok, reason = run_case(args.segc, c, ins, outs, work)
            except Exception as e:  # a case the script cannot prepare still counts, as a failure
                ok, reason = False, f"not prepared: {e}"
            rows.append((c.name, op, opset_of(c.model), ok, reason))
            print(("PASS " if ok else "FAIL ") + c.name + ("" if ok else ": " + reason))
            if ok and args.commit_subset:
                files = sorted(f for f in os.listdir(work) if f == "model.onnx" or f.endswith(".npy")
                               and (f.startswith("expected") or f == "input.npy"))
                size = sum(os.path.getsize(os.path.join(work, f)) for f in files)
                if size <= SUBSET_MAX_BYTES:
                    dst = os.path.join(subset_dir, c.name)
                    os.makedirs(dst)
                    for f in files:
                        shutil.copy(os.path.join(work, f), dst)
    passed = sum(1 for r in rows if r[3])
    total = len(rows)
    by_op = {}
    for r in rows:
        p, t = by_op.get(r[1], (0, 0))
        by_op[r[1]] = (p + (1 if r[3] else 0), t + 1)
    with open(args.doc, "w") as f:
        f.write("# ONNX backend node conformance\n\n")
        f.write("Generated by `Fixtures/conformance/onnx_node_cases.py` (onnx %s): every case of "
                "`onnx.backend.test.case.node.collect_testcases` for an operator segc imports whose first input "
                "is a rank-4 float32 tensor; further inputs become initializers. Each case is converted with "
                "`segc convert` and run with `segc run`; every output must match the reference within "
                "1e-4 · max(1, max|ref|).\n\n" % onnx.__version__)
        f.write(f"**{passed} of {total} pass ({100.0 * passed / max(total, 1):.1f} %).**\n\n")
        f.write("| Operator | Pass | Cases |\n|---|---|---|\n")
        for op in sorted(by_op):
            p, t = by_op[op]
            f.write(f"| {op} | {p} | {t} |\n")
        causes = {}
        for name, op, opset, ok, reason in rows:
            if not ok:
                key = re.sub(r" \(node '[^']*', opset \d+\)", "", reason)
                key = re.sub(r"input '[^']*' has batch size \d+", "input has batch size > 1", key)
                key = re.sub(r"graph output '[^']*'", "graph output", key)
                causes.setdefault(key, []).append(name)
        if causes:
            f.write("\n## Failures by cause\n\n| Cause | Why | Cases |\n|---|---|---|\n")
            for key, names in sorted(causes.items(), key=lambda kv: -len(kv[1])):
                note = next((v for k, v in WHY.items() if k in key), "")
                f.write(f"| {key.replace('|', chr(92) + '|')} | {note} | {len(names)}: {', '.join('`' + n + '`' for n in names)} |\n")
        f.write("\n## All cases\n\n| Case | Operator | Opset | Result | Detail |\n|---|---|---|---|---|\n")
        for name, op, opset, ok, reason in rows:
            f.write(f"| `{name}` | {op} | {opset} | {'pass' if ok else '**fail**'} | {reason.replace('|', chr(92) + '|')} |\n")
    print(f"{passed} of {total} pass")


if __name__ == "__main__":
    sys.exit(main())
