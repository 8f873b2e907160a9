"""``train.distill``: distillation from an open-weights teacher, beyond its text.

::

    train:
      plugin: peft
      distill: {method: logit_kd, teacher: Qwen/Qwen2-VL-72B-Instruct, alpha: 0.5, temperature: 1.0, top_k: 20}

``logit_kd``: the teacher's top-k log-probabilities at every answer token are computed once,
before the student loads, and cached in the run directory by content (``cache/teacher_logits/``);
the loss on the answer tokens is ``alpha * JSD_beta(teacher || student) + (1 - alpha) * CE`` on the
reviewed answers (:mod:`vlkd.plugins.train.distill_loss`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vlkd.api import RUN_ONLY, Options


class DistillOptions(Options):
    """The ``distill:`` block of the train stage."""

    method: Literal["logit_kd"] = Field(
        description="logit_kd: match the teacher's top-k token distributions on the answers"
    )
    teacher: str = Field(
        min_length=1,
        description="The teacher's weights: a local checkpoint directory, a vlkd model directory "
        "(a train stage's model/, with vlkd_model.json: base + adapter), or a hub id already downloaded. "
        "It must share the student's tokenizer (same family and vocabulary)",
    )
    alpha: float = Field(
        0.5, ge=0, le=1, description="Weight of the divergence; 1 - alpha weighs cross-entropy on the answers"
    )
    temperature: float = Field(
        1.0,
        ge=0.01,
        le=100,
        description="Softmax temperature of both distributions (0.01 to 100: below, the divergence is "
        "NaN in float32; above, both are uniform and the teacher teaches nothing)",
    )
    top_k: int = Field(20, ge=1, le=1000, description="Teacher tokens kept per answer token (the cache)")
    beta: float = Field(
        0.0,
        ge=0,
        le=1,
        description="0: forward KL(teacher||student); 1: reverse KL; between: generalised JSD (TRL's beta)",
    )
    teacher_batch_size: int = Field(
        8, ge=1, description="Samples per teacher forward pass", json_schema_extra=RUN_ONLY
    )
