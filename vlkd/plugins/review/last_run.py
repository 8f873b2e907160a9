"""What the last run's review stage decided, in one line for the review page and ``vlkd review serve``.

The page counts the decisions made on it and in imported sheets. A run also applies the
recipe's ``review.edits`` file and, with ``auto_approve``, approves every pair nobody looked at;
those are in ``review/audit.jsonl`` and the manifest, not in the page's log. Without this line the
page says "0 of 63 reviewed" while the run kept 303 approved pairs.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from vlkd.api import read_jsonl

_DONE = {"add": "added", "edit": "changed"}


def last_run_summary(run_dir: Path, manifest: dict[str, Any]) -> str | None:
    """``None`` before the review stage has run."""
    facts = (manifest.get("stages", {}).get("review") or {}).get("facts") or {}
    status: dict[str, int] = facts.get("status") or {}
    if not status:
        return None
    by: Counter[tuple[str, str]] = Counter()
    audit = run_dir / "review" / "audit.jsonl"
    if audit.is_file():
        for change in read_jsonl(audit):
            action = change.get("action")
            if action in _DONE:
                who = (
                    Path(change["source"]).name
                    if change.get("source")
                    else change.get("reviewer") or "a reviewer"
                )
                by[(action, who)] += 1
    parts = [f"{n} {_DONE[action]} by {who}" for (action, who), n in sorted(by.items())]
    if facts.get("auto_approved"):
        parts.append(f"{facts['auto_approved']} auto-approved (review.auto_approve)")
    counts = ", ".join(f"{n} {s}" for s, n in sorted(status.items()) if n)
    return (
        f"the last run's review: {counts} of {sum(status.values())} pairs"
        + (f" ({'; '.join(parts)})" if parts else "")
        + "; the page counts the decisions made on it and in imported sheets"
    )
