"""OpenAI-style content-parts messages, one JSON line per sample (``train.jsonl`` per split).

The user turn that shows the image carries ``[{"type": "image_url", "image_url": {"url":
...}}, {"type": "text", "text": question}]``; other turns are plain strings. This is the
form OpenAI vision fine-tuning, ms-swift and axolotl read. ``image_url`` chooses the URL:
a path relative to the dataset directory, an absolute ``file://`` URI, or a base64
``data:`` URI (what the OpenAI fine-tuning API needs: it cannot read local files).
"""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path
from typing import Literal

from pydantic import Field

from vlkd.api import PluginOptions, StageContext, write_jsonl_atomic
from vlkd.plugins.formats.inputs import (
    Conversation,
    ExportFormat,
    Grouping,
    image_reference,
    write_descriptor,
)


class MessagesJsonlOptions(PluginOptions):
    grouping: Grouping = Field(
        "per_image", description="per_image: one conversation per image; per_pair: one per pair"
    )
    image_url: Literal["relative", "file", "data"] = Field(
        "relative",
        description="relative path, file:// URI, or base64 data: URI (for the OpenAI fine-tuning API)",
    )
    system: str | None = Field(None, description="System prompt written into every sample")


def _url(image: Path, dataset_dir: Path, mode: str) -> str:
    if mode == "relative":
        return image_reference(image, dataset_dir, "relative")
    if mode == "file":
        return image.resolve().as_uri()
    mime = mimetypes.guess_type(image.name)[0] or "image/png"
    return f"data:{mime};base64,{base64.b64encode(image.read_bytes()).decode('ascii')}"


def messages_sample(sample: Conversation, url: str, system: str | None = None) -> dict:
    messages: list[dict] = [{"role": "system", "content": system}] if system else []
    for i, (question, answer) in enumerate(sample.turns):
        if i == 0:
            content: object = [
                {"type": "image_url", "image_url": {"url": url}},
                {"type": "text", "text": question},
            ]
        else:
            content = question
        messages.append({"role": "user", "content": content})
        messages.append({"role": "assistant", "content": answer})
    return {"messages": messages}


def export_messages_jsonl(
    samples: dict[str, list[Conversation]], dataset_dir: Path, opts: MessagesJsonlOptions
) -> dict:
    dataset_dir.mkdir(parents=True, exist_ok=True)
    urls: dict[str, str] = {}
    files = {}
    for split, items in samples.items():

        def rows(items=items):
            for s in items:
                url = urls.get(s.image_id)
                if url is None:
                    url = urls[s.image_id] = _url(s.image, dataset_dir, opts.image_url)
                yield messages_sample(s, url, opts.system)

        write_jsonl_atomic(dataset_dir / f"{split}.jsonl", rows())
        files[split] = f"{split}.jsonl"
    return write_descriptor(
        dataset_dir,
        "messages_jsonl",
        files,
        samples,
        media_dir=str(dataset_dir.resolve()),
        grouping=opts.grouping,
        system=opts.system,
        image_url=opts.image_url,
    )


class MessagesJsonlFormat(ExportFormat):
    """OpenAI-style content-parts messages JSONL (OpenAI vision fine-tuning, ms-swift, axolotl)."""

    Options = MessagesJsonlOptions

    def export(self, samples: dict[str, list[Conversation]], dataset_dir: Path, ctx: StageContext) -> dict:
        return export_messages_jsonl(samples, dataset_dir, self.options)  # type: ignore[arg-type]
