"""The report document as one self-contained HTML file: charts inline SVG, images inlined, no external resource.

Wide tables scroll sideways inside their box on a phone instead of widening the page (a shadow
at the box's edge shows that more of the table is hidden there); an
example's thumbnail opens its image full size in an overlay (CSS ``:target``, no script).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from vlkd.plugins.report.document import Bullets, Chart, Code, Examples, Headline, Paragraph, Section
from vlkd.plugins.report.examples import Example
from vlkd.plugins.report.tables import Table, numeric_columns

STYLE = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC","PingFang SC",sans-serif;margin:0;
color:#1f2328;background:#fff;line-height:1.45}
main{max-width:66rem;margin:0 auto;padding:1.5rem 1rem 3rem}
h1{font-size:1.5rem;margin:.2rem 0 .8rem}h2{font-size:1.15rem;margin:2.2rem 0 .6rem;padding-bottom:.25rem;
border-bottom:1px solid #d8dee4}h3{font-size:1rem;margin:1rem 0 .4rem}
.headline{font-size:1.2rem;background:#f6f8fa;border-left:4px solid #1f6feb;padding:.8rem 1rem;margin:0 0 1rem}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;margin:.4rem 0;
background:linear-gradient(to right,#fff 30%,rgba(255,255,255,0)),linear-gradient(to left,#fff 30%,rgba(255,255,255,0)) 100% 0,
radial-gradient(farthest-side at 0 50%,rgba(0,0,0,.3),rgba(0,0,0,0)),radial-gradient(farthest-side at 100% 50%,rgba(0,0,0,.3),rgba(0,0,0,0)) 100% 0;
background-repeat:no-repeat;background-size:2rem 100%,2rem 100%,1rem 100%,1rem 100%;background-attachment:local,local,scroll,scroll}
table{border-collapse:collapse;font-size:.92rem}th,td{border-bottom:1px solid #e3e6ea;padding:.35rem .6rem;
text-align:left;vertical-align:top}th{background:#f6f8fa;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}tr.strong td{font-weight:600}
.caption{font-size:.85rem;color:#57606a;margin:.2rem 0 .8rem}
.pos{color:#1a7f37}.neg{color:#cf222e}code{background:#f6f8fa;padding:0 .2rem;border-radius:3px;font-size:.9em}
pre{background:#f6f8fa;padding:.7rem;overflow-x:auto;font-size:.85rem;border-radius:4px}
svg.chart{width:100%;max-width:38rem;height:auto;display:block}figure{margin:.5rem 0}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(19rem,1fr));gap:.8rem}
.card{border:1px solid #d8dee4;border-radius:6px;padding:.6rem;display:flex;gap:.7rem;align-items:flex-start}
.card img{width:96px;height:auto;border:1px solid #d8dee4;border-radius:3px;flex:none}
.card dl{margin:0;font-size:.9rem;min-width:0;overflow-wrap:anywhere}.card dt{color:#57606a;font-size:.78rem}
.card dd{margin:0 0 .25rem}.card .q{font-weight:600}.tag{font-size:.78rem;color:#57606a}
.lightbox{display:none;position:fixed;inset:0;background:rgba(0,0,0,.85);z-index:10;align-items:center;
justify-content:center;padding:1rem}.lightbox:target{display:flex}.lightbox img{width:100%;height:100%;object-fit:contain;image-rendering:auto}
td.num{white-space:nowrap}@media (max-width:40rem){td.num{white-space:normal}main{padding:1rem .55rem}.headline{font-size:1.05rem}table{font-size:.82rem}
th,td{padding:.3rem .25rem}}
"""


#: a number and its unit stay on one line ("+36.7 pp", "4.2 min")
_UNIT = re.compile(r"(\d) (pp|s|min)$")


