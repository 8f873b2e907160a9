"""Fixtures for the trainer tests: the tiny student (built once) and small sharegpt datasets."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from vlkd.plugins.train import standalone

#: keys the tests pass with the trainer options that belong to the recipe's student: section
STUDENT_KEYS = ("cutoff_len", "image_min_pixels", "image_max_pixels", "template", "family")

QUESTIONS = [
    ("What part is shown?", "brake pad"),
    ("图中是什么零件?", "刹车片"),
    ("Which warning light is on?", "ABS"),
    ("What is the torque?", "120 Nm"),
    ("Is a spark plug present?", "不存在"),
    ("Which brand?", "BYD"),
]


def make_trainer(name: str, student: str = "tiny:qwen2_vl", **options):
    """``standalone.make_trainer`` with the student's keys taken from ``options``."""
    section = {"model": student, **{k: options.pop(k) for k in STUDENT_KEYS if k in options}}
    return standalone.make_trainer(name, student=section, **options)


@pytest.fixture(scope="session")
def tiny_student(vlkd_tiny_student) -> Path:
    return vlkd_tiny_student("qwen2_vl")


def write_dataset(root: Path, splits: dict[str, list[dict]], media_dir: Path | None = None) -> Path:
    """A dataset directory in the layout of the format stage's llamafactory output."""
    root.mkdir(parents=True, exist_ok=True)
    info, files = {}, {}
    for split, rows in splits.items():
        files[split] = f"{split}.json"
        (root / files[split]).write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
        info[f"vlkd_{split}"] = {
            "file_name": files[split],
            "formatting": "sharegpt",
            "columns": {"messages": "messages", "images": "images"},
            "tags": {
                "role_tag": "role",
                "content_tag": "content",
                "user_tag": "user",
                "assistant_tag": "assistant",
                "system_tag": "system",
            },
        }
    (root / "dataset_info.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
    n_images = len({i for rows in splits.values() for r in rows for i in r.get("images", [])})
    (root / "vlkd_dataset.json").write_text(
        json.dumps(
            {
                "format": "llamafactory",
                "splits": files,
                "dataset_info": "dataset_info.json",
                "media_dir": str(media_dir or root),
                "pairs": sum(len(r) for r in splits.values()),
                "images": n_images,
            }
        ),
        encoding="utf-8",
    )
    return root


@pytest.fixture
def make_dataset(tmp_path) -> Callable[..., Path]:
    """``make_dataset(n_train=8, n_val=2, size=(56, 56))`` -> dataset dir; images relative to it."""
    from PIL import Image, ImageDraw

    def make(
        n_train: int = 8,
        n_val: int = 2,
        size: tuple[int, int] = (56, 56),
        name: str = "dataset",
        rows: dict[str, list[dict]] | None = None,
    ) -> Path:
        root = tmp_path / name
        (root / "images").mkdir(parents=True, exist_ok=True)
        if rows is None:
            rows = {"train": [], "val": []}
            for i in range(n_train + n_val):
                image = Image.new("RGB", size, ((i * 40) % 256, 80, 160))
                ImageDraw.Draw(image).rectangle([4, 4, 20 + i, 30], outline=(255, 255, 255))
                rel = f"images/{i:03d}.png"
                image.save(root / rel)
                q, a = QUESTIONS[i % len(QUESTIONS)]
                row = {
                    "messages": [
                        {"role": "user", "content": f"<image>{q}"},
                        {"role": "assistant", "content": a},
                    ],
                    "images": [rel],
                }
                rows["train" if i < n_train else "val"].append(row)
            rows = {k: v for k, v in rows.items() if v}
        return write_dataset(root, rows)

    return make


def stage_context(run_dir: Path, resumed: bool = False, quiet: bool = True):
    """The context the engine gives the train stage (the recipe model needs a format stage
    before train; these tests exercise the trainers on a prepared dataset directory)."""
    from vlkd.core.progress import Reporter
    from vlkd.plugins.train.standalone import standalone_context

    return standalone_context(run_dir, resumed=resumed, reporter=Reporter(quiet=quiet))


def ctrl_c_at(steps: int):
    """A reporter that presses Ctrl-C when the training's progress reaches ``steps`` (a test of
    resume: the checkpoints written before it stay)."""
    from vlkd.core.progress import ProgressTask, Reporter

    class CtrlC(Reporter):
        def progress(self, description, total, completed=0):
            class Task(ProgressTask):
                done = 0

                def advance(self, n=1):
                    self.done += n
                    if self.done >= steps:
                        raise KeyboardInterrupt

            return Task(None, None)

    return CtrlC(quiet=True)


#: few fast steps on the tiny student: the loss must fall within them
FAST = {
    "max_steps": 6,
    "per_device_train_batch_size": 2,
    "gradient_accumulation_steps": 1,
    "learning_rate": 5e-3,
    "logging_steps": 1,
    "save_steps": 3,
    "eval_steps": 3,
    "cutoff_len": 256,
    "warmup_ratio": 0.0,
    "report_to": [],
    "image_max_pixels": 56 * 56,
    "image_min_pixels": 28 * 28,
}
