"""Batched generation inside the per-item, resumable loop of ``ctx.map_items``.

``map_items`` journals one item at a time (so a killed stage resumes per item); the
student is fastest a batch at a time. :class:`BatchedWork` bridges the two: when the loop
asks for an item that has no answer yet, it generates the answers of that item and the next
unfinished ones in one batch and hands them out as the loop reaches them. If a batch fails
(one unreadable image, say), its items are retried one by one so only the bad one fails.

On a cluster the student cannot stay on the driver: :class:`OnWorkers` is the same work for the
executor's long-lived workers (a Ray actor each, the model loaded once per actor), handed a
chunk of ``batch_size`` unanswered items at a time: the batches of a local run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class BatchedWork(Generic[T]):
    #: it keeps a batch's answers between items: it runs where the ledger is (any executor)
    runs_on_driver = True

    def __init__(
        self,
        items: Sequence[T],
        key: Callable[[T], str],
        finished: Callable[[str], bool],
        generate: Callable[[list[T]], list[Any]],
        to_records: Callable[[T, Any], list[Any]],
        batch_size: int,
    ):
        self.items = list(items)
        self.key = key
        self.finished = finished
        self.generate = generate
        self.to_records = to_records
        self.batch_size = max(1, batch_size)
        self.index = {key(it): i for i, it in enumerate(self.items)}
        self.ready: dict[str, Any] = {}
        self.batches = 0

    def __call__(self, item: T) -> list[Any]:
        k = self.key(item)
        if k not in self.ready:
            self._fill(self.index[k])
        answer = self.ready.pop(k)
        if isinstance(answer, BaseException):
            raise answer
        return self.to_records(item, answer)

    def _fill(self, start: int) -> None:
        batch = [self.items[start]]
        for it in self.items[start + 1 :]:
            if len(batch) >= self.batch_size:
                break
            if not self.finished(self.key(it)) and self.key(it) not in self.ready:
                batch.append(it)
        self.batches += 1
        try:
            answers = self.generate(batch)
            if len(answers) != len(batch):
                raise RuntimeError(f"generated {len(answers)} answers for {len(batch)} items")
        except Exception:
            if len(batch) == 1:
                raise
            answers = []
            for it in batch:
                try:
                    answers.append(self.generate([it])[0])
                except Exception as exc:
                    answers.append(exc)
        for it, answer in zip(batch, answers, strict=True):
            self.ready[self.key(it)] = answer


def _never(key: str) -> bool:
    return False


@dataclass
class OnWorkers(Generic[T]):
    """:class:`BatchedWork` for an executor's long-lived workers (the engine's ``WorkerWork``): what
    it holds (``generate``'s student) is sent once per worker and loads its model there once."""

    key: Callable[[T], str]
    generate: Callable[[list[T]], list[Any]]
    to_records: Callable[[T, Any], list[Any]]
    chunk_size: int
    #: GPUs per worker (None: one where the cluster has GPUs)
    num_gpus: float | None = None

    def for_chunk(self, items: list[T]) -> BatchedWork[T]:
        return BatchedWork(items, self.key, _never, self.generate, self.to_records, self.chunk_size)
