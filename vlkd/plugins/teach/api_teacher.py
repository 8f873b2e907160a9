"""What the hosted-model teachers share: the key, OCR context, SDK errors to core errors."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib
import importlib.util
import os
import threading
from typing import TYPE_CHECKING, Any, ClassVar

from vlkd.api import (
    APITeacherOptions,
    BatchAPI,
    PromptPack,
    StageError,
    Teacher,
    TeacherError,
    TransientError,
    http_error,
    redact_url,
    url_secrets,
)
from vlkd.plugins.teach.deferred_import import import_deferring
from vlkd.plugins.teach.prompts import automotive_pack

if TYPE_CHECKING:
    from collections.abc import Sequence

    from vlkd.api import ImageRecord, StageContext, TeachRequest


class APITeacher(Teacher):
    Options = APITeacherOptions
    options: APITeacherOptions
    #: a key is needed unless base_url points elsewhere (local servers accept any key)
    key_env: ClassVar[str | None] = None
    client: Any = None
    #: the SDK's module, imported in a thread from :meth:`warm_up` (the run's start) or :meth:`start`
    sdk: ClassVar[str] = ""
    #: the SDK's modules of the endpoints used (its client imports them at the first call)
    sdk_modules: ClassVar[tuple[str, ...]] = ()
    #: the SDK's packages whose ``__init__`` (re-exports of types vlkd does not use) runs only
    #: when something reads it (see :mod:`~vlkd.plugins.teach.deferred_import`)
    sdk_deferred: ClassVar[tuple[str, ...]] = ()
    #: the SDK's import and the client, under way in :meth:`warm_up`'s thread: (key, client)
    _preparing: concurrent.futures.Future | None = None
    #: the run's cache directory: OCR for ocr_context is read once per page and shared
    ocr_cache: Any = None

    def resolved_key(self) -> str | None:
        if self.options.api_key is not None:
            return self.options.api_key.get_secret_value()
        return os.environ.get(self.key_env) if self.key_env else None

    def secrets(self) -> list[str]:
        key = self.resolved_key()
        return ([key] if key else []) + url_secrets(self.options.base_url)

    def prompt_pack(self) -> PromptPack:
        return automotive_pack()

    def generation_params(self) -> dict[str, Any]:
        params = super().generation_params()
        params["ocr_context"] = self.options.ocr_context
        return params

    def make_client(self, key: str) -> Any:
        raise NotImplementedError

    def key_to_use(self) -> str | None:
        """The key sent (``EMPTY`` for a server of one's own without one), or None: none is set."""
        key = self.resolved_key()
        if not key and self.options.base_url is not None:
            return "EMPTY"  # vLLM, SGLang, Ollama without --api-key accept anything
        return key or None

    async def start(self, ctx: StageContext, images: Sequence[ImageRecord]) -> None:
        key = self.key_to_use()
        if key is None:
            raise StageError(
                f"teacher '{self.options.plugin}' has no API key: set {self.key_env}, "
                f"or teach.api_key: ${{env:NAME}} naming the variable that holds it"
            )
        if self.options.ocr_context:
            if importlib.util.find_spec("rapidocr_onnxruntime") is None:
                raise StageError('teach.ocr_context needs: pip install "vlkd[ocr]"')
            self.ocr_cache = ctx.cache_dir
        # the SDK's import and the client (most of a cold start) in a thread, begun at the run's
        # start (warm_up) and waited for here, while the stage reads the first images
        preparing, self._preparing = self._preparing, None
        if preparing is not None:
            with contextlib.suppress(Exception):  # tried again below, which reports the error
                prepared_key, client = await asyncio.wrap_future(preparing)
                if prepared_key == key:
                    self.client = client
                    return
        self.client = await asyncio.to_thread(self.prepare, key)

    def prepare(self, key: str) -> Any:
        """The SDK imported (its packages in :attr:`sdk_deferred` left for later) and the client."""
        if self.sdk:
            import_deferring(self.sdk, self.sdk_deferred)
            for name in self.sdk_modules:
                importlib.import_module(name)
        return self.make_client(key)

    def warm_up(self) -> None:
        """The SDK imported and the client built in a daemon thread from the run's start (the
        stage's :meth:`start` takes the client, or waits for it)."""
        key = self.key_to_use()
        if not self.sdk or key is None or self._preparing is not None:
            return
        preparing: concurrent.futures.Future = concurrent.futures.Future()

        def prepare() -> None:
            try:
                preparing.set_result((key, self.prepare(key)))
            except BaseException as exc:  # start() prepares again, and reports what fails
                preparing.set_exception(exc)

        self._preparing = preparing
        threading.Thread(target=prepare, name=f"vlkd-import-{self.sdk}", daemon=True).start()

    def has_prompt_variables(self) -> bool:
        return self.options.ocr_context

    async def prompt_variables(self, request: TeachRequest) -> dict[str, str]:
        if not self.options.ocr_context:
            return {}
        from vlkd.ocr import ocr_text

        return {"ocr_text": await asyncio.to_thread(ocr_text, request.image_bytes, self.ocr_cache)}

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None

    def sdk_error(self, exc: Exception, sdk: Any) -> TeacherError:
        """The core error for an exception of an official (Stainless-generated) SDK."""
        url = redact_url(self.options.base_url) or "the provider"
        if isinstance(exc, sdk.APIStatusError):
            body = exc.body if isinstance(exc.body, dict) else {}
            inner = body.get("error") if isinstance(body.get("error"), dict) else body
            message = inner.get("message") or exc.message
            return http_error(
                exc.status_code,
                str(message),
                headers=dict(exc.response.headers),
                model=self.options.model,
                url=url,
                key_env=self.key_env,
                code=inner.get("code"),
            )
        refused = _connection_failure(exc)
        if isinstance(exc, sdk.APITimeoutError) and refused is None:
            return TransientError(f"no answer from {url} within {self.options.timeout:g} s", kind="timeout")
        if isinstance(exc, sdk.APIConnectionError):  # APITimeoutError included, when it is really one
            cause = refused or exc.__cause__ or exc
            return TransientError(
                f"connection to {url} failed: {type(cause).__name__}: {cause}", kind="connection"
            )
        raise exc


def _connection_failure(exc: BaseException) -> BaseException | None:
    """The refused or dropped connection behind an SDK error, if that is what it is.

    Over aiohttp the SDKs report a refused or dropped connection as a *timeout*; the cause
    chain still holds the truth (``ConnectionRefusedError``, aiohttp's ``ClientConnectionError``).
    """
    seen = exc.__cause__ or exc.__context__
    while seen is not None:
        if isinstance(seen, TimeoutError):  # aiohttp's ServerTimeoutError is both: a timeout it is
            return None
        names = {cls.__name__ for cls in type(seen).__mro__}
        if isinstance(seen, ConnectionError) or "ClientConnectionError" in names:
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class SDKBatches(BatchAPI):
    """A batch API reached through an official SDK: its errors become the core's errors."""

    #: the SDK's module and its base exception's name
    sdk: ClassVar[str] = ""
    sdk_error_name: ClassVar[str] = ""

    def __init__(self, teacher: APITeacher):
        self.teacher = teacher

    @property
    def client(self) -> Any:
        return self.teacher.client

    async def _call(self, coro: Any) -> Any:
        import importlib

        sdk = importlib.import_module(self.sdk)
        try:
            return await coro
        except getattr(sdk, self.sdk_error_name) as exc:
            raise self.teacher.sdk_error(exc, sdk) from None
