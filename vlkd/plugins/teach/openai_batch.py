"""The OpenAI batch format: the Batch API (``/v1/files`` + ``/v1/batches``), and the same file
run offline by vLLM (``vllm run-batch -i IN -o OUT --model M``) for ``mode: batch_file``."""

from __future__ import annotations

import json
import shlex
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlkd.api import BatchAPI, BatchItem, BatchState
from vlkd.plugins.teach.api_teacher import SDKBatches

if TYPE_CHECKING:
    from vlkd.api import TeachRequest
    from vlkd.plugins.teach.openai_teacher import OpenAITeacher

ENDPOINT = "/v1/chat/completions"
ENDED = ("completed", "failed", "expired", "cancelled")


class OpenAIBatches(SDKBatches):
    sdk = "openai"
    sdk_error_name = "OpenAIError"
    max_requests = 50_000
    max_bytes = 200 * 1024 * 1024

    def line(self, custom_id: str, request: TeachRequest) -> dict[str, Any]:
        return {
            "custom_id": custom_id,
            "method": "POST",
            "url": ENDPOINT,
            "body": self.teacher.full_body(request),
        }

    async def submit(self, path: Path, chunk: str) -> str:
        with path.open("rb") as fh:  # a file object: the upload streams it, never holding it whole
            uploaded = await self._call(self.client.files.create(file=(path.name, fh), purpose="batch"))
        batch = await self._call(
            self.client.batches.create(
                input_file_id=uploaded.id,
                endpoint=ENDPOINT,
                completion_window="24h",
                metadata={"vlkd_chunk": chunk},
            )
        )
        return batch.id

    async def find(self, chunk: str, since: float, requests: int, **_: Any) -> str | None:
        """Exact: each batch carries its chunk's name in its ``metadata`` (``vlkd_chunk``)."""
        import openai

        try:
            async for batch in self.client.batches.list(limit=100):  # newest first
                if (batch.metadata or {}).get("vlkd_chunk") == chunk:
                    return batch.id
                if batch.created_at < since:
                    return None
        except openai.OpenAIError as exc:
            raise self.teacher.sdk_error(exc, openai) from None
        return None

    async def state(self, batch_id: str) -> BatchState:
        batch = await self._call(self.client.batches.retrieve(batch_id))
        return self._state(batch)

    def _state(self, batch: Any) -> BatchState:
        counts = batch.request_counts
        return BatchState(
            id=batch.id,
            status=batch.status,
            ended=batch.status in ENDED,
            counts={"total": counts.total, "completed": counts.completed, "failed": counts.failed}
            if counts
            else {},
        )

    async def results(self, batch_id: str) -> AsyncIterator[BatchItem]:
        import openai

        batch = await self._call(self.client.batches.retrieve(batch_id))
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            try:
                async with self.client.files.with_streaming_response.content(file_id) as response:
                    async for line in response.iter_lines():
                        if line.strip():
                            yield output_line(self.teacher, line)
            except openai.OpenAIError as exc:
                raise self.teacher.sdk_error(exc, openai) from None

    async def cancel(self, batch_id: str) -> BatchState:
        return self._state(await self._call(self.client.batches.cancel(batch_id)))


def output_line(teacher: OpenAITeacher, line: str) -> BatchItem:
    """One line of an OpenAI-format batch output file (the Batch API's, or vLLM's)."""
    from openai.types.chat import ChatCompletion

    try:
        data = json.loads(line)
        custom_id = str(data["custom_id"])
    except (ValueError, KeyError, TypeError):
        return BatchItem(custom_id="", error=f"unreadable output line: {line[:200]}")
    response = data.get("response") or {}
    error = data.get("error")
    if response.get("status_code") == 200 and isinstance(response.get("body"), dict):
        try:
            ChatCompletion.model_validate(response["body"])  # a malformed answer is an error here
            return BatchItem(custom_id, teacher.response_from(response["body"]))
        except ValueError as exc:
            return BatchItem(custom_id, error=f"malformed answer: {exc}"[:300])
    if response.get("status_code"):
        body = response.get("body") or {}
        inner = body.get("error") if isinstance(body, dict) else None
        message = inner.get("message") if isinstance(inner, dict) else str(body)[:200]
        return BatchItem(custom_id, error=f"{response['status_code']}: {message}")
    if isinstance(error, dict):
        return BatchItem(custom_id, error=f"{error.get('code')}: {error.get('message')}")
    return BatchItem(custom_id, error="no answer")


class VLLMBatchFile(BatchAPI):
    """``mode: batch_file``: the batch is a file that ``vllm run-batch`` runs on the team's GPUs."""

    max_requests = 50_000
    max_bytes = 200 * 1024 * 1024
    external = True

    def __init__(self, teacher: OpenAITeacher):
        self.teacher = teacher
        self.line = OpenAIBatches(teacher).line  # type: ignore[method-assign]

    @staticmethod
    def output_path(path: Path) -> Path:
        return path.with_name(path.name.removesuffix(".jsonl") + ".output.jsonl")

    def waiting(self, inputs: list[Path]) -> str:
        model = shlex.quote(self.teacher.options.model)
        commands = "\n".join(
            f"  vllm run-batch -i {shlex.quote(str(p))} -o {shlex.quote(str(self.output_path(p)))} --model {model}"
            for p in inputs
        )
        return f"run the batch file(s) with vLLM's offline runner, then `vlkd run` again:\n{commands}"

    async def submit(self, path: Path, chunk: str) -> str:
        return f"file:{path}"

    def _input(self, batch_id: str) -> Path:
        return Path(batch_id.removeprefix("file:"))

    async def state(self, batch_id: str) -> BatchState:
        done = self.output_path(self._input(batch_id)).exists()
        return BatchState(
            id=batch_id, status="completed" if done else "waiting for vllm run-batch", ended=done
        )

    async def results(self, batch_id: str) -> AsyncIterator[BatchItem]:
        with self.output_path(self._input(batch_id)).open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.strip():
                    yield output_line(self.teacher, line)

    async def cancel(self, batch_id: str) -> BatchState:
        return BatchState(id=batch_id, status="cancelled", ended=True)
