#!/usr/bin/env python3
"""segc vs ONNX Runtime, interleaved in one run (../shared/docs/performance.md protocol).

For each round and each network: `segc bench --kernels LEVEL` for every kernel
level this CPU has (scalar, avx2, avx512; each its own process), then
`ort_bench.py` (its own process), same input tensor, same thread count,
>= 5 warm-up and 30 timed runs each; medians; the ratio segc median / ORT median
(lower is better: < 1 means segc is faster) per round and level, and the median
over rounds. When the avx2 level is measured on an AVX-512 CPU with CPUID faulting
(`cpuid_fault` in /proc/cpuinfo), ORT runs a second time per round with AVX-512 hidden
(scripts/cpuid_cap/cpuid_cap.c, LD_PRELOAD), so segc's avx2 level is also compared with
ORT at AVX2, as on an AVX2 machine. Before every process the driver waits
until the machine is idle (other processes < 15 % of one core) and it records
the foreign CPU time during the measurement; a round disturbed by more than
5 % foreign time is repeated. Writes Docs/Benchmarks.md (and the raw JSON next
to it).

Usage (from the repository root, after `swift build -c release`):
    python3 scripts/bench.py [--nets erfnet,enet,midenet,bisenet] [--levels scalar,avx2,avx512] [--threads 2] [--rounds 3]
Needs: onnxruntime, numpy (pip), ../shared (models, onnx/bench, tools). BiSeNetV1's ONNX is
not in ../shared: make it with `python ../shared/tools/export_onnx.py --only bisenet --out .build/onnx`
(needs torch); the network is skipped with a message when the file is absent.
"""
import argparse, datetime, json, os, platform, statistics, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SEGC_SHARED", ROOT.parent / "shared"))
SEGC = Path(os.environ.get("SEGC", ROOT / ".build" / "release" / "segc"))
NETS = {
    "erfnet": ("models/erfnet_cityscapes.pth", "onnx/bench/erfnet_512x1024.onnx"),
    "enet": ("models/enet_cityscapes.pth", "onnx/bench/enet_512x1024.onnx"),
    "midenet": ("models/midenet_distilled.pth", "onnx/bench/midenet_512x1024.onnx"),
    "bisenet": ("models/bisenetv1_calibrated_random.pth", "onnx/bench/bisenet_512x1024.onnx"),
}
# Where a network's ONNX may live besides ../shared (files made by export_onnx.py).
EXTRA_ONNX = [ROOT / ".build" / "onnx"]


def cpu_levels():
    """Kernel levels this CPU supports, lowest first (the same test as dispatch/cpu.c)."""
    try:
        flags = set(next(l.split(":", 1)[1].split() for l in open("/proc/cpuinfo") if l.startswith("flags")))
    except Exception:
        return ["scalar"]
    levels = ["scalar"]
    if {"avx2", "fma"} <= flags:
        levels.append("avx2")
        if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
            levels.append("avx512")
    return levels


def onnx_path(net):
    p = SHARED / NETS[net][1]
    if p.exists():
        return p
    for d in EXTRA_ONNX:
        q = d / "bench" / p.name
        if q.exists():
            return q
    return None


def cpu_times():
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:]
    vals = list(map(int, parts))
    idle = vals[3] + vals[4]
    return sum(vals), idle


def wait_idle(limit=0.15, timeout=120):
    """Waits until non-idle CPU (all processes) is below `limit` cores over 1 s."""
    t0 = time.time()
    hz = os.sysconf("SC_CLK_TCK")
    while time.time() - t0 < timeout:
        a_tot, a_idle = cpu_times(); time.sleep(1.0); b_tot, b_idle = cpu_times()
        busy_cores = ((b_tot - a_tot) - (b_idle - a_idle)) / hz
        if busy_cores < limit:
            return busy_cores
    return None


def cpuid_cap_preload():
    """Builds scripts/cpuid_cap/cpuid_cap.so (an LD_PRELOAD shim that hides AVX-512 from a
    process through CPUID faulting) when this CPU has AVX-512 and the `cpuid_fault` flag; None
    otherwise. ORT has no switch to cap its kernels, so this is how it runs at AVX2 here."""
    try:
        flags = set(next(l.split(":", 1)[1].split() for l in open("/proc/cpuinfo") if l.startswith("flags")))
    except Exception:
        return None
    if "cpuid_fault" not in flags or "avx512f" not in flags:
        return None
    src = ROOT / "scripts" / "cpuid_cap" / "cpuid_cap.c"
    so = ROOT / ".build" / "cpuid_cap.so"
    so.parent.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", so, src], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"cpuid_cap: build failed, ORT runs uncapped only: {r.stderr}", flush=True)
        return None
    return so


