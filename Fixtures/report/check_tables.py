#!/usr/bin/env python3
"""Re-runs the `segc eval` command recorded with each figure of a `tables.json` and checks
that the separate run gives the same figure: the full-precision JSON value must be equal
(==, not approximately), and the percentage `segc eval` prints (two decimals) must equal the
cell of `tables.md` next to it.

    Fixtures/report/check_tables.py OUT/tables.json [--segc PATH] [--model STEM]... [--dataset TITLE]...

Only figures of the given models / datasets (titles as in tables.md, e.g. "SMIYC RA-21",
"FS Static") are checked; each distinct command runs once. Exit status 1 on any mismatch.
"""
import argparse
import json
import os
import re
import shlex
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tables")
    ap.add_argument("--segc", default="segc")
    ap.add_argument("--model", action="append", default=[])
    ap.add_argument("--dataset", action="append", default=[])
    a = ap.parse_args()
    data = json.load(open(a.tables))
    md = open(os.path.join(os.path.dirname(a.tables), "tables.md")).read()
    runs = {}
    bad = 0
    checked = 0
    for table in data["tables"]:
        for row in table["rows"]:
            if a.model and row.get("model") not in a.model:
                continue
            for f in row.get("figures", []):
                if a.dataset and f["dataset"] not in a.dataset:
                    continue
                cmd = f["command"]
                if cmd not in runs:
                    args = shlex.split(cmd)
                    args[0] = a.segc
                    j = subprocess.run(args + ["--quiet"], capture_output=True, text=True, check=True)
                    human = [x for x in args if x != "--json"]
                    h = subprocess.run(human + ["--quiet"], capture_output=True, text=True, check=True)
                    runs[cmd] = (json.loads(j.stdout), h.stdout)
                js, text = runs[cmd]
                separate = js[f["metric"]]
                printed = {"auprc": r"AuPRC ([0-9.]+) %", "fpr95": r"FPR95 ([0-9.]+) %", "miou": r"mIoU ([0-9.]+) %"}[f["metric"]]
                m = re.search(printed, text)
                shown = m.group(1) if m else None
                # The row of tables.md: its label, then the cells in column order.
                label = row["label"]
                line = next((l for l in md.splitlines() if l.startswith("| " + label)), "")
                ok = separate == f["value"] and shown is not None and (" " + shown + " ") in line
                checked += 1
                status = "ok " if ok else "BAD"
                if not ok:
                    bad += 1
                print(f"{status} {label:40s} {f['dataset']:14s} {f['metric']:6s} tables.json {f['value']!r} eval {separate!r} printed {shown}")
    print(f"{checked} figures checked, {bad} mismatches")
    sys.exit(1 if bad or not checked else 0)


if __name__ == "__main__":
    main()
