"""The distillation ladder: base -> SFT on the teacher's text -> + logit KD -> on-policy, per category.

Each rung is a run of its own (recipes that extend each other, the same split): the report of
one names the others (``report: {ladder: [runs/demo]}``, ``vlkd report RUN --ladder runs/demo``).
A run's rung comes from its train stage in ``manifest.json`` (the resolved recipe's
``train.distill.method``; a train stage without ``distill:`` is SFT on the teacher's text). Every
rung is scored on the same test items, read from each run's ``predictions.jsonl``, and compared
with the SFT rung by a paired bootstrap over those items (the settings of this run's evaluation).
The teacher, where the evaluation scored its own answers, is a reference row. What each rung cost
comes from its manifest: the text teacher's tokens (teach stage), the logit teacher's samples and
seconds (the train stage's facts), the student's optimizer steps and training time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlkd.api import StageError
from vlkd.plugins.report.tables import DASH, HEADLINE_METRIC, Table, ci, pct, plain, pp, seconds

if TYPE_CHECKING:
    from vlkd.api import Manifest, Metrics, Prediction
    from vlkd.plugins.report.collect import ReportData

#: rungs in the ladder's order, and how the report names them
RUNGS = {
    "base": "base student",
    "sft": "SFT",
    "logit_kd": "+ logit KD",
    "on_policy": "on-policy",
}
#: the rungs in running text
SHORT = {"base": "base", "sft": "SFT", "logit_kd": "logit-KD", "on_policy": "on-policy"}
TEACHER = "teacher (reference)"
#: the rung every other is compared with
REFERENCE = "sft"
#: how many differing items an error names
SHOWN = 5


@dataclass
class Rung:
    """One run of the ladder: what it is, its answers to the test items, and what it cost."""

    kind: str  # a key of RUNGS, or a method a newer plugin added
    run: str  # how the report names the run directory
    path: Path
    tuned: dict[str, Prediction]  # test item id -> this rung's answer
    base: dict[str, Prediction]
    teacher: dict[str, Prediction]
    cost: dict[str, Any] = field(default_factory=dict)
    distill: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return RUNGS.get(self.kind, self.kind.replace("_", " "))


@dataclass
class Ladder:
    rungs: list[Rung]
    reference: Rung | None  # the SFT rung, or None when no run is one
    categories: list[str]
    bootstrap: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def recipe_ladder(manifest: Manifest) -> list[str]:
    """The runs the recipe's report stage names (``report.ladder``), for ``vlkd report`` without
    ``--ladder``."""
    report = (manifest.recipe.get("resolved") or {}).get("report") or {}
    return [str(x) for x in report.get("ladder") or []]


def rung_of(manifest: Manifest) -> tuple[str, dict[str, Any]]:
    """The rung a run stands on, from its resolved recipe: (kind, its ``distill:`` block)."""
    if "train" not in manifest.stages:
        return "base", {}
    train = (manifest.recipe.get("resolved") or {}).get("train") or {}
    distill = train.get("distill") or {}
    return (str(distill.get("method")) if distill.get("method") else "sft"), distill


def cost_of(manifest: Manifest) -> dict[str, Any]:
    """What the run spent: text teacher tokens and dollars, logit teacher samples and seconds,
    student steps and training seconds (absent values stay absent)."""
    stages = manifest.stages
    usage = (stages.get("teach") or {}).get("usage") or {}
    train = stages.get("train") or {}
    facts = train.get("facts") or {}
    return {
        "text_tokens": (usage.get("input_tokens") or 0) + (usage.get("output_tokens") or 0)
        if "teach" in stages
        else None,
        "text_cost_usd": usage.get("cost_usd"),
        "logit_samples": facts.get("teacher_samples_computed"),
        "logit_cached": facts.get("teacher_samples_cached"),
        "logit_seconds": facts.get("teacher_seconds"),
        "device": facts.get("device"),
        "steps": facts.get("global_step"),
        "train_seconds": facts.get("train_runtime") or train.get("wall_time_s"),
    }


def resolve_run(name: str | Path, here: Path) -> Path:
    """A ladder entry as written (relative to the working directory, as ``distill.teacher`` is),
    else beside this run (``../demo`` copied with it); a StageError names what is missing."""
    path = Path(name).expanduser()
    for candidate in (path, here.parent / path.name):
        if (candidate / "manifest.json").is_file():
            return candidate.resolve()
    raise StageError(
        f"report.ladder: {name} is not a vlkd run directory (no manifest.json there or beside "
        f"{here.name}): name the run directory of each rung, e.g. runs/demo, after running its recipe"
    )


def _rung(run_dir: Path, label: str) -> tuple[Rung, Metrics]:
    from vlkd.api import load_artifact
    from vlkd.plugins.report.collect import _latest, read_manifest

    manifest = read_manifest(run_dir)
    metrics_path = _latest(run_dir, manifest, "metrics")
    if metrics_path is None or not metrics_path.is_file():
        raise StageError(
            f"report.ladder: {label} has no evaluate results (no metrics.json): run its recipe "
            "through the evaluate stage first (vlkd run RECIPE --run-dir " + label + ")"
        )
    metrics = load_artifact("metrics", metrics_path)
    predictions_path = metrics_path.parent / metrics.predictions
    predictions = load_artifact("predictions", predictions_path) if predictions_path.is_file() else []
    by_system: dict[str, dict[str, Prediction]] = {}
    for p in predictions:
        by_system.setdefault(p.system, {})[p.id] = p
    kind, distill = rung_of(manifest)
    if kind != "base" and not by_system.get("tuned"):
        raise StageError(
            f"report.ladder: {label}/{predictions_path.relative_to(run_dir)} has no tuned answers: "
            "evaluate the trained student (evaluate.systems with tuned) to compare its rung"
        )
    tuned = by_system.get("base", {}) if kind == "base" else by_system.get("tuned", {})
    rung = Rung(
        kind,
        label,
        run_dir,
        tuned,
        by_system.get("base", {}),
        by_system.get("teacher", {}),
        cost_of(manifest),
        distill,
    )
    return rung, metrics


def _label(run_dir: Path) -> str:
    """``runs/demo`` for a run in a ``runs`` folder, else its path as short as it is clear."""
    parent = run_dir.parent.name
    return f"{parent}/{run_dir.name}" if parent == "runs" else run_dir.name


def check_same_items(rungs: Sequence[Rung]) -> None:
    """Every rung answered the same test items, or a StageError naming those that differ."""
    first = rungs[0]
    mine = set(first.tuned)
    for other in rungs[1:]:
        theirs = set(other.tuned)
        if theirs == mine:
            continue

        def named(ids: set[str], rung: Rung) -> str:
            shown = sorted(ids)[:SHOWN]
            words = ", ".join(f"{i} ({rung.tuned[i].question!r})" for i in shown)
            return words + (f" and {len(ids) - SHOWN} more" if len(ids) > SHOWN else "")

        parts = []
        if mine - theirs:
            parts.append(f"{len(mine - theirs)} only in {first.run}: {named(mine - theirs, first)}")
        if theirs - mine:
            parts.append(f"{len(theirs - mine)} only in {other.run}: {named(theirs - mine, other)}")
        raise StageError(
            f"report.ladder: {other.run} was evaluated on other test items than {first.run} ("
            + "; ".join(parts)
            + "). Rungs are compared on the same items: run recipes that extend each other, with the "
            "same split: and evaluate: sections"
        )


def collect_ladder(data: ReportData, others: Sequence[str | Path]) -> Ladder | None:
    """This run and the named ones as a ladder; None when no other run is named."""
    if not others or data.metrics is None:
        if others:
            raise StageError(
                f"report.ladder: {_label(data.run_dir)} has no evaluate results to compare: run its "
                "evaluate stage first"
            )
        return None
    here, _ = _rung(data.run_dir, _label(data.run_dir))
    rungs = [here]
    seen = {data.run_dir.resolve()}
    for name in others:
        path = resolve_run(name, data.run_dir)
        if path in seen:
            continue
        seen.add(path)
        rungs.append(_rung(path, _label(path) if Path(name).is_absolute() else str(name).rstrip("/"))[0])
    check_same_items(rungs)
    order = list(RUNGS)
    rungs.sort(key=lambda r: order.index(r.kind) if r.kind in order else len(order))
    reference = next((r for r in rungs if r.kind == REFERENCE), None)
    base_source = reference or rungs[0]
    if base_source.base and not any(r.kind == "base" for r in rungs):
        rungs.insert(0, Rung("base", base_source.run, base_source.path, base_source.base, {}, {}))
    categories = sorted({p.category or "uncategorized" for r in rungs for p in r.tuned.values()})
    ladder = Ladder(rungs, reference, categories, dict(data.metrics.bootstrap or {}))
    ladder.notes += _teacher_notes(rungs)
    if reference is None:
        ladder.notes.append("No run of the ladder is SFT on the teacher's text: no interval against it.")
    return ladder


def _teacher_notes(rungs: Sequence[Rung]) -> list[str]:
    """Which model taught each distilled rung's logits, named by the rung it is when it is one."""
    notes = []
    for r in rungs:
        teacher = r.distill.get("teacher")
        if isinstance(teacher, dict):  # a teacher server: {server, model}
            notes.append(
                f"The {r.label} rung ({r.run}) learnt the logits of `{teacher.get('model')}` (a server)."
            )
            continue
        if not teacher:
            continue
        model_dir = Path(str(teacher)).resolve()
        same = next(
            (o for o in rungs if o is not r and o.kind != "base" and _is_model_of(model_dir, o.path)), None
        )
        who = f", the {SHORT.get(same.kind, same.label)} rung's student ({same.run})" if same else ""
        notes.append(f"The {r.label} rung ({r.run}) learnt the logits of `{teacher}`{who}.")
    return notes


