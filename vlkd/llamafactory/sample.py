"""LLaMA-Factory's sharegpt sample: its columns and tags, and the one :class:`Sample` vlkd reads.

A ``dataset_info.json`` entry names a file and, optionally, its ``columns`` (where the messages
and the images are) and ``tags`` (the keys and values of a message's role and content).
LLaMA-Factory's defaults are ``conversations`` and ``from``/``value``/``human``/``gpt``
(:data:`LLAMAFACTORY_TAGS`); vlkd writes OpenAI-style ``messages`` with
``role``/``content``/``user``/``assistant`` (:data:`VLKD_TAGS`) and says so in every entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlkd.core.errors import StageError
from vlkd.core.jsonl import read_json

#: LLaMA-Factory's defaults (``data/parser.py``), used where an entry names no columns or tags
LLAMAFACTORY_COLUMNS: dict[str, str | None] = {"messages": "conversations", "images": None}
LLAMAFACTORY_TAGS = {
    "role_tag": "from",
    "content_tag": "value",
    "user_tag": "human",
    "assistant_tag": "gpt",
    "observation_tag": "observation",
    "function_tag": "function_call",
    "system_tag": "system",
}
#: what vlkd writes (and what a bare .json/.jsonl file is read with)
VLKD_COLUMNS = {"messages": "messages", "images": "images"}
VLKD_TAGS = {
    **LLAMAFACTORY_TAGS,
    "role_tag": "role",
    "content_tag": "content",
    "user_tag": "user",
    "assistant_tag": "assistant",
}


def columns_of(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry's columns, LLaMA-Factory's defaults filled in."""
    return {**LLAMAFACTORY_COLUMNS, **entry.get("columns", {})}


def tags_of(entry: dict[str, Any]) -> dict[str, str]:
    """An entry's tags, LLaMA-Factory's defaults filled in."""
    return {**LLAMAFACTORY_TAGS, **entry.get("tags", {})}


def dataset_info_entry(file_name: str) -> dict[str, Any]:
    """The ``dataset_info.json`` entry of a split file as vlkd writes it."""
    return {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": dict(VLKD_COLUMNS),
        "tags": {
            k: VLKD_TAGS[k] for k in ("role_tag", "content_tag", "user_tag", "assistant_tag", "system_tag")
        },
    }


@dataclass
class Sample:
    """One sharegpt sample: messages with roles ``system``/``user``/``assistant`` and ``<image>``
    tags in their content, the image files (resolved against ``media_dir``), and where it is."""

    messages: list[dict[str, str]]
    images: list[Path]
    where: str  # "train.json: sample 3" for messages


def read_samples(path: Path, entry: dict[str, Any], media_dir: Path) -> list[Sample]:
    """The samples of one split file, read with its entry's columns and tags; a malformed one
    is a StageError naming the file, the sample and the message."""
    if entry.get("formatting", "alpaca") != "sharegpt":
        raise StageError(f"{path}: dataset_info.json entry must have formatting: sharegpt")
    columns, tags = columns_of(entry), tags_of(entry)
    roles = {tags["user_tag"]: "user", tags["assistant_tag"]: "assistant", tags["system_tag"]: "system"}
    rows = read_json(path, missing="re-run the format stage")
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
                raise StageError(
                    f"{path}: sample {i}, message {j}: needs '{tags['role_tag']}' in "
                    f"{sorted(roles)} and a string '{tags['content_tag']}'"
                )
            messages.append({"role": role, "content": content})
        images = row.get(columns["images"], []) if columns["images"] else []
        paths = [Path(p) if Path(p).is_absolute() else media_dir / p for p in images or []]
        samples.append(Sample(messages, paths, where))
    return samples
