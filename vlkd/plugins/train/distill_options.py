"""``train.distill``: distillation from an open-weights teacher, beyond its text.

::

    train:
      plugin: peft
      distill: {method: logit_kd, teacher: Qwen/Qwen2-VL-72B-Instruct, alpha: 0.5, temperature: 1.0, top_k: 20}

``logit_kd``: the teacher's top-k log-probabilities at every answer token are computed once,
before the student loads, and cached in the run directory by content (``cache/teacher_logits/``);
the loss on the answer tokens is ``alpha * JSD_beta(teacher || student) + (1 - alpha) * CE`` on the
reviewed answers (:mod:`vlkd.plugins.train.distill_loss`).

The teacher may also be a vLLM server that returns prompt log-probabilities (logit_kd)::

    distill: {method: logit_kd, teacher: {server: http://127.0.0.1:8000/v1, model: Qwen/Qwen2.5-VL-72B-Instruct}}

``on_policy`` (TRL's GKD): with probability ``lmbda`` per batch the student samples its own answers
(``max_new_tokens``, at ``temperature``) and the teacher, loaded beside it, scores them token by token;
the divergence over the whole vocabulary on those tokens (on the reviewed answers for the other
batches) is mixed with cross-entropy on the reviewed answers by ``alpha`` as above
(:mod:`vlkd.plugins.train.on_policy`). With a teacher server, the server scores the samples and the
divergence is taken over its ``top_k`` per token (:mod:`vlkd.plugins.train.on_policy_server`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from vlkd.api import RUN_ONLY, Options

#: options that only one method reads: a recipe that sets one for the other method is an error
ONLY_FOR = {
    "top_k": (
        "logit_kd",
        "on_policy from the teacher's weights compares the whole vocabulary; name a teacher server for its top-k",
    ),
    "teacher_batch_size": ("logit_kd", "on_policy's local teacher scores each training batch"),
    "lmbda": ("on_policy", "logit_kd trains on the reviewed answers only"),
    "max_new_tokens": ("on_policy", "logit_kd samples nothing"),
}
#: options of logit_kd that on_policy reads too when its teacher is a server
SERVER_READS = ("top_k", "teacher_batch_size")


class TeacherServer(Options):
    """``distill.teacher: {server, model}``: a vLLM OpenAI-compatible server of the teacher."""

    server: str = Field(
        pattern=r"^https?://\S+$",
        description="The server's base URL, ending in /v1 as vLLM's does (e.g. http://127.0.0.1:8000/v1); "
        "started with --max-logprobs at least top_k. Where the model is, not what it is (model is): "
        "another address of the same model re-runs nothing",
        json_schema_extra=RUN_ONLY,
    )
    model: str = Field(
        min_length=1,
        description="The model name the server serves (vllm serve's --served-model-name, else its path): "
        "a hub name of the student's family, so that the tokenizer check can run before anything loads",
    )
    api_key_env: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Environment variable holding the server's key (vllm serve --api-key); the key itself "
        "is never written in the recipe [default: no key]",
        json_schema_extra=RUN_ONLY,
    )
    timeout: float = Field(
        300.0, gt=0, description="Seconds one request may take", json_schema_extra=RUN_ONLY
    )
    retries: int = Field(
        3,
        ge=0,
        le=20,
        description="Tries again after a refused connection, a timeout or a 5xx answer, waiting 1, 2, 4... "
        "seconds (at most 30); then the training stops with an error naming the URL",
        json_schema_extra=RUN_ONLY,
    )

    def label(self) -> str:
        return f"{self.model} at {self.server}"


class DistillOptions(Options):
    """The ``distill:`` block of the train stage."""

    method: Literal["logit_kd", "on_policy"] = Field(
        description="logit_kd: match the teacher's cached top-k token distributions on the reviewed answers; "
        "on_policy: the student samples answers and the teacher, in memory beside it, scores every token"
    )
    teacher: str | TeacherServer = Field(
        description="The teacher's weights: a local checkpoint directory, a vlkd model directory "
        "(a train stage's model/, with vlkd_model.json: base + adapter), or a hub id already downloaded; "
        "or a vLLM server: {server: URL, model: NAME, api_key_env: VAR}. "
        "It must share the student's tokenizer (same family and vocabulary)",
    )
    alpha: float = Field(
        0.5, ge=0, le=1, description="Weight of the divergence; 1 - alpha weighs cross-entropy on the answers"
    )
    temperature: float = Field(
        1.0,
        ge=0.01,
        le=100,
        description="Softmax temperature of both distributions, on_policy's sampling too (0.01 to 100: "
        "below, the divergence is NaN in float32; above, both are uniform and the teacher teaches nothing)",
    )
    top_k: int = Field(
        20,
        ge=1,
        le=1000,
        description="logit_kd: teacher tokens kept per answer token (the cache); on_policy with a teacher "
        "server: the top-k the server returns per token, the support of the divergence",
    )
    beta: float = Field(
        0.0,
        ge=0,
        le=1,
        description="0: forward KL(teacher||student); 1: reverse KL; between: generalised JSD (TRL's beta; "
        "its DistillationTrainer defaults to 1 for on-policy, GKDTrainer to 0.5)",
    )
    teacher_batch_size: int = Field(
        8,
        ge=1,
        description="logit_kd: samples per teacher forward pass; with a teacher server (either method): "
        "requests in flight",
        json_schema_extra=RUN_ONLY,
    )
    lmbda: float = Field(
        0.5,
        ge=0,
        le=1,
        description="on_policy: the share of batches whose answers the student samples (TRL's lmbda; "
        "the others are scored on the reviewed answers)",
    )
    max_new_tokens: int = Field(
        128, ge=1, le=8192, description="on_policy: the longest answer the student samples, in tokens"
    )

    @field_validator("teacher")
    @classmethod
    def _named(cls, value: str | TeacherServer) -> str | TeacherServer:
        if isinstance(value, str) and not value.strip():
            raise ValueError("name the teacher: a checkpoint, a hub id, or {server: URL, model: NAME}")
        return value

    def as_trained(self) -> dict[str, object]:
        """The options the method reads, for ``vlkd_model.json`` and the manifest."""
        server = isinstance(self.teacher, TeacherServer)
        return {
            k: v
            for k, v in self.model_dump(mode="json").items()
            if ONLY_FOR.get(k, (self.method,))[0] == self.method or (server and k in SERVER_READS)
        }

    @field_validator(*ONLY_FOR)
    @classmethod
    def _option_of_the_method(cls, value: object, info: ValidationInfo) -> object:
        """Runs for the options a recipe sets (defaults are not validated): the recipe's line."""
        name = str(info.field_name)
        method, why = ONLY_FOR[name]
        given = info.data.get("method")
        if name in SERVER_READS and isinstance(info.data.get("teacher"), TeacherServer):
            return value
        if given is not None and given != method:
            raise ValueError(f"an option of method: {method}, not {given} ({why})")
        return value