def _is_model_of(model_dir: Path, run: Path) -> bool:
    try:
        return model_dir == (run / "train" / "model").resolve()
    except OSError:
        return False


# -- the tables ------------------------------------------------------------------------------


def _vectors(predictions: dict[str, Prediction], ids: Sequence[str]) -> list[list[float]]:
    from vlkd.metrics.summary import item_vector

    return [item_vector(predictions[i].scores) for i in ids]


def _ids(rung: Rung, category: str) -> list[str]:
    return sorted(
        i for i, p in rung.tuned.items() if not category or (p.category or "uncategorized") == category
    )


def ladder_table(ladder: Ladder) -> Table:
    """Per category, then overall: each rung's exact match, its paired gain against SFT with the
    interval, and the teacher's own answers as a reference row."""
    from vlkd.metrics.summary import delta_metrics, group_metrics

    boot = {
        "samples": int(ladder.bootstrap.get("samples", 1000)),
        "seed": int(ladder.bootstrap.get("seed", 0)),
        "confidence": float(ladder.bootstrap.get("confidence", 0.95)),
        "names": [HEADLINE_METRIC],
    }
    label = f"{round(boot['confidence'] * 100)}%"
    teacher = next((r.teacher for r in ladder.rungs if r.teacher), {})
    header = ["Category", "Rung", "Run", "Exact match", "vs SFT", f"{label} interval", "n"]
    rows: list[list[str]] = []
    strong: set[int] = set()
    for category in [*ladder.categories, ""]:
        first = len(rows)
        ref = ladder.reference
        ref_ids = _ids(ref, category) if ref else []
        for r in ladder.rungs:
            ids = _ids(r, category)
            if not ids:
                continue
            value = group_metrics(_vectors(r.tuned, ids), **boot)[HEADLINE_METRIC]["value"]
            gain, interval = "", ""
            if ref is r:
                gain, interval = "reference", ""
            elif ref is not None and ids == ref_ids:
                d = delta_metrics(_vectors(ref.tuned, ids), _vectors(r.tuned, ids), **boot)[HEADLINE_METRIC]
                gain, interval = pp(d["value"]), ci(d["ci"], signed=True)
            rows.append(["", r.label, r.run, pct(value), gain or DASH, interval or DASH, str(len(ids))])
        t_ids = sorted(
            i for i, p in teacher.items() if not category or (p.category or "uncategorized") == category
        )
        if t_ids:
            value = group_metrics(_vectors(teacher, t_ids), **boot)[HEADLINE_METRIC]["value"]
            rows.append(["", TEACHER, "", pct(value), DASH, DASH, str(len(t_ids))])
        if len(rows) > first:
            rows[first][0] = plain(category) if category else "Overall"
            if not category:
                strong.update(range(first, len(rows)))
    return Table(
        "ladder",
        "The ladder by category",
        header,
        rows,
        "Exact match on the same test questions for every rung. SFT: the student fine-tuned on the "
        "teacher's text; + logit KD: also on the teacher's token distributions; on-policy: on its own "
        "answers, scored by the teacher. vs SFT: percentage points against the SFT rung, with a paired "
        f"bootstrap interval over the same questions ({boot['samples']} resamples); n = test questions. The teacher row scores the teacher's own answers where the "
        "evaluation asked for them.",
        numeric={3, 4, 5, 6},
        strong=strong,
    )


