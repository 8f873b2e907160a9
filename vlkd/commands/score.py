"""``vlkd score FILE.jsonl``: vlkd's metrics and intervals for any model's answers (GPT-4o, a served model)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vlkd.api import hookimpl


@hookimpl
def vlkd_register_commands(app: typer.Typer) -> None:
    @app.command()
    def score(
        file: Annotated[
            Path,
            typer.Argument(
                help='JSON Lines: {"prediction": "...", "answers": ["..."], "category": ..., "negative": ...}',
                show_default=False,
            ),
        ],
        per_item: Annotated[
            bool, typer.Option("--per-item", help="One JSON object per input line, in input order.")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="The summary as JSON.")] = False,
        by: Annotated[
            str | None, typer.Option("--by", help="Also per value of this field, e.g. --by category.")
        ] = None,
        samples: Annotated[int, typer.Option(min=0, help="Bootstrap resamples (0: no intervals).")] = 1000,
        seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
        confidence: Annotated[float, typer.Option(min=0.5, max=0.999, help="Interval confidence.")] = 0.95,
        not_present: Annotated[
            str, typer.Option("--not-present", help="The answer meaning 'not in the image'.")
        ] = "不存在",
    ) -> None:
        """Score answers with exact match, ANLS (vlkd's and the DocVQA script's), relaxed accuracy, not-present F1."""
        import json

        from vlkd.metrics.score_file import read_lines, score_lines
        from vlkd.metrics.scores import MAX_SCORED_CHARS

        items = read_lines(file, by=by or "category")
        cut = [
            it.line
            for it in items
            if max(len(it.prediction), *(len(a) for a in it.answers)) > MAX_SCORED_CHARS
        ]
        if cut:
            where = f"line {cut[0]} holds" if len(cut) == 1 else f"{len(cut)} lines (first: {cut[0]}) hold"
            typer.echo(
                f"note: {file}: {where} a string longer than {MAX_SCORED_CHARS:,} characters; "
                f"ANLS compared the first {MAX_SCORED_CHARS:,}",
                err=True,
            )
        rows, summary = score_lines(
            items,
            not_present=not_present,
            samples=0 if per_item else samples,
            seed=seed,
            confidence=confidence,
            rows=per_item,
        )
        if per_item:
            typer.echo("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
            return
        summary.pop("systems", None)
        result = summary.pop("results")["answers"]
        summary.pop("deltas", None)
        out = {"file": str(file), "items": len(items), "by": by, **summary, "overall": result["overall"]}
        if by:
            out["groups"] = result["categories"]
        else:
            out.pop("categories", None)
        if as_json:
            typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
            return
        _print_table(out)


def _print_table(out: dict) -> None:
    from rich.table import Table

    from vlkd.core.console import make_console

    labels = {m["name"]: m["label"] for m in out["metrics"]}
    table = Table(title=f"{out['file']}: {out['items']} answers", title_justify="left")
    table.add_column(out["by"] or "", style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column(f"{round(out['bootstrap']['confidence'] * 100)}% interval", justify="right")
    table.add_column("n", justify="right")
    groups = [("all", out["overall"]), *(out.get("groups") or {}).items()]
    for g, (name, group) in enumerate(groups):
        for i, (metric, label) in enumerate(labels.items()):
            cell = group.get(metric) or {}
            value, ci = cell.get("value"), cell.get("ci")
            table.add_row(
                name if i == 0 else "",
                label,
                "–" if value is None else f"{value * 100:.1f}%",
                "–" if not ci else f"[{ci[0] * 100:.1f}, {ci[1] * 100:.1f}]",
                str(cell.get("n", "")),
                end_section=i == len(labels) - 1 and g < len(groups) - 1,
            )
    make_console(stderr=False).print(table)
