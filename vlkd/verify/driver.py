"""Driver of the ``verify`` stage: run every check on each image's pairs, attach their flags.

1. read the images and the pairs (from the latest earlier stages that made them) and group
   the pairs by image, in order;
2. ``start`` each check once with every image that has pairs (a second teacher makes its calls
   there, through the core teach services; ``duplicates`` counts answers across images);
3. per image, through the engine's item loop (one ledger line per image: a killed stage
   resumes where it stopped), run each check in recipe order and attach the flags it raised.
   A check that raises on an image flags that image's pairs ``unverifiable`` with the reason;
   the pairs always flow on, questions and answers untouched;
4. write ``pairs.jsonl``: every pair, flags attached, except those a check's ``drop`` option
   names (counted per flag in the stage facts), and ``notes.jsonl`` with what checks noted.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from functools import partial
from typing import Any

from pydantic import Field

from vlkd.core.context import StageContext
from vlkd.core.errors import StageError
from vlkd.core.jsonl import write_jsonl_atomic
from vlkd.core.options import RUN_ONLY, Options
from vlkd.core.records import Flag, ImageRecord, QARecord
from vlkd.core.verify import UNVERIFIABLE, Findings, Verifier

NOTES_FILE = "notes.jsonl"


class Settings(Options):
    """Stage settings of ``verify`` (long form: ``verify: {steps: [...], workers: 2}``)."""

    workers: int = Field(
        default=1,
        ge=1,
        json_schema_extra=RUN_ONLY,
        description="images checked at once, in threads (OCR already uses every core)",
    )


def _images(ctx: StageContext) -> dict[str, ImageRecord]:
    if not ctx.has_input("images"):
        return {}
    images: dict[str, ImageRecord] = {}
    for image in ctx.load("images"):
        images.setdefault(image.id, image)
    return images


def _checks(ctx: StageContext) -> list[Verifier]:
    checks = []
    for plugin in ctx.plugins:
        if not isinstance(plugin, Verifier):
            raise TypeError(f"{type(plugin).__name__} must subclass vlkd.core.verify.Verifier")
        checks.append(plugin)
    return checks


def _missing_image(image_id: str) -> ImageRecord:
    return ImageRecord(id=image_id, path="", width=0, height=0, notes=["not in images.jsonl"])


def check_image(
    checks: list[Verifier], image: ImageRecord, pairs: list[QARecord], *, known: bool = True
) -> tuple[list[dict[str, Any]], list[str]]:
    """One image's pairs with every check's flags attached, and the checks' notes."""
    flags: dict[str, list[Flag]] = defaultdict(list)
    decisions: dict[str, dict[str, Any]] = defaultdict(dict)
    notes: list[str] = []
    for check in checks if known else ():
        name = check.options.plugin
        found = Findings(name)
        # a check sees copies: whatever it does to them, the pairs themselves stay as taught
        copies = [p.model_copy(deep=True) for p in pairs]
        try:
            check.check(image, copies, found)
        except Exception as exc:
            found = Findings(name)
            reason = f"check {name} failed on this image: {type(exc).__name__}: {exc}"
            for pair in pairs:
                found.flag(pair, UNVERIFIABLE, reason)
            found.note(reason)
        for pair_id, flag in found.flags:
            flags[pair_id].append(flag)
        for pair_id, values in found.records.items():
            decisions[pair_id][name] = values
        notes += [f"{name}: {n}" for n in found.notes]
    if not known:
        reason = f"image {image.id[:12]} is not among the images of this run: no check could see it"
        for pair in pairs:
            flags[pair.id].append(Flag(check="verify", flag=UNVERIFIABLE, reason=reason))
        notes.append(reason)
    out = []
    for pair in pairs:
        data = pair.model_dump(mode="json", exclude_none=True)
        data["flags"] = [f.model_dump(mode="json") for f in pair.flags + flags.get(pair.id, [])]
        if pair.id in decisions:
            data["checks"] = {**(data.get("checks") or {}), **decisions[pair.id]}
        out.append(data)
    return out, notes


def verify_image(
    checks: list[Verifier], item: tuple[ImageRecord, list[QARecord], bool]
) -> list[dict[str, Any]]:
    """One item of the stage: an image, its pairs, whether it is among the run's images."""
    image, pairs, known = item
    records, image_notes = check_image(checks, image, pairs, known=known)
    if image_notes:
        # the notes travel with the pairs in the ledger line: a resumed stage still has them
        records = [{**records[0], "_notes": image_notes}, *records[1:]]
    return records


