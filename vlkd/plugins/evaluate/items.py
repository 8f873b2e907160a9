"""What the evaluate stage scores: the held-out pairs with their images, and the trained model."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vlkd.core.errors import StageError
from vlkd.core.jsonl import read_json, read_jsonl
from vlkd.core.student import family_of

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


def load_items(pairs_path: Path, images_path: Path | None, split: str, *, warn) -> tuple[str, list[EvalItem]]:
    """The pairs of ``split`` (falling back from test to val with a warning); rejected pairs left out."""
    pairs = []
    for line_no, raw in enumerate(read_jsonl(pairs_path), 1):
        missing = [k for k in ("id", "image_id", "question", "answer") if k not in raw]
        if missing:
            raise StageError(
                f"{pairs_path}:{line_no}: pair lacks {', '.join(missing)}; fix or delete this line"
            )
        if raw.get("review") == "rejected":
            continue
        pairs.append(raw)
    by_split: dict[str, list[dict[str, Any]]] = {}
    for p in pairs:
        by_split.setdefault(p.get("split") or "train", []).append(p)
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
    images = _images(images_path) if images_path else {}
    items = []
    for p in by_split[chosen]:
        image = images.get(p["image_id"], {})
        items.append(
            EvalItem(
                id=p["id"],
                image_id=p["image_id"],
                image=image.get("path", ""),
                question=p["question"],
                reference=p["answer"],
                category=p.get("category") or image.get("category"),
                negative=bool(p.get("negative")),
                review=p.get("review"),
            )
        )
    return chosen, items


def _images(path: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for line_no, raw in enumerate(read_jsonl(path), 1):
        if "id" not in raw or "path" not in raw:
            raise StageError(f"{path}:{line_no}: image record lacks id or path; fix or delete this line")
        out[raw["id"]] = raw
    return out


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


def load_model_info(model_dir: Path) -> ModelInfo:
    """``vlkd_model.json`` of the train stage, its paths resolved against the model directory."""
    path = model_dir / "vlkd_model.json"
    if not path.exists():
        raise StageError(
            f"{path} is missing: the train stage did not finish writing the model; re-run with --from train"
        )
    info = read_json(path)
    if not info.get("base_model"):
        raise StageError(f"{path}: no 'base_model'; the train stage must name the student it tuned")
    base = str(info["base_model"])
    if not Path(base).is_absolute() and (model_dir / base).exists():
        base = str((model_dir / base).resolve())
    adapter = None
    if info.get("adapter"):
        adapter = Path(info["adapter"])
        adapter = adapter if adapter.is_absolute() else model_dir / adapter
        if not (adapter / "adapter_config.json").exists():
            raise StageError(f"{adapter}: no adapter_config.json; the adapter named by {path} is missing")
    family = family_of(base, info.get("family"))
    log = info.get("log")
    log_path = None
    if log:
        log_path = Path(log) if Path(log).is_absolute() else model_dir / log
    return ModelInfo(
        trainer=str(info.get("trainer") or ""),
        base_model=base,
        adapter=adapter,
        min_pixels=int(info["image_min_pixels"])
        if info.get("image_min_pixels")
        else family.default_min_pixels,
        max_pixels=int(info["image_max_pixels"])
        if info.get("image_max_pixels")
        else family.default_max_pixels,
        template=info.get("template"),
        log=log_path,
        family=family,
    )
