"""The report's "Checks and negatives" section, from the manifest alone.

- per category: pairs, the share of ``不存在`` negatives, the share of flagged pairs and the
  count of each flag (the verify stage's facts);
- once experts reviewed: each flag's precision and recall and the teacher's accuracy, overall
  and per category (the review stage's ``verify_value`` facts, see :mod:`.value`).
"""

from __future__ import annotations

from typing import Any

from vlkd.api import ReportSection, ReportTable

Table = ReportTable
DASH = "–"


def pct(value: float | None) -> str:
    return DASH if value is None else f"{value * 100:.1f}%"


TITLE = "Checks and negatives"


def verify_tables(stages: dict[str, dict[str, Any]]) -> tuple[list[Table], list[str]]:
    """(tables, sentences) of the section from the manifest's stage entries; empty when the run
    has no verify stage."""
    facts = (stages.get("verify") or {}).get("facts") or {}
    tables: list[Table] = []
    lines: list[str] = []
    per_category = facts.get("per_category") or {}
    if per_category:
        names = sorted({k for c in per_category.values() for k in c} - _COUNTS)
        rows = [
            [
                category,
                str(c.get("pairs", 0)),
                pct(c.get("negative_share")),
                pct(c["flagged"] / c["pairs"] if c.get("pairs") else None),
                *[str(c.get(n, 0)) for n in names],
            ]
            for category, c in per_category.items()
        ]
        tables.append(
            Table(
                "verify_categories",
                "Negatives and flags per category",
                ["category", "pairs", "不存在 share", "flagged", *names],
                rows,
                "After the verify stage, before review.",
            )
        )
        dropped = facts.get("dropped") or {}
        if dropped:
            lines.append(
                "Dropped by the checks: "
                + ", ".join(f"{n} {flag}" for flag, n in sorted(dropped.items()))
                + "."
            )
    student = (facts.get("checks") or {}).get("student_agreement") or {}
    if student:
        knows, total = (
            student.get("student_knows", 0),
            student.get("student_knows", 0) + student.get("student_wrong", 0),
        )
        lines.append(
            f"The student answered first ({student.get('student')}): it already knew {knows} of {total} "
            f"pairs ({pct(knows / total if total else None)}, zero delta; per category below); keep_known "
            f"dropped {student.get('zero_delta_dropped', 0)} of them before review, as many fewer expert "
            "decisions and training samples."
        )
        tables.append(student_first_table(per_category, stages))
    value = ((stages.get("review") or {}).get("facts") or {}).get("verify_value") or {}
    if value.get("reviewed"):
        lines.append(
            f"Experts reviewed {value['reviewed']} of the teacher's pairs and changed or rejected "
            f"{value['changed']}: the teacher's accuracy is {pct(value.get('teacher_accuracy'))}."
        )
        rows = []
        for scope, block in [("all", value), *sorted((value.get("per_category") or {}).items())]:
            for flag, f in (block.get("flags") or {}).items():
                rows.append(
                    [scope, flag, str(f["flagged"]), str(f["changed"]), pct(f["precision"]), pct(f["recall"])]
                )
        if rows:
            tables.append(
                Table(
                    "verify_value",
                    "What the flags were worth",
                    ["category", "flag", "flagged", "changed by experts", "precision", "recall"],
                    rows,
                    "Precision: flagged pairs the experts changed or rejected. Recall: changed or "
                    "rejected pairs that were flagged.",
                )
            )
    elif value:
        lines.append(
            "No expert decisions yet (auto-approved pairs do not count): precision and recall follow review."
        )
    return tables, lines


_COUNTS = {"pairs", "negatives", "negative_share", "flagged"}


def student_first_table(per_category: dict[str, dict[str, Any]], stages: dict[str, dict[str, Any]]) -> Table:
    """Per category: what the student already knew (the zero-delta share) and what dropping the
    surplus saved: pairs (each one expert decision and one training sample fewer) and the teacher
    tokens they cost (their share of the teach stage's tokens, pairs counted alike)."""
    usage = (stages.get("teach") or {}).get("usage") or {}
    tokens = usage.get("input_tokens", 0) + usage.get("output_tokens", 0)
    pairs_in = sum(c.get("pairs", 0) for c in per_category.values())
    per_pair = tokens / pairs_in if tokens and pairs_in else None
    rows = []
    total: dict[str, int] = {"pairs": 0, "knows": 0, "dropped": 0}
    for category, c in [*per_category.items(), ("all", None)]:
        if c is None:
            pairs, knows, dropped = total["pairs"], total["knows"], total["dropped"]
        else:
            pairs, knows, dropped = c.get("pairs", 0), c.get("student_knows", 0), c.get("zero_delta", 0)
            for key, value in (("pairs", pairs), ("knows", knows), ("dropped", dropped)):
                total[key] += value
        rows.append(
            [
                category,
                str(pairs),
                str(knows),
                pct(knows / pairs if pairs else None),
                str(dropped),
                DASH if per_pair is None else f"{round(per_pair * dropped):,}",
            ]
        )
    return Table(
        "student_first",
        "What the student already knew, per category",
        [
            "category",
            "pairs",
            "student knows",
            "zero-delta share",
            "dropped (pairs = expert decisions)",
            "teacher tokens of the dropped",
        ],
        rows,
        "keep_known drops that share of what the student already answers: each dropped pair is one expert "
        "decision and one training sample fewer. Teacher tokens: the dropped pairs' share of the teach "
        "stage's tokens (pairs counted alike), what asking the student first would save the teacher.",
    )


def add_sections(manifest, add) -> None:
    """The checks section, when the run has a verify stage (``vlkd_report_sections``)."""
    tables, lines = verify_tables(manifest.stages)
    if tables or lines:
        add(ReportSection(TITLE, lines, tables, "checks"))
