"""Read a rendered page as a person sees it: its tables and links (for report tests)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class HtmlPage:
    """What a person sees of a rendered page: its tables (by id) and every src/href."""

    tables: dict[str, list[list[str]]] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)


def read_html(html: str) -> HtmlPage:
    """Parse a page for tests of report plugins: tables as ``{id: [[cell text, ...], ...]}``
    (unnamed tables by position, ``t0``, ``t1``, ...) and the ``src``/``href`` of every tag."""
    from html.parser import HTMLParser

    page = HtmlPage()

    class _Reader(HTMLParser):
        rows: list[list[str]] | None = None
        cell: list[str] | None = None

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            named = dict(attrs)
            page.links.extend(v for k, v in attrs if k in ("src", "href") and v is not None)
            if tag == "table":
                self.rows = page.tables.setdefault(named.get("id") or f"t{len(page.tables)}", [])
            elif tag == "tr" and self.rows is not None:
                self.rows.append([])
            elif tag in ("td", "th") and self.rows is not None:
                self.cell = []

        def handle_endtag(self, tag: str) -> None:
            if tag in ("td", "th") and self.cell is not None and self.rows:
                self.rows[-1].append("".join(self.cell).strip())
                self.cell = None
            elif tag == "table":
                self.rows = None

        def handle_data(self, data: str) -> None:
            if self.cell is not None:
                self.cell.append(data)

    _Reader().feed(html)
    return page
