"""Anthropic's Message Batches API (``/v1/messages/batches``) for ``mode: batch``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlkd.api import BatchItem, BatchState, Undecided
from vlkd.plugins.teach.api_teacher import SDKBatches

if TYPE_CHECKING:
    from vlkd.api import TeachRequest


class AnthropicBatches(SDKBatches):
    sdk = "anthropic"
    sdk_error_name = "AnthropicError"
    max_requests = 100_000
    max_bytes = 256 * 1000 * 1000 - 64 * 1024  # the request body holds the lines and a little more

    def line(self, custom_id: str, request: TeachRequest) -> dict[str, Any]:
        return {
            "custom_id": custom_id,
            "params": {**self.teacher.request_body(request), **self.teacher.sampling()},
        }

    async def submit(self, path: Path, chunk: str) -> str:
        with path.open(encoding="utf-8") as fh:
            requests = [json.loads(line) for line in fh if line.strip()]
        batch = await self._call(self.client.messages.batches.create(requests=requests))
        return batch.id

    async def find(
        self,
        chunk: str,
        since: float,
        requests: int,
        *,
        keys: Collection[str] = (),
        known: Collection[str] = (),
    ) -> str | Undecided | None:
        """Anthropic's batches carry no metadata; what is exact is the requests' ``custom_id``s,
        which only an ended batch's results show. So: of the batches created since the chunk was
        recorded, with its number of requests, and not recorded for another chunk, an ended one
        whose first result is one of the chunk's keys; while any such batch still runs,
        :class:`Undecided` (asked again until they end); None when none can be the chunk's."""
        import anthropic

        running = 0
        try:
            async for batch in self.client.messages.batches.list(limit=100):  # newest first
                if batch.created_at.timestamp() < since:
                    break
                if batch.id in known or sum(batch.request_counts.model_dump().values()) != requests:
                    continue
                if batch.processing_status != "ended":
                    running += 1
                elif await self._first_custom_id(batch.id) in keys:
                    return batch.id
        except anthropic.AnthropicError as exc:
            raise self.teacher.sdk_error(exc, anthropic) from None
        return Undecided(running) if running else None

    async def _first_custom_id(self, batch_id: str) -> str | None:
        decoder = await self.client.messages.batches.results(batch_id)
        async for row in decoder:
            return row.custom_id
        return None

    def _state(self, batch: Any) -> BatchState:
        return BatchState(
            id=batch.id,
            status=batch.processing_status,
            ended=batch.processing_status == "ended",
            counts=batch.request_counts.model_dump(),
        )

    async def state(self, batch_id: str) -> BatchState:
        return self._state(await self._call(self.client.messages.batches.retrieve(batch_id)))

    async def results(self, batch_id: str) -> AsyncIterator[BatchItem]:
        import anthropic

        try:
            decoder = await self.client.messages.batches.results(batch_id)
            async for row in decoder:
                result = row.result
                if result.type == "succeeded":
                    yield BatchItem(row.custom_id, self.teacher.response_from(result.message))
                elif result.type == "errored":
                    err = getattr(result.error, "error", result.error)
                    yield BatchItem(
                        row.custom_id,
                        error=f"{getattr(err, 'type', 'error')}: {getattr(err, 'message', err)}",
                    )
                else:  # canceled, expired
                    yield BatchItem(row.custom_id, error=result.type)
        except anthropic.AnthropicError as exc:
            raise self.teacher.sdk_error(exc, anthropic) from None

    async def cancel(self, batch_id: str) -> BatchState:
        return self._state(await self._call(self.client.messages.batches.cancel(batch_id)))
