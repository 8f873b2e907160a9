"""The peft trainer's pieces for ``distill: {method: logit_kd}``: a collator that adds the teacher's
cached top-k to each batch, and a transformers Trainer whose loss mixes the divergence with
cross-entropy on the answers (:func:`vlkd.plugins.train.distill_loss.distill_loss`)."""

from __future__ import annotations

from typing import Any

from vlkd.plugins.train.teacher_cache import TeacherCache, teacher_batch


class DistillCollator:
    """The student's collator, plus ``teacher_ids``, ``teacher_log_probs``, ``teacher_counts``."""

    def __init__(self, collator: Any, cache: TeacherCache):
        self.collator = collator
        self.cache = cache

    def __call__(self, samples: list[Any]) -> dict[str, Any]:
        return {**self.collator(samples), **teacher_batch(self.cache, samples)}


def distill_trainer(distill: dict[str, Any], **kwargs: Any):
    """A transformers ``Trainer`` training on the logit-distillation loss."""
    from transformers import Trainer

    from vlkd.plugins.train.distill_loss import distill_loss

    class DistillTrainer(Trainer):
        def __init__(self, **kw: Any):
            super().__init__(**kw)
            self.model_accepts_loss_kwargs = (
                False  # our loss is a mean: the Trainer averages over accumulation
            )
            self._parts: dict[str, list[float]] = {"kd_loss": [], "ce_loss": []}

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
            if model.training:
                for name, value in parts.items():
                    self._parts[name].append(value)
            return (loss, outputs) if return_outputs else loss

        def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
            if "loss" in logs:
                for name, values in self._parts.items():
                    if values:
                        logs[name] = round(sum(values) / len(values), 6)
                    values.clear()
            super().log(logs, start_time)

    return DistillTrainer(**kwargs)
