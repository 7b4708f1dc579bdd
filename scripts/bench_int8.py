#!/usr/bin/env python3
"""int8 ERFNet against ONNX Runtime's int8, interleaved in one run (issue 14; protocol of
../shared/docs/performance.md, helpers shared with scripts/bench.py).

For each round: segc's fp32 and int8 ERFNet plans at every kernel level this CPU has
(scalar skipped unless asked; the int8 plan at avx2 also with SEGC_NO_VNNI=1 when the CPU
has AVX-VNNI, i.e. the plain-AVX2 vpmaddwd kernel, and at avx512 also with SEGC_NO_VNNI=1 when
it has AVX-512 VNNI, i.e. what a Skylake-SP runs; ORT and OpenVINO capped to match), ORT's fp32 model and ORT's QDQ int8 model
(../shared/onnx/bench/erfnet_512x1024_int8_qdq.onnx, made by tools/ort_quantize.py), each
in its own process, city1 input, 2 threads, warm-up then timed runs, medians. Writes
Docs/Benchmarks-int8.md (and the raw JSON next to it), with the int8 conv kernel each
level used (`segc bench --json`'s int8_kernel: avx2/avx-vnni or avx2/vpmaddwd, ...).

With OpenVINO and NNCF installed (`pip install openvino nncf pillow`), OpenVINO's int8 ERFNet
(the faster int8 peer of ../shared/docs/performance.md, made once by tools/ov_quantize.py from the
30 fs_static images into .build/bench/) runs in the same rounds, at each level as ORT does.

Usage: python3 scripts/bench_int8.py [--plan erfnet.int8.segc] [--rounds 3] [--levels avx2,avx512] [--skip-no-vnni] [--no-openvino]
Without --plan the int8 plan is made with `segc quantize --calib ../shared/data/fs_static/images`.
"""
import argparse, datetime, json, os, statistics, subprocess, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (cpu_levels, wait_idle, run_measured, SEGC, SHARED, ROOT)

