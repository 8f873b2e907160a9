"""Options shared by the train plugins, with the seed's values as defaults.

Both trainers take the same keys, so a recipe switches between them by changing
``plugin:`` alone. The names follow LLaMA-Factory and transformers (``lora_rank``,
``per_device_train_batch_size``, ...) so that their documentation applies.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from vlkd.api import RUN_ONLY, Options, PluginOptions, RecipePath
from vlkd.plugins.train.distill_options import DistillOptions

#: keys of the train stage that live in the recipe's ``student:`` section now
MOVED_TO_STUDENT = {
    "student": "student.model (a top-level 'student:' section)",
    "cutoff_len": "student.cutoff_len",
    "image_min_pixels": "student.image_min_pixels",
    "image_max_pixels": "student.image_max_pixels",
    "template": "student.template",
}


class DistributedOptions(Options):
    """Where the training processes run: torchrun across GPUs and nodes."""

    nproc_per_node: int = Field(1, ge=1, description="Processes (GPUs) per node")
    nnodes: int = Field(1, ge=1, description="Number of nodes")
    node_rank: int = Field(0, ge=0, description="Rank of this node (0 on the master)")
    master_addr: str = Field("127.0.0.1", description="Address of the rank-0 node")
    master_port: int = Field(29500, ge=1, le=65535, description="Port of the rank-0 node")

    @property
    def enabled(self) -> bool:
        return self.nproc_per_node > 1 or self.nnodes > 1

    @model_validator(mode="after")
    def _rank_in_range(self) -> DistributedOptions:
        if self.node_rank >= self.nnodes:
            raise ValueError(f"node_rank {self.node_rank} must be < nnodes {self.nnodes}")
        return self


class TrainOptions(PluginOptions):
    """Options of the ``train`` stage (both trainers)."""

    dataset: RecipePath | None = Field(
        None,
        description="A dataset directory (with vlkd_dataset.json) to train on instead of the "
        "format stage's output",
    )
    # -- LoRA ------------------------------------------------------------------------------
    lora_rank: int = Field(8, ge=1, description="LoRA rank r")
    lora_alpha: float = Field(16, gt=0, description="LoRA scaling alpha")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="Dropout inside the LoRA layers")
    lora_target: list[str] | Literal["all-linear"] | None = Field(
        None,
        description="Module names to adapt, or 'all-linear' (every linear layer of the language model); "
        "default: the student family's",
    )
    modules_to_save: list[str] = Field([], description="Modules trained in full and saved with the adapter")
    loraplus_lr_ratio: float | None = Field(None, gt=0, description="LoRA+: learning-rate ratio of B to A")
    quantization_bit: Literal[4] | None = Field(None, description="4: QLoRA through bitsandbytes (CUDA only)")
    # -- training --------------------------------------------------------------------------
    num_train_epochs: float = Field(3, gt=0)
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimiser steps")
    per_device_train_batch_size: int = Field(4, ge=1)
    per_device_eval_batch_size: int = Field(4, ge=1)
    gradient_accumulation_steps: int = Field(8, ge=1)
    learning_rate: float = Field(2e-4, gt=0)
    lr_scheduler_type: str = Field("cosine")
    warmup_ratio: float = Field(0.03, ge=0, le=1)
    max_grad_norm: float = Field(0.3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    optim: str = Field("adamw_torch_fused")
    seed: int = Field(42)
    eval_steps: int = Field(500, ge=1, description="Evaluate on the val split every N steps")
    save_steps: int = Field(500, ge=1, description="Write a checkpoint every N steps")
    save_total_limit: int = Field(3, ge=1, json_schema_extra=RUN_ONLY)
    logging_steps: int = Field(10, ge=1, json_schema_extra=RUN_ONLY)
    report_to: list[str] = Field(["tensorboard"], json_schema_extra=RUN_ONLY)
    gradient_checkpointing: bool = Field(True)
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="auto: bf16 where the GPU supports it, else fp16 on CUDA, fp32 on CPU"
    )
    tf32: bool | None = Field(None, description="TF32 matmuls; default: on for CUDA GPUs that have it")
    # -- outputs and launch ----------------------------------------------------------------
    merge: bool = Field(False, description="Also write the adapter merged into full weights (model/merged)")
    distributed: DistributedOptions = Field(default_factory=DistributedOptions, json_schema_extra=RUN_ONLY)
    deepspeed: RecipePath | None = Field(None, description="A DeepSpeed JSON config")
    # -- distillation beyond the teacher's text ----------------------------------------------
    distill: DistillOptions | None = Field(
        None,
        description="Distillation from an open-weights teacher of the student's tokenizer (peft trainer): "
        "{method: logit_kd, teacher: PATH or {server: URL, model: NAME}, alpha, temperature, top_k, beta} or "
        "{method: on_policy, teacher: PATH or {server: URL, model: NAME} (then top_k), alpha, temperature, beta, "
        "lmbda, max_new_tokens}",
    )

    @field_validator("lora_target", mode="before")
    @classmethod
    def _target_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value in ("all", "all-linear"):
                return "all-linear"
            return [v.strip() for v in value.split(",") if v.strip()]
        return value
