"""The executors side by side: local vs Ray with one and two worker processes, on preprocess and verify.

    python benchmarks/bench_executors.py [--pages 40] [--noop 200] [--out benchmarks/out/executors]

One run measures, in turn, on the same generated pages (Pillow's own font) and the same recipe
(ingest -> preprocess -> teach (OCR) -> verify (ocr_grounding)):

- ``local``: today's executor (preprocess in processes, verify in the driver);
- ``ray-1``: a Ray cluster of one node with one CPU (one worker process);
- ``ray-2``: a head and a worker node, one CPU each (two worker processes on two nodes);

for preprocess and verify: images/s, CPU seconds (the driver's, and the Ray nodes' processes'),
and the driver's peak memory. Then Ray's overhead per item: ``--noop`` items that do nothing
through ``ctx.map_items`` on each executor, (wall on Ray - wall local) / items.

The machine this runs on may be shared: the load average is printed with every figure, and only
the ratios between configurations measured in this one run mean anything. Measured, not asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RECIPE = """\
name: bench-executors
ingest:
  plugin: files
  inputs: [{pages}]
preprocess:
  steps:
    - plugin: to_rgb
    - plugin: resize
      max_side: 1024
  output_format: png
teach:
  plugin: ocr
  max_pairs: 8
verify:
  - plugin: ocr_grounding
"""
NOOP = """\
name: bench-noop
ingest:
  plugin: counting
  n: {n}
"""


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0]


def session_cpu(sessions: set[int]) -> float:
    """CPU seconds of every process in these sessions (a Ray node's processes), children included."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) in sessions:  # field 6 of stat: the session id
            total += sum(int(x) for x in fields[11:15])
    return total / tick


def run_stage(recipe: Path, run_dir: Path, stage: str, extra: list[str]) -> dict:
    """One stage in a fresh driver process: its wall time, the driver's CPU and peak memory."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vlkd", "run", str(recipe), "--run-dir", str(run_dir), "--from", stage, "--to", stage,
         "-q", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "VLKD_PLUGINS": "vlkd.testing.fixture_plugins"},
    )  # fmt: skip
    err = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)  # this driver's own CPU and peak memory
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{stage} failed: {err.decode(errors='replace')[-2000:]}")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return {
        "wall_s": wall,
        "driver_cpu_s": usage.ru_utime + usage.ru_stime,
        "driver_peak_mib": usage.ru_maxrss / 1024,
        "items": manifest["stages"][stage]["counts"].get("ok", 0),
        "load": loadavg(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=int, default=40)
    ap.add_argument("--noop", type=int, default=200)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "executors")
    ap.add_argument("--configs", default="local,ray-1,ray-2", help="which of local, ray-1, ray-2")
    args = ap.parse_args()
    from vlkd.testing.ray_cluster import local_ray_cluster
    from vlkd.testing.verify import make_page

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    pages = out / "pages"
    pages.mkdir(exist_ok=True)
    for i in range(args.pages):
        path = pages / f"page_{i:04d}.png"
        if not path.exists():
            make_page(
                path, [f"SERVICE SHEET {i:04d}", f"Part number: {10000 + i}-{20000 + i}", "Torque: 25 Nm"]
            )
    recipe = out / "recipe.yaml"
    recipe.write_text(RECIPE.format(pages=pages))
    noop = out / "noop.yaml"
    noop.write_text(NOOP.format(n=args.noop))
    # the base run: ingest and teach once, locally; each configuration re-runs preprocess and verify
    base = out / "base"
    subprocess.run(
        [sys.executable, "-m", "vlkd", "run", str(recipe), "--run-dir", str(base), "-q"], check=True
    )

    rows: list[tuple[str, str, dict]] = []

    def measure(name: str, extra: list[str], sessions: set[int]) -> None:
        for stage in ("preprocess", "verify"):
            # a copy of the base run for each stage (re-running preprocess makes teach stale)
            run = out / f"run-{name}-{stage}"
            shutil.rmtree(run, ignore_errors=True)
            shutil.copytree(base, run)
            shutil.rmtree(run / "cache" / "ocr", ignore_errors=True)  # verify reads every page itself
            cpu0 = session_cpu(sessions) if sessions else 0.0
            rows.append(
                (
                    name,
                    stage,
                    {
                        **run_stage(recipe, run, stage, extra),
                        "ray_cpu_s": session_cpu(sessions) - cpu0 if sessions else 0.0,
                    },
                )
            )
        cpu0 = session_cpu(sessions) if sessions else 0.0
        r = run_stage(noop, out / f"noop-{name}", "ingest", extra)
        rows.append((name, "noop", {**r, "ray_cpu_s": session_cpu(sessions) - cpu0 if sessions else 0.0}))

    configs = args.configs.split(",")
    if "local" in configs:
        measure("local", [], set())
    for name, workers in (("ray-1", 0), ("ray-2", 1)):
        if name not in configs:
            continue
        with local_ray_cluster(workers=workers, cpus_per_node=1) as cluster:
            sessions = {p.pid for p in cluster.procs}
            measure(name, ["--executor", "ray", "--address", cluster.address], sessions)

    print(f"{'config':8} {'stage':10} {'items':>5} {'wall s':>7} {'img/s':>6} {'drv CPU':>8} {'ray CPU':>8} "
          f"{'drv MiB':>8} load")  # fmt: skip
    local_noop = next((r for n, s, r in rows if n == "local" and s == "noop"), None)
    for name, stage, r in rows:
        rate = r["items"] / r["wall_s"] if r["wall_s"] else 0
        print(f"{name:8} {stage:10} {r['items']:5d} {r['wall_s']:7.1f} {rate:6.2f} {r['driver_cpu_s']:8.1f} "
              f"{r['ray_cpu_s']:8.1f} {r['driver_peak_mib']:8.0f} {r['load']}")  # fmt: skip
    for name, stage, r in rows:
        if stage == "noop" and name != "local" and local_noop is not None:
            per = (r["wall_s"] - local_noop["wall_s"]) / max(1, r["items"]) * 1000
            print(f"Ray overhead per item ({name}, {r['items']} no-op items, the driver's start included "
                  f"in both): {per:.1f} ms (load {r['load']})")  # fmt: skip
    (out / "results.json").write_text(
        json.dumps([{"config": n, "stage": s, **r} for n, s, r in rows], indent=1)
    )


if __name__ == "__main__":
    main()
