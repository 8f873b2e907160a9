"""Item counts of a stage: ok, skipped (by reason) and failed, with the first problems listed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

MAX_LISTED_PROBLEMS = 100


@dataclass
class ItemCounts:
    ok: int = 0
    failed: int = 0
    skipped_reasons: Counter[str] = field(default_factory=Counter)
    problems: list[dict[str, str]] = field(default_factory=list)
    problems_total: int = 0

    @property
    def skipped(self) -> int:
        return sum(self.skipped_reasons.values())

    def add_ok(self, n: int = 1) -> None:
        self.ok += n

    def add_skipped(self, item: str, reason: str) -> None:
        self.skipped_reasons[_reason_kind(reason)] += 1
        self._problem(item, "skipped", reason)

    def add_failed(self, item: str, reason: str) -> None:
        self.failed += 1
        self._problem(item, "failed", reason)

    def add_entry(self, entry: dict[str, Any]) -> None:
        """Count one ledger entry."""
        status = entry["status"]
        if status == "ok":
            self.add_ok()
        elif status == "skipped":
            self.add_skipped(entry["key"], entry.get("reason", ""))
        else:
            self.add_failed(entry["key"], entry.get("reason", ""))

    def _problem(self, item: str, status: str, reason: str) -> None:
        self.problems_total += 1
        if len(self.problems) < MAX_LISTED_PROBLEMS:
            self.problems.append({"item": item, "status": status, "reason": reason})

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, "skipped": self.skipped, "failed": self.failed}
        if self.skipped_reasons:
            out["skipped_by_reason"] = dict(self.skipped_reasons.most_common())
        if self.problems:
            out["problems"] = self.problems
            if self.problems_total > len(self.problems):
                out["problems_not_listed"] = self.problems_total - len(self.problems)
        return out


def _reason_kind(reason: str) -> str:
    """Group reasons by their first clause: 'truncated image: x.jpg' -> 'truncated image'."""
    return reason.split(":", 1)[0].strip() or "unspecified"
