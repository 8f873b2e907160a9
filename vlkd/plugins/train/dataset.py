"""Read the ``dataset`` artifact (LLaMA-Factory sharegpt layout) and check it before training.

The format stage writes ``<format>/dataset/`` with ``vlkd_dataset.json``,
``dataset_info.json`` and one sharegpt JSON file per split. Everything that would stop a
training run half-way (an ``<image>`` tag without its image, a missing file, a sample
whose visual tokens alone exceed ``cutoff_len``) is found here, before a model is loaded,
and reported with the file and sample it concerns.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlkd.core.errors import StageError

IMAGE_TAG = "<image>"
#: LLaMA-Factory's sharegpt defaults, used where dataset_info.json names no tags
DEFAULT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                "assistant_tag": "gpt", "observation_tag": "observation",
                "function_tag": "function_call", "system_tag": "system"}
#: Qwen2-VL: 14-px patches merged 2x2, so one visual token per 28x28 pixels
PIXELS_PER_TOKEN_SIDE = 28
MAX_SHOWN = 5


@dataclass
class Sample:
    messages: list[dict[str, str]]  # role in system/user/assistant, content with <image> tags
    images: list[Path]
    where: str  # "train.json: sample 3" for messages


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


def smart_resize(height: int, width: int, min_pixels: int, max_pixels: int,
                 factor: int = PIXELS_PER_TOKEN_SIDE) -> tuple[int, int]:
    """Qwen2-VL's resize rule: sides rounded to multiples of ``factor``, area in [min, max]."""
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


def visual_tokens(size: tuple[int, int], min_pixels: int, max_pixels: int) -> int:
    width, height = size
    h, w = smart_resize(height, width, min_pixels, max_pixels)
    return (h // PIXELS_PER_TOKEN_SIDE) * (w // PIXELS_PER_TOKEN_SIDE)


def load_dataset_dir(root: Path) -> TrainData:
    """Read ``vlkd_dataset.json`` and every split it names (sharegpt entries of dataset_info.json)."""
    root = Path(root)
    manifest = root / "vlkd_dataset.json"
    if not manifest.is_file():
        raise StageError(f"{root}: no vlkd_dataset.json; train needs the directory written by the format "
                         "stage (format: {plugin: llamafactory})")
    info = _read_json(manifest)
    if info.get("format") != "llamafactory":
        raise StageError(f"{manifest}: format is {info.get('format')!r}; the trainers read the 'llamafactory' "
                         "format (set format.plugin: llamafactory)")
    info_path = root / info.get("dataset_info", "dataset_info.json")
    dataset_info = _read_json(info_path)
    entries: dict[str, str] = {}
    data = TrainData(root, info, dataset_info, entries)
    for split, file_name in (info.get("splits") or {}).items():
        entry = next((k for k, v in dataset_info.items() if v.get("file_name") == file_name), None)
        if entry is None:
            raise StageError(f"{info_path}: no entry has file_name {file_name!r} (split {split!r})")
        entries[split] = entry
        data.splits[split] = _read_samples(root / file_name, dataset_info[entry], data.media_dir)
    if not data.splits.get("train"):
        raise StageError(f"{manifest}: the dataset has no train samples (splits: {sorted(data.splits) or 'none'})")
    return data


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StageError(f"{path}: missing; re-run the format stage") from None
    except json.JSONDecodeError as exc:
        raise StageError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None


def _read_samples(path: Path, entry: dict[str, Any], media_dir: Path) -> list[Sample]:
    if entry.get("formatting", "alpaca") != "sharegpt":
        raise StageError(f"{path}: dataset_info.json entry must have formatting: sharegpt")
    columns = {"messages": "conversations", "images": None, **entry.get("columns", {})}
    tags = {**DEFAULT_TAGS, **entry.get("tags", {})}
    roles = {tags["user_tag"]: "user", tags["assistant_tag"]: "assistant", tags["system_tag"]: "system"}
    rows = _read_json(path)
    if not isinstance(rows, list):
        raise StageError(f"{path}: must be a JSON list of samples")
    samples = []
    for i, row in enumerate(rows):
        where = f"{path.name}: sample {i}"
        turns = row.get(columns["messages"]) if isinstance(row, dict) else None
        if not isinstance(turns, list) or not turns:
            raise StageError(f"{path}: sample {i} has no '{columns['messages']}' list")
        messages = []
        for j, turn in enumerate(turns):
            role = roles.get(turn.get(tags["role_tag"])) if isinstance(turn, dict) else None
            content = turn.get(tags["content_tag"]) if isinstance(turn, dict) else None
            if role is None or not isinstance(content, str):
                raise StageError(f"{path}: sample {i}, message {j}: needs '{tags['role_tag']}' in "
                                 f"{sorted(roles)} and a string '{tags['content_tag']}'")
            messages.append({"role": role, "content": content})
        images = row.get(columns["images"], []) if columns["images"] else []
        paths = [Path(p) if Path(p).is_absolute() else media_dir / p for p in images or []]
        samples.append(Sample(messages, paths, where))
    return samples


def preflight(data: TrainData, *, cutoff_len: int, min_pixels: int, max_pixels: int) -> dict[str, int]:
    """Check every sample; raise one StageError listing the problems. Returns figures for the manifest."""
    from PIL import Image

    problems: list[str] = []
    largest = (0, "")
    for _split, samples in data.splits.items():
        for sample in samples:
            tags = sum(m["content"].count(IMAGE_TAG) for m in sample.messages)
            if tags != len(sample.images):
                problems.append(f"{sample.where}: {tags} <image> tag(s) but {len(sample.images)} image(s); "
                                "LLaMA-Factory stops the whole run on this")
            if not sample.messages or sample.messages[-1]["role"] != "assistant":
                problems.append(f"{sample.where}: the last message must be the assistant's answer")
            tokens = 0
            for image in sample.images:
                try:
                    with Image.open(image) as im:
                        size = im.size
                except FileNotFoundError:
                    problems.append(f"{sample.where}: image not found: {image}")
                    continue
                except OSError as exc:
                    problems.append(f"{sample.where}: cannot read image {image}: {exc}")
                    continue
                n = visual_tokens(size, min_pixels, max_pixels)
                tokens += n + 2  # <|vision_start|> ... <|vision_end|>
                if n + 2 > largest[0]:
                    largest = (n + 2, f"{image} ({size[0]}x{size[1]})")
            if tokens >= cutoff_len:
                problems.append(
                    f"{sample.where}: its images alone take {tokens} tokens at image_max_pixels={max_pixels}, "
                    f"not less than cutoff_len={cutoff_len}; truncation inside the image tokens breaks "
                    f"training. Raise cutoff_len above {tokens} or lower image_max_pixels")
    if problems:
        shown = "\n  ".join(problems[:MAX_SHOWN])
        more = f"\n  ... and {len(problems) - MAX_SHOWN} more" if len(problems) > MAX_SHOWN else ""
        raise StageError(f"dataset {data.root} fails the pre-flight check ({len(problems)} problem(s)); "
                         f"fix the pairs and re-run the format stage:\n  {shown}{more}")
    return {"samples_" + s: len(v) for s, v in data.splits.items()} | {"max_image_tokens": largest[0]}
