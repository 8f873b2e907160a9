"""Turn sharegpt samples into training batches with labels on the assistant turns only.

Each sample is rendered with the student's own chat template, run through its processor
(which expands every image into the family's visual tokens at the recipe's min/max pixels),
cut to ``cutoff_len``, and labelled: every token is ``-100`` except the assistant answers and
their closing turn-end token. The answer spans are found on the token ids (the family's
``assistant_prefix`` ... ``turn_end``), so no text offset can drift. Everything else the
processor returns (``pixel_values``, Gemma 3's ``token_type_ids``...) goes to the model as is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vlkd.api import StageError
from vlkd.llamafactory.sample import Sample
from vlkd.students.family import IMAGE_TAG

if TYPE_CHECKING:
    import torch

IGNORE_INDEX = -100


def to_chat(messages: list[dict[str, str]]) -> list[dict[str, Any]]:
    """sharegpt messages with ``<image>`` tags -> chat-template messages with image parts."""
    chat = []
    for message in messages:
        parts: list[dict[str, Any]] = []
        pieces = message["content"].split(IMAGE_TAG)
        for i, piece in enumerate(pieces):
            if i:
                parts.append({"type": "image"})
            if piece:
                parts.append({"type": "text", "text": piece})
        chat.append({"role": message["role"], "content": parts})
    return chat


class AssistantMasker:
    """Labels for one sequence of ids: the assistant turns' tokens, everything else ignored."""

    def __init__(self, tokenizer: Any, assistant_prefix: str, turn_end: str):
        self.header = tokenizer.encode(assistant_prefix, add_special_tokens=False)
        self.turn_end_id = tokenizer.convert_tokens_to_ids(turn_end)

    def labels(self, ids: list[int]) -> list[int]:
        labels = [IGNORE_INDEX] * len(ids)
        n, h = len(ids), len(self.header)
        i = 0
        while i < n:
            if ids[i : i + h] == self.header:
                j = i + h
                while j < n and ids[j] != self.turn_end_id:
                    labels[j] = ids[j]
                    j += 1
                if j < n:
                    labels[j] = ids[j]  # the model learns to stop
                i = j + 1
            else:
                i += 1
        return labels


class ChatCollator:
    """``DataCollator`` for the transformers Trainer: list of Sample -> right-padded batch with labels."""

    def __init__(self, processor: Any, family: Any, cutoff_len: int):
        from PIL import Image  # noqa: F401 - fail here, not in a dataloader worker

        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.cutoff_len = cutoff_len
        self.masker = AssistantMasker(self.tokenizer, family.assistant_prefix, family.turn_end)
        self.tokenizer.padding_side = "right"
        self.image_token_id = self.tokenizer.convert_tokens_to_ids(family.image_token)

    def __call__(self, samples: list[Sample]) -> dict[str, torch.Tensor]:
        """One processor call for the whole batch (per-sample calls cost twice the time)."""
        import torch

        from vlkd.images.files import open_as

        texts, images = [], []
        for sample in samples:
            texts.append(self.processor.apply_chat_template(to_chat(sample.messages), tokenize=False))
            own = [open_as(path) for path in sample.images]  # RGB, as LLaMA-Factory gives its processor
            images.append(own)  # per sample: Gemma 3's processor needs them nested, Qwen's takes both
        # the chat template writes any BOS itself (Gemma's does): the tokenizer must not add another
        batch = dict(
            self.processor(
                text=texts,
                images=images if any(images) else None,
                return_tensors="pt",
                padding=True,
                add_special_tokens=False,
            )
        )
        ids = batch["input_ids"]
        if ids.shape[1] > self.cutoff_len:
            image_tokens = (ids == self.image_token_id).sum(dim=1)
            kept = (ids[:, : self.cutoff_len] == self.image_token_id).sum(dim=1)
            for sample, before, after in zip(samples, image_tokens.tolist(), kept.tolist(), strict=True):
                if before != after:
                    raise StageError(
                        f"{sample.where}: cutoff_len={self.cutoff_len} cuts into its image tokens; "
                        "raise student.cutoff_len or lower student.image_max_pixels"
                    )
            for key in ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids"):
                if key in batch:
                    batch[key] = batch[key][:, : self.cutoff_len]
            ids = batch["input_ids"]
        labels = torch.tensor([self.masker.labels(row) for row in ids.tolist()])
        labels[batch["attention_mask"] == 0] = IGNORE_INDEX
        batch["labels"] = labels
        return batch
