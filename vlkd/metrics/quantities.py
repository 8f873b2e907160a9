"""Numbers with units in answers: ``35 N·m``, ``12.5V``, ``1,200 rpm``, ``30-35 N·m``, ``20%``.

Units are compared after a canonical spelling, never converted: ``N·m``, ``N.m``, ``N-m``
and ``Nm`` are one unit; ``35 kg`` is not ``35 N·m``. SI prefixes are case-sensitive
(``Nm`` newton-metre is not ``nm`` nanometre), so case is kept except for a few spellings
that are unambiguous (``KG``, ``Kg`` -> ``kg``; ``RPM`` -> ``rpm``; ...). Common Chinese unit
words map to their symbol (``公斤`` -> ``kg``, ``升`` -> ``L``, ``牛·米`` -> ``Nm``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_NUMBER = r"(?:(?<![\w.])[-+])?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_LATIN_UNIT = r"[A-Za-zΩμµ°%](?:[A-Za-zΩμµ°%/²³·.\-]*[A-Za-zΩμµ°%²³])?"
_JOINERS = re.compile(r"^(?:[\s,，、;；/~～\-–—]|to|and|至|到|和|或|或者)*$", re.IGNORECASE)
_NOT_UNITS = {"to", "and", "or"}
_SEPARATORS = re.compile(r"[\s·•⋅∙\.\-*×]")

_CASE_FREE = {
    "kg": "kg",
    "km": "km",
    "kw": "kW",
    "kwh": "kWh",
    "kmh": "km/h",
    "km/h": "km/h",
    "rpm": "rpm",
    "r/min": "rpm",
    "psi": "psi",
    "kpa": "kPa",
    "mpa": "MPa",
    "bar": "bar",
    "hp": "hp",
    "ps": "PS",
    "l": "L",
    "ml": "mL",
    "v": "V",
    "a": "A",
    "°c": "°C",
    "°f": "°F",
    "%": "%",
    "h": "h",
    "min": "min",
    "s": "s",
    "g": "g",
    "t": "t",
    "ah": "Ah",
    "mah": "mAh",
    "w": "W",
    "ω": "Ω",
    "kω": "kΩ",
}
_CHINESE = {
    "公斤": "kg",
    "千克": "kg",
    "克": "g",
    "吨": "t",
    "公里": "km",
    "千米": "km",
    "米": "m",
    "毫米": "mm",
    "厘米": "cm",
    "升": "L",
    "毫升": "mL",
    "伏": "V",
    "伏特": "V",
    "安": "A",
    "安培": "A",
    "瓦": "W",
    "千瓦": "kW",
    "牛米": "Nm",
    "牛·米": "Nm",
    "牛顿米": "Nm",
    "转/分": "rpm",
    "转每分": "rpm",
    "度": "°",
    "摄氏度": "°C",
    "秒": "s",
    "分钟": "min",
    "小时": "h",
    "千帕": "kPa",
    "兆帕": "MPa",
    "欧": "Ω",
    "欧姆": "Ω",
    "个": "",
    "次": "",
}


_CHINESE_UNIT = "|".join(re.escape(w) for w in sorted(_CHINESE, key=len, reverse=True) if w)
_QUANTITY = re.compile(rf"(?P<num>{_NUMBER})\s*(?P<unit>{_CHINESE_UNIT}|{_LATIN_UNIT}(?![A-Za-z]))?")


@dataclass(frozen=True)
class Quantity:
    value: float
    unit: str


def canonical_unit(unit: str) -> str:
    unit = unicodedata.normalize("NFKC", unit).strip()
    if unit in _CHINESE:
        return _CHINESE[unit]
    compact = _SEPARATORS.sub("", unit).replace("µ", "μ")
    if compact in _CHINESE:
        return _CHINESE[compact]
    return _CASE_FREE.get(compact.lower(), compact) if compact.lower() in _CASE_FREE else compact


def parse_quantities(text: str, *, whole: bool) -> list[Quantity]:
    """The quantities in ``text``, in order.

    With ``whole=True`` the text must be nothing but quantities (and range/list joiners),
    else ``[]``: ``"M8"`` or ``"check the 12V battery"`` is not a quantity answer.
    """
    text = unicodedata.normalize("NFKC", text or "").strip().rstrip("。.")
    found: list[Quantity] = []
    pos = 0
    for m in _QUANTITY.finditer(text):
        between = text[pos : m.start()]
        if whole and not _JOINERS.match(between):
            return []
        before = text[m.start() - 1] if m.start() else ""
        if before.isascii() and before.isalpha():  # "M8", "P0301": a name with a number in it
            if whole:
                return []
            continue
        num = m.group("num").replace(",", "")
        unit = m.group("unit") or ""
        if unit.lower() in _NOT_UNITS:  # "30 to 35 N·m"
            unit = ""
        found.append(Quantity(float(num), canonical_unit(unit)))
        pos = m.end("num") if not unit else m.end()
    if whole and (not found or not _JOINERS.match(text[pos:])):
        return []
    _share_units(found)
    return found


def _share_units(found: list[Quantity]) -> None:
    """``30-35 N·m``: a range whose first number has no unit takes the last one's."""
    for i in range(len(found) - 2, -1, -1):
        if not found[i].unit and found[i + 1].unit:
            found[i] = Quantity(found[i].value, found[i + 1].unit)