def same_level(peer, level, env):
    """The peer's row measured at segc's `level` (env: with SEGC_NO_VNNI=1, i.e. without VNNI)."""
    if level == "avx512":
        return f"{peer} int8 capped avx512-novnni" if env else f"{peer} int8"
    return f"{peer} int8 capped avx2" + ("-novnni" if env else "")

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plan", help="int8 ERFNet plan (default: quantized here)")
    ap.add_argument("--levels", default=",".join(l for l in bench.cpu_levels() if l != "scalar"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--skip-no-vnni", action="store_true", help="no extra avx2 int8 run with SEGC_NO_VNNI=1")
    ap.add_argument("--no-openvino", action="store_true", help="leave OpenVINO out even when it is installed")
    ap.add_argument("--out", default=str(bench.ROOT / "Docs" / "Benchmarks-int8.md"))
    a = ap.parse_args()
    tmp = bench.ROOT / ".build" / "bench"
    tmp.mkdir(parents=True, exist_ok=True)
    fp32 = tmp / "erfnet.segc"
    subprocess.run([bench.SEGC, "convert", bench.SHARED / "models/erfnet_cityscapes.pth", "-o", fp32, "--quiet"], check=True)
    int8 = Path(a.plan) if a.plan else tmp / "erfnet.int8.segc"
    if not a.plan:
        subprocess.run([bench.SEGC, "quantize", fp32, "--calib", bench.SHARED / "data/fs_static/images", "-o", int8,
                        "--quiet"], check=True)
    q = json.loads(subprocess.run([bench.SEGC, "inspect", int8, "--json"], capture_output=True, text=True, check=True).stdout)
    ort_fp32 = bench.SHARED / "onnx/bench/erfnet_512x1024.onnx"
    ort_int8 = bench.SHARED / "onnx/bench/erfnet_512x1024_int8_qdq.onnx"
    inp = bench.SHARED / "inputs/city1_512x1024.npy"
    levels = a.levels.split(",")
    common = ["--threads", str(a.threads), "--warmup", str(a.warmup), "--runs", str(a.runs), "--input", inp, "--json"]
    # The int8 rows: (name, level, environment). avx2 runs AVX-VNNI where the CPU has it; the
    # extra row keeps the plain-AVX2 kernel (vpmaddwd) measured on such a CPU too.
    # The avx512 level with SEGC_NO_VNNI=1 likewise stands for AVX-512 without VNNI (Skylake-SP).
    int8_rows = []
    cpu = open("/proc/cpuinfo").read()
    for level in levels:
        int8_rows.append((f"segc int8 {level}", level, []))
        vnni = {"avx2": "avx_vnni", "avx512": "avx512_vnni"}.get(level)
        if vnni and vnni in cpu and not a.skip_no_vnni:
            int8_rows.append((f"segc int8 {level} SEGC_NO_VNNI=1", level, ["env", "SEGC_NO_VNNI=1"]))
    # ORT's int8 also with AVX-512 hidden (scripts/cpuid_cap), as an AVX2 machine runs it: with
    # AVX-VNNI beside segc's avx2 row, without it beside the avx2 SEGC_NO_VNNI=1 row; and with
    # only VNNI hidden beside the avx512 SEGC_NO_VNNI=1 row.
    cap_so = bench.cpuid_cap_preload() if "avx2" in levels or "avx512" in levels else None
    ort_capped = []
    if cap_so:
        for _, level, env in int8_rows:
            cap = {("avx2", False): "avx2", ("avx2", True): "avx2-novnni", ("avx512", True): "avx512-novnni"}.get((level, bool(env)))
            if cap:
                ort_capped.append((f"ORT int8 capped {cap}", cap))
    # OpenVINO's NNCF int8 model, when OpenVINO is there (made once; tools/ov_quantize.py).
    ov_int8 = None
    if not a.no_openvino:
        try:
            import openvino, nncf  # noqa: F401
            ov_int8 = tmp / "erfnet_ov_int8.xml"
            if not ov_int8.exists():
                subprocess.run([sys.executable, bench.SHARED / "tools/ov_quantize.py", ort_fp32,
                                bench.SHARED / "data/fs_static/images", "--input-size", "512x1024", "-o", ov_int8], check=True)
        except ImportError:
            print("OpenVINO / NNCF not installed: OpenVINO rows left out", file=sys.stderr)
    rounds = []
    for r in range(a.rounds):
        row = {}
        for level in levels:
            bench.wait_idle()
            row[f"segc fp32 {level}"] = bench.run_measured([bench.SEGC, "bench", fp32, "--kernels", level, *common])[0]
            for name, lv, env in int8_rows:
                if lv != level:
                    continue
                bench.wait_idle()
                row[name] = bench.run_measured([*env, bench.SEGC, "bench", int8, "--kernels", level, *common])[0]
                if not env and q.get("range_guard_tensors"):
                    # The same plan with its range guard checked (run/eval/stream --guard): bench
                    # alternates unchecked and checked runs in one session, so the cost is paired.
                    bench.wait_idle()
                    row[name + " --guard"] = bench.run_measured([bench.SEGC, "bench", int8, "--kernels", level, "--guard", *common])[0]
        def ort(model):
            return [sys.executable, bench.SHARED / "tools/ort_bench.py", model, "--input-size", "512x1024", *common]
        for name, model in (("ORT fp32", ort_fp32), ("ORT int8", ort_int8)):
            bench.wait_idle()
            row[name] = bench.run_measured(ort(model))[0]
        for name, cap in ort_capped:
            bench.wait_idle()
            row[name] = bench.run_measured(ort(ort_int8), env=bench.capped_env(cap_so, cap))[0]
        if ov_int8:
            ov = [sys.executable, bench.SHARED / "tools/ov_bench.py", ov_int8, "--input-size", "512x1024", *common]
            bench.wait_idle()
            row["OV int8"] = bench.run_measured(ov)[0]
            for name, cap in ort_capped:
                bench.wait_idle()
                row[name.replace("ORT", "OV")] = bench.run_measured(ov, env=bench.capped_env(cap_so, cap))[0]
        rounds.append(row)
        print(f"round {r}: " + ", ".join(f"{k} {v['median_ms']:.1f} ms" for k, v in row.items()), flush=True)
    med = {k: statistics.median(rr[k]["median_ms"] for rr in rounds) for k in rounds[0]}
    info = open("/proc/cpuinfo").read()
    model = next(l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith("model name"))
    flags = next(l.split(":", 1)[1].split() for l in info.splitlines() if l.startswith("flags"))
    isa = ", ".join(x for x in ["avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx_vnni"] if x in flags)
    import onnxruntime
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    Path(a.out).with_suffix(".json").write_text(json.dumps({"date": now, "cpu": model, "flags": isa, "rounds": rounds}, indent=1, default=str))
    lines = ["# int8 benchmarks (ERFNet)", "",
             "Written by `scripts/bench_int8.py` (do not edit by hand). segc's fp32 and int8 plans at each kernel level",
             "and ONNX Runtime's fp32 and QDQ int8 models (`onnx/bench/erfnet_512x1024_int8_qdq.onnx`, `tools/ort_quantize.py`),",
             f"interleaved, each its own process, `inputs/city1_512x1024.npy`, {a.threads} threads, {a.warmup} warm-up + {a.runs} timed runs,",
             "medians; the table gives the median over rounds. Ratios within one run are what counts.", "",
             f"- date: {now}; CPU: {model} ({os.cpu_count()} vCPUs; flags: {isa}); ONNX Runtime {onnxruntime.__version__}",
             f"- int8 plan: `{int8.name}`, precision {q.get('precision')}, {os.path.getsize(int8) / 1e6:.2f} MB", "",
             "| level | int8 conv kernel | segc fp32 ms | segc int8 ms | int8 fps | int8 / segc fp32 | int8 / ORT int8 "
             "| ORT int8 capped to the same level ms | **int8 / ORT int8 at the same level** | ORT fp32 ms | ORT int8 ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, level, env in int8_rows:
        f, i = med[f"segc fp32 {level}"], med[name]
        kernel = rounds[0][name].get("int8_kernel", "?")   # bench names it for int8 plans
        label = level + (" (SEGC_NO_VNNI=1)" if env else "")
        same = med.get(same_level("ORT", level, env))
        same_cells = f"{same:.1f} | **{i / same:.2f}**" if same else "– | –"
        lines.append(f"| {label} | {kernel} | {f:.1f} | {i:.1f} | {1000 / i:.2f} | **{i / f:.2f}** | **{i / med['ORT int8']:.2f}** "
                     f"| {same_cells} | {med['ORT fp32']:.1f} | {med['ORT int8']:.1f} |")
    if ov_int8:
        import openvino
        lines += ["", f"OpenVINO {openvino.__version__.split('-')[0]} (the faster int8 peer, `../shared/docs/performance.md`): its NNCF int8 model",
                  "(`tools/ov_quantize.py`, default preset, the 30 `data/fs_static/images`) in the same rounds, `tools/ov_bench.py`",
                  "(LATENCY hint, f32 inference precision pinned: bf16 is not used).", "",
                  "| level | segc int8 ms | OpenVINO int8 at the same level ms | **segc int8 / OpenVINO int8** |", "|---|---|---|---|"]
        for name, level, env in int8_rows:
            ov_name = same_level("OV", level, env)
            if ov_name in med:
                lines.append(f"| {level}{' (SEGC_NO_VNNI=1)' if env else ''} | {med[name]:.1f} | {med[ov_name]:.1f} "
                             f"| **{med[name] / med[ov_name]:.2f}** |")
    guarded = [(name, level) for name, level, env in int8_rows if name + " --guard" in med]
    if guarded:
        lines += ["", f"Range guard (`bench --guard`: the plan's {q.get('range_guard_tensors')} uint8 tensors counted for codes at 255; "
                  f"{a.runs} unchecked and {a.runs} checked runs alternating in one session, medians; the table gives the median over rounds):", "",
                  "| level | unchecked ms | checked ms | **cost** |", "|---|---|---|---|"]
        for name, level in guarded:
            off = statistics.median(rr[name + " --guard"]["range_guard"]["unchecked_median_ms"] for rr in rounds)
            on = statistics.median(rr[name + " --guard"]["range_guard"]["checked_median_ms"] for rr in rounds)
            lines.append(f"| {level} | {off:.1f} | {on:.1f} | **{(on / off - 1) * 100:+.1f} %** |")
    if cap_so:
        lines += ["", "ORT and OpenVINO have no switch to cap their kernels; the capped rows run them under `scripts/cpuid_cap/cpuid_cap.c`",
                  "(an `LD_PRELOAD` shim hiding AVX-512, and for `avx2-novnni` AVX-VNNI too, through Linux CPUID faulting),",
                  "so they pick the kernels an AVX2 machine would run; `avx512-novnni` keeps AVX-512 F/CD/BW/DQ/VL and hides",
                  "VNNI and the later extensions, as on a Skylake-SP."]
    lines += ["", "Per round (median ms):", "", "| round | " + " | ".join(rounds[0].keys()) + " |",
              "|---|" + "---|" * len(rounds[0])]
    for k, rr in enumerate(rounds):
        lines.append(f"| {k} | " + " | ".join(f"{v['median_ms']:.1f}" for v in rr.values()) + " |")
    Path(a.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {a.out}")

if __name__ == "__main__":
    main()
