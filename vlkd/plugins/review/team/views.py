"""The review page's team side: what each reviewer and the lead see, and their decisions.

On top of the page's :class:`~vlkd.plugins.review.web.store.ReviewStore` (the pairs, images,
lock): a reviewer sees only the images assigned to them, each pair as *their copy*, and the
other reviewers' decisions only when the team is not blind or when every reviewer of the pair
has decided. A lead sees every image, every reviewer's decision and the teacher's pair, and
decides finally (an adjudication). Everything is checked here, whatever the page sends: the
page only shows what these methods return.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from vlkd.api import QARecord
from vlkd.plugins.review import decisions, journal
from vlkd.plugins.review.team.assign import assign, risk_order
from vlkd.plugins.review.team.roster import Reviewer, Team
from vlkd.plugins.review.team.settle import (
    ADJUDICATED,
    ADJUDICATION,
    AGREED,
    DISAGREE,
    LOG,
    REVIEW,
    SETTLED,
    WAITING,
    Replayed,
    adjudication_extras,
    summary,
)

SETTLE_VIEW = "settle"


class TeamViews:
    def __init__(self, store, team: Team):
        self.store = store
        self.team = team
        self.run_dir = store.run_dir
        self.replayed = Replayed()
        self.offset = 0
        self._assigned_for: Any = None
        self.assignment: dict[str, tuple[str, ...]] = {}
        self._ids: list[str] = []  # pair id by the store's index, read once (the store keeps offsets)
        self._ids_of: Any = None
        self._images_of: Any = None
        self._image_ids: dict[int, str] = {}
        self._replayed_on = store.reloads  # the store's load the team log was applied to
        with store.lock:
            self.catch_up()

    # -- state ---------------------------------------------------------------------------
    def catch_up(self) -> None:
        """Load the pairs again when a ``vlkd run`` rewrote them (as the single reviewer's page
        does), apply team decisions others appended; re-divide when the roster or the pairs
        changed (hold the lock)."""
        self.store.refresh()
        self.team.refresh()
        size = journal.log_size(self.run_dir, LOG)
        if size < self.offset or self._replayed_on != self.store.reloads:
            # the log was replaced, or the run's pairs were: read it again over the pairs as they
            # are now (as a server started now would; decisions on pairs the run dropped stay in
            # the log, unapplied)
            self.replayed, self.offset = Replayed(), 0
            self._replayed_on = self.store.reloads
        if size != self.offset:
            entries, self.offset = journal.read_log(self.run_dir, self.offset, name=LOG)
            for entry in entries:
                index = self.find(entry.get("image_id"), entry.get("pair_id", ""))
                base = None if index is None else self.store.pair(index)
                self.replayed.apply(entry, entry.get("pair_id"), base)
        # a reload: other images may have pairs, or doubted ones, now (the overlap goes to the riskiest)
        key = (
            tuple(self.team.active()),
            self.team.settings.model_dump(),
            len(self.store.image_pairs),
            self.store.reloads,
        )
        if key != self._assigned_for:
            self.assignment = assign(
                risk_order(self._images()),
                self.team.active(),
                self.team.settings.overlap,
                self.team.settings.overlap_share,
            )
            self._assigned_for = key

    def _images(self) -> list[tuple[str, int]]:
        store = self.store
        ids = {n: image_id for image_id, n in store.image_ids.items()}
        return [(ids[n], store.doubted(indices)) for n, indices in enumerate(store.image_pairs) if indices]

    def image_id(self, n: int) -> str | None:
        store = self.store
        if not 0 <= n < len(store.image_pairs):
            return None
        if self._images_of is not store.image_ids:  # the store (re)loaded its images
            self._image_ids = {i: image_id for image_id, i in store.image_ids.items()}
            self._images_of = store.image_ids
        return self._image_ids[n]

    def pair_id(self, index: int) -> str:
        store = self.store
        if self._ids_of is not store.pair_offsets:  # the store reloaded (a sheet imported): indices changed
            self._ids, self._ids_of = [], store.pair_offsets
        for i in range(len(self._ids), len(store.pair_offsets)):
            self._ids.append(store.pair(i).id)
        return self._ids[index]

    def find(self, image_id: str | None, pair_id: str) -> int | None:
        """The store's index of a pair of an image (from the ids kept in memory)."""
        n = self.store.image_ids.get(image_id or "")
        if n is None:
            return None
        return next((i for i in self.store.image_pairs[n] if self.pair_id(i) == pair_id), None)

    def _added(self, index: int) -> bool:
        return self.store.pair_offsets[index] < 0  # a pair an expert added (in no teacher's file)

    def _status(self, who: Reviewer, index: int) -> str:
        """The pair's status as ``who`` sees it, without reading its text."""
        from vlkd.plugins.review.web.store import STATUSES

        pair_id = self.pair_id(index)
        mine = self.replayed.finals if who.is_lead else self.replayed.views.get(who.name, {})
        copy = mine.get(pair_id)
        return copy.review if copy is not None else STATUSES[self.store.pair_status[index]]

    def may_see(self, who: Reviewer, n: int) -> bool:
        image_id = self.image_id(n)
        if image_id is None:
            return False
        if who.is_lead:
            return True
        if who.name in self.assignment.get(image_id, ()):
            return True
        return image_id in self.replayed.touched.get(who.name, ())  # decided before a re-division

    def version(self, who: Reviewer, index: int) -> tuple[QARecord, QARecord]:
        """(the pair as ``who`` sees and decides it, the pair before any team decision)."""
        base = self.store.pair(index)
        if who.is_lead:
            return self.replayed.finals.get(base.id, base), base
        return self.replayed.copy(who.name, base.id, base), base

    def standing(self, pair_id: str, image_id: str, base: QARecord | None = None) -> str:
        return self.replayed.standing(pair_id, self.assignment.get(image_id, ()), base)

    # -- reading -------------------------------------------------------------------------
    def _matches(self, index: int, review: str, filters: dict[str, str]) -> bool:
        status = filters.get("status")
        if status == "reviewed" and review == "pending":
            return False
        if status and status != "reviewed" and review != status:
            return False
        rest = {k: v for k, v in filters.items() if v and k != "status"}
        return not rest or self.store.matches(index, rest)

    def queue(self, who: Reviewer, filters: dict[str, str], order: str, view: str) -> list[int]:
        """The images ``who`` sees that match, riskiest first: the order the store keeps (computed
        once per set of pairs, as for a single reviewer), filtered, not sorted per request."""
        active = {k: v for k, v in filters.items() if v}
        store = self.store
        out = []
        for n in store.risk_queue() if order == "risk" else range(len(store.image_pairs)):
            indices = store.image_pairs[n]
            if not indices or not self.may_see(who, n):
                continue
            image_id = self.image_id(n)
            assert image_id is not None
            settle = who.is_lead and view == SETTLE_VIEW
            if settle and not any(self.standing(self.pair_id(i), image_id) == DISAGREE for i in indices):
                continue
            if active and not any(self._matches(i, self._status(who, i), active) for i in indices):
                continue
            out.append(n)
        return out

    def progress(self, who: Reviewer) -> dict[str, Any]:
        per: dict[str, dict[str, int]] = {}
        to_settle = 0
        for n, indices in enumerate(self.store.image_pairs):
            if not indices or not self.may_see(who, n):
                continue
            image_id = self.image_id(n) or ""
            for i in indices:
                standing = self.replayed.standing(
                    self.pair_id(i), self.assignment.get(image_id, ()), added=self._added(i)
                )
                to_settle += standing == DISAGREE and who.is_lead  # the lead's work; to a reviewer, a leak
                done = standing in SETTLED if who.is_lead else self._status(who, i) != "pending"
                entry = per.setdefault(self.store.categories[self.store.pair_category[i]] or "-", {})
                entry["total"] = entry.get("total", 0) + 1
                entry["reviewed"] = entry.get("reviewed", 0) + done
        return {
            "total": sum(e["total"] for e in per.values()),
            "reviewed": sum(e["reviewed"] for e in per.values()),
            "categories": dict(sorted(per.items())),
            "flags": sorted({f for fs in self.store.flag_sets for f in fs}),
            "to_settle": to_settle,
        }

    def image_json(self, who: Reviewer, n: int, filters: dict[str, str]) -> dict[str, Any]:
        if not self.may_see(who, n):
            raise decisions.NotFound("no such image in your queue")
        store = self.store
        data = store.image_json(n, [])
        image_id = self.image_id(n) or ""
        active = {k: v for k, v in filters.items() if v}
        indices = sorted(store.image_pairs[n], key=store.rank)
        pairs = []
        for i in indices:
            if active and not self._matches(i, self._status(who, i), active):
                continue
            pairs.append(self.pair_json_for(who, image_id, i))
        data.update(
            pairs=pairs, hidden=len(indices) - len(pairs), assigned=list(self.assignment.get(image_id, ()))
        )
        return data

    def _changed_by(self, who: Reviewer, key: str, pair: QARecord, base: QARecord) -> str | None:
        if who.is_lead:
            entry = self.replayed.final_entries.get(key)
            return entry.get("reviewer") if entry else None
        return None  # a reviewer's copy is theirs alone

    def pair_team(self, who: Reviewer, base: QARecord, image_id: str) -> dict[str, Any]:
        """What ``who`` may know of the team's work on this pair."""
        assigned = self.assignment.get(image_id, ())
        standing = self.replayed.standing(base.id, assigned, base)
        decided = self.replayed.decided(base.id)
        others = {name: copy for name, copy in decided.items() if name != who.name}
        info: dict[str, Any] = {"standing": standing, "assigned": list(assigned)}
        everyone_decided = standing in (AGREED, DISAGREE, ADJUDICATED) or (
            bool(assigned) and all(name in decided for name in assigned)
        )
        if who.is_lead or not self.team.settings.blind or (who.name in decided and everyone_decided):
            info["others"] = [{"reviewer": name, **summary(copy)} for name, copy in others.items()]
            final = self.replayed.final(base.id)
            if final is not None and not who.is_lead:
                info["final"] = {
                    "reviewer": self.replayed.final_entries[base.id].get("reviewer"),
                    **summary(final),
                }
        else:
            info["others_hidden"] = len(others)  # how many, never what
            if standing in (AGREED, DISAGREE):  # with three or more, two decisions already say what
                info["standing"] = WAITING
        if who.is_lead:
            info["teacher"] = summary(base)
        return info

    # -- writing -------------------------------------------------------------------------
    def decide(
        self, who: Reviewer, n: int, pair_id: str, action: str, fields: dict[str, Any], base: str | None
    ) -> dict[str, Any]:
        store = self.store
        with store.lock, journal.locked(self.run_dir):
            store.refresh()  # a run rewrote the pairs meanwhile: decide on the new ones
            store._catch_up()
            self.catch_up()
            if not self.may_see(who, n):
                raise decisions.NotFound("no such image in your queue")
            image_id = self.image_id(n) or ""
            index = self.find(image_id, pair_id)
            if index is None:
                raise decisions.NotFound(store._gone("no such pair on this image (reload the page)"))
            current, teacher = self.version(who, index)
            if who.is_lead:
                entry = decisions.decide(current, action, fields, base=base, reviewer=who.name)
                if entry is None and pair_id not in self.replayed.finals and current.review != "pending":
                    entry = _confirm(current, who.name)  # the lead keeps it as it is: still a decision
                if entry is not None:
                    entry.update(
                        kind=ADJUDICATION, role="lead", **adjudication_extras(self.replayed, pair_id, teacher)
                    )
            else:
                if self.team.settings.blind and who.name in self.replayed.decided(pair_id):
                    standing = self.standing(pair_id, image_id)
                    if standing in (AGREED, DISAGREE, ADJUDICATED):
                        raise decisions.Conflict(
                            "every reviewer of this pair has decided (blind review): your decision is kept "
                            "as it was; the lead settles disagreements"
                        )
                entry = decisions.decide(current, action, fields, base=base, reviewer=who.name)
                if entry is not None:
                    entry.update(kind=REVIEW, role="reviewer")
            if entry is not None:
                audit = {**decisions.audit_line(entry), "source": "team review", "kind": entry["kind"]}
                for extra in ("originals", "teacher"):
                    if extra in entry:
                        audit[extra] = entry[extra]
                journal.append(self.run_dir, entry, [audit], name=LOG)
                self.replayed.apply(entry, pair_id, teacher)
                self.offset = journal.log_size(self.run_dir, LOG)
            return self.pair_json_for(who, image_id, index)

    def pair_json_for(self, who: Reviewer, image_id: str, index: int) -> dict[str, Any]:
        """The pair as ``who`` gets it: their version, and what they may know of the others'."""
        pair, base = self.version(who, index)
        shown = self.store.pair_json(index, pair)
        shown["changed_by"] = self._changed_by(who, base.id, pair, base)
        shown["team"] = self.pair_team(who, base, image_id)
        return shown

    # -- figures -------------------------------------------------------------------------
    def figures(self) -> dict[str, Any]:
        from vlkd.plugins.review.team.agreement import Item, figures

        items = []
        for n, indices in enumerate(self.store.image_pairs):
            image_id = self.image_id(n) or ""
            for i in indices:
                base = self.store.pair(i)
                assigned = self.assignment.get(image_id, ())
                decided = self.replayed.decided(base.id)
                if not decided and self.replayed.final(base.id) is None:
                    continue
                items.append(
                    Item(
                        category=base.category or "-",
                        decisions=decided,
                        settled=self.replayed.settled(base.id, assigned, base),
                        teacher=base,
                        adjudicated=self.replayed.final(base.id) is not None,
                    )
                )
        out = figures(items)
        out["standing"] = dict(
            Counter(
                self.replayed.standing(
                    self.pair_id(i), self.assignment.get(self.image_id(n) or "", ()), added=self._added(i)
                )
                for n, indices in enumerate(self.store.image_pairs)
                for i in indices
            )
        )
        out["team"] = self.team.summary()
        return out


def _confirm(pair: QARecord, reviewer: str) -> dict[str, Any]:
    from vlkd.plugins.review.sheet import pair_version

    return {
        "kind": ADJUDICATION,
        "action": "confirm",
        "pair_id": pair.id,
        "image_id": pair.image_id,
        "base": pair_version(pair),
        "before": {"review": pair.review},
        "after": {"review": pair.review},
        "reviewer": reviewer,
        "time": decisions.now(),
    }
