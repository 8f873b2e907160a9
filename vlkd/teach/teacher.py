"""The teacher plugin API: one request (an image and its prompt) in, one response out.

A teacher does not loop, sleep, retry or cache: the core teach driver does that for every
teacher. It reports failures by raising :class:`TransientError` (retried with backoff,
honouring ``retry_after``) or :class:`FatalError` (the stage stops with the message: a bad
key, an unknown model, a request the provider refuses). :func:`http_error` turns an HTTP
status into the right one.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from vlkd.core.plugin import Plugin
from vlkd.teach.options import TeacherOptions

if TYPE_CHECKING:
    from vlkd.core.context import StageContext
    from vlkd.core.records import ImageRecord
    from vlkd.teach.batch_api import BatchAPI
    from vlkd.teach.prompts import PromptPack


class TeacherError(Exception):
    """A call failed. ``kind`` groups retries in the stage facts (429, 5xx, timeout, connection)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        kind: str = "error",
    ):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.kind = kind


class TransientError(TeacherError):
    """Worth another try: rate limited, server error, timeout, dropped connection."""


class FatalError(TeacherError):
    """Trying again cannot help (bad key, unknown model, request refused): the stage stops."""


class ItemError(TeacherError):
    """This image's request can never succeed (its prompt exceeds the model's context, it is too
    large), but the others can: the image fails, honouring ``on_error``."""


@dataclass
class TeachRequest:
    """Everything a teacher needs for one image."""

    image: ImageRecord
    image_bytes: bytes
    mime: str
    system: str = ""
    user: str = ""
    output: str = "csv"
    #: JSON schema of the structured answer (``output: json``)
    schema: dict[str, Any] | None = None
    #: a larger answer limit than the options' ``max_tokens`` (asked again after a cut-off answer)
    max_tokens: int | None = None
    #: the size of ``image_bytes`` when it is not the record's (``image: student`` resized it)
    sent_size: tuple[int, int] | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the image as sent."""
        return self.sent_size or (self.image.width, self.image.height)

    @property
    def image_name(self) -> str:
        return self.image.path.rsplit("/", 1)[-1]


@dataclass
class TeachResponse:
    """A teacher's answer: text to parse, or structured ``data``, or ready ``pairs``."""

    text: str = ""
    data: Any = None
    #: already-extracted pairs (offline teachers): [{"question", "answer", "negative"?}]
    pairs: list[dict[str, Any]] | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    model: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "data": self.data,
            "pairs": self.pairs,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "model": self.model,
            "extra": self.extra,
        }

    def cleaned(self) -> TeachResponse:
        """The response with lone surrogates (half an emoji) replaced: storable as UTF-8."""
        self.text = clean_text(self.text or "")
        self.data = clean_text(self.data)
        self.pairs = clean_text(self.pairs)
        self.model = clean_text(self.model)
        return self

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TeachResponse:
        return cls(
            text=data.get("text") or "",
            data=data.get("data"),
            pairs=data.get("pairs"),
            model=data.get("model"),
            input_tokens=data.get("input_tokens") or 0,
            output_tokens=data.get("output_tokens") or 0,
            extra=dict(data.get("extra") or {}),
        )


class Teacher(Plugin):
    """Base of teach plugins. Implement :meth:`respond` (async) or :meth:`respond_sync`."""

    Options: ClassVar[type[TeacherOptions]] = TeacherOptions
    #: the driver renders prompts for this teacher (offline extractors set False)
    uses_prompt: ClassVar[bool] = True
    #: responses may be kept in the run's response cache
    cacheable: ClassVar[bool] = True
    #: built-in prices, $ per 1M tokens: {"model": {"input": x, "output": y}}
    PRICES: ClassVar[dict[str, dict[str, float]]] = {}
    #: the environment variable that holds the key (named in messages)
    key_env: ClassVar[str | None] = None

    options: TeacherOptions

    # -- identity -------------------------------------------------------------------------
    @property
    def model(self) -> str | None:
        return getattr(self.options, "model", None)

    def generation_params(self) -> dict[str, Any]:
        """What besides image, prompt, plugin and model decides the response (part of the cache key)."""
        from vlkd.teach.options import redact_url

        opts = self.options
        params = {
            k: getattr(opts, k) for k in ("temperature", "max_tokens", "extra", "output") if hasattr(opts, k)
        }
        if hasattr(opts, "base_url"):  # a new password in the URL must not make every answer new
            params["base_url"] = redact_url(opts.base_url)
        return params

    def secrets(self) -> list[str]:
        """Strings that must never reach a file or a log (redacted from error messages)."""
        key = getattr(self.options, "api_key", None)
        return [key.get_secret_value()] if key is not None else []

    def estimate_tokens(self, request: TeachRequest) -> tuple[int, int]:
        """(input, most output) tokens of a call, for rate limits, budgets and --dry-run."""
        text = request.system + request.user
        width, height = request.size
        return self.image_tokens(width, height)[0] + text_tokens(text), getattr(self.options, "max_tokens", 0)

    def image_tokens(self, width: int, height: int) -> tuple[int, tuple[int, int] | None]:
        """(input tokens of an image sent at this size, the size the provider scales it down to
        first, or None when it keeps it). A provider's teacher gives its own rule."""
        return image_tokens(width, height), None

    def fingerprint(self) -> Any:
        """The prompt files' contents: editing one re-runs the stage."""
        if not self.uses_prompt:
            return None
        from vlkd.teach.prompts import PromptSet

        return {"prompts": PromptSet(self.options, self.prompt_pack()).fingerprint()}

    def prompt_pack(self) -> PromptPack | None:
        """The prompt files and words this teacher uses (``None``: it renders no prompts).

        A teacher that wants the built-in prompts returns
        ``vlkd.plugins.teach.prompts.automotive_pack()``."""
        return None

    def batch_api(self, ctx: StageContext) -> BatchAPI | None:
        """The provider's batch endpoints for ``mode: batch`` / ``batch_file`` (None: online only).

        Called after :meth:`start`, inside the running event loop."""
        return None

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self, ctx: StageContext, images: Sequence[ImageRecord]) -> None:
        """Open clients (inside the running event loop), load what the teacher needs."""

    def has_prompt_variables(self) -> bool:
        """True when :meth:`prompt_variables` adds anything (the driver then caches its result)."""
        return False

    async def prompt_variables(self, request: TeachRequest) -> dict[str, str]:
        """Extra ``${name}`` values for this image's prompt (e.g. OCR text); deterministic per image."""
        return {}

    async def respond(self, request: TeachRequest) -> TeachResponse:
        return await asyncio.to_thread(self.respond_sync, request)

    def respond_sync(self, request: TeachRequest) -> TeachResponse:
        raise NotImplementedError(f"{type(self).__name__} must implement respond() or respond_sync()")

    async def close(self) -> None:
        """Close clients."""


