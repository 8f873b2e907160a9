"""What a teacher implements for ``mode: batch``: its provider's batch wire format, nothing more.

The core batch driver (``batch.py``) splits the requests into chunks under the provider's
limits, records every batch in the run directory before anything else happens, polls, retries
failed items in a follow-up batch, and puts every answer through the same parsing, cache and
ledger as online answers. A teacher's :class:`BatchAPI` only says how one request is written as
a batch line, how a file of lines is submitted, and how a batch's state and results are read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from vlkd.teach.teacher import TeachRequest, TeachResponse


@dataclass
class BatchState:
    """A batch as the provider reports it."""

    id: str
    #: the provider's own word (validating, in_progress, completed, ended, expired, cancelled...)
    status: str
    #: no request of it will change any more: its results can be read
    ended: bool
    #: the provider's request counts (e.g. processing / succeeded / errored)
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Undecided:
    """:meth:`BatchAPI.find` cannot tell yet which of ``candidates`` batches (still running, of the
    chunk's size) is the chunk's: only their results, once they end, name their requests. The
    batch driver asks again each round instead of guessing (a wrong guess would leave the real
    one uncollected and pay for its requests again)."""

    candidates: int


@dataclass
class BatchItem:
    """One request's outcome: a response, or the reason there is none (errored, expired...)."""

    custom_id: str
    response: TeachResponse | None = None
    error: str | None = None


class BatchAPI:
    """One provider's batch endpoints, for the core batch driver."""

    #: the provider's limits per batch
    max_requests: ClassVar[int] = 50_000
    max_bytes: ClassVar[int] = 200 * 1024 * 1024
    #: the batches run elsewhere (``batch_file``: a person runs them): never polled, always waited for
    external: ClassVar[bool] = False

    def line(self, custom_id: str, request: TeachRequest) -> dict[str, Any]:
        """One request as a line of the provider's batch input."""
        raise NotImplementedError

    def waiting(self, inputs: list[Path]) -> str | None:
        """What to do while external batches wait (the commands that run them)."""
        return None

    async def submit(self, path: Path, chunk: str) -> str:
        """Submit the batch whose lines are in ``path``; returns the provider's batch id.

        ``chunk`` names the chunk (attach it as metadata where the provider allows: :meth:`find`
        uses it after a kill between the submission and the recording of its id)."""
        raise NotImplementedError

    async def find(
        self,
        chunk: str,
        since: float,
        requests: int,
        *,
        keys: Collection[str] = (),
        known: Collection[str] = (),
    ) -> str | Undecided | None:
        """The id of a batch submitted for ``chunk`` (after ``since``, with ``requests`` lines: the
        ``custom_id``s ``keys``) whose id was never recorded, or None when the provider has none,
        or :class:`Undecided` while that cannot be told yet; ``known``: the batch ids recorded
        for other chunks, never the answer."""
        return None

    async def state(self, batch_id: str) -> BatchState:
        raise NotImplementedError

    def results(self, batch_id: str) -> AsyncIterator[BatchItem]:
        """Every result of an ended batch (requests it never ran may be missing)."""
        raise NotImplementedError

    async def cancel(self, batch_id: str) -> BatchState:
        raise NotImplementedError
