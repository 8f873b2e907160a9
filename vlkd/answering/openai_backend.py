"""The ``openai`` backend: any OpenAI-compatible server, e.g. vLLM serving the base student
with the LoRA adapter (``vllm serve BASE --enable-lora --lora-modules tuned=ADAPTER``).

The base and tuned students are two model names on the server, or on two servers
(``tuned_base_url``: a merged model served on its own). Images are prepared as in training and
sent inline as PNG data URLs; decoding is greedy (temperature 0).

A server that cannot answer at all stops the stage at once with one message, as the teach
stage does: before the first question the backend lists the server's models (when it has
``/v1/models``, as vLLM does) and asks one question per student; a refused connection, a
401/403, or a 404 for the model name raises :class:`ServerGone`, which the item loop does not
catch (it is not an ``Exception``), so no further item is tried. Finished answers stay in the
ledger and a re-run continues from them.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from vlkd.answering.answers import clean_answer
from vlkd.answering.images import data_url, load_student_image

if TYPE_CHECKING:
    from vlkd.answering.items import EvalItem, ModelInfo


#: the SDK's own retries of one question (a connection reset, a 5xx)
MAX_RETRIES = 2


class ServerGone(BaseException):  # a stop signal, like KeyboardInterrupt, not an Exception
    """Asking again cannot help: the stage stops with ``message``."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def safe_url(url: str | None) -> str | None:
    """``url`` without user:password and query (what may be written to metrics.json and the report)."""
    if not url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _server_message(exc: Exception) -> str:
    """The server's own words from an SDK error (``error.message`` of the body), else the SDK's."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        if isinstance(inner.get("message"), str):
            return inner["message"][:300]
    return str(getattr(exc, "message", exc))[:300]


class OpenAIStudent:
    def __init__(
        self,
        model: ModelInfo,
        *,
        base_url: str | None,
        tuned_base_url: str | None = None,
        api_key: str | None,
        api_key_env: str,
        model_names: dict[str, str],
        max_new_tokens: int,
        system_prompt: str | None,
        timeout: float,
    ):
        self.info = model
        self.base_url = base_url
        self.shown_url = safe_url(base_url)
        #: each student's server, and the option that names it
        self.urls = {"base": base_url, "tuned": tuned_base_url or base_url}
        self.url_options = {
            "base": "evaluate.base_url",
            "tuned": "evaluate.tuned_base_url" if tuned_base_url else "evaluate.base_url",
        }
        self.api_key = api_key or os.environ.get(api_key_env) or "EMPTY"  # vLLM accepts any key
        self.api_key_env = api_key_env
        self.model_names = model_names
        self.max_new_tokens = max_new_tokens
        self.system_prompt = system_prompt
        self.timeout = timeout
        #: what the servers said about themselves: their model lists (by URL), and the model id of
        #: each student's answers
        self.served: dict[str | None, list[str]] = {}
        self.returned: dict[str, str] = {}
        self._clients: dict[str | None, Any] = {}
        self._lock = threading.Lock()

    @property
    def call_limit_s(self) -> float:
        """The longest one answer takes: the SDK's timeout, for each of its tries."""
        return self.timeout * (1 + MAX_RETRIES)

    @property
    def served_models(self) -> list[str] | None:
        return self.served.get(self.base_url)

    def _url(self, system: str | None) -> str | None:
        return self.urls.get(system or "base", self.base_url)

    def _client_(self, system: str | None = None):
        url = self._url(system)
        with self._lock:
            if url not in self._clients:
                import openai

                self._clients[url] = openai.OpenAI(
                    base_url=url, api_key=self.api_key, timeout=self.timeout, max_retries=MAX_RETRIES
                )
            return self._clients[url]

    def describe(self) -> dict[str, Any]:
        """What was evaluated, for metrics.json: the server and the names it answered under."""
        students: dict[str, Any] = {}
        for system, name in self.model_names.items():
            if not name:
                continue
            students[system] = {"model_name": name, "server_model": self.returned.get(system)}
            url = self._url(system)
            if url != self.base_url:  # a server of its own
                students[system].update(base_url=safe_url(url), served_models=self.served.get(url))
        return {
            "backend": "openai",
            "base_url": self.shown_url,
            "served_models": self.served_models,
            "students": students,
            "image_min_pixels": self.info.min_pixels,
            "image_max_pixels": self.info.max_pixels,
        }

    # -- the first contact --------------------------------------------------------------------
    def check_models(self, systems: list[str]) -> None:
        """``/v1/models`` where a server has it: every student's name must be served by its server."""
        import openai

        for system in systems:
            url = self._url(system)
            if url not in self.served:
                try:
                    self.served[url] = [m.id for m in self._client_(system).models.list()]
                except openai.NotFoundError:
                    continue  # no model list on this server: the first question tells
                except openai.APIError as exc:
                    stop = self._fatal(exc, system, listing=True)
                    if stop is None:  # a slow or passing failure: the first question tells
                        continue
                    raise stop from None
            served = self.served[url]
            name = self.model_names.get(system) or ""
            if name not in served:
                from vlkd.api import did_you_mean

                raise ServerGone(
                    f"the server at {safe_url(url)} does not serve '{name}' (evaluate.{system}_model_name)"
                    f"{did_you_mean(name, served)}; it serves: {', '.join(served) or 'nothing'}"
                )

    def _fatal(self, exc: Exception, system: str | None, *, listing: bool = False) -> ServerGone | None:
        """The stop for errors that asking again cannot fix, else ``None``; ``listing``: the error
        came from the model list, before any question (no model name is to blame)."""
        import openai

        option = self.url_options.get(system or "base", "evaluate.base_url")
        where = f"the OpenAI-compatible server at {safe_url(self._url(system))}"
        if listing:
            system = None
        name = self.model_names.get(system or "") or ""
        said = _server_message(exc)
        if isinstance(exc, openai.APITimeoutError):  # one slow answer: this item fails, the next may not
            return None
        if isinstance(exc, openai.APIConnectionError):  # refused, reset, DNS: after the SDK's retries
            return ServerGone(f"cannot reach {where} ({type(exc).__name__}); start it, or fix {option}")
        if isinstance(exc, openai.AuthenticationError):
            return ServerGone(
                f"{where} refused the key (401); set {self.api_key_env} or evaluate.api_key_env"
            )
        if isinstance(exc, openai.PermissionDeniedError):
            return ServerGone(f"{where} does not allow this key to use '{name}' (403)")
        if isinstance(exc, openai.NotFoundError):
            if system and name and name in said:  # the server named the model it does not have
                return ServerGone(
                    f"{where} has no model '{name}' (404: {said}); check evaluate.{system}_model_name"
                )
            return ServerGone(  # no such route: usually a base_url without /v1
                f"{where} answered 404 ({said}); check {option} (an OpenAI-compatible "
                f"server's usually ends in /v1)" + (f" and evaluate.{system}_model_name" if system else "")
            )
        if isinstance(exc, openai.BadRequestError) and name and name in said:
            return ServerGone(f"{where} refused the model '{name}' (400: {said})")
        return None

    # -- answers -------------------------------------------------------------------------------
    def generate(self, system: str, items: list[EvalItem]) -> list[str]:
        return [self.answer(system, it) for it in items]

    def model_name(self, system: str) -> str:
        name = self.model_names.get(system)
        if not name:
            raise ServerGone(
                f"evaluate: no model name for the {system} student; set evaluate.{system}_model_name"
            )
        return name

    def request_body(self, system: str, item: EvalItem) -> dict[str, Any]:
        """The chat request for ``item`` (what the SDK posts; the ray_llm backend posts the same)."""
        info = self.info
        # as training handed it to the processor, then at the size that processor makes of it: a
        # server resizes by its own pixel limits, and a prescaled image sent as it was came out on
        # another grid than the transformers backend's in 65% of 2,000 random sizes (demo limits)
        image = load_student_image(item.image, info.family, info.min_pixels, info.max_pixels, info.prescale)
        image = info.family.server_image(image, info.min_pixels, info.max_pixels)
        messages: list[dict[str, Any]] = []
        if self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": data_url(image)}},
                    {"type": "text", "text": item.question},
                ],
            }
        )
        return {
            "model": self.model_name(system),
            "messages": messages,
            "temperature": 0,
            "max_tokens": self.max_new_tokens,
        }

    def answer(self, system: str, item: EvalItem) -> str:
        import openai

        body = self.request_body(system, item)
        try:
            resp = self._client_(system).chat.completions.create(**body)
        except openai.APIError as exc:
            stop = self._fatal(exc, system)
            if stop is not None:
                raise stop from None
            raise RuntimeError(f"{type(exc).__name__}: {getattr(exc, 'message', exc)}") from None
        with self._lock:
            self.returned.setdefault(system, resp.model)
        return clean_answer(resp.choices[0].message.content or "")
