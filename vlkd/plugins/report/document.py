"""The report as a list of sections, independent of the output format.

Order, for a person reading from the top: the headline (the gain, in one sentence), the
per-category table, the per-category chart, the loss curve, examples with their images,
every metric, the teacher's cost, the data (with verify flags, and the verify stage's checks
and what each flag was worth when present), what was evaluated and how, how to use the tuned student, and the run.
A run without an evaluation gets the data sections only. ``render_md`` and ``render_html``
write the same document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vlkd.api import Metrics

from vlkd.api import report_sections
from vlkd.plugins.report.basis import basis_lines
from vlkd.plugins.report.charts import bar_chart, loss_chart, loss_points
from vlkd.plugins.report.collect import ReportData
from vlkd.plugins.report.examples import Example
from vlkd.plugins.report.ladder import Ladder, cost_table, ladder_table
from vlkd.plugins.report.tables import (
    HEADLINE_METRIC,
    Table,
    category_table,
    cell,
    conf_label,
    dataset_table,
    delta,
    flags_table,
    metrics_table,
    stages_table,
    systems_shown,
)


@dataclass
class Section:
    title: str
    blocks: list[Any] = field(default_factory=list)
    id: str = ""


@dataclass
class Headline:
    text: str


@dataclass
class Paragraph:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Chart:
    svg: str
    file: str  # written next to report.md
    alt: str


@dataclass
class Code:
    text: str


@dataclass
class Examples:
    kind: str
    items: list[Example]
    columns: list[str]  # answer rows shown: base, tuned, teacher


def headline(data: ReportData) -> str:
    m = data.metrics
    if m is None:
        d = data.dataset
        return (
            f"This run made {d['pairs']} question/answer pairs about {d['images_with_pairs']} images "
            f"({d['negatives']} of them 'not present' questions); it has no evaluation yet."
        )
    base, tuned = cell(m, "base", "", HEADLINE_METRIC), cell(m, "tuned", "", HEADLINE_METRIC)
    n = "?" if m.items is None else m.items
    if base.get("value") is None or tuned.get("value") is None:
        only = next((s for s in systems_shown(m) if cell(m, s, "", HEADLINE_METRIC)), None)
        value = cell(m, only, "", HEADLINE_METRIC).get("value") if only else None
        return f"The {only or '?'} row answers {_p(value)} of {n} test questions exactly right."
    d = delta(m, "", HEADLINE_METRIC)
    low, high = (d.get("ci") or [None, None])[:2]
    sure = (
        ""
        if low is None
        else " — no question changed"
        if low == high == 0 and not d.get("value")
        else " — the interval is above zero, so the gain is not chance"
        if low > 0
        else " — the interval includes zero, so this may be chance"
        if high is not None and high >= 0
        else " — the interval is below zero: tuning made it worse"
    )
    interval = "" if low is None else f" ({conf_label(m)} interval {low * 100:+.1f} to {high * 100:+.1f})"
    return (
        f"The tuned student answers {_p(tuned['value'])} of {n} test questions exactly right, against "
        f"{_p(base['value'])} for the base student: {d.get('value', 0) * 100:+.1f} points"
        f"{interval}{sure}."
    )


def _listing(words: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _p(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def build_document(
    data: ReportData,
    picks: dict[str, list[Example]],
    data_picks: list[Example],
    ladder: Ladder | None = None,
) -> list[Section]:
    m = data.metrics
    sections = [Section("", [Headline(headline(data))], "headline")]
    basis = basis_lines(data)
    if basis:
        sections.append(Section("What each figure rests on", [Bullets(basis)], "basis"))
    if m is not None:
        sections += _evaluation_sections(data, picks)
    if ladder is not None:
        after = next((i + 1 for i, s in enumerate(sections) if s.id == "by-category"), len(sections))
        sections.insert(
            after,
            Section(
                "The distillation ladder",
                [
                    ladder_table(ladder),
                    cost_table(ladder),
                    *([Bullets(ladder.notes)] if ladder.notes else []),
                ],
                "distillation-ladder",
            ),
        )
    sections += _data_sections(data, data_picks if m is None else [])
    sections += _usage_sections(data)
    sections.append(_run_section(data))
    notes = (m.notes if m is not None else []) + data.notes
    if notes:
        sections.append(Section("Notes", [Bullets(notes)], "notes"))
    return sections


def _evaluation_sections(data: ReportData, picks: dict[str, list[Example]]) -> list[Section]:
    m = data.metrics
    if m is None:
        return []
    out = [Section("Base vs tuned, by category", [category_table(m)], "by-category")]
    missing = m.categories_not_evaluated
    if missing:
        out[0].blocks.append(
            Bullets(
                [f"**{c}** was not evaluated: {why}." for c, why in missing.items()]
                + ["A category needs images in the test split to be scored; add images of it."]
            )
        )
    systems = systems_shown(m)
    groups = [(c, {s: cell(m, s, c, HEADLINE_METRIC).get("value") for s in systems}) for c in m.categories]
    if groups:
        out.append(
            Section(
                _listing([s if i else s.capitalize() for i, s in enumerate(systems)]) + " by category",
                [
                    Chart(
                        bar_chart(groups, systems, "exact match by category"),
                        "by_category.svg",
                        "exact match by category",
                    )
                ],
                "chart",
            )
        )
    train, evals = loss_points(data.loss)
    if train or evals:
        source = f" (from {data.rel(data.loss_source)})" if data.loss_source else ""
        out.append(
            Section(
                "Training loss",
                [
                    Chart(loss_chart(train, evals), "loss.svg", "training loss by step"),
                    Paragraph(f"Loss by training step{source}."),
                ],
                "loss",
            )
        )
    columns = [s for s in ("base", "tuned", "teacher") if s in systems]
    for kind, title, empty in (
        ("gains", "Best gains: questions the tuned student got more right", "None: no question improved."),
        (
            "regressions",
            "Worst regressions: questions the tuned student got more wrong",
            "None: no question got worse.",
        ),
        (
            "not_present",
            "'Not present' mistakes of the tuned student",
            "None besides those among the regressions above.",
        ),
    ):
        items = picks.get(kind) or []
        out.append(Section(title, [Examples(kind, items, columns)] if items else [Paragraph(empty)], kind))
    out.append(Section("Every metric", [metrics_table(m), Bullets(_metric_words(m))], "metrics"))
    teacher = m.teacher
    if teacher:
        out[-1].blocks.append(
            Paragraph(
                f"The teacher row scores the teacher's own answers on {teacher['items']} of the test "
                f"questions against the reviewed answers (reviewers changed {teacher['edited_by_reviewers']} "
                f"and added {teacher['added_by_reviewers']})."
            )
        )
    return out


def _metric_words(m: Metrics) -> list[str]:
    names = m.metric_names()
    words = [
        "**Exact match**: the same answer after normalisation (Unicode width, case, punctuation, spaces); "
        "part numbers, dates and codes must match character for character, and `35NM` equals `35 N·m`."
    ]
    if "anls" in names:
        words.append(
            "**ANLS (vlkd)**: 1 minus the normalised edit distance, 0 when the distance is 0.5 or more "
            "(the DocVQA paper's definition), after NFKC and case folding."
        )
    if "anls_docvqa" in names:
        words.append(
            "**ANLS (DocVQA script)**: the official DocVQA evaluation script's number, comparable with "
            "leaderboards: lower-case and trimmed only, and 0 only below 0.5 (a distance of exactly 0.5 scores 0.5)."
        )
    words.append(
        "**Relaxed accuracy**: for questions answered by one measured number, within 5% and in the same unit; "
        "identifiers, ranges and several numbers must match exactly; a negated answer ('not 35') does not count."
    )
    words.append(
        "**Not present**: precision and recall of answering 不存在 ('not in the image'); a student that always "
        "says it gets full recall and poor precision."
    )
    for x in m.metrics:
        if x.get("missing"):
            words.append(f"**{x['label']}** is missing: {x['missing']}.")
    return words


def _data_sections(data: ReportData, data_picks: list[Example]) -> list[Section]:
    out = []
    teach = data.manifest.stages.get("teach")
    if teach:
        usage = teach.get("usage") or {}
        provenance = {p.provenance.model or p.provenance.plugin for p in data.pairs} - {None, ""}
        who = f" ({', '.join(sorted(provenance))})" if provenance else ""
        out.append(
            Section(
                "Teacher: cost, tokens, time",
                [
                    Bullets(
                        [
                            f"{usage.get('requests', 0)} requests to the teacher{who}, {usage.get('cached', 0)} "
                            f"answered from the cache.",
                            f"{usage.get('input_tokens', 0):,} input and {usage.get('output_tokens', 0):,} output tokens.",
                            f"Cost: ${usage.get('cost_usd', 0.0):.4f}; time: {teach.get('wall_time_s', 0):.1f} s.",
                        ]
                    )
                ],
                "teacher",
            )
        )
    d = data.dataset
    blocks: list[Any] = [dataset_table(d)] if d["pairs"] else [Paragraph("No question/answer pairs yet.")]
    added = _plugin_sections(data)
    flags = None if any(s.id == "checks" for s in added) else flags_table(d)  # the checks section has them
    if flags:
        blocks += [Paragraph(f"{d['flagged_pairs']} of {d['pairs']} pairs carry a verify flag."), flags]
    out.append(Section("The data", blocks, "data"))
    out += added
    if data_picks:
        out.append(Section("Examples from the data", [Examples("data", data_picks, [])], "data-examples"))
    return out


def _plugin_sections(data: ReportData) -> list[Section]:
    """The sections plugins add through the ``vlkd_report_sections`` hook (the verify package's
    checks: negatives and flags per category, each flag's value once experts reviewed)."""
    return [
        Section(s.title, [*([Bullets(s.lines)] if s.lines else []), *s.tables], s.anchor)
        for s in report_sections(data.manifest)
    ]


def _usage_sections(data: ReportData) -> list[Section]:
    m = data.metrics
    if m is None:
        return []
    model = m.model or {}
    references = ", ".join(f"{v} {k}" for k, v in sorted(m.references.items()))
    lines = [
        f"Split: **{m.split or '?'}**, {'?' if m.items is None else m.items} questions"
        + (f"; reference answers: {references}" if references else "")
        + "."
    ]
    if model.get("backend") == "openai":
        students = model.get("students") or {}
        lines.append(
            f"Asked of the OpenAI-compatible server at `{model.get('base_url')}`: "
            + "; ".join(
                f"{system} = model `{s.get('model_name')}` (the server answered as `{s.get('server_model') or '?'}`)"
                for system, s in students.items()
            )
            + "."
        )
    elif model:
        lines.append(
            f"Loaded here with transformers: student `{data.rel(model.get('base_model'))}`"
            + (f", tuned with the adapter `{data.rel(model.get('adapter'))}`" if model.get("adapter") else "")
            + f"; images within {model.get('image_min_pixels')}–{model.get('image_max_pixels')} pixels."
        )
    prompt = m.prompt
    if prompt:
        lines.append(
            f"Each question in a new conversation with its image; {prompt.get('decoding', 'greedy')} decoding, "
            f"at most {prompt.get('max_new_tokens')} new tokens"
            + (f"; system prompt: “{prompt['system']}”" if prompt.get("system") else "")
            + "."
        )
    boot = m.bootstrap
    lines.append(
        f"Intervals: {conf_label(m)} percentile bootstrap over questions ({boot.get('samples', 0)} resamples, "
        f"seed {boot.get('seed', 0)}); gains use a paired bootstrap (the same questions for both students)."
    )
    if m.judge:
        j = m.judge
        lines.append(
            f"LLM judge {j.get('plugin')} {j.get('model') or ''}: {j.get('graded', 0)} of {j.get('asked', 0)} "
            f"answers graded"
            + (f", {j['unreadable']} verdicts unreadable" if j.get("unreadable") else "")
            + "."
        )
    out = [Section("What was evaluated, and how", [Bullets(lines)], "method")]
    serve = serving(data)
    if serve:
        out.append(Section("Using the tuned student", serve, "use"))
    return out


def run_label(data: ReportData) -> str:
    """How the run directory is named in commands: ``runs/NAME`` when it sits in a ``runs`` folder."""
    parent = data.run_dir.parent.name
    return f"{parent}/{data.run_dir.name}" if parent == "runs" else data.run_dir.name


def serving(data: ReportData) -> list[Any]:
    """The commands that answer with, export and serve the tuned student."""
    from vlkd.adapters import vllm_lora_refusal

    info = data.model_info
    if info is None or not info.adapter:
        return []
    run = run_label(data)
    model_dir = data.run_dir / "train" / "model"

    def in_run(path: str) -> str | None:
        p = info.path(model_dir, path) or model_dir  # as the card resolves its own paths
        shown = data.rel(p)
        return f"{run}/{shown}" if not Path(shown).is_absolute() and (data.run_dir / shown).exists() else None

    raw_base = info.base_model
    looks_like_path = raw_base.startswith(("/", ".", "~")) or Path(raw_base).exists()
    base = (in_run(raw_base) or "BASE_MODEL_DIR") if looks_like_path else raw_base or "BASE_MODEL"
    adapter = in_run(info.adapter) or "ADAPTER_DIR"
    refusal = vllm_lora_refusal(model_dir / info.adapter)  # an absolute adapter path stays as it is
    serve = (
        "vllm serve merged-model --served-model-name tuned"
        if refusal
        else f"vllm serve {base} --enable-lora --lora-modules tuned={adapter}"
    ) + _pixel_limits_flag(info)
    out = [
        Paragraph("From the directory that holds the run:"),
        Code(
            f'vlkd predict {run} IMAGE "question"         # the tuned student answers (--base: the base one)\n'
            f"vlkd export {run} merged-model --merged   # full weights with the adapter merged in\n" + serve
        ),
    ]
    if refusal:
        out.append(
            Paragraph(
                f"vLLM cannot load this adapter as a LoRA module: {refusal}. Serve the merged "
                "weights instead; with vLLM serving them, `evaluate: {backend: openai, base_url: "
                "http://localhost:8000/v1, systems: [tuned], tuned_model_name: tuned}` evaluates the "
                "served student the same way."
            )
        )
    else:
        out.append(
            Paragraph(
                "With vLLM serving it, `evaluate: {backend: openai, base_model_name: "
                f"{base}, tuned_model_name: tuned}}` evaluates the served student the same way."
            )
        )
    if base == "BASE_MODEL_DIR":
        out.append(
            Paragraph("BASE_MODEL_DIR: the student the run was trained from (outside the run directory).")
        )
    return out


def _pixel_limits_flag(info) -> str:
    """`` --mm-processor-kwargs '{...}'``: the training's pixel limits for vLLM's processor (it
    uses the model's own otherwise), when the family and the card say them; else nothing."""
    import json

    if not (info.image_min_pixels and info.image_max_pixels):
        return ""
    from vlkd.api import StageError, family_of

    try:
        family = family_of(info.base_model, info.family)
    except StageError:  # an unknown family: the report names no limits rather than fail
        return ""
    kwargs = family.server_processor_kwargs(info.image_min_pixels, info.image_max_pixels)
    return f" --mm-processor-kwargs '{json.dumps(kwargs)}'" if kwargs else ""


def _when(stamp: str | None) -> str:
    """``2026-12-01T09:24:10+0000`` as ``2026-12-01 09:24 UTC+00:00``."""
    import datetime as dt

    from vlkd.api import MANIFEST_TIME

    try:
        t = dt.datetime.strptime(stamp or "", MANIFEST_TIME)
    except ValueError:
        return stamp or "?"
    offset = t.strftime("%z")
    return t.strftime("%Y-%m-%d %H:%M") + (" UTC" if offset == "+0000" else f" UTC{offset[:3]}:{offset[3:]}")


def _run_section(data: ReportData) -> Section:
    man = data.manifest
    recipe = man.recipe
    versions = man.versions
    lines = [
        f"Recipe **{data.name}** (hash `{str(recipe.get('hash', '?'))[:12]}`), run directory `{run_label(data)}`.",
        f"Started {_when(man.created)}; last updated {_when(man.updated or man.created)}.",
        f"vlkd {versions.get('vlkd', '?')}, Python {versions.get('python', '?')}.",
    ]
    return Section("The run", [Bullets(lines), stages_table(man)], "run")


__all__ = [
    "Bullets",
    "Chart",
    "Code",
    "Examples",
    "Headline",
    "Paragraph",
    "Section",
    "Table",
    "build_document",
    "headline",
]
