"""The report's "Team review" section, from the manifest alone (the review stage's ``team`` facts).

Per category and overall: pairs decided by two or more reviewers, observed agreement, Cohen's
kappa or Krippendorff's alpha, answers edited alike; per reviewer: agreement with the others and
with the settled result; the teacher's agreement with the settled answers. No key, no link: the
facts hold names and roles only.
"""

from __future__ import annotations

from typing import Any

from vlkd.api import ReportSection, ReportTable

Table = ReportTable
DASH = "–"


def pct(value: float | None) -> str:
    return DASH if value is None else f"{value * 100:.1f}%"


TITLE = "Team review"


def add_sections(manifest, add) -> None:
    """The team review's section, when the run had a review team (``vlkd_report_sections``)."""
    tables, lines = team_tables(manifest.stages)
    if tables or lines:
        add(ReportSection(TITLE, lines, tables, "team-review"))


def team_tables(stages: dict[str, Any]) -> tuple[list[Table], list[str]]:
    """(tables, sentences) of the section from the manifest's stage entries; empty when the run had
    no review team."""
    facts = (((stages or {}).get("review") or {}).get("facts") or {}).get("team")
    if not facts:
        return [], []
    s = facts.get("settings") or {}
    standing = facts.get("standing") or {}
    lines = [
        f"Reviewers: {', '.join(facts.get('reviewers') or []) or DASH}; overlap {s.get('overlap', 1)} on "
        f"{pct(s.get('overlap_share', 1.0))} of the images (riskiest first)"
        + ("; blind." if s.get("blind") else "."),
        "Pairs: "
        + ", ".join(f"{v} {k}" for k, v in standing.items())
        + f"; {facts.get('unsettled', 0)} not settled.",
    ]
    figures = facts.get("agreement")
    if not figures:
        return [], lines
    teacher = figures.get("teacher") or {}
    lines.append(
        f"The teacher's answer was kept in {pct(teacher.get('agreement'))} of the "
        f"{teacher.get('settled', 0)} settled pairs."
    )
    blocks = [("all", figures["overall"]), *sorted((figures.get("per_category") or {}).items())]
    rows = [
        [
            name,
            str(b["pairs"]),
            pct(b.get("observed")),
            _coefficient(b),
            f"{pct(b.get('edited_same'))} of {b['edited']}" if b.get("edited") else DASH,
        ]
        for name, b in blocks
    ]
    reviewers = [
        [
            name,
            str(r["decided"]),
            pct(r.get("observed")),
            f"{pct(r.get('with_result'))} of {r['judged']}" if r.get("judged") else DASH,
        ]
        for name, r in (figures.get("per_reviewer") or {}).items()
    ]
    tables = [
        Table(
            "team_agreement",
            "Agreement between reviewers",
            ["category", "pairs decided twice", "observed", "κ / α", "edited alike"],
            rows,
            "Observed: share of reviewer pairs with the same status. κ: Cohen's kappa (two reviewers), "
            "α: Krippendorff's alpha (more): 1 perfect, 0 chance. Edited alike: pairs that every reviewer "
            "edited to the same text, of those anyone edited.",
            numeric={1, 2, 3, 4},
            strong={0},
        ),
        Table(
            "team_reviewers",
            "Each reviewer",
            ["reviewer", "decided", "agrees with the others", "agrees with the result"],
            reviewers,
            "Result: the settled decision of pairs decided twice or by a lead.",
            numeric={1, 2, 3},
        ),
    ]
    return tables, lines


def _coefficient(block: dict[str, Any]) -> str:
    if block.get("kappa") is not None:
        return f"κ {block['kappa']:.2f}"
    if block.get("alpha") is not None:
        return f"α {block['alpha']:.2f}"
    return DASH
