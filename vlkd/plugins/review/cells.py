"""Text in spreadsheet cells: what vlkd writes, and what it reads back.

- Formula injection: a cell starting with ``=``, ``@``, a tab or a line break, or with
  ``+``/``-`` not followed by a plain number (``-40°C`` and ``+86 138`` stay as they are), gets
  a leading apostrophe, so that neither LibreOffice nor Excel evaluates teacher text
  (``=HYPERLINK(...)``); reading strips that apostrophe again.
- Characters XML forbids (a vertical tab copied from Word, NUL, lone surrogates) are replaced:
  vertical tab, form feed and carriage return by a line break, the others by U+FFFD. The version of a row is
  computed over this written form, so an untouched row never counts as an edit.
- File names: ``é.png`` may be written composed (NFC, one code point) or decomposed (NFD, ``e``
  and a combining accent); both can sit in one folder and look the same. A name that is not
  NFC is shown with a mark (:func:`shown_name`), so twins are told apart on the page and in
  the sheet, and a sheet that an application saved back in NFC still names the same images.
"""

from __future__ import annotations

import re
import unicodedata

_LINE_BREAKS = str.maketrans({"\x0b": "\n", "\x0c": "\n", "\r": "\n"})
_FORBIDDEN = re.compile(r"[\x00-\x08\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_ALWAYS = ("=", "@", "\t", "\r", "\n")
#: after a leading +/-: a number with an optional unit, and nothing a formula could use
_NUMBER = re.compile(r"[+-]\d[^=+\-*/^&|!();@\"']*")


def cell_text(value: object) -> str:
    """A record value as sheet text (booleans as true/false, whole floats without '.0')."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def xml_safe(text: str) -> str:
    """``text`` without the characters an XLSX file cannot hold (XML reads a CR as a line break)."""
    return _FORBIDDEN.sub("\ufffd", text.replace("\r\n", "\n").translate(_LINE_BREAKS))


def sheet_form(value: object) -> str:
    """What a cell shows of a value once read back: XML-safe text without surrounding blanks."""
    return xml_safe(cell_text(value)).strip()


def is_formula_like(text: str) -> bool:
    if not text:
        return False
    if text.startswith(_ALWAYS):
        return True
    return text[0] in "+-" and not _NUMBER.fullmatch(text)


def _needs_quote(text: str) -> bool:
    # text that already starts with quotes before a formula gets one more, so reading is exact
    return is_formula_like(text) or (text.startswith("'") and _needs_quote(text[1:]))


def escape_cell(value: object) -> str:
    """The text written into a CSV or XLSX cell."""
    text = xml_safe(cell_text(value))
    return "'" + text if _needs_quote(text) else text


def unescape_cell(text: str) -> str:
    """The value of a cell read back: the apostrophe that :func:`escape_cell` added is removed."""
    if text.startswith("'") and _needs_quote(text[1:]):
        return text[1:]
    return text


#: the mark after a file name that is not in Unicode's composed form (NFC)
DECOMPOSED = " [decomposed Unicode]"


def shown_name(name: str) -> str:
    """A file name as a person is shown it: marked when it is not NFC (see the module's notes)."""
    return name if unicodedata.is_normalized("NFC", name) else name + DECOMPOSED


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)
