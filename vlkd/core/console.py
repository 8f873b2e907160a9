"""The console every command prints to, and the tables it shows.

On a terminal rich fits the text to the window. Elsewhere (a pipe, ``| tee``, a CI log, a file)
nothing is wrapped: a line is as long as its text, so a path or a file name is never split
(rich would fold it at 80 columns). Tables name things a person types (a plugin, a family, a
stage): those columns never shrink, and a cell is always text, never markup
(``pip install "vlkd[openai]"`` stays as it is).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

#: the width a table may take where the output is not a terminal: what its cells need
UNWRAPPED = 100_000


def make_console(stderr: bool = True) -> Console:
    """A console for messages (``stderr``) or for a command's output (stdout)."""
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False, emoji=False)
    if not console.is_terminal:
        console.soft_wrap = True
        console.width = UNWRAPPED
    return console


def cell(value: object, style: str = "") -> Text:
    """``value`` as a table cell, printed as it is (never read as markup)."""
    from rich.text import Text

    return Text(str(value), style=style)


def keep_whole(table: Table, columns: Iterable[int]) -> Table:
    """Give ``columns`` of ``table`` (rows already added) the width of their widest cell, so that
    a narrow window shrinks the other columns, never these."""
    from rich.cells import cell_len

    for index in columns:
        column = table.columns[index]
        cells: Sequence = list(column.cells)
        texts = [str(getattr(c, "plain", c)) for c in [column.header, *cells]]
        column.min_width = max((cell_len(t) for t in texts), default=0)
        column.no_wrap = True
    return table