# -- helpers for plugins ------------------------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(value: Any) -> Any:
    """``value`` (a string, or lists and dicts of them) with every lone surrogate replaced by U+FFFD.

    A server that cuts an emoji in half sends ``\\ud83d`` alone; Python reads it, but no UTF-8
    file can hold it, so the answer could be neither cached nor journalled.
    """
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value
    if isinstance(value, list):
        return [clean_text(v) for v in value]
    if isinstance(value, dict):
        return {clean_text(k): clean_text(v) for k, v in value.items()}
    return value


@functools.lru_cache(maxsize=1024)
def text_tokens(text: str) -> int:
    """A rough token count: CJK characters about one each, other text about four characters each.

    Kept per text: the same rendered prompt comes with every image of a category, and counting
    it character by character cost the event loop 0.3 ms per call."""
    cjk = sum(1 for ch in text if ord(ch) >= 0x2E80)
    return cjk + (len(text) - cjk + 3) // 4


def image_tokens(width: int, height: int) -> int:
    """OpenAI's high-detail rule (85 + 170 per 512-px tile after scaling), a fair estimate for others."""
    w: float = max(width, 1)
    h: float = max(height, 1)
    scale = min(1.0, 2048 / max(w, h))
    w, h = w * scale, h * scale
    scale = min(1.0, 768 / min(w, h))
    w, h = w * scale, h * scale
    tiles = -(-int(w) // 512) * -(-int(h) // 512)
    return 85 + 170 * tiles


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    if not headers:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = lower.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


#: how servers say that a prompt does not fit (vLLM, OpenAI, Anthropic, SGLang, llama.cpp)
_CONTEXT_EXCEEDED = re.compile(
    r"maximum context length|context_length_exceeded|prompt is too long|longer than the maximum model "
    r"length|exceeds the (?:model's )?(?:maximum )?context|context window|too many tokens",
    re.I,
)


def http_error(
    status: int,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    model: str | None = None,
    url: str | None = None,
    key_env: str | None = None,
    code: str | None = None,
) -> TeacherError:
    """The error a teacher raises for an HTTP status: retried (429, 408, 409, 5xx) or fatal."""
    where = f" from {url}" if url else ""
    if status == 429 and code == "insufficient_quota":
        return FatalError(
            f"429 quota exhausted{where}: {message} (check the plan and billing of the account)",
            status=status,
        )
    if status == 429:
        return TransientError(
            f"429 rate limited{where}: {message}",
            status=status,
            retry_after=retry_after_seconds(headers),
            kind="429",
        )
    if status in (408, 409) or status >= 500:
        return TransientError(
            f"{status} server error{where}: {message}",
            status=status,
            retry_after=retry_after_seconds(headers),
            kind="5xx" if status >= 500 else str(status),
        )
    if status == 413 or (status == 400 and _CONTEXT_EXCEEDED.search(f"{code or ''} {message}")):
        what = "the image is too large" if status == 413 else "the prompt exceeds the model's context"
        return ItemError(
            f"{status}{where}: {message} ({what}: resize it in preprocess, or image: student)",
            status=status,
            kind="too_large",
        )
    hint = {
        401: f"bad or missing API key: set {key_env or 'the key variable'} or teach.api_key: ${{env:NAME}}",
        403: "the key is not allowed to use this model or endpoint",
        404: f"unknown model '{model}' or wrong base_url",
        400: "the provider refused the request (an image too large or an unsupported option?)",
    }.get(status, "the provider refused the request")
    return FatalError(f"{status}{where}: {message} ({hint})", status=status)
