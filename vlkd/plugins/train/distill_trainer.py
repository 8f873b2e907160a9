"""The peft trainer's pieces for ``distill:``: transformers Trainers whose loss mixes a divergence
from the teacher with cross-entropy on the reviewed answers.

``logit_kd``: a collator adds the teacher's cached top-k to each batch
(:func:`vlkd.plugins.train.distill_loss.distill_loss`). ``on_policy``: the teacher is in memory
beside the student; with probability ``lmbda`` a batch's answers are sampled by the student
(:mod:`vlkd.plugins.train.on_policy`), and the teacher scores the batch's tokens on the whole
vocabulary (:func:`vlkd.plugins.train.distill_loss.full_divergence`).
"""

from __future__ import annotations

import functools
from typing import Any

from vlkd.plugins.train.teacher_cache import TeacherCache, teacher_batch

#: what the distilling trainers add to each logged line (the trainer log keeps them)
LOGGED_PARTS = ("kd_loss", "ce_loss", "on_policy")


class DistillCollator:
    """The student's collator, plus ``teacher_ids``, ``teacher_log_probs``, ``teacher_counts``."""

    def __init__(self, collator: Any, cache: TeacherCache):
        self.collator = collator
        self.cache = cache

    def __call__(self, samples: list[Any]) -> dict[str, Any]:
        return {**self.collator(samples), **teacher_batch(self.cache, samples)}


@functools.cache
def _base_class() -> type:
    from transformers import Trainer

    class PartsTrainer(Trainer):
        """A Trainer whose loss is a mean (averaged over accumulation by the Trainer) and whose log
        lines carry the loss's parts, averaged over the steps since the last line."""

        def __init__(self, distill: dict[str, Any], **kw: Any):
            super().__init__(**kw)
            self.distill = distill
            self.model_accepts_loss_kwargs = False
            self._parts: dict[str, list[float]] = {name: [] for name in LOGGED_PARTS}

        def record(self, model: Any, parts: dict[str, float]) -> None:
            if model.training:
                for name, value in parts.items():
                    self._parts[name].append(value)

        def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
            if "loss" in logs:
                for name, values in self._parts.items():
                    if values:
                        logs[name] = round(sum(values) / len(values), 6)
                    values.clear()
            super().log(logs, start_time)

    return PartsTrainer


def distill_trainer(distill: dict[str, Any], **kwargs: Any):
    """A transformers ``Trainer`` training on the logit-distillation loss."""
    from vlkd.plugins.train.distill_loss import distill_loss

    class DistillTrainer(_base_class()):  # type: ignore[misc]
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            teacher = {k: inputs.pop(k) for k in ("teacher_ids", "teacher_log_probs", "teacher_counts")}
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            loss, parts = distill_loss(
                outputs.logits,
                labels,
                teacher["teacher_ids"],
                teacher["teacher_log_probs"],
                teacher["teacher_counts"],
                alpha=distill["alpha"],
                beta=distill["beta"],
                temperature=distill["temperature"],
            )
            self.record(model, parts)
            return (loss, outputs) if return_outputs else loss

    return DistillTrainer(distill=distill, **kwargs)


def on_policy_trainer(distill: dict[str, Any], teacher: Any, generation: Any, seed: int, **kwargs: Any):
    """A transformers ``Trainer`` distilling on-policy from ``teacher``: a loaded model (eval mode),
    scoring on the whole vocabulary, or a :class:`~vlkd.plugins.train.on_policy_server.ServerScorer`,
    scoring on the server's top-k (the batches then carry their samples, :class:`WithSamples`).

    ``generation``: the sampling settings (:func:`vlkd.plugins.train.on_policy.generation_config`).
    Evaluation scores the reviewed answers (no sampling), as TRL's GKD does."""
    import torch

    from vlkd.plugins.train.distill_loss import answer_cross_entropy, batch_topk_divergence, full_divergence
    from vlkd.plugins.train.on_policy import is_on_policy, sample, stack
    from vlkd.plugins.train.on_policy_server import SAMPLES, ServerScorer

    server = isinstance(teacher, ServerScorer)

    alpha = distill["alpha"]

    class OnPolicyTrainer(_base_class()):  # type: ignore[misc]
        _step, _micro = -1, 0
        teacher = None  # set below: the model or the server's scorer
        sampled_batches = scored_batches = 0

        def teacher_logits(self, batch: dict[str, Any]) -> Any:
            device = next(teacher.parameters()).device
            with torch.no_grad():
                return teacher(**{k: v.to(device) for k, v in batch.items() if k != "labels"}).logits

        def draw(self) -> bool:
            """Whether this training batch is sampled (``lmbda``), by its place in the training."""
            step = self.state.global_step
            self._micro = self._micro + 1 if step == self._step else 0
            self._step = step
            return is_on_policy(distill["lmbda"], seed, step, self._micro)

        def divergence(self, logits: Any, scored: dict[str, Any], top_k: dict[str, Any] | None) -> Any:
            """The teacher's divergence on ``scored``'s labelled tokens: over the whole vocabulary
            (a local teacher), or over the server's top-k ``top_k``."""
            temperature = distill["temperature"]
            if top_k is None:
                teacher_logits = self.teacher_logits(scored)
                return full_divergence(
                    logits, teacher_logits, scored["labels"], beta=distill["beta"], temperature=temperature
                )
            return batch_topk_divergence(
                logits, scored["labels"], **top_k, beta=distill["beta"], temperature=temperature
            )

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            samples = inputs.pop(SAMPLES, None)
            on_policy = model.training and self.draw()
            top_k = None  # the server's top-k at the scored tokens
            if on_policy:
                checkpointing = (
                    (self.args.gradient_checkpointing_kwargs or {})
                    if self.args.gradient_checkpointing
                    else None
                )
                scored = sample(self.accelerator.unwrap_model(model), inputs, generation, checkpointing)
                if server:
                    scored, top_k = teacher.sampled(samples, scored, list(generation.eos_token_id))
                    device = inputs["input_ids"].device
                    scored = {k: v.to(device) for k, v in scored.items()}
                self.sampled_batches += 1
            else:
                scored = inputs
                if server:
                    top_k = teacher.reviewed(samples, inputs)
            both = on_policy and alpha < 1  # CE on the reviewed answers: in the same forward pass
            batch = stack(scored, inputs) if both else scored
            outputs = model(**{k: v for k, v in batch.items() if k != "labels"})
            rows, width = scored["input_ids"].shape
            kd = self.divergence(outputs.logits[:rows, :width], scored, top_k)
            if not on_policy:
                ce = answer_cross_entropy(outputs.logits, inputs["labels"])
            elif both:
                ce = answer_cross_entropy(outputs.logits[rows:], batch["labels"][rows:])
            else:
                ce = None  # alpha 1: the reviewed answers weigh nothing
            loss = kd if ce is None else alpha * kd + (1 - alpha) * ce
            self.scored_batches += int(model.training)
            parts = {"kd_loss": float(kd.detach()), "on_policy": float(on_policy)}
            if ce is not None:
                parts["ce_loss"] = float(ce.detach())
            self.record(model, parts)
            return (loss, outputs) if return_outputs else loss

    trainer = OnPolicyTrainer(distill=distill, **kwargs)
    trainer.teacher = teacher
    return trainer