def _inline(text: str) -> str:
    """Escape, then the two Markdown marks the document uses: **bold** and `code`."""
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def _table(t: Table) -> str:
    numeric = numeric_columns(t)
    head = "".join(
        f"<th{' class=num' if i in numeric else ''}>{html.escape(h)}</th>" for i, h in enumerate(t.header)
    )
    body = []
    for r, row in enumerate(t.rows):
        cells = []
        for i, value in enumerate(row):
            cls = ["num"] if i in numeric else []
            if value.endswith(" pp") and value[:1] in "+-" and value not in ("+0.0 pp", "-0.0 pp"):
                cls.append("pos" if value.startswith("+") else "neg")
            attr = f' class="{" ".join(cls)}"' if cls else ""
            shown = _UNIT.sub(r"\1&nbsp;\2", html.escape(value))
            cells.append(f"<td{attr}>{shown}</td>")
        body.append(f"<tr{' class=strong' if r in t.strong else ''}>{''.join(cells)}</tr>")
    caption = f'<p class="caption">{html.escape(t.caption)}</p>' if t.caption else ""
    return (
        f'<div class="scroll"><table id="{html.escape(t.id)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>{caption}"
    )


class _Images:
    """Thumbnails and their full-size overlays, each image embedded once per report."""

    def __init__(self, thumb: Callable[[str], str | None], full: Callable[[str], str | None]):
        self.thumb, self.full = thumb, full
        self.ids: dict[str, str] = {}
        self.overlays: list[str] = []

    def tag(self, path: str, alt: str) -> str:
        if not path:
            return '<span class="tag">(no image)</span>'
        src = self.thumb(path)
        if src is None:
            return '<span class="tag">(image unreadable)</span>'
        if path not in self.ids:
            self.ids[path] = f"img{len(self.ids) + 1}"
            big = self.full(path) or src
            self.overlays.append(
                f'<a class="lightbox" id="{self.ids[path]}" href="#_"><img src="{big}" alt="{html.escape(alt)}"></a>'
            )
        return f'<a href="#{self.ids[path]}" title="open full size"><img src="{src}" alt="{html.escape(alt)}"></a>'


def _card(e: Example, columns: list[str], images: _Images, alt: str) -> str:
    said = "reference" if columns else "answer"  # a data example shows the pair as it was made
    rows = [
        f'<dd class="q">{html.escape(e.question)}</dd>',
        f"<dt>{said}</dt><dd>{html.escape(e.reference)}</dd>",
    ]
    labels = {"base": "base student", "tuned": "tuned student", "teacher": "teacher"}
    for column in columns:
        if column in e.answers:
            rows.append(
                f"<dt>{labels.get(column, column)}</dt><dd>{html.escape(e.answers[column] or '(empty)')}</dd>"
            )
    tags = [
        t
        for t in (
            (e.category or "").replace("_", " "),
            e.note,
            f"ANLS {e.change:+.2f}" if e.change is not None else "",
        )
        if t
    ]
    tag = f'<dd class="tag">{html.escape(" · ".join(tags))}</dd>' if tags else ""
    return f'<div class="card">{images.tag(e.image, alt)}<dl>{"".join(rows)}{tag}</dl></div>'


def render_html(
    title: str,
    sections: list[Section],
    thumb: Callable[[str], str | None],
    full: Callable[[str], str | None],
    image_name: Callable[[str], str],
) -> str:
    images = _Images(thumb, full)
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body><main>"
        f"<h1>{html.escape(title)}</h1>"
    ]
    for section in sections:
        parts.append(f'<section id="{html.escape(section.id)}">')
        if section.title:
            parts.append(f"<h2>{html.escape(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Headline):
                parts.append(f'<p class="headline">{_inline(block.text)}</p>')
            elif isinstance(block, Table):
                parts.append(_table(block))
            elif isinstance(block, Bullets):
                parts.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block.items) + "</ul>")
            elif isinstance(block, Paragraph):
                parts.append(f"<p>{_inline(block.text)}</p>")
            elif isinstance(block, Chart):
                parts.append(f"<figure>{block.svg}</figure>")
            elif isinstance(block, Code):
                parts.append(f"<pre><code>{html.escape(block.text)}</code></pre>")
            elif isinstance(block, Examples):
                cards = [_card(e, block.columns, images, image_name(e.image)) for e in block.items]
                parts.append(f'<div class="cards" id="{block.kind}">{"".join(cards)}</div>')
        parts.append("</section>")
    parts.append("</main>" + "".join(images.overlays) + "</body></html>\n")
    return "".join(parts)
