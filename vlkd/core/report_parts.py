"""What a plugin adds to the run's report through ``vlkd_report_sections``: sections of
sentences and tables, rendered by the report plugin as Markdown and HTML like its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vlkd.core.results import Manifest


@dataclass
class ReportTable:
    """A table of a report: ``rows`` of already formatted cells under ``header``."""

    id: str
    title: str
    header: list[str]
    rows: list[list[str]]
    caption: str = ""
    #: columns holding numbers (right-aligned); the first column never does
    numeric: set[int] = field(default_factory=set)
    #: rows to set in bold (the overall row)
    strong: set[int] = field(default_factory=set)


@dataclass
class ReportSection:
    """A section a plugin adds: a title, sentences (a bulleted list), then tables. ``anchor`` is
    its id in the page; the section ``checks`` stands in for the report's own flags table."""

    title: str
    lines: list[str] = field(default_factory=list)
    tables: list[ReportTable] = field(default_factory=list)
    anchor: str = ""


#: ``add(section)``: what a ``vlkd_report_sections`` implementation calls for each section
AddSection = Callable[[ReportSection], None]


def report_sections(manifest: Manifest) -> list[ReportSection]:
    """Every installed plugin's sections for the report of a run with ``manifest``, in plugin
    registration order."""
    from vlkd.core.registry import get_plugin_manager

    sections: list[ReportSection] = []
    get_plugin_manager().hook.vlkd_report_sections(manifest=manifest, add=sections.append)
    return sections