def capped_env(so, level):
    return {**os.environ, "LD_PRELOAD": str(so), "SEGC_CPUID_CAP": level}


def run_measured(cmd, env=None):
    """Runs cmd, returns (json, wall seconds, foreign busy CPU seconds)."""
    hz = os.sysconf("SC_CLK_TCK")
    a_tot, a_idle = cpu_times()
    r0 = os.times()
    t0 = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.time() - t0
    r1 = os.times()
    b_tot, b_idle = cpu_times()
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, cmd))}\n{out.stderr}")
    busy = ((b_tot - a_tot) - (b_idle - a_idle)) / hz
    own = (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)
    return json.loads(out.stdout), wall, max(0.0, busy - own)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nets", default="erfnet,enet,midenet,bisenet")
    ap.add_argument("--levels", default=",".join(cpu_levels()), help="kernel levels to measure (default: all this CPU has)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--out", default=str(ROOT / "Docs" / "Benchmarks.md"))
    args = ap.parse_args()
    nets = []
    for n in args.nets.split(","):
        if onnx_path(n) is None:
            print(f"skipping {n}: no {NETS[n][1]} (see the docstring for how to make it)", flush=True)
        else:
            nets.append(n)
    levels = args.levels.split(",")
    tmp = ROOT / ".build" / "bench"
    tmp.mkdir(parents=True, exist_ok=True)
    inp = SHARED / "inputs" / "city1_512x1024.npy"
    plans = {}
    for n in nets:
        plans[n] = tmp / f"{n}.segc"
        subprocess.run([SEGC, "convert", SHARED / NETS[n][0], "-o", plans[n], "--quiet"], check=True, capture_output=True)
    import onnxruntime
    cap_so = cpuid_cap_preload() if "avx2" in levels else None
    results = {n: [] for n in nets}
    for rnd in range(args.rounds):
        for n in nets:
            for attempt in range(3):
                segc = {}
                foreign = {}
                for level in levels:
                    wait_idle()
                    segc[level], _, foreign[level] = run_measured(
                        [SEGC, "bench", plans[n], "--threads", str(args.threads), "--warmup", str(args.warmup),
                         "--runs", str(args.runs), "--input", inp, "--kernels", level, "--json"])
                ort = [sys.executable, SHARED / "tools" / "ort_bench.py", onnx_path(n), "--threads", str(args.threads),
                       "--input-size", "512x1024", "--warmup", str(args.warmup), "--runs", str(args.runs), "--input", inp, "--json"]
                wait_idle()
                o, _, fo = run_measured(ort)
                o2 = None
                if cap_so:
                    # The same peer on the CPU as an AVX2 machine shows it (AVX-512 hidden).
                    wait_idle()
                    o2, _, fo2 = run_measured(ort, env=capped_env(cap_so, "avx2"))
                    fo = max(fo, fo2 * o["median_ms"] / o2["median_ms"])
                disturbed = fo > 0.05 * o["median_ms"] * args.runs / 1000 * 2 or any(
                    foreign[l] > 0.05 * segc[l]["median_ms"] * args.runs / 1000 * 2 for l in levels)
                if not disturbed or attempt == 2:
                    break
                print(f"round {rnd} {n}: disturbed, repeating", flush=True)
            ratios = {l: segc[l]["median_ms"] / o["median_ms"] for l in levels}
            entry = {"round": rnd, "segc": segc, "ort": o, "ratio": ratios, "foreign_cpu_s": {"ort": fo, **foreign}}
            if o2:
                entry["ort_avx2"] = o2
                entry["ratio_avx2_vs_ort_avx2"] = segc["avx2"]["median_ms"] / o2["median_ms"]
            results[n].append(entry)
            print(f"round {rnd} {n}: ORT {o['median_ms']:.1f} ms; " + ", ".join(
                f"{l} {segc[l]['median_ms']:.1f} ms ({ratios[l]:.2f})" for l in levels) +
                (f"; ORT capped to AVX2 {o2['median_ms']:.1f} ms (segc avx2 / ORT avx2 {entry['ratio_avx2_vs_ort_avx2']:.2f})" if o2 else ""),
                flush=True)

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
        model = next(l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith("model name"))
        flags = next(l.split(":", 1)[1].split() for l in info.splitlines() if l.startswith("flags"))
        isa = ", ".join(x for x in ["avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx_vnni"] if x in flags)
    except Exception:
        model, isa = cpu, "?"
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    raw = Path(args.out).with_suffix(".json")
    raw.write_text(json.dumps({"date": now, "cpu": model, "flags": isa, "levels": levels, "threads": args.threads,
                               "results": results}, indent=1, default=str) + "\n")
    lines = [
        "# Benchmarks",
        "",
        "Written by `scripts/bench.py` (do not edit by hand). Protocol: `../shared/docs/performance.md` —",
        "segc (every kernel level this CPU has, forced with `--kernels`) and ONNX Runtime interleaved in one",
        f"run, each in its own process, same input (`inputs/city1_512x1024.npy`), {args.threads} threads,",
        f"{args.warmup} warm-up + {args.runs} timed runs, medians; **ratio = segc median / ORT median (< 1 means",
        "segc is faster)**. Absolute times on this shared VM drift; only ratios from one run are comparable.",
        "",
        f"- date: {now}; CPU: {model} ({os.cpu_count()} vCPUs; flags: {isa}); segc kernel levels measured: "
        f"{', '.join(levels)}; ONNX Runtime {onnxruntime.__version__}",
        f"- commands: `segc bench PLAN --threads {args.threads} --warmup {args.warmup} --runs {args.runs} --input inputs/city1_512x1024.npy --kernels LEVEL --json` and "
        f"`python tools/ort_bench.py onnx/bench/<net>_512x1024.onnx --threads {args.threads} --input-size 512x1024 --warmup {args.warmup} --runs {args.runs} --input inputs/city1_512x1024.npy --json`",
        "",
        "| network | round | ORT median ms (min) | ORT peak RSS MiB | " + " | ".join(
            f"segc {l} median ms (min) | {l} ratio" for l in levels) + " | segc allocations/run | segc peak RSS MiB |",
        "|---|---|---|---|" + "---|---|" * len(levels) + "---|---|",
    ]
    for n in nets:
        for r in results[n]:
            o = r["ort"]
            best = r["segc"][levels[-1]]
            lines.append(f"| {n} | {r['round']} | {o['median_ms']:.1f} ({o['min_ms']:.1f}) | {(o.get('peak_rss_mib') or 0):.0f} | " +
                         " | ".join(f"{r['segc'][l]['median_ms']:.1f} ({r['segc'][l]['min_ms']:.1f}) | {r['ratio'][l]:.2f}" for l in levels) +
                         f" | {best['allocations_per_run']:g} | {best['peak_rss_bytes'] / 2**20:.0f} |")
    capped = cap_so is not None
    lines += ["", "| network | " + " | ".join(f"median ratio segc/ORT, {l}" for l in levels) +
              (" | ORT capped to AVX2, median ms by round | **segc avx2 / ORT at AVX2**, median |" if capped else " |"),
              "|---|" + "---|" * len(levels) + ("---|---|" if capped else "")]
    for n in nets:
        row = f"| {n} | " + " | ".join(f"**{statistics.median(r['ratio'][l] for r in results[n]):.2f}**" for l in levels) + " |"
        if capped:
            row += (" " + " / ".join(f"{r['ort_avx2']['median_ms']:.1f}" for r in results[n]) +
                    f" | **{statistics.median(r['ratio_avx2_vs_ort_avx2'] for r in results[n]):.2f}** |")
        lines.append(row)
    if capped:
        lines += [
            "",
            "**ORT at AVX2.** ONNX Runtime has no switch to cap its kernels, so on an AVX-512 machine the",
            "ratios in the `avx2` column compare segc's AVX2 kernels with ORT's AVX-512 ones. The last two",
            "columns run ORT a second time in each round under `scripts/cpuid_cap/cpuid_cap.c`, an `LD_PRELOAD`",
            "shim that uses Linux CPUID faulting to hide AVX-512 (leaf 7) from the process — ORT then sees the",
            "CPU an AVX2 machine (with AVX-VNNI) shows it and picks its AVX2 kernels, as on such a machine.",
        ]
    lines += [
        "",
        "## How allocations are counted",
        "",
        "The `segc` executable links `CSegcAllocCounter`, which defines `malloc`, `calloc`, `realloc`, `memalign`,",
        "`aligned_alloc` and `posix_memalign` and forwards them to glibc's `__libc_*` entry points. `segc bench`",
        "switches counting on after the warm-up runs and off after the timed runs; `allocations_per_run` is the count",
        "divided by `--runs`. The runtime's own test (`SegcRuntimeTests`) checks the same property independently with",
        "glibc `mallinfo2()` (bytes in use and mapped blocks unchanged over 5 runs).",
        "",
    ]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
