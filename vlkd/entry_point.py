"""The ``vlkd`` console script: the command line, with Ctrl-C during start-up handled too.

``vlkd.cli`` imports typer (and the commands import more) before its ``main`` can catch
anything: a Ctrl-C in that first half second would print an import traceback. This module
imports nothing at its top, so the interrupt is caught wherever it lands.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Import the command line and run it; a Ctrl-C while importing exits 130 without a traceback."""
    try:
        from vlkd.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    cli_main()
