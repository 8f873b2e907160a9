"""GPT-4o, or any OpenAI-compatible server (vLLM, SGLang, Ollama, LM Studio, Azure) via ``base_url``."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_serializer

from vlkd.api import (
    PUBLIC_QUERY,
    RUN_ONLY,
    APITeacherOptions,
    TeachRequest,
    TeachResponse,
    redact_query,
    url_basic_auth,
)
from vlkd.distributed.options import RayLLMOptions
from vlkd.plugins.teach.api_teacher import APITeacher

if TYPE_CHECKING:
    from vlkd.api import StageContext


class OpenAIOptions(APITeacherOptions):
    model: str = Field(default="gpt-4o", description="model name (what the server calls it)")
    mode: Literal["online", "batch", "batch_file", "ray_llm"] = Field(
        default="online",
        json_schema_extra=RUN_ONLY,
        description="online: one call per image; batch: the provider's Batch API (half price, results "
        "within 24 h); batch_file: write an OpenAI-format batch file for `vllm run-batch` and read its "
        "output; ray_llm: the batches through Ray Data LLM (see ray_llm)",
    )
    ray_llm: RayLLMOptions = Field(
        default_factory=RayLLMOptions,
        json_schema_extra=RUN_ONLY,
        description="mode: ray_llm: the engine (http or vllm), replicas, batch size, GPUs per engine",
    )
    detail: Literal["auto", "low", "high"] = Field(default="auto", description="image detail level")
    headers: dict[str, SecretStr] = Field(
        default_factory=dict,
        json_schema_extra={"fingerprint": False},
        description="extra HTTP headers (e.g. Azure's api-key: ${env:AZURE_KEY}); secret, never written out",
    )
    query: dict[str, str] = Field(
        default_factory=dict, description="extra URL query (e.g. Azure api-version)"
    )

    @field_serializer("query", when_used="json")
    def _redact_query(self, value: dict[str, str]) -> dict[str, str]:
        return redact_query(value)

    http_backend: Literal["httpx", "aiohttp"] = Field(
        default="aiohttp",
        json_schema_extra={"fingerprint": False},
        description="the SDK's HTTP client: aiohttp (less CPU per call: 92% of the ideal throughput at "
        "concurrency 32 against httpx's 86%) or "
        "httpx (the SDK's own default)",
    )


class OpenAITeacher(APITeacher):
    """OpenAI chat completions: GPT-4o, or any compatible server via base_url."""

    Options = OpenAIOptions
    options: OpenAIOptions
    sdk = "openai"
    # online calls are the client's own POST (no endpoint module, no response type); the batch
    # endpoints import theirs when first used
    sdk_modules = ()
    #: re-exports of about 400 type modules (half the SDK's import), read by nothing vlkd calls
    sdk_deferred = ("openai.types", "openai.types.chat", "openai.types.responses", "openai.lib")
    requires = ("openai", "aiohttp")
    extra = "openai"
    key_env = "OPENAI_API_KEY"
    #: $ per 1M tokens (2025 list prices; override with teach.prices)
    PRICES: ClassVar[dict[str, dict[str, float]]] = {
        "gpt-4o": {"input": 2.5, "output": 10.0},
        "gpt-4o-2024-05-13": {"input": 5.0, "output": 15.0},
        "gpt-4o-mini": {"input": 0.15, "output": 0.6},
        "gpt-4.1": {"input": 2.0, "output": 8.0},
        "gpt-4.1-mini": {"input": 0.4, "output": 1.6},
        "gpt-4.1-nano": {"input": 0.1, "output": 0.4},
        "gpt-5": {"input": 1.25, "output": 10.0},
        "gpt-5-mini": {"input": 0.25, "output": 2.0},
    }

    def generation_params(self) -> dict[str, Any]:
        return {**super().generation_params(), "detail": self.options.detail}

    def image_tokens(self, width: int, height: int) -> tuple[int, tuple[int, int] | None]:
        from vlkd.plugins.teach.image_tokens import openai_image_tokens

        return openai_image_tokens(width, height, self.options.detail, self.options.model)

    def secrets(self) -> list[str]:
        values = [v.get_secret_value() for v in self.options.headers.values()]
        values += [v for k, v in self.options.query.items() if k.lower() not in PUBLIC_QUERY]
        return super().secrets() + [v for v in values if len(v) >= 8]

    def make_client(self, key: str) -> Any:
        import openai

        http_client = openai.DefaultAioHttpClient() if self.options.http_backend == "aiohttp" else None
        headers = {k: v.get_secret_value() for k, v in self.options.headers.items()}
        # a proxy's user:password in base_url: its basic auth replaces the bearer key (as httpx
        # does it by itself), sent as a header to a URL without them, over either HTTP client
        base_url, basic = url_basic_auth(self.options.base_url)
        if basic is not None and not any(k.lower() == "authorization" for k in headers):
            headers["Authorization"] = basic
        return openai.AsyncOpenAI(
            api_key=key,
            base_url=base_url,
            timeout=self.options.timeout,
            max_retries=0,
            default_headers=headers or None,
            default_query=self.options.query or None,
            http_client=http_client,
        )

    def request_body(self, request: TeachRequest) -> dict[str, Any]:
        url = f"data:{request.mime};base64,{base64.b64encode(request.image_bytes).decode()}"
        content: list[dict[str, Any]] = []
        if request.user:
            content.append({"type": "text", "text": request.user})
        content.append({"type": "image_url", "image_url": {"url": url, "detail": self.options.detail}})
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.append({"role": "user", "content": content})
        body: dict[str, Any] = {
            "model": self.options.model,
            "messages": messages,
            "max_tokens": request.max_tokens or self.options.max_tokens,
        }
        if self.options.temperature is not None:
            body["temperature"] = self.options.temperature
        if request.output == "json" and request.schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "qa_pairs", "strict": True, "schema": request.schema},
            }
        return body

    def full_body(self, request: TeachRequest) -> dict[str, Any]:
        """The request body as sent: the options' ``extra`` fields included."""
        return {**self.request_body(request), **self.options.extra}

    async def respond(self, request: TeachRequest) -> TeachResponse:
        import openai

        body = self.full_body(request)
        try:
            # the SDK's own POST (auth, errors, retries' headers) without create()'s re-validation
            # of the body (that walk over the base64 image cost more CPU than the rest of the call)
            # and without building a ChatCompletion model from the answer (120 µs a call): the
            # three fields vlkd reads come from the JSON itself
            raw = await self.client.post("/chat/completions", body=body, cast_to=bytes)
        except openai.OpenAIError as exc:
            raise self.sdk_error(exc, openai) from None
        return self.response_from(json.loads(raw))

    def cluster_gpus(self) -> tuple[float, str] | None:
        return self.options.ray_llm.gpus_needed("teach") if self.options.mode == "ray_llm" else None

    def response_from(self, resp: Mapping[str, Any]) -> TeachResponse:
        """A chat completion's JSON (online, or the body of a batch output line) as the core's response."""
        choices = resp.get("choices") or [None]
        choice = choices[0] if isinstance(choices[0], dict) else {}
        message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
        usage = resp.get("usage") if isinstance(resp.get("usage"), dict) else {}
        finish = choice.get("finish_reason")
        return TeachResponse(
            text=message.get("content") or "",
            model=resp.get("model"),
            input_tokens=usage.get("prompt_tokens") or 0,
            output_tokens=usage.get("completion_tokens") or 0,
            extra={"finish_reason": finish, "truncated": finish == "length"},
        )

    def batch_api(self, ctx: StageContext) -> Any:
        from vlkd.plugins.teach.openai_batch import OpenAIBatches, VLLMBatchFile

        if self.options.mode == "batch_file":
            return VLLMBatchFile(self)
        if self.options.mode == "ray_llm":
            from vlkd.distributed.ray_llm import RayLLMBatches

            return RayLLMBatches(self, OpenAIBatches(self).line)
        return OpenAIBatches(self) if self.options.mode == "batch" else None