def cost_table(ladder: Ladder) -> Table:
    """What each rung spent: teacher tokens (text), teacher samples and seconds (logits), student steps."""
    rows = []
    for r in ladder.rungs:
        c = r.cost
        if r.kind == "base" and not c:
            rows.append([r.label, r.run, DASH, DASH, DASH, "0", DASH])
            continue
        tokens = c.get("text_tokens")
        text = DASH if tokens is None else f"{tokens:,}"
        if c.get("text_cost_usd"):
            text += f" (${c['text_cost_usd']:.2f})"
        samples = c.get("logit_samples")
        logits = DASH
        if samples is not None:
            logits = f"{samples:,} run" + (f", {c['logit_cached']:,} cached" if c.get("logit_cached") else "")
        secs = c.get("logit_seconds")
        device = f" ({c['device']})" if secs is not None and c.get("device") else ""
        steps = c.get("steps")
        rows.append(
            [
                r.label,
                r.run,
                text,
                logits,
                DASH if secs is None else seconds(secs) + device,
                DASH if steps is None else f"{steps:,}",
                seconds(c.get("train_seconds")) or DASH,
            ]
        )
    return Table(
        "ladder-cost",
        "What each rung cost",
        [
            "Rung",
            "Run",
            "Teacher text tokens",
            "Teacher logits (samples)",
            "Teacher time",
            "Student steps",
            "Train time",
        ],
        rows,
        "Teacher text tokens: the teach stage's input and output tokens (each run's own; a cached answer "
        "costs none). Teacher logits: samples the logit teacher scored for this run, and those found in "
        "the cache; teacher time: the seconds that took, on the device named. Student steps: optimizer steps.",
        numeric={5, 6},
    )
