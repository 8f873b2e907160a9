"""The report document as Markdown (``report.md``)."""

from __future__ import annotations

from vlkd.plugins.report.document import Bullets, Examples, Figure, Paragraph, Section
from vlkd.plugins.report.tables import Table


def _escape(cell: str) -> str:
    return str(cell).replace("|", "\\|").replace("\n", " ")


def _table(t: Table) -> list[str]:
    lines = [
        f"**{t.title}**",
        "",
        "| " + " | ".join(t.header) + " |",
        "|" + "|".join("---" if i < 2 else "---:" for i in range(len(t.header))) + "|",
    ]
    lines += ["| " + " | ".join(_escape(c) for c in row) + " |" for row in t.rows]
    if t.caption:
        lines += ["", f"_{t.caption}_"]
    return lines


def _examples(block: Examples) -> list[str]:
    if not block.items:
        return ["None."]
    lines = [
        "| Category | Question | Reference | Base | Tuned | ANLS change | Image |",
        "|---|---|---|---|---|---:|---|",
    ]
    for e in block.items:
        lines.append(
            "| "
            + " | ".join(
                _escape(c)
                for c in (
                    e.get("category") or "",
                    e["question"],
                    e["reference"],
                    e["base"],
                    e["tuned"],
                    f"{e['anls_change']:+.2f}",
                    f"[image]({e['image']})" if e.get("image") else "",
                )
            )
            + " |"
        )
    return lines


def render_markdown(title: str, sections: list[Section]) -> str:
    out = [f"# {title}", ""]
    for section in sections:
        out += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                out += _table(block)
            elif isinstance(block, Bullets):
                out += [f"- {item}" for item in block.items]
            elif isinstance(block, Paragraph):
                out.append(block.text)
            elif isinstance(block, Figure):
                out.append(f"![{block.alt}]({block.path})")
            elif isinstance(block, Examples):
                out += _examples(block)
            out.append("")
    return "\n".join(out).rstrip() + "\n"
