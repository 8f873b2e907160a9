"""Read the ``dataset`` artifact (LLaMA-Factory sharegpt layout) and check it before training.

The format stage writes ``<format>/dataset/`` with ``vlkd_dataset.json``,
``dataset_info.json`` and one sharegpt JSON file per split. Everything that would stop a
training run half-way (an ``<image>`` tag without its image, a missing file, a sample
whose visual tokens alone reach ``cutoff_len``) is found by the format stage's pre-flight
check before a model is loaded, and reported with the file and sample it concerns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlkd.api import DatasetCard, StageError, read_json
from vlkd.llamafactory.sample import Sample, read_samples

if TYPE_CHECKING:
    from vlkd.api import Student

MAX_SHOWN = 5
#: pre-flight problem kinds that stop or break a training run
FATAL = ("image_count", "missing_image", "bad_image", "structure", "image_in_answer")


@dataclass
class TrainData:
    root: Path
    info: dict[str, Any]
    dataset_info: dict[str, Any]
    #: split -> dataset_info.json entry name (vlkd_train, vlkd_val, ...)
    entries: dict[str, str]
    splits: dict[str, list[Sample]] = field(default_factory=dict)

    @property
    def media_dir(self) -> Path:
        return Path(self.info.get("media_dir") or self.root)


def load_dataset_dir(root: Path) -> TrainData:
    """Read ``vlkd_dataset.json`` and every split it names (sharegpt entries of dataset_info.json)."""
    root = Path(root)
    manifest = root / DatasetCard.FILE
    if not manifest.is_file():
        raise StageError(
            f"{root}: no vlkd_dataset.json; train needs the directory written by the format "
            "stage (format: {plugin: llamafactory})"
        )
    card = DatasetCard.read(root)
    if card.format != "llamafactory":
        raise StageError(
            f"{manifest}: format is {card.format!r}; the trainers read the 'llamafactory' "
            "format (set format.plugin: llamafactory)"
        )
    info = card.model_dump(mode="json", exclude_none=True)
    info_path = root / (card.dataset_info or "dataset_info.json")
    dataset_info = _read_json(info_path)
    entries: dict[str, str] = {}
    data = TrainData(root, info, dataset_info, entries)
    for split, file_name in card.splits.items():
        entry = next((k for k, v in dataset_info.items() if v.get("file_name") == file_name), None)
        if entry is None:
            raise StageError(f"{info_path}: no entry has file_name {file_name!r} (split {split!r})")
        entries[split] = entry
        data.splits[split] = read_samples(root / file_name, dataset_info[entry], data.media_dir)
    if not data.splits.get("train"):
        raise StageError(
            f"{manifest}: the dataset has no train samples (splits: {sorted(data.splits) or 'none'})"
        )
    return data


def _read_json(path: Path) -> Any:
    return read_json(path, missing="re-run the format stage")


def preflight(
    data: TrainData, student: Student, run_dir: Path, *, tokenizer: Any = None, warn: Any = None
) -> dict[str, int]:
    """Run the format stage's pre-flight check (``vlkd check-dataset``) with the trainer's limits.

    Problems that stop or break training (image tags that do not match the images, missing
    or undecodable images, broken samples, a sample whose image tokens reach ``cutoff_len``)
    raise one StageError; the others (turns LLaMA-Factory would drop or truncate) are warned
    about. Returns figures for the manifest.
    """
    from vlkd.llamafactory.preflight import check_for_student

    cutoff_len, min_pixels, max_pixels = (
        student.cutoff_len,
        student.image_min_pixels,
        student.image_max_pixels,
    )
    report = check_for_student(data.root, student, run_dir, tokenizer=tokenizer, media_dir=data.media_dir)
    fatal = [
        p for p in report.unfixed if p.kind in FATAL or (p.kind == "too_long" and "image tokens" in p.message)
    ]
    hint = (
        f"vlkd check-dataset {data.root} --fix --family {student.family.name} --cutoff-len {cutoff_len} "
        f"--image-max-pixels {max_pixels} --image-min-pixels {min_pixels}"
    )
    if fatal:
        shown = "\n  ".join(str(p) for p in fatal[:MAX_SHOWN])
        more = f"\n  ... and {len(fatal) - MAX_SHOWN} more" if len(fatal) > MAX_SHOWN else ""
        too_long = any(p.kind == "too_long" for p in fatal)
        raise StageError(
            f"dataset {data.root} fails the pre-flight check ({len(fatal)} sample(s) would stop training):\n  "
            f"{shown}{more}\n"
            + ("Raise student.cutoff_len or lower student.image_max_pixels; " if too_long else "")
            + f"see every problem, and repair what can be repaired, with:\n  {hint}"
        )
    others = [p for p in report.unfixed if p not in fatal]
    if others and warn is not None:
        kinds = ", ".join(sorted({p.kind for p in others}))
        warn(
            f"{len(others)} sample(s) would be truncated or dropped ({kinds}), e.g. {others[0]}; see: {hint}"
        )
    return {"samples_" + s: len(v) for s, v in data.splits.items()} | {"preflight_warnings": len(others)}