def _dropped(pair: QARecord, drops: dict[str, set[str]]) -> list[str]:
    return [f.flag for f in pair.flags if f.flag in drops.get(f.check, ())]


def run_verify(ctx: StageContext) -> None:
    checks = _checks(ctx)
    settings = ctx.settings if isinstance(ctx.settings, Settings) else Settings()
    pairs: list[QARecord] = ctx.load("pairs")
    images = _images(ctx)
    by_image: dict[str, list[QARecord]] = defaultdict(list)
    for pair in pairs:
        by_image[pair.image_id].append(pair)
    items = [images.get(i) or _missing_image(i) for i in by_image]
    known = {i for i in by_image if i in images}
    for check in checks:
        check.start(
            ctx, [i for i in items if i.id in known], {k: v for k, v in by_image.items() if k in known}
        )

    # each item carries its own image's pairs: a Ray task gets the checks and its chunk's pairs,
    # never every pair of the run
    todo = [(image, by_image[image.id], image.id in known) for image in items]
    results = ctx.map_items(
        todo,
        key=lambda item: item[0].id,
        work=partial(verify_image, checks),
        workers=settings.workers,
        description="verify",
        probe=lambda item: item[0].path,
    )
    facts = _finish(ctx, checks, results)
    for check in checks:
        extra = check.finish(ctx)
        if extra:
            facts.setdefault("checks", {})[check.options.plugin] = extra
    ctx.facts.update(facts)
    ctx.checkpoint(force=True)


def _finish(ctx: StageContext, checks: list[Verifier], results: list[dict[str, Any]]) -> dict[str, Any]:
    drops = {c.options.plugin: set(c.options.drop) for c in checks}
    kept: list[QARecord] = []
    notes: list[dict[str, Any]] = []
    flagged: dict[str, Counter[str]] = defaultdict(Counter)
    per_category: dict[str, Counter] = defaultdict(Counter)
    dropped: Counter[str] = Counter()
    for result in results:
        image_notes = result.pop("_notes", None)
        pair = QARecord.model_validate(result)  # as check_image dumped it into the ledger
        if image_notes:
            notes.append({"image_id": pair.image_id, "notes": image_notes})
        cat = per_category[pair.category or "(none)"]
        cat["pairs"] += 1
        cat["negatives"] += pair.negative
        raised = {(f.check, f.flag) for f in pair.flags}
        for check, flag in raised:
            flagged[check][flag] += 1
        for flag in {flag for _, flag in raised}:
            cat[flag] += 1
        cat["flagged"] += bool(raised)
        why = _dropped(pair, drops)
        if why:
            dropped.update(set(why))
            continue
        kept.append(pair)
    ctx.save("pairs", kept)
    write_jsonl_atomic(ctx.dir / NOTES_FILE, notes)
    if notes:
        ctx.info(f"{len(notes)} images have notes (in {ctx.dir / NOTES_FILE})")
    total = len(results)
    flagged_pairs = sum(c["flagged"] for c in per_category.values())
    facts: dict[str, Any] = {
        "pairs_in": total,
        "pairs_out": len(kept),
        "flagged_pairs": flagged_pairs,
        "flagged_share": round(flagged_pairs / total, 4) if total else 0.0,
        "flags": {check: dict(sorted(c.items())) for check, c in sorted(flagged.items())},
        "dropped": dict(sorted(dropped.items())),
        "per_category": {
            category: {
                **dict(sorted(c.items())),
                "negative_share": round(c["negatives"] / c["pairs"], 4) if c["pairs"] else 0.0,
            }
            for category, c in sorted(per_category.items())
        },
        "notes": len(notes),
    }
    if dropped:
        ctx.info(
            "dropped "
            + ", ".join(f"{n} {flag}" for flag, n in sorted(dropped.items()))
            + f" pairs; {len(kept)} of {total} go on"
        )
    return facts


def estimate(ctx: StageContext) -> list[str]:
    """``vlkd run --dry-run``: what each check will do (a second teacher's calls and cost)."""
    try:
        images = list(_images(ctx).values())
    except StageError:
        images = None
    lines = []
    for check in _checks(ctx):
        for line in check.estimate(ctx, images):
            lines.append(f"{check.options.plugin}: {line}")
    return lines
