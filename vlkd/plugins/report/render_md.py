"""The report document as Markdown (``report.md``); charts are the SVG files written beside it."""

from __future__ import annotations

from collections.abc import Callable

from vlkd.plugins.report.document import Bullets, Chart, Code, Examples, Headline, Paragraph, Section
from vlkd.plugins.report.tables import Table, numeric_columns


def _escape(cell: str) -> str:
    return str(cell).replace("|", "\\|").replace("\n", " ")


def _table(t: Table) -> list[str]:
    numeric = numeric_columns(t)
    lines = [
        "| " + " | ".join(t.header) + " |",
        "|" + "|".join("---:" if i in numeric else "---" for i in range(len(t.header))) + "|",
    ]
    for r, row in enumerate(t.rows):
        cells = [_escape(c) for c in row]
        if r in t.strong:
            cells = [f"**{c}**" if c else c for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    if t.caption:
        lines += ["", f"_{t.caption}_"]
    return lines


def _examples(block: Examples, link: Callable[[str], str]) -> list[str]:
    columns = [c for c in block.columns]
    header = ["Question", "Reference", *(c.capitalize() for c in columns), "Category", "Image"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for e in block.items:
        answers = [e.answers.get(c, "") for c in columns]
        note = " · ".join(x for x in (e.category or "", e.note) if x)
        image = f"[image]({link(e.image)})" if e.image else ""
        lines.append(
            "| " + " | ".join(_escape(c) for c in (e.question, e.reference, *answers, note, image)) + " |"
        )
    return lines


def render_markdown(title: str, sections: list[Section], link: Callable[[str], str] = str) -> str:
    out = [f"# {title}", ""]
    for section in sections:
        if section.title:
            out += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Headline):
                out.append(f"**{block.text}**")
            elif isinstance(block, Table):
                out += _table(block)
            elif isinstance(block, Bullets):
                out += [f"- {item}" for item in block.items]
            elif isinstance(block, Paragraph):
                out.append(block.text)
            elif isinstance(block, Chart):
                out.append(f"![{block.alt}]({block.file})")
            elif isinstance(block, Code):
                out += ["```bash", block.text, "```"]
            elif isinstance(block, Examples):
                out += _examples(block, link)
            out.append("")
    return "\n".join(out).rstrip() + "\n"
