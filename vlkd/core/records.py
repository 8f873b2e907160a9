"""Records shared by every stage: images and question/answer pairs.

Both are written one JSON object per line (JSONL) in the run directory, so a person can
read, grep and edit them, and a stage can be resumed from them.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ReviewStatus = Literal["pending", "approved", "rejected", "edited"]
Split = Literal["train", "val", "test"]


class Record(BaseModel):
    # unknown keys are kept, so a newer plugin's fields survive an older stage
    model_config = ConfigDict(extra="allow", protected_namespaces=())


class Source(BaseModel):
    """Where an image came from: a file, and a page for PDF documents."""

    path: str
    page: int | None = Field(default=None, description="1-based page number within a PDF")


class ImageRecord(Record):
    """One image. ``id`` is the SHA-256 of the original bytes (of the rendered page for PDFs)."""

    id: str
    path: str = Field(description="the file the next stage reads (original, or preprocessed copy)")
    width: int
    height: int
    format: str | None = None
    sources: list[Source] = Field(default_factory=list, description="every file that had these bytes")
    category: str | None = Field(default=None, description="task category, e.g. part_recognition")
    metadata: dict[str, Any] = Field(default_factory=dict, description="brand, vehicle model, ...")
    visual_tokens: int | None = Field(default=None, description="tokens the student spends on it")
    notes: list[str] = Field(default_factory=list, description="what preprocessing did or noticed")


class Provenance(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())

    plugin: str
    model: str | None = None
    prompt_hash: str | None = None


class Flag(BaseModel):
    """A doubt raised about a pair by a ``verify`` check; it never changes the pair itself."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    check: str = Field(description="the verify check that raised it, e.g. ocr_grounding")
    flag: str = Field(description="what it found, e.g. ungrounded, negative_suspect, disagree")
    reason: str = Field(default="", description="why, in words a reviewer can act on")


class QARecord(Record):
    """One question/answer pair about one image."""

    id: str
    image_id: str
    question: str
    answer: str
    category: str | None = None
    negative: bool = Field(default=False, description="the answer says the information is not present")
    provenance: Provenance
    review: ReviewStatus = "pending"
    comment: str | None = None
    split: Split | None = None
    flags: list[Flag] = Field(default_factory=list, description="doubts raised by verify checks")

    @staticmethod
    def make_id(image_id: str, question: str) -> str:
        return hashlib.sha256(f"{image_id}\x00{question.strip()}".encode()).hexdigest()[:16]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
