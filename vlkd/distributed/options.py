"""The options of a model run through Ray Data LLM (no Ray import: the recipe and its schema use them)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from vlkd.core.options import Options


class RayLLMOptions(Options):
    """How Ray Data LLM runs a model (``teach.mode: ray_llm``); none of it changes an answer's cache key."""

    engine: Literal["http", "vllm"] = Field(
        default="http",
        description="http: Ray Data LLM's HTTP processor against base_url (any OpenAI-compatible "
        "server); vllm: vLLM engines on the Ray cluster's GPUs, serving model",
    )
    replicas: int = Field(default=1, ge=1, le=4096, description="engines (vllm) or HTTP workers at once")
    batch_size: int = Field(default=16, ge=1, le=4096, description="requests per Ray Data batch")
    tensor_parallel_size: int = Field(default=1, ge=1, le=64, description="vllm: GPUs per engine")
    pipeline_parallel_size: int = Field(
        default=1, ge=1, le=64, description="vllm: pipeline stages per engine"
    )
    max_model_len: int | None = Field(
        default=None, ge=256, description="vllm: longest prompt + answer in tokens"
    )
    gpu_memory_utilization: float = Field(
        default=0.9, gt=0, le=1, description="vllm: share of each GPU's memory"
    )
    accelerator_type: str | None = Field(
        default=None, description="vllm: the GPU type to ask Ray for (e.g. H100)"
    )
    engine_kwargs: dict[str, object] = Field(default_factory=dict, description="vllm: more engine arguments")
    qps: int | None = Field(default=None, ge=1, description="http: requests per second at most")
    max_retries: int = Field(default=2, ge=0, le=20, description="http: retries of a failed request")

    @model_validator(mode="after")
    def _only_for_its_engine(self) -> RayLLMOptions:
        # an engine's option given with the other engine would be ignored without a word
        other = "http" if self.engine == "vllm" else "vllm"
        wrong = sorted(self.model_fields_set & ENGINE_ONLY[other])
        if wrong:
            raise ValueError(
                f"{', '.join(wrong)} appl{'y' if len(wrong) > 1 else 'ies'} to engine: {other} only "
                f"(this engine is {self.engine}); remove {'them' if len(wrong) > 1 else 'it'}, "
                f"or set engine: {other}"
            )
        return self

    def gpus(self) -> int:
        """GPUs the run needs on the cluster at once: every engine's tensor x pipeline stages."""
        if self.engine != "vllm":
            return 0
        return self.replicas * self.tensor_parallel_size * self.pipeline_parallel_size

    def gpus_needed(self, where: str) -> tuple[int, str] | None:
        """(GPUs, what asks for them) for the executor's check before any work starts."""
        n = self.gpus()
        if not n:
            return None
        return n, (
            f"{where}.ray_llm: {self.replicas} vLLM engine(s) x {self.tensor_parallel_size} tensor x "
            f"{self.pipeline_parallel_size} pipeline"
        )


#: the options of one engine only
ENGINE_ONLY = {
    "vllm": {
        "tensor_parallel_size",
        "pipeline_parallel_size",
        "max_model_len",
        "gpu_memory_utilization",
        "accelerator_type",
        "engine_kwargs",
    },
    "http": {"qps", "max_retries"},
}
