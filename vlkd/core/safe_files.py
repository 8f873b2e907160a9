"""Before reading a file whole: is it a regular file of a sane size? (FIFOs block, /dev/zero never ends.)"""

from __future__ import annotations

import os
import stat

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_problem(path: str | os.PathLike[str], limit: int | None) -> str | None:
    """Why ``path`` must not be read whole (``None`` when it may); follows symlinks.

    A missing file is left to the reader, which knows what to say about it.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot read it: {exc.strerror or exc}"
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a plain file")
        return f"not a regular file: it is {kind}"
    if limit is not None and st.st_size > limit:
        return f"too large: {st.st_size:,} bytes (the limit is {limit:,})"
    return None


def printable_name(path: str) -> str | None:
    """``None`` when ``path`` is valid UTF-8 text; else the name with its bad bytes shown as ``\\xNN``."""
    try:
        path.encode("utf-8")
        return None
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", "backslashreplace")
