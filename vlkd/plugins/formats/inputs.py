"""What every format exports: the kept pairs grouped into samples, per split, with image files.

A *sample* is one image with one or more question/answer turns: one sample per image (a
multi-turn conversation, the image shown once) or one per pair. Pairs a reviewer rejected
are left out; pairs without a split (no split stage ran) count as ``train``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vlkd.api import (
    DatasetCard,
    QARecord,
    StageContext,
    StageError,
    StagePlugin,
    image_path,
    read_images,
    read_pairs,
)

SPLITS = ("train", "val", "test")
Grouping = Literal["per_image", "per_pair"]


@dataclass
class Conversation:
    """One image and its question/answer turns, before a format writes it (for LLaMA-Factory:
    as a :class:`vlkd.llamafactory.sample.Sample`, the one sample type vlkd reads back)."""

    split: str
    image_id: str
    image: Path
    #: (question, answer) in pair order
    turns: list[tuple[str, str]] = field(default_factory=list)
    pair_ids: list[str] = field(default_factory=list)
    category: str | None = None


def load_image_paths(images_file: Path | None, run_dir: Path) -> dict[str, Path]:
    """image id -> file, from an images.jsonl."""
    if images_file is None:
        return {}
    return {rec.id: image_path(run_dir, rec.path) for rec in read_images(images_file)}


def build_samples(
    pairs: Iterable[QARecord],
    images: dict[str, Path],
    grouping: Grouping,
    pairs_file: Path | str = "pairs",
) -> dict[str, list[Conversation]]:
    """Kept pairs as samples per split (splits in train/val/test order, empty ones left out)."""
    out: dict[str, list[Conversation]] = {s: [] for s in SPLITS}
    by_image: dict[tuple[str, str], Conversation] = {}
    for n, pair in enumerate(pairs, 1):
        if pair.review == "rejected":
            continue
        split = pair.split or "train"
        image = images.get(pair.image_id)
        if image is None:
            raise StageError(
                f"{pairs_file}: pair {n} ({pair.id}) names image {pair.image_id}, which is not "
                f"in the run's images.jsonl; re-run the stages from the one that made the pairs"
            )
        if grouping == "per_image":
            sample = by_image.get((split, pair.image_id))
            if sample is None:
                sample = by_image[(split, pair.image_id)] = Conversation(
                    split, pair.image_id, image, category=pair.category
                )
                out[split].append(sample)
        else:
            sample = Conversation(split, pair.image_id, image, category=pair.category)
            out[split].append(sample)
        sample.turns.append((pair.question, pair.answer))
        sample.pair_ids.append(pair.id)
    return {s: v for s, v in out.items() if v}


def image_reference(image: Path, dataset_dir: Path, mode: str) -> str:
    """How a dataset file names an image: ``absolute``, or ``relative`` to the dataset directory."""
    if mode == "absolute":
        return str(image)
    return os.path.relpath(image, dataset_dir)


def write_descriptor(
    dataset_dir: Path, fmt: str, splits: dict[str, str], samples: dict[str, list[Conversation]], **extra: Any
) -> dict[str, Any]:
    """``vlkd_dataset.json``: what the dataset directory holds, for the trainers."""
    card = DatasetCard(
        format=fmt,
        splits=splits,
        **extra,
        samples={s: len(v) for s, v in samples.items()},
        pairs=sum(len(x.turns) for v in samples.values() for x in v),
        images=len({x.image_id for v in samples.values() for x in v}),
    )
    card.write(dataset_dir)
    return card.model_dump(mode="json", exclude_none=True)


class ExportFormat(StagePlugin):
    """A format plugin: samples from the run's pairs and images, exported by ``export``."""

    def export(
        self, samples: dict[str, list[Conversation]], dataset_dir: Path, ctx: StageContext
    ) -> dict[str, Any]:
        """Write the dataset into ``dataset_dir``; return the ``vlkd_dataset.json`` descriptor."""
        raise NotImplementedError

    def run(self, ctx: StageContext) -> None:
        pairs_file = ctx.input("pairs")
        images = load_image_paths(ctx.input("images") if ctx.has_input("images") else None, ctx.run_dir)
        samples = build_samples(read_pairs(pairs_file), images, self.options.grouping, pairs_file)  # type: ignore[attr-defined]
        if not samples:
            raise StageError(
                f"{pairs_file}: no pairs to export (all rejected or left out by review, or none "
                f"made); check the review stage"
            )
        dataset_dir = ctx.output("dataset")
        descriptor = self.export(samples, dataset_dir, ctx)
        ctx.counts.ok = descriptor["pairs"]
        ctx.facts.update({k: descriptor[k] for k in ("samples", "pairs", "images")})
        ctx.info(f"{descriptor['pairs']} pairs over {descriptor['images']} images -> {dataset_dir}")
