"""Claude through the Anthropic Messages API (base64 image blocks; JSON through tool use)."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from vlkd.api import APITeacherOptions, TeachRequest, TeachResponse
from vlkd.plugins.teach.api_teacher import APITeacher

if TYPE_CHECKING:
    from vlkd.api import StageContext

TOOL_NAME = "record_pairs"


class AnthropicOptions(APITeacherOptions):
    model: str = Field(default="claude-sonnet-4-6", description="Claude model name")
    temperature: float | None = Field(
        default=None, ge=0, le=1, description="sampling temperature (0..1) [default: the model's]"
    )
    mode: Literal["online", "batch"] = Field(
        default="online",
        json_schema_extra={"fingerprint": False},
        description="online: one call per image; batch: the Message Batches API (half price, within 24 h)",
    )


class AnthropicTeacher(APITeacher):
    """Anthropic Messages API: Claude with base64 image blocks."""

    Options = AnthropicOptions
    options: AnthropicOptions
    sdk = "anthropic"
    sdk_modules = ("anthropic.resources.messages",)
    requires = ("anthropic",)
    extra = "anthropic"
    key_env = "ANTHROPIC_API_KEY"
    #: $ per 1M tokens (list prices as of 2025; names match by prefix; check and override with teach.prices).
    #: Every Sonnet so far has cost $3/$15: "claude-sonnet" covers the newer ones until a price differs.
    PRICES: ClassVar[dict[str, dict[str, float]]] = {
        "claude-sonnet": {"input": 3.0, "output": 15.0},
        "claude-sonnet-4": {"input": 3.0, "output": 15.0},
        "claude-opus-4-5": {"input": 5.0, "output": 25.0},
        "claude-3-7-sonnet": {"input": 3.0, "output": 15.0},
        "claude-3-5-sonnet": {"input": 3.0, "output": 15.0},
        "claude-haiku-4-5": {"input": 1.0, "output": 5.0},
        "claude-3-5-haiku": {"input": 0.8, "output": 4.0},
        "claude-3-haiku": {"input": 0.25, "output": 1.25},
        "claude-opus-4": {"input": 15.0, "output": 75.0},
    }

    def image_tokens(self, width: int, height: int) -> tuple[int, tuple[int, int] | None]:
        from vlkd.plugins.teach.image_tokens import anthropic_image_tokens

        return anthropic_image_tokens(width, height, self.options.model)

    def make_client(self, key: str) -> Any:
        import anthropic

        return anthropic.AsyncAnthropic(
            api_key=key, base_url=self.options.base_url, timeout=self.options.timeout, max_retries=0
        )

    def request_body(self, request: TeachRequest) -> dict[str, Any]:
        content: list[dict[str, Any]] = [
            {
                "type": "image",
                "source": {
                    "type": "base64",
                    "media_type": request.mime,
                    "data": base64.b64encode(request.image_bytes).decode(),
                },
            }
        ]
        if request.user:
            content.append({"type": "text", "text": request.user})
        body: dict[str, Any] = {
            "model": self.options.model,
            "max_tokens": request.max_tokens or self.options.max_tokens,
            "messages": [{"role": "user", "content": content}],
        }
        if request.system:
            body["system"] = request.system
        if request.output == "json" and request.schema is not None:
            body["tools"] = [
                {
                    "name": TOOL_NAME,
                    "description": "Record the question/answer pairs about the image",
                    "input_schema": request.schema,
                }
            ]
            body["tool_choice"] = {"type": "tool", "name": TOOL_NAME}
        return body

    def sampling(self) -> dict[str, Any]:
        # newer SDKs no longer take sampling parameters as arguments: they go in the body as is
        extra = dict(self.options.extra)
        if self.options.temperature is not None:
            extra.setdefault("temperature", self.options.temperature)
        return extra

    async def respond(self, request: TeachRequest) -> TeachResponse:
        import anthropic

        extra = self.sampling()
        try:
            msg = await self.client.messages.create(**self.request_body(request), extra_body=extra or None)
        except anthropic.AnthropicError as exc:
            raise self.sdk_error(exc, anthropic) from None
        return self.response_from(msg)

    def response_from(self, msg: Any) -> TeachResponse:
        """A Message (online, or a batch result) as the core's response."""
        text = "".join(b.text for b in msg.content if b.type == "text")
        data = next((b.input for b in msg.content if b.type == "tool_use"), None)
        return TeachResponse(
            text=text,
            data=data,
            model=msg.model,
            input_tokens=msg.usage.input_tokens,
            output_tokens=msg.usage.output_tokens,
            extra={"stop_reason": msg.stop_reason, "truncated": msg.stop_reason == "max_tokens"},
        )

    def batch_api(self, ctx: StageContext) -> Any:
        from vlkd.plugins.teach.anthropic_batch import AnthropicBatches

        return AnthropicBatches(self) if self.options.mode == "batch" else None
