"""The report document as one self-contained HTML file: images inlined, no external resource."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable
from pathlib import Path

from vlkd.plugins.report.document import Bullets, Examples, Figure, Paragraph, Section
from vlkd.plugins.report.tables import Table

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC",sans-serif;margin:2rem auto;max-width:72rem;
padding:0 1rem;color:#222}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;
vertical-align:top}th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
caption{caption-side:bottom;font-size:.85rem;color:#555;text-align:left;padding-top:.25rem}
.pos{color:#1a7f37}.neg{color:#c62828}img.thumb{max-width:160px;max-height:160px}code{background:#f4f4f4}
"""
_NUMERIC = re.compile(r"^[+\-–]?[\d.,\[\]+\- %pp$]*$")


def _inline(text: str) -> str:
    """Escape, then the two Markdown marks the document uses: **bold** and `code`."""
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def _td(cell: str) -> str:
    cls = []
    if _NUMERIC.match(cell) and any(ch.isdigit() for ch in cell):
        cls.append("num")
    if cell.endswith(" pp"):
        cls.append(
            "pos" if cell.startswith("+") and cell != "+0.0 pp" else "neg" if cell.startswith("-") else ""
        )
    attr = f' class="{" ".join(c for c in cls if c)}"' if any(cls) else ""
    return f"<td{attr}>{html.escape(cell)}</td>"


def _table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in t.header)
    body = "".join("<tr>" + "".join(_td(c) for c in row) + "</tr>" for row in t.rows)
    caption = f"<caption>{html.escape(t.caption)}</caption>" if t.caption else ""
    return (
        f'<h3>{html.escape(t.title)}</h3><table id="{html.escape(t.id)}">{caption}<thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def _examples(block: Examples, thumb: Callable[[str], str | None]) -> str:
    if not block.items:
        return "<p>None.</p>"
    rows = []
    for e in block.items:
        src = thumb(e["image"]) if e.get("image") else None
        img = (
            f'<img class="thumb" src="{src}" alt="{html.escape(Path(e["image"]).name)}">'
            if src
            else "(no image)"
        )
        teacher = (
            f"<br><small>teacher: {html.escape(e['teacher'])}</small>" if e.get("teacher") is not None else ""
        )
        rows.append(
            f"<tr><td>{img}</td><td>{html.escape(e.get('category') or '')}</td>"
            f"<td>{html.escape(e['question'])}</td><td>{html.escape(e['reference'])}{teacher}</td>"
            f"<td>{html.escape(e['base'])}</td><td>{html.escape(e['tuned'])}</td>"
            f'<td class="num">{e["anls_change"]:+.2f}</td></tr>'
        )
    return (
        f'<table id="{block.kind}"><thead><tr><th>Image</th><th>Category</th><th>Question</th><th>Reference</th>'
        f"<th>Base</th><th>Tuned</th><th>ANLS change</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def render_html(
    title: str, sections: list[Section], out_dir: Path, thumb: Callable[[str], str | None]
) -> str:
    parts = [
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
    ]
    for section in sections:
        parts.append(f"<section><h2>{html.escape(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Table):
                parts.append(_table(block))
            elif isinstance(block, Bullets):
                parts.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block.items) + "</ul>")
            elif isinstance(block, Paragraph):
                parts.append(f"<p>{_inline(block.text)}</p>")
            elif isinstance(block, Figure):
                data = base64.b64encode((out_dir / block.path).read_bytes()).decode("ascii")
                parts.append(
                    f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(block.alt)}">'
                    f"</figure>"
                )
            elif isinstance(block, Examples):
                parts.append(_examples(block, thumb))
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "".join(parts)
