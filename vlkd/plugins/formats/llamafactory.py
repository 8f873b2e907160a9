"""LLaMA-Factory sharegpt export: ``dataset_info.json`` + one JSON file per split.

Each sample shows its image once: one entry in ``images`` and one ``<image>`` tag, in the
first user turn (the seed repeated the image once per question, which costs the visual
tokens again for every turn). ``grouping: per_image`` writes one multi-turn conversation per
image and split; ``per_pair`` one single-turn sample per pair.

Image paths are written ``relative`` to the dataset directory (LLaMA-Factory joins them to
``media_dir``, which defaults to ``dataset_dir``; the run directory stays movable as a
whole), ``absolute``, or ``copy``: the images are hard-linked (copied across file systems)
into ``dataset/images/`` so the dataset directory alone can be moved to a GPU machine.

After writing, the pre-flight check runs (:mod:`vlkd.llamafactory.preflight`) with the
recipe's ``student:`` (its family, ``cutoff_len``, pixel limits, and its own tokenizer when it
is on this machine); a problem stops the stage unless ``fix: true``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from vlkd.api import DatasetCard, PluginOptions, StageContext, StageError, write_json_atomic
from vlkd.llamafactory.sample import dataset_info_entry
from vlkd.plugins.formats.inputs import (
    Conversation,
    ExportFormat,
    Grouping,
    image_reference,
    write_descriptor,
)
from vlkd.students.family import IMAGE_TAG

if TYPE_CHECKING:
    from vlkd.api import Student

DATASET_PREFIX = "vlkd_"


class LlamaFactoryOptions(PluginOptions):
    grouping: Grouping = Field(
        "per_image",
        description="per_image: one multi-turn conversation per image; "
        "per_pair: one sample per question/answer pair",
    )
    image_tag: Literal["before", "after"] = Field(
        "before", description="<image> before or after the first question"
    )
    system: str | None = Field(None, description="System prompt written into every sample")
    image_paths: Literal["relative", "absolute", "copy"] = Field(
        "relative",
        description="relative to the dataset directory, absolute, or copy images into dataset/images/",
    )
    check: bool = Field(True, description="Run the pre-flight check on the written dataset")
    fix: bool = Field(False, description="Repair what the pre-flight check finds instead of stopping")


def sharegpt_sample(
    sample: Conversation, image: str, *, image_tag: str = "before", system: str | None = None
) -> dict:
    messages = [{"role": "system", "content": system}] if system else []
    for i, (question, answer) in enumerate(sample.turns):
        if i == 0:
            question = IMAGE_TAG + question if image_tag == "before" else question + IMAGE_TAG
        messages.append({"role": "user", "content": question})
        messages.append({"role": "assistant", "content": answer})
    return {"messages": messages, "images": [image]}


def export_llamafactory(
    samples: dict[str, list[Conversation]], dataset_dir: Path, opts: LlamaFactoryOptions
) -> dict:
    """Write the dataset files and ``vlkd_dataset.json``; return the descriptor."""
    dataset_dir.mkdir(parents=True, exist_ok=True)
    refs = _image_refs(samples, dataset_dir, opts.image_paths)
    info, files = {}, {}
    for split, items in samples.items():
        name = f"{split}.json"
        rows = [
            sharegpt_sample(s, refs[s.image_id], image_tag=opts.image_tag, system=opts.system) for s in items
        ]
        tmp = dataset_dir / f".{name}.tmp"
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(rows, fh, ensure_ascii=False, indent=None)
        os.replace(tmp, dataset_dir / name)
        info[f"{DATASET_PREFIX}{split}"] = dataset_info_entry(name)
        files[split] = name
    write_json_atomic(dataset_dir / "dataset_info.json", info)
    return write_descriptor(
        dataset_dir,
        "llamafactory",
        files,
        samples,
        dataset_info="dataset_info.json",
        media_dir=str(dataset_dir.resolve()),
        grouping=opts.grouping,
        system=opts.system,
    )


def _image_refs(samples: dict[str, list[Conversation]], dataset_dir: Path, mode: str) -> dict[str, str]:
    images = {s.image_id: s.image for items in samples.values() for s in items}
    if mode != "copy":
        return {i: image_reference(p, dataset_dir, mode) for i, p in images.items()}
    target = dataset_dir / "images"
    target.mkdir(exist_ok=True)
    refs = {}
    for image_id, src in images.items():
        name = f"{image_id[:16]}{src.suffix.lower()}"
        dst = target / name
        if not dst.exists():
            try:
                os.link(src, dst)
            except OSError:
                shutil.copyfile(src, dst)
        refs[image_id] = f"images/{name}"
    return refs


class LlamaFactoryFormat(ExportFormat):
    """LLaMA-Factory sharegpt dataset (messages + images) with dataset_info.json, checked before training."""

    Options = LlamaFactoryOptions
    uses_student = True
    moved_options = {
        "cutoff_len": "student.cutoff_len",
        "image_min_pixels": "student.image_min_pixels",
        "image_max_pixels": "student.image_max_pixels",
        "tokenizer": "student.model (its own tokenizer counts the text tokens)",
    }

    def export(self, samples: dict[str, list[Conversation]], dataset_dir: Path, ctx: StageContext) -> dict:
        opts: LlamaFactoryOptions = self.options  # type: ignore[assignment]
        card = DatasetCard.model_validate(export_llamafactory(samples, dataset_dir, opts))
        card.student = self.student.to_json()  # what check-dataset uses by default
        card.write(dataset_dir)
        if opts.check:
            report = run_preflight(ctx, dataset_dir, self.student, opts.fix)
            if any(p.fixed for p in report.problems):  # samples were cut or removed: count them again
                card.samples = {
                    split: len(json.loads((dataset_dir / name).read_text(encoding="utf-8")))
                    for split, name in card.splits.items()
                }
                card.write(dataset_dir)
        return card.model_dump(mode="json", exclude_none=True)


def run_preflight(ctx: StageContext, dataset_dir: Path, student: Student, fix: bool):
    from vlkd.llamafactory.preflight import check_for_student
    from vlkd.llamafactory.tokens import student_tokenizer

    tokenizer = student_tokenizer(student, ctx.run_dir)
    report = check_for_student(dataset_dir, student, ctx.run_dir, tokenizer=tokenizer, fix=fix, backup=False)
    write_json_atomic(ctx.dir / "preflight.json", report.to_json())
    ctx.facts["preflight"] = {
        "ok": report.ok,
        "problems": report.counts(),
        "samples_after_fix": report.samples_after_fix,
    }
    if report.problems and report.ok:
        ctx.warn(report.text(limit=20))
    if not report.ok:
        raise StageError(
            f"pre-flight check failed; LLaMA-Factory would stop on or silently drop these samples:\n"
            f"{report.text(limit=20)}\nSet 'fix: true' on the format stage to repair what can be "
            f"repaired, or raise student.cutoff_len / lower student.image_max_pixels (full list: "
            f"{ctx.dir / 'preflight.json'})"
        )
    return report
