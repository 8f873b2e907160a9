"""The review stage's side of a team review: settled pairs applied, unsettled ones known, figures.

Run after the review log (sheets, the page's solo decisions) and before ``auto_approve``:
each settled pair takes the team's result (the lead's, or the reviewers' agreed one) with a
line in the audit (an adjudication carries every reviewer's decision and the teacher's pair).
A pair that some but not all of its reviewers decided takes the first decision provisionally;
a disagreement stays as the teacher gave it until a lead settles it. With
``require_agreement: true`` only settled pairs go on (:attr:`TeamOutcome.unsettled`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlkd.api import DOUBTED, review_rank
from vlkd.plugins.review import journal
from vlkd.plugins.review.edits import Change, ReviewState
from vlkd.plugins.review.team.assign import assign, risk_order
from vlkd.plugins.review.team.roster import Team
from vlkd.plugins.review.team.settle import ADJUDICATED, ADJUDICATION, FIELDS, LOG, WAITING, Replayed, summary


@dataclass
class TeamOutcome:
    unsettled: set[str] = field(default_factory=set)
    facts: dict[str, Any] = field(default_factory=dict)
    offset: int = 0


def team_key(run_dir: Path) -> str | None:
    """What of the team decides the outcome (settings, active reviewers), to notice a change."""
    team = Team.load(run_dir)
    if team is None or not team.reviewers:
        return None
    return f"{sorted(team.settings.model_dump().items())}|{team.active()}|{team.active('lead')}"


def apply_team(
    state: ReviewState, run_dir: Path, warn=None, *, divided: dict[str, Any] | None = None
) -> TeamOutcome | None:
    """``divided``: the pairs the review page divides (the review log replayed, before the recipe's
    ``edits:`` file), so that the stage assigns images exactly as the page did."""
    team = Team.load(run_dir)
    if team is None or not team.reviewers:
        return None
    entries, offset = journal.read_log(run_dir, name=LOG)
    base = dict(state.pairs)
    replayed = Replayed()
    for entry in entries:
        key = entry.get("pair_id")
        if key not in base and not (entry.get("kind") == ADJUDICATION and entry.get("action") == "add"):
            if warn:
                warn(
                    f"team review: pair {key} no longer exists; {entry.get('reviewer')}'s {entry.get('action')} not applied"
                )
            continue
        replayed.apply(entry, key, base.get(key))
    shown = base if divided is None else divided
    flagged = Counter(p.image_id for p in shown.values() if review_rank(p.flags) == DOUBTED)
    with_pairs = {p.image_id for p in shown.values()}
    images = [(i, flagged[i]) for i in state.images.by_id if i in with_pairs]
    images += [(i, flagged[i]) for i in sorted(with_pairs - set(state.images.by_id))]
    s = team.settings
    assignment = assign(risk_order(images), team.active(), s.overlap, s.overlap_share)
    outcome = TeamOutcome(offset=offset)
    standing: Counter[str] = Counter()
    items = []
    from vlkd.plugins.review.team.agreement import Item

    for key, pair in base.items():
        assigned = assignment.get(pair.image_id, ())
        where = replayed.standing(key, assigned, pair)
        standing[where] += 1
        decided = replayed.decided(key)
        settled = replayed.settled(key, assigned, pair)
        if decided or replayed.final(key) is not None:
            items.append(Item(pair.category or "-", decided, settled, pair, replayed.final(key) is not None))
        new = settled
        if settled is None:
            outcome.unsettled.add(key)
            if where == WAITING:
                new = next(iter(decided.values()))  # provisional: the first decision
        if new is None:
            continue
        before = {k: getattr(pair, k) for k in FIELDS if getattr(pair, k) != getattr(new, k)}
        if not before:
            continue
        state.pairs[key] = new
        final_entry = replayed.final_entries.get(key) if where == ADJUDICATED else None
        state.changes.append(
            Change(
                key,
                "adjudicate" if final_entry else f"team_{where}",
                before,
                {k: getattr(new, k) for k in before},
                source="team review",
                reviewer=final_entry.get("reviewer") if final_entry else "+".join(decided),
                time=final_entry.get("time") if final_entry else None,
                originals={
                    **{n: summary(c) for n, c in decided.items()},
                    **({"teacher": summary(pair)} if final_entry else {}),
                }
                or None,
            )
        )
    outcome.facts = {
        "reviewers": [
            r["name"] + (f" ({r['role']})" if r["role"] != "reviewer" else "")
            for r in team.summary()["reviewers"]
            if not r["revoked"]
        ],
        "settings": s.model_dump(),
        "standing": dict(sorted(standing.items())),
        "unsettled": len(outcome.unsettled),
    }
    from vlkd.plugins.review.team.agreement import figures, missing_libraries

    missing = missing_libraries()
    if missing:
        if warn:
            warn(missing)
    else:
        outcome.facts["agreement"] = figures(items)
    return outcome


def team_changed(run_dir: Path, exports: dict[str, Any]) -> str | None:
    """Why the review stage must run again for the team, or None."""
    applied = exports.get("team_log_offset", 0)
    size = journal.log_size(run_dir, LOG)
    if size > applied:
        new, _ = journal.read_log(run_dir, applied, name=LOG)
        if new:
            return f"{len(new)} new team review decision(s)"
    elif size < applied:
        return "the team review log was replaced"
    if team_key(run_dir) != exports.get("team"):
        return "the review team changed (reviewers, overlap or settings)"
    return None
