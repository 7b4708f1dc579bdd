#!/usr/bin/env python3
"""Pruned ERFNet speed (issue 15) and `segc stream` throughput against `segc bench` (issue 16),
interleaved in one run (protocol of ../shared/docs/performance.md, helpers of scripts/bench.py).

Plans (made here unless present in --plans): ERFNet fp32; pruned `--ratio 0.3 --calib
fs_static/images` per group (the default) and `--global`; the global one quantized
(`segc quantize --calib fs_static/images`), i.e. the paper's "pruned & quantized" row.
Each round: `segc bench` of every plan (city1, 2 threads), then for the fp32 plan
`segc stream --no-write --json` over fs_static/images next to a `segc bench` of the
same plan. Medians over rounds. Writes Docs/Benchmarks-prune-stream.md (+ .json).

Usage: python3 scripts/bench_prune_stream.py [--rounds 3] [--plans .build/bench]
"""
import argparse, datetime, json, os, statistics, subprocess, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (wait_idle, run_measured, SEGC, SHARED, ROOT)


def make(path, cmd, source=None):
    """Makes `path` with `segc cmd` unless it exists and is newer than the plan it derives
    from (`source`): a cached pruned plan made from an older fp32 plan (before
    remove-dead-channels, say) would be timed against a different baseline."""
    stale = source is not None and path.exists() and path.stat().st_mtime < Path(source).stat().st_mtime
    if not path.exists() or stale:
        print(f"making {path.name}: segc {' '.join(map(str, cmd))}", flush=True)
        subprocess.run([bench.SEGC, *cmd, "-o", path, "--quiet"], check=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--plans", default=str(bench.ROOT / ".build" / "bench"))
    ap.add_argument("--out", default=str(bench.ROOT / "Docs" / "Benchmarks-prune-stream.md"))
    a = ap.parse_args()
    d = Path(a.plans)
    d.mkdir(parents=True, exist_ok=True)
    calib = bench.SHARED / "data/fs_static/images"
    fp32 = d / "erfnet.segc"
    make(fp32, ["convert", bench.SHARED / "models/erfnet_cityscapes.pth"])
    plans = {"fp32": fp32, "pruned (per group)": d / "erfnet_pruned_group.segc",
             "pruned (global)": d / "erfnet_pruned_global.segc", "pruned (global) + int8": d / "erfnet_pruned_global.int8.segc"}
    make(plans["pruned (per group)"], ["prune", fp32, "--ratio", "0.3", "--calib", calib], fp32)
    make(plans["pruned (global)"], ["prune", fp32, "--ratio", "0.3", "--global", "--calib", calib], fp32)
    make(plans["pruned (global) + int8"], ["quantize", plans["pruned (global)"], "--calib", calib],
         plans["pruned (global)"])
    inp = bench.SHARED / "inputs/city1_512x1024.npy"
    common = ["--threads", str(a.threads), "--warmup", str(a.warmup), "--runs", str(a.runs), "--input", inp, "--json"]
    rounds = []
    for r in range(a.rounds):
        row = {}
        for name, plan in plans.items():
            bench.wait_idle()
            row[name] = bench.run_measured([bench.SEGC, "bench", plan, *common])[0]["median_ms"]
        # bench, stream, bench: the stream run is compared with the mean of the bench runs on
        # either side of it, so a drift of the host during the round moves both sides alike.
        bench.wait_idle()
        before = bench.run_measured([bench.SEGC, "bench", fp32, *common])[0]["median_ms"]
        bench.wait_idle()
        stream = bench.run_measured([bench.SEGC, "stream", fp32, calib, "--no-write", "--threads", str(a.threads),
                                     "--json", "--quiet"])[0]
        bench.wait_idle()
        after = bench.run_measured([bench.SEGC, "bench", fp32, *common])[0]["median_ms"]
        row["stream"] = stream
        row["bench before stream"] = before
        row["bench after stream"] = after
        row["bench beside stream"] = (before + after) / 2
        rounds.append(row)
        print(f"round {r}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in row.items() if isinstance(v, float))
              + f", stream {stream['fps']:.2f} fps", flush=True)
    med = {k: statistics.median(rr[k] for rr in rounds) for k in plans}
    fps = [rr["stream"]["fps"] for rr in rounds]
    bench_fps = [1000 / rr["bench beside stream"] for rr in rounds]
    ratios = [s / b for s, b in zip(fps, bench_fps)]
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    info = open("/proc/cpuinfo").read()
    model = next(l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith("model name"))
    Path(a.out).with_suffix(".json").write_text(json.dumps({"date": now, "cpu": model, "rounds": rounds}, indent=1))
    lines = ["# Pruned ERFNet and `segc stream` (ERFNet)", "",
             "Written by `scripts/bench_prune_stream.py` (do not edit by hand). `segc bench` of each plan, interleaved,",
             f"`inputs/city1_512x1024.npy`, {a.threads} threads, {a.warmup} warm-up + {a.runs} timed runs, medians; the",
             "table gives the median over rounds. Then, per round, `segc stream --no-write` over `data/fs_static/images`",
             "between two `segc bench` runs of the same fp32 plan (bench fps beside = from the mean of their medians).", "",
             f"- date: {now}; CPU: {model} ({os.cpu_count()} vCPUs); kernel level: auto", "",
             "| plan | bytes | median ms | speed-up vs fp32 |", "|---|---|---|---|"]
    for name, plan in plans.items():
        lines.append(f"| {name} | {os.path.getsize(plan):,} | {med[name]:.1f} | **{med['fp32'] / med[name]:.2f}x** |")
    lines += ["", "| round | stream fps | bench fps (beside) | stream / bench | latency p50 / p95 / p99 ms | network p50 ms | decode p50 ms |",
              "|---|---|---|---|---|---|---|"]
    for k, rr in enumerate(rounds):
        lat = rr["stream"]["latency"]
        tot, net, dec = lat["end_to_end"], lat["network"], lat["decode"]
        lines.append(f"| {k} | {fps[k]:.2f} | {bench_fps[k]:.2f} | **{ratios[k]:.2f}** | {tot['p50_ms']:.0f} / {tot['p95_ms']:.0f} / "
                     f"{tot['p99_ms']:.0f} | {net['p50_ms']:.0f} | {dec['p50_ms']:.0f} |")
    lines += ["", f"Median stream / bench: **{statistics.median(ratios):.2f}** (target >= 0.9).", ""]
    Path(a.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
