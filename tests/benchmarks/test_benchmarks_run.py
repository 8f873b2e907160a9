"""Every benchmark runs, at tiny sizes, so that none can rot unnoticed (no figure is asserted).

A benchmark is run by hand for its figures (see the README); here each one runs to its end
through the same code, in a subprocess, and must exit 0 having printed something. A new file
in ``benchmarks/`` must get its tiny arguments below: the test that lists the folder fails
until it does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _chromium() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def _cjk_font() -> str | None:
    fonts = Path("/usr/share/fonts")
    found = sorted(fonts.rglob("*.tt[fc]")) if fonts.is_dir() else []
    return str(found[0]) if found else None


#: file (and a label, for a second run) -> (arguments at tiny sizes, marks); ``{tmp}`` is a
#: temporary folder, ``{font}`` a TrueType font, ``{root}`` the repository
TINY: dict[str, tuple[list[str], list]] = {
    "bench_core.py": (["--items", "20", "--repeat", "1"], []),
    "bench_score.py": (["--items", "300"], []),
    "bench_formats.py": (["--pairs", "60", "--images", "12", "--repeat", "1"], []),
    "bench_teach.py": (
        [
            *("--images", "8", "--steady-images", "0", "--repeat", "1", "--latency", "0.01"),
            *(
                "--rpm-images",
                "12",
                "--rpm-repeat",
                "1",
                "--skip-ocr",
                "--startup-runs",
                "1",
                "--whole-runs",
                "1",
            ),
        ],
        [],
    ),
    "bench_teach.py startup": (
        [
            "--startup-only",
            "--startup-runs",
            "1",
            "--rpm-images",
            "6",
            "--latency",
            "0.01",
            "--compare-tree",
            "{root}",
        ],
        [],
    ),
    "bench_teach_batch.py": (["batch", "--images", "10,20"], []),
    "bench_teach_batch.py kill": (["kill", "--kills", "1", "--images", "20"], []),
    # this checkout against itself: the comparison's code runs (``{root}``: the repository)
    "bench_teach_batch.py compare": (["batch", "--images", "6,12", "--compare-tree", "{root}"], []),
    # this checkout against itself: everything a run without --compare-tree does (this tree's page,
    # decisions, memory), and the A/B comparison's code
    "bench_review.py compare": (
        [
            "--pairs",
            "20",
            "--per-image",
            "5",
            "--memory",
            "20",
            "--usable",
            "20",
            "--loads",
            "1",
            "--compare-tree",
            "{root}",
        ],
        [],
    ),
    "bench_images.py": (["--n", "2", "--n-memory", "2", "--size", "1600x1200", "--rounds", "1"], []),
    "bench_verify.py": (["--pages", "2", "--skip-demo", "--out", "{tmp}/verify"], [pytest.mark.slow]),
    "bench_eval.py": (
        ["--items", "2", "--side", "64", "--batch", "2", "--bootstrap-items", "20", "--samples", "20"],
        [pytest.mark.slow],
    ),
    "bench_train.py": (
        ["--steps", "1", "--samples", "4", "--batch-size", "2", "--image-size", "64", "--trainers", "peft"],
        [pytest.mark.slow],
    ),
    "bench_on_policy.py": (
        ["--steps", "1", "--samples", "2", "--batch-size", "2", "--max-new-tokens", "2"],
        [pytest.mark.slow],
    ),
    "bench_distill.py": (
        ["--steps", "2", "--photos", "4", "--labelled", "4", "--teacher-steps", "2", "--test", "4"],
        [pytest.mark.slow],
    ),
    "bench_real_shapes.py": (
        ["--shape", "tiny", "--steps", "1", "--samples", "2", "--image-size", "56"],
        [pytest.mark.slow],
    ),
    "bench_contention.py": (
        ["--smoke", "--steps", "1", "--pages", "1", "--answers", "200", "--busy", "1"],
        [pytest.mark.slow],
    ),
    "make_demo_data.py": (["--out", "{tmp}/demo", "--font", "{font}"], []),
    # these need an environment of their own (curator's, vLLM's): run where it exists
    "bench_executors.py": (
        ["--pages", "2", "--noop", "4", "--configs", "local,ray-1", "--out", "{tmp}/executors"],
        [pytest.mark.slow],
    ),
    "bench_review_team.py": (["--pairs", "60", "--per-image", "6", "--decisions", "4"], []),
    "bench_vs_curator.py": (["--images", "4", "--latency", "0.01", "--concurrency", "2"], []),
    "compare_backends.py": (["--max-items", "2", "--work", "{tmp}/work"], [pytest.mark.slow]),
}
#: not benchmarks: a plugin module bench_core loads, and a venv builder (checked for syntax)
NOT_RUN = {"noop_plugin.py", "vllm_cpu_venv.sh"}


def test_every_benchmark_has_tiny_arguments():
    files = {p.name for p in BENCHMARKS.iterdir() if p.is_file() and not p.name.startswith((".", "_"))}
    assert files - NOT_RUN == {name.split()[0] for name in TINY}, "give each new benchmark its tiny arguments"


def test_the_venv_builder_parses():
    subprocess.run(["bash", "-n", str(BENCHMARKS / "vllm_cpu_venv.sh")], check=True)


def _skip_reason(name: str) -> str | None:
    if name.startswith("bench_review.py") and _chromium() is None and not CI:
        return "needs chromium"
    if name == "make_demo_data.py" and _cjk_font() is None:
        return "needs a TrueType font"
    if name == "bench_vs_curator.py" and not Path("/work/curator-venv/bin/python").exists():
        return "needs curator's own venv (/work/curator-venv, see the benchmark's docstring)"
    if name == "compare_backends.py" and not os.environ.get("VLKD_VLLM_PYTHON"):
        return "needs vLLM's own venv (VLKD_VLLM_PYTHON, see the benchmark's docstring)"
    return None


@pytest.mark.parametrize("name", [pytest.param(name, marks=marks) for name, (_, marks) in TINY.items()])
def test_benchmark_runs_at_tiny_sizes(name, tmp_path):
    script = name.split()[0]
    reason = _skip_reason(script)
    if reason:
        pytest.skip(reason)
    args = [a.format(tmp=tmp_path, font=_cjk_font(), root=ROOT) for a in TINY[name][0]]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        cwd=tmp_path,  # not the repository: a benchmark must not depend on where it is started
        env=env,
        capture_output=True,
        text=True,
        timeout=800,
        check=False,
    )
    assert done.returncode == 0, f"{name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert done.stdout.strip(), f"{name} printed nothing"
