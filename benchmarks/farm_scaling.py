"""How a lookup-table build scales over a farm, what the farm costs per cell, and whether a farm
changes what is measured.

1. Scaling: `lut build` of SPACE (ofa_mobilenet_v3 at res 160: 96 blocks) on 1, 2 and 4 simulated
   phones: the tests' ADB double on loopback, one `farm join` (its own Ray node) per phone, with a
   benchmark_model stand-in whose every invoke takes --invoke-ms and which loads nothing, so a
   device's speed is known and the host's 2 cores are not what is measured. Wall time of the
   measuring (exports are cached first) and scaling efficiency: T1 / (N * TN).
2. Overhead per cell: the same build on one phone without the farm (the phone reached directly)
   and through a farm of that one phone, alternated --overhead-pairs times (direct, farm, direct,
   ..., direct): each farm build minus the mean of the direct builds around it, per block.
3. Paired ratios: `run` of MobileNetV3-Small fused and naive h-swish on this machine's core, with
   and without a farm of that one local core, interleaved --repeats times: the naive/fused ratio
   and its interval each way.

Everything runs inside a network namespace with only loopback that this script makes (as the
tests do: Ray listens on every interface), so it needs root.

    .venv/bin/python benchmarks/farm_scaling.py [--devices 1,2,4] [--invoke-ms 20] [--overhead-pairs 3]
        [--repeats 2] [--json FILE]

--devices "" skips the scaling, --overhead-pairs 0 the overhead and --repeats 0 the ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

SPACE, RES = "ofa_mobilenet_v3", "160"
PROTOCOL = ["--runs", "5", "--min-secs", "0", "--warmup-runs", "1", "--warmup-secs", "0", "--processes", "2",
            "--target-ci", "0", "--retries", "0"]
PAIR = "mobilenet_v3_small,mobilenet_v3_small:hswish=naive"


def timed(cluster, *args) -> tuple[float, str]:
    started = time.monotonic()
    proc = cluster.command(*args)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[:3])} failed: {err[-2000:]}")
    return time.monotonic() - started, out + err


def build(cluster, folder: Path, name: str, *target) -> float:
    seconds, _ = timed(cluster, "lut", "build", "--space", SPACE, "--res", RES, "--runtime", "litert",
                       "--device", "pixel3", "-o", str(folder / f"{name}.json"), "--db", str(folder / f"{name}.sqlite"),
                       *PROTOCOL, *target)
    return seconds


def phone_args(phone, binary: Path) -> list[str]:
    return ["--serial", phone.address, "--transport", "direct", "--benchmark-binary", str(binary)]


def scaling(cluster, folder: Path, binary: Path, counts: list[int]) -> dict:
    from adb_double import AdbDeviceDouble

    out = {}
    for n in counts:
        phones = [AdbDeviceDouble(serial=f"SCALE{n}{i:02d}") for i in range(n)]
        for p in phones:
            p.start()
        joins = [cluster.join("--device", "pixel3", *phone_args(p, binary)) for p in phones]
        try:
            out[n] = build(cluster, folder, f"farm{n}", "--farm", cluster.address)
        finally:
            for j in joins:
                cluster.leave(j)
            for p in phones:
                p.stop()
        print(f"{n} phone(s): {out[n]:.1f} s", file=sys.stderr)
    return out


def overhead(cluster, folder: Path, binary: Path, pairs: int) -> dict:
    """Builds on one phone reached directly and through a farm of it, alternated (direct, farm,
    direct, farm ...): the host's speed drifts over minutes, so each farm build is compared with
    the direct builds just before and after it."""
    from adb_double import AdbDeviceDouble

    direct, farm = [], []
    with AdbDeviceDouble(serial="DIRECT01") as phone:
        join = cluster.join("--device", "pixel3", *phone_args(phone, binary))
        try:
            for k in range(pairs):
                direct.append(build(cluster, folder, f"direct{k}", *phone_args(phone, binary)))
                farm.append(build(cluster, folder, f"farm-one{k}", "--farm", cluster.address))
            direct.append(build(cluster, folder, f"direct{pairs}", *phone_args(phone, binary)))
            # what a farm costs once per command (joining the cluster, finding its devices), beyond a
            # command's own start
            start = min(timed(cluster, "farm", "status", cluster.address)[0] for _ in range(3))
            plain = min(timed(cluster, "--version")[0] for _ in range(3))
        finally:
            cluster.leave(join)
    return {"direct_s": direct, "farm_s": farm, "farm_start_s": start - plain,
            "farm_minus_direct_s": [f - (a + b) / 2 for f, a, b in zip(farm, direct, direct[1:])]}


def ratio(cluster, folder: Path, name: str, *target) -> dict:
    _, _ = timed(cluster, "run", "--models", PAIR, "--runtimes", "litert", "--no-per-layer", "--db",
                 str(folder / f"{name}.sqlite"), "--json", str(folder / f"{name}.json"), "--out-dir",
                 str(folder / name), *target)
    results = json.loads((folder / f"{name}.json").read_text())["results"]
    naive = next(r for r in results if "naive" in r["variant"])
    (r,) = naive["ratios"]
    return {"ratio": r["ratio"], "ci95": r["ci95"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", default="1,2,4")
    ap.add_argument("--invoke-ms", type=float, default=20.0)
    ap.add_argument("--overhead-pairs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json")
    args = ap.parse_args()
    from farm_cluster import Cluster, loopback_namespace
    from phone_helpers import fixed_speed_binary
    from mbv3bench.export.parallel import export_all
    from mbv3bench.lut import table

    blocks = len(table.plan(SPACE, [int(RES)]))
    folder = Path(tempfile.mkdtemp(prefix="farm-scaling-"))
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    with loopback_namespace():
        cluster = Cluster(folder, env)
        try:
            binary = fixed_speed_binary(folder, args.invoke_ms)
            print(f"exporting {blocks} blocks (once: the cache serves every build below)", file=sys.stderr)
            export_all([(vid, "tflite") for _, vid, _, _ in table.plan(SPACE, [int(RES)])],
                       len(os.sched_getaffinity(0)))
            walls = scaling(cluster, folder, binary, [int(n) for n in args.devices.split(",") if n])
            over = overhead(cluster, folder, binary, args.overhead_pairs) if args.overhead_pairs else None
            pairs = {"no farm": [], "farm of one": []}
            for _ in range(args.repeats):
                pairs["no farm"].append(ratio(cluster, folder, f"pair-{len(pairs['no farm'])}"))
                join = cluster.join("--device", "local")
                try:
                    pairs["farm of one"].append(ratio(cluster, folder, f"pairfarm-{len(pairs['farm of one'])}",
                                                      "--farm", cluster.address))
                finally:
                    cluster.leave(join)
        finally:
            cluster.stop()
    one = walls.get(1)
    doc = {"space": SPACE, "res": int(RES), "blocks": blocks, "invoke_ms": args.invoke_ms, "protocol": PROTOCOL,
           "walls_s": walls, "efficiency": {n: one / (n * t) for n, t in walls.items()} if one else {},
           "overhead": over and {**over, "ms_per_cell": [1000 * d / blocks for d in over["farm_minus_direct_s"]],
                                 "ms_per_cell_after_start": [1000 * (d - over["farm_start_s"]) / blocks
                                                             for d in over["farm_minus_direct_s"]]},
           "ratios": pairs,
           "cores": len(os.sched_getaffinity(0)), "loadavg": os.getloadavg()}
    print(f"\n{blocks} blocks of {SPACE} at res {RES}, invokes of {args.invoke_ms:g} ms, {doc['cores']} cores\n")
    print("| phones | wall s | efficiency |\n|---|---|---|")
    for n, t in walls.items():
        print(f"| {n} | {t:.1f} | {doc['efficiency'].get(n, float('nan')):.2f} |")
    if over:
        o = doc["overhead"]
        print("\n| pair | direct before s | farm s | direct after s | farm overhead ms per cell | beyond the start |\n"
              "|---|---|---|---|---|---|")
        for k, (f, ms, beyond) in enumerate(zip(o["farm_s"], o["ms_per_cell"], o["ms_per_cell_after_start"])):
            print(f"| {k + 1} | {o['direct_s'][k]:.1f} | {f:.1f} | {o['direct_s'][k + 1]:.1f} | {ms:.0f} | {beyond:.0f} |")
        print(f"\n{o['farm_start_s']:.1f} s once per command: joining the cluster and finding its devices\n")
    print("| naive/fused | ratio | 95% interval |\n|---|---|---|")
    for how, rs in pairs.items():
        for r in rs:
            print(f"| {how} | {r['ratio']:.4f} | {r['ci95'][0]:.4f}-{r['ci95'][1]:.4f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
