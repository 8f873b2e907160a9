"""Options every teacher section accepts (the core services), and those of API teachers.

A third-party teacher subclasses :class:`TeacherOptions` (or :class:`APITeacherOptions` for a
hosted model) and gets concurrency, rate limits, retries, the response cache, prompts, output
parsing, negatives and cost accounting from the core teach driver for free.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_serializer, field_validator

from vlkd.core.options import RUN_ONLY, Options, PluginOptions, RecipePath

REDACTED = "***"
#: URL query names whose values are not secrets (everything else is redacted where written)
PUBLIC_QUERY = frozenset({"api-version", "api_version", "version", "model", "deployment"})


def url_secrets(url: str | None) -> list[str]:
    """The secrets inside a URL: the password of ``user:KEY@host`` and query values not known public."""
    if not url:
        return []
    parts = urlsplit(url)
    out = [parts.password] if parts.password else []
    out += [v for k, v in parse_qsl(parts.query) if k.lower() not in PUBLIC_QUERY and v]
    auth = url_basic_auth(url)[1] if parts.password else None
    return out + ([auth.removeprefix("Basic ")] if auth else [])


def redact_url(url: str | None) -> str | None:
    """``url`` safe to write out: ``user:KEY@`` and secret query values become ``***``."""
    if not url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password:
        netloc = f"{parts.username}:{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = [(k, v if k.lower() in PUBLIC_QUERY else REDACTED) for k, v in parse_qsl(query, True)]
        query = urlencode(pairs, safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def url_basic_auth(url: str | None) -> tuple[str | None, str | None]:
    """``url`` without its ``user:password@``, and those as an ``Authorization: Basic`` value.

    The SDKs' HTTP clients disagree about credentials in a URL (httpx sends them as basic auth in
    place of the bearer key, aiohttp refuses the request because the SDK also sets an
    Authorization header): a teacher sends the header itself, to a URL that holds no secret.
    """
    if not url:
        return url, None
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    import base64
    from urllib.parse import unquote

    user_pass = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    host = parts.netloc.rsplit("@", 1)[1]
    bare = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return bare, "Basic " + base64.b64encode(user_pass.encode("utf-8")).decode("ascii")


def redact_query(query: dict[str, str]) -> dict[str, str]:
    return {k: v if k.lower() in PUBLIC_QUERY else REDACTED for k, v in query.items()}


class Price(Options):
    """US dollars per million tokens."""

    input: float = Field(ge=0, description="$ per 1M input tokens")
    output: float = Field(ge=0, description="$ per 1M output tokens")


class PromptOptions(Options):
    """Which prompt files are sent; see ``vlkd/plugins/teach/prompts/``."""

    language: Literal["zh", "en"] = Field(
        default="zh", description="built-in prompts: zh (the seed's Chinese prompt) or en"
    )
    system: RecipePath | None = Field(
        default=None, description="a system prompt file (overrides the built-ins)"
    )
    user: RecipePath | None = Field(default=None, description="a text file sent with the image")
    by_category: bool = Field(
        default=True,
        description="use the built-in pack of the image's category "
        "(part_recognition, fault_diagnosis, manual_parsing)",
    )
    categories: dict[str, RecipePath] = Field(
        default_factory=dict, description="category -> system prompt file (overrides the built-in packs)"
    )
    variables: dict[str, str] = Field(
        default_factory=dict, description="extra ${name} values for the prompts"
    )


class TeacherOptions(PluginOptions):
    """Service options shared by every teacher."""

    concurrency: int = Field(
        default=8, ge=1, le=1024, json_schema_extra=RUN_ONLY, description="requests in flight at once"
    )
    rpm: float | None = Field(
        default=None, gt=0, json_schema_extra=RUN_ONLY, description="requests per minute (client-side limit)"
    )
    tpm: float | None = Field(
        default=None,
        gt=0,
        json_schema_extra=RUN_ONLY,
        description="tokens per minute (client-side limit, estimated before each call)",
    )
    max_retries: int = Field(
        default=6,
        ge=0,
        json_schema_extra=RUN_ONLY,
        description="retries of one call after 5xx, timeouts and dropped connections",
    )
    rate_limit_retries: int = Field(
        default=100,
        ge=0,
        json_schema_extra=RUN_ONLY,
        description="retries of one call after 429 (rate limited)",
    )
    retry_initial_delay: float = Field(
        default=1.0,
        ge=0,
        json_schema_extra=RUN_ONLY,
        description="first backoff delay in seconds (doubles, with jitter)",
    )
    retry_max_delay: float = Field(
        default=60.0, ge=0, json_schema_extra=RUN_ONLY, description="longest backoff delay in seconds"
    )
    timeout: float = Field(default=120.0, gt=0, json_schema_extra=RUN_ONLY, description="seconds per call")
    max_cost: float | None = Field(
        default=None,
        ge=0,
        json_schema_extra=RUN_ONLY,
        description="US$ budget of the stage: stops cleanly before exceeding it",
    )
    prices: dict[str, Price] = Field(
        default_factory=dict,
        json_schema_extra=RUN_ONLY,
        description="model -> price per 1M tokens (adds to or overrides the built-ins)",
    )
    parse_retries: int = Field(default=2, ge=0, description="new calls when a response cannot be parsed")
    on_error: Literal["skip", "fail"] = Field(
        default="skip", description="a failed image: record it and go on (skip), or stop the stage (fail)"
    )
    max_failed_share: float = Field(
        default=0.2,
        ge=0,
        le=1,
        json_schema_extra=RUN_ONLY,
        description="the stage ends as failed (exit status 2, the count said) when a larger share of "
        "its images failed; their pairs are kept and a re-run asks the failed images again",
    )
    output: Literal["csv", "json"] = Field(
        default="csv", description="answer format asked of the teacher: csv (the seed's) or json (structured)"
    )
    negative_answer: str = Field(
        default="不存在", min_length=1, description="the answer of a question about absent information"
    )
    negative_ratio: float | None = Field(
        default=None,
        ge=0,
        lt=1,
        description="target share of negative pairs: asked for in the prompt, extra negatives dropped",
    )
    categories: list[str] | None = Field(
        default=None,
        description="teach only images of these categories [default: all]; the others get no pairs "
        "from this teacher (experts may add theirs in review)",
    )
    prompt: PromptOptions = Field(default_factory=PromptOptions)
    image: Literal["original", "student"] = Field(
        default="original",
        description="the image the teacher sees: original (as preprocessed), or student (resized to the "
        "student's resolution, the train stage's image_min_pixels..image_max_pixels: the teacher "
        "sees what the student sees)",
    )


class APITeacherOptions(TeacherOptions):
    """A hosted model: which one, where, with which key, and how it generates."""

    model: str = Field(description="model name, e.g. gpt-4o")
    base_url: str | None = Field(default=None, description="API endpoint (vLLM, SGLang, Ollama, Azure, ...)")
    api_key: SecretStr | None = Field(
        default=None,
        json_schema_extra=RUN_ONLY,
        description="key; write ${env:NAME}, never the key itself [default: the provider's usual variable]",
    )
    temperature: float | None = Field(default=1.0, ge=0, le=2, description="sampling temperature")
    max_tokens: int = Field(default=2048, ge=1, description="longest answer in tokens")
    extra: dict[str, object] = Field(default_factory=dict, description="extra request fields, passed through")
    ocr_context: bool = Field(default=False, description="add offline OCR text to the prompt as a hint")
    mode: Literal["online", "batch", "batch_file"] = Field(
        default="online",
        json_schema_extra=RUN_ONLY,
        description="online: one call per image; batch: the provider's Batch API (half price, results "
        "within 24 h); batch_file: write an OpenAI-format batch file for `vllm run-batch` and read its "
        "output",
    )
    batch_poll_interval: float = Field(
        default=30.0,
        gt=0,
        json_schema_extra=RUN_ONLY,
        description="seconds between two looks at open batches",
    )
    batch_retries: int = Field(
        default=2,
        ge=0,
        json_schema_extra=RUN_ONLY,
        description="follow-up batches for items that errored, expired or were cancelled",
    )
    batch_max_requests: int | None = Field(
        default=None,
        ge=1,
        json_schema_extra=RUN_ONLY,
        description="fewer requests per batch than the provider allows (smaller chunks finish sooner)",
    )

    @field_serializer("base_url", when_used="json")
    def _redact_base_url(self, value: str | None) -> str | None:
        # what reaches manifest.json and the fingerprint: never a password or a key in the URL
        return redact_url(value)

    @field_validator("api_key")
    @classmethod
    def _no_blank_key(cls, value: SecretStr | None) -> SecretStr | None:
        # ${env:OPENAI_API_KEY,} gives "" when the variable is unset: fall back to the default
        if value is not None and not value.get_secret_value().strip():
            return None
        return value
