"""A run directory laid out as the earlier stages leave it, and a context to run one stage in.

The evaluate stage reads files only (images.jsonl, pairs.jsonl, the model directory), so
these fixtures write exactly those files: the images, the teacher's raw pairs, the reviewed
and split pairs, and a real tiny Qwen2-VL with a real (randomly initialised) LoRA adapter.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from vlkd.core.context import StageContext
from vlkd.core.progress import Reporter
from vlkd.core.registry import load_registry
from vlkd.core.rundir import RunDir
from vlkd.core.stages import KINDS_BY_NAME
from vlkd.llamafactory.families import template as lf_template

QUESTIONS = [  # (question, reviewed answer, teacher's raw answer, category, negative)
    ("图中零件的名称是什么？", "刹车片", "刹车片", "part_recognition", False),
    ("拧紧力矩是多少？", "35 N·m", "30 N·m", "manual_parsing", False),
    ("故障码是什么？", "P0301", "P0301", "fault_diagnosis", False),
    ("图中的机油容量是多少？", "不存在", "4 L", "manual_parsing", True),
]


def families():
    return load_registry(autoload=False).families()


class CollectingReporter(Reporter):
    def __init__(self):
        super().__init__(quiet=True)
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        self.warnings.append(message)


@pytest.fixture(scope="session")
def tiny_student(vlkd_tiny_student) -> Path:
    return vlkd_tiny_student("qwen2_vl")


@pytest.fixture(scope="session")
def adapter_for(tmp_path_factory):
    """Factory: ``adapter_for(student_dir)`` -> a real PEFT LoRA adapter for that student, with
    random (non-zero) B matrices so the tuned student answers differently from the base one."""

    def make(student: Path) -> Path:
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForImageTextToText

        torch.manual_seed(0)
        model = AutoModelForImageTextToText.from_pretrained(student)
        peft_model = get_peft_model(
            model,
            LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
        )
        out = tmp_path_factory.mktemp("adapter") / "adapter"
        peft_model.save_pretrained(out)
        return out

    return make


@pytest.fixture(scope="session")
def tiny_adapter(tiny_student, adapter_for) -> Path:
    return adapter_for(tiny_student)


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    """``vlkd ARGV`` in this process: (exit status, stdout, stderr)."""
    from vlkd.cli import main

    with pytest.raises(SystemExit) as exc:
        main(list(argv))
        raise SystemExit(0)
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def write_jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def run_layout(tmp_path, vlkd_images):
    """``make(images=3, split="test", student=None, adapter=None)`` -> run dir with ingest/teach/review/train."""

    def make(
        n_images: int = 3,
        split: str | None = "test",
        student: Path | None = None,
        adapter: Path | None = None,
        questions=QUESTIONS,
        family: str = "qwen2_vl",
    ) -> Path:
        run_dir = tmp_path / "run"
        paths = vlkd_images(n=n_images, size=(96, 64))
        images = [
            {"id": f"img{i}", "path": str(p), "width": 96, "height": 64, "category": None}
            for i, p in enumerate(paths)
        ]
        write_jsonl(run_dir / "ingest" / "images.jsonl", images)
        raw, reviewed = [], []
        for i, img in enumerate(images):
            for q, answer, teacher, cat, neg in questions:
                pid = f"p{i}-{len(raw)}"
                base = {
                    "id": pid,
                    "image_id": img["id"],
                    "question": q,
                    "category": cat,
                    "negative": neg,
                    "provenance": {"plugin": "fake"},
                }
                raw.append({**base, "answer": teacher})
                reviewed.append(
                    {
                        **base,
                        "answer": answer,
                        "review": "approved" if answer == teacher else "edited",
                        "split": split if i else "train",
                    }
                )
        write_jsonl(run_dir / "teach" / "pairs.jsonl", raw)
        write_jsonl(run_dir / "review" / "pairs.jsonl", reviewed)
        if student is not None:
            model_dir = run_dir / "train" / "model"
            model_dir.mkdir(parents=True)
            info = {
                "trainer": "peft",
                "base_model": str(student),
                "family": family,
                "template": lf_template(families()[family]),
                "image_min_pixels": 32 * 32,
                "image_max_pixels": 128 * 128,
                "cutoff_len": 1024,
                "log": "trainer_log.jsonl",
            }
            if adapter is not None:
                shutil.copytree(adapter, model_dir / "adapter")
                info["adapter"] = "adapter"
            (model_dir / "vlkd_model.json").write_text(json.dumps(info), encoding="utf-8")
        return run_dir

    return make


def stage_context(
    run_dir: Path, plugin, stages=("ingest", "teach", "review", "train", "evaluate"), stage: str = "evaluate"
) -> tuple[StageContext, CollectingReporter]:
    """A context for running ``plugin`` as ``stage`` of a run whose earlier stages left their files."""
    reporter = CollectingReporter()
    from vlkd.core.executor import LocalExecutor
    from vlkd.core.registry import load_registry

    recipe = SimpleNamespace(
        stages={name: None for name in stages}, name="t", registry=load_registry(), student=None
    )
    run = SimpleNamespace(
        recipe=recipe,
        run_dir=RunDir(run_dir),
        reporter=reporter,
        plugins={stage: [plugin]},
        no_cache=False,
        dry_run=False,
        retry_failed=True,
        executor=LocalExecutor(),
        save_stage=lambda ctx: None,
    )
    config = SimpleNamespace(
        kind=KINDS_BY_NAME[stage], steps=[SimpleNamespace(options=plugin.options)], settings=None
    )
    path = run_dir / stage
    path.mkdir(parents=True, exist_ok=True)
    return StageContext(run, config, path), reporter
