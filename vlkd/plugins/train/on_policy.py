"""On-policy distillation's batches: the student samples answers, which become the batch scored.

Follows TRL's ``GKDTrainer`` (``trl/experimental/gkd/gkd_trainer.py``): with probability ``lmbda``
per batch the student generates answers to the batch's questions on their images (sampling at
``temperature``, no top-k/top-p cut, at most ``max_new_tokens``); the generated tokens up to and
including the first end-of-turn token are the ones the loss reads (``generate_on_policy_outputs``);
otherwise the batch keeps the reviewed answers. The prompts are cut from the collated batch itself
(every token before the last answer), so the student sees exactly the question and images it
trains on, with the same pixel values; the teacher shares them (same family, checked at validate).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from vlkd.plugins.train.peft_collator import IGNORE_INDEX

if TYPE_CHECKING:
    import torch

#: per-token keys of a collated batch besides input_ids/attention_mask (cut and padded like them)
TOKEN_KEYS = ("mm_token_type_ids", "token_type_ids")


def is_on_policy(lmbda: float, seed: int, step: int, micro: int) -> bool:
    """Whether this batch is sampled by the student: probability ``lmbda`` (TRL's meaning), drawn
    from the seed and the batch's place in the training, so a resumed run decides as the
    uninterrupted one would."""
    return random.Random(f"{seed}:{step}:{micro}").random() < lmbda


def answer_starts(labels: torch.Tensor) -> list[int]:
    """Per row, the position where its last answer begins (the prompt is everything before)."""
    starts = []
    for row in labels.tolist():
        i = len(row)
        while i > 0 and row[i - 1] == IGNORE_INDEX:
            i -= 1  # right padding and anything after the last answer
        while i > 0 and row[i - 1] != IGNORE_INDEX:
            i -= 1
        starts.append(i)
    return starts


def prompts(batch: dict[str, Any]) -> dict[str, Any]:
    """The questions of a collated (right-padded) batch, left-padded for generation."""
    import torch

    starts = answer_starts(batch["labels"])
    width = max(starts)
    out: dict[str, Any] = {}
    for key in ("input_ids", "attention_mask", *TOKEN_KEYS):
        if key not in batch:
            continue
        src = batch[key]
        rows = torch.zeros((src.shape[0], width), dtype=src.dtype)  # masked out
        for b, start in enumerate(starts):
            rows[b, width - start :] = src[b, :start]
        out[key] = rows
    return out


def completion_mask(completion: torch.Tensor, eos_ids: list[int]) -> torch.Tensor:
    """1 on each generated token up to and including the first end token, then 0 (TRL's rule)."""
    import torch

    is_eos = torch.isin(completion, torch.tensor(eos_ids, device=completion.device))
    any_eos = is_eos.any(dim=1)
    end = torch.full((completion.shape[0],), completion.shape[1], dtype=torch.long, device=completion.device)
    end[any_eos] = is_eos.int().argmax(dim=1)[any_eos]
    positions = torch.arange(completion.shape[1], device=completion.device).expand(completion.shape[0], -1)
    return (positions <= end[:, None]).long()


def sampled_batch(
    prompt: dict[str, Any], sequences: torch.Tensor, media: dict[str, Any], eos_ids: list[int]
) -> dict[str, Any]:
    """The batch the loss reads after sampling: prompt + completion, labels on the completion."""
    import torch

    width = prompt["input_ids"].shape[1]
    completion = sequences[:, width:]
    mask = completion_mask(completion, eos_ids).to(prompt["attention_mask"].dtype)
    batch = dict(media)
    batch["input_ids"] = sequences
    batch["attention_mask"] = torch.cat([prompt["attention_mask"].to(mask.device), mask], dim=1)
    for key in TOKEN_KEYS:  # generated tokens are text
        if key in prompt:
            batch[key] = torch.cat([prompt[key].to(mask.device), torch.zeros_like(completion)], dim=1)
    labels = sequences.clone()
    labels[:, :width] = IGNORE_INDEX
    labels[batch["attention_mask"] == 0] = IGNORE_INDEX
    batch["labels"] = labels
    return batch


def stack(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """Two batches as one (rows of ``first``, then ``second``), right-padded to one width, so that
    one forward pass reads both: the student's samples and the reviewed answers of the same
    questions (two forward passes before one backward are an error under DDP). A row keeps its
    positions, so ``logits[:len(first), :width]`` are ``first``'s own."""
    import torch

    width = max(first["input_ids"].shape[1], second["input_ids"].shape[1])
    out: dict[str, Any] = {}
    for key in first:
        a, b = first[key], second[key]
        if key in ("input_ids", "attention_mask", "labels", *TOKEN_KEYS):
            fill = IGNORE_INDEX if key == "labels" else 0
            a, b = (torch.nn.functional.pad(t, (0, width - t.shape[1]), value=fill) for t in (a, b))
        out[key] = torch.cat([a, b.to(a.device)], dim=0)  # images: in row order, as the processor lays them
    return out


#: config keys naming the tokens that stand for image/video features: never sampled (a sampled
#: image token would have no features, and the forward pass that scores the sample would fail)
MEDIA_TOKEN_KEYS = (
    "image_token_id",
    "video_token_id",
    "image_token_index",
    "vision_start_token_id",
    "vision_end_token_id",
    "boi_token_index",
    "eoi_token_index",
)


def media_token_ids(model: Any, tokenizer: Any, image_token: str) -> list[int]:
    config = getattr(model, "config", None)
    found = {getattr(config, key, None) for key in MEDIA_TOKEN_KEYS}
    found.add(tokenizer.convert_tokens_to_ids(image_token) if image_token else None)
    return sorted(i for i in found if isinstance(i, int) and i >= 0)


def generation_config(
    model: Any, tokenizer: Any, turn_end: str, max_new_tokens: int, temperature: float, image_token: str = ""
):
    """TRL's sampling settings: ``do_sample``, ``top_k`` 0, ``top_p`` 1, the family's turn end as
    EOS; the image/video placeholder tokens are suppressed (a random tiny student sampled one)."""
    from transformers import GenerationConfig

    eos = [tokenizer.convert_tokens_to_ids(turn_end)]
    own = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for extra in own if isinstance(own, list) else [own] if own is not None else []:
        if extra not in eos:
            eos.append(extra)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    return GenerationConfig(
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        do_sample=True,
        top_k=0,
        top_p=1.0,
        use_cache=True,
        eos_token_id=eos,
        pad_token_id=pad,
        suppress_tokens=media_token_ids(model, tokenizer, image_token) or None,
    )


def sample(
    model: Any, batch: dict[str, Any], config: Any, checkpointing: dict[str, Any] | None
) -> dict[str, Any]:
    """The student's answers to ``batch``'s questions as a batch for the loss (no gradient).

    The model samples in eval mode (no dropout) with gradient checkpointing off, so that the KV
    cache works (TRL's ``unwrap_model_for_generation`` does the same; with it on, every new token
    would run the whole sequence again), and is put back as it was: ``checkpointing`` is the
    training's ``gradient_checkpointing_kwargs`` (None: checkpointing is off)."""
    import torch

    prompt = prompts(batch)
    device = batch["input_ids"].device
    prompt = {k: v.to(device) for k, v in prompt.items()}
    media = {
        k: v for k, v in batch.items() if k not in ("input_ids", "attention_mask", "labels", *TOKEN_KEYS)
    }
    was_training = model.training
    model.eval()
    if checkpointing is not None:
        model.gradient_checkpointing_disable()
    try:
        with torch.no_grad():
            sequences = model.generate(**prompt, **media, generation_config=config)
    finally:
        if checkpointing is not None:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=checkpointing)
        model.train(was_training)
    return sampled_batch(prompt, sequences, media, list(config.eos_token_id))
