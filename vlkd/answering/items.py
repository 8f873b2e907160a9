"""What the evaluate stage scores: the held-out pairs with their images, and the trained model."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vlkd.api import ModelCard, QARecord, StageError, family_of, image_path, read_images, read_pairs

#: the split evaluated when the asked-for one is empty, in order of preference
FALLBACK = {"test": ("val",), "val": (), "train": ()}


@dataclass(frozen=True)
class EvalItem:
    id: str
    image_id: str
    image: str
    question: str
    reference: str
    category: str | None
    negative: bool
    review: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def load_items(
    pairs_path: Path, images_path: Path | None, split: str, *, run_dir: Path, warn
) -> tuple[str, list[EvalItem]]:
    """The pairs of ``split`` (falling back from test to val with a warning); rejected pairs left out.

    Each item's ``image`` is its image record's file (``artifacts.image_path``), "" without one.
    """
    pairs = [p for p in read_pairs(pairs_path) if p.review != "rejected"]
    by_split: dict[str, list[QARecord]] = {}
    for p in pairs:
        by_split.setdefault(p.split or "train", []).append(p)
    chosen = split
    if not by_split.get(split):
        for other in FALLBACK.get(split, ()):
            if by_split.get(other):
                warn(
                    f"{pairs_path}: no pair is in the '{split}' split; evaluating the '{other}' split "
                    f"instead ({len(by_split[other])} pairs). The trainer evaluated on val, so these numbers are "
                    f"optimistic; give the split stage a test fraction for held-out numbers."
                )
                chosen = other
                break
        else:
            counts = ", ".join(f"{k}: {len(v)}" for k, v in sorted(by_split.items())) or "no pairs"
            raise StageError(
                f"{pairs_path}: no pair is in the '{split}' split ({counts}); add a split stage "
                f"that holds out a test split (e.g. split: {{plugin: by_image, test: 0.2}}), "
                f"or set evaluate.split"
            )
    images = {rec.id: rec for rec in read_images(images_path)} if images_path else {}
    items = []
    for p in by_split[chosen]:
        image = images.get(p.image_id)
        items.append(
            EvalItem(
                id=p.id,
                image_id=p.image_id,
                image=str(image_path(run_dir, image.path)) if image else "",
                question=p.question,
                reference=p.answer,
                category=p.category or (image.category if image else None),
                negative=p.negative,
                review=p.review,
            )
        )
    return chosen, items


@dataclass(frozen=True)
class ModelInfo:
    trainer: str
    base_model: str
    adapter: Path | None
    min_pixels: int
    max_pixels: int
    template: str | None
    log: Path | None
    #: the student family (``vlkd.students``): how images are prepared for it
    family: Any = None

    @property
    def prescale(self) -> bool:
        """Whether training scaled images into the pixel bounds before the processor (LLaMA-Factory)."""
        return self.trainer != "peft"


def load_model_info(model_dir: Path, *, check_student: bool = True) -> ModelInfo:
    """``vlkd_model.json`` of the train stage, its paths resolved against the model directory.
    ``check_student``: a missing student is an error now (``False``: when its weights are loaded,
    for the evaluate stage, whose finished items need none)."""
    card = ModelCard.read(model_dir)
    base, located = card.base_model, card.base_path(model_dir)
    if located is not None:  # written relative to the card (a run can move), or absolute
        if check_student and not located.exists():
            raise StageError(
                f"{model_dir / ModelCard.FILE}: the student it was tuned from, {located}, is missing "
                "(a run directory moved or copied without its students/ folder?); copy it along, "
                "or re-run the train stage"
            )
        base = str(located.resolve())
    adapter = card.path(model_dir, card.adapter)
    if adapter is not None and not (adapter / "adapter_config.json").exists():
        raise StageError(
            f"{adapter}: no adapter_config.json; the adapter named by {model_dir / ModelCard.FILE} is missing"
        )
    family = family_of(base, card.family)
    log_path = card.path(model_dir, card.log)
    return ModelInfo(
        trainer=card.trainer,
        base_model=base,
        adapter=adapter,
        min_pixels=card.image_min_pixels or family.default_min_pixels,
        max_pixels=card.image_max_pixels or family.default_max_pixels,
        template=card.template,
        log=log_path,
        family=family,
    )
