"""Numbers with units in answers: ``35 N·m``, ``12.5V``, ``1,200 rpm``, ``30-35 N·m``, ``¥120``, ``20%``.

Units are compared after a canonical spelling, never converted, and regardless of case:
``35NM``, ``35 N·m``, ``35 N.m`` and ``35 Nm`` are one torque; ``1200 MM`` is ``1200 mm``;
``35 kg`` is not ``35 N·m``. The one place where case carries meaning that both readings of
a service manual use is resistance (``mΩ`` milliohm vs ``MΩ`` megaohm), so a prefix before
``Ω`` keeps its case. Common Chinese unit words map to their symbol (``公斤`` -> ``kg``,
``升`` -> ``L``, ``牛·米`` -> ``Nm``). Currencies are units too, written before or after the
number: ``¥120`` = ``120元`` = ``RMB 120``; ``$1,200`` = ``1200 USD``.

Each :class:`Quantity` keeps the digits as written (``text``: sign, leading zeros, decimals,
thousands separators) so that identifiers can be compared digit for digit, and
``joined`` says it touches another number through ``-``, ``/``, ``:`` or ``.`` with no space
(``04465-34000``, ``12/15/89``, ``2018-2020``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

_NUMBER = r"(?:(?<![\w.])[-+])?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_LATIN_UNIT = r"[A-Za-zΩμµ°%](?:[A-Za-zΩμµ°%/²³·.\-]*[A-Za-zΩμµ°%²³])?"
_JOINERS = re.compile(r"^(?:[\s,，、;；/~～\-–—]|to|and|至|到|和|或|或者)*$", re.IGNORECASE)
_GLUE = {"-", "/", ":", "."}  # a number touching another through one of these is an identifier part
_NOT_UNITS = {"to", "and", "or"}
_SEPARATORS = re.compile(r"[\s·•⋅∙\.\-*×]")

#: unit spellings whose canonical form is not simply the lower-cased compact spelling
_ALIASES = {
    "r/min": "rpm",
    "rev/min": "rpm",
    "kmh": "km/h",
    "kph": "km/h",
    "nm": "nm",  # newton-metre, written NM, Nm, N·m, N.m, N-m (nanometres are not in service manuals)
    "ω": "Ω",
    "ohm": "Ω",
    "ohms": "Ω",
    "kω": "kΩ",
    "kohm": "kΩ",
    "µ": "μ",
}
#: currency symbols and codes, before or after the number
_CURRENCIES = {
    "¥": "cny",
    "rmb": "cny",
    "cny": "cny",
    "元": "cny",
    "块": "cny",
    "人民币": "cny",
    "yuan": "cny",
    "$": "usd",
    "us$": "usd",
    "usd": "usd",
    "美元": "usd",
    "€": "eur",
    "eur": "eur",
    "欧元": "eur",
    "£": "gbp",
    "gbp": "gbp",
    "英镑": "gbp",
    "円": "jpy",
    "日元": "jpy",
    "jpy": "jpy",
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
    "升": "l",
    "毫升": "ml",
    "伏": "v",
    "伏特": "v",
    "安": "a",
    "安培": "a",
    "瓦": "w",
    "千瓦": "kw",
    "牛米": "nm",
    "牛·米": "nm",
    "牛顿米": "nm",
    "转/分": "rpm",
    "转每分": "rpm",
    "度": "°",
    "摄氏度": "°c",
    "秒": "s",
    "分钟": "min",
    "小时": "h",
    "千帕": "kpa",
    "兆帕": "mpa",
    "欧": "Ω",
    "欧姆": "Ω",
    "个": "",
    "次": "",
}
_SUFFIX_WORDS = {**_CHINESE, **{k: v for k, v in _CURRENCIES.items() if not k.isascii()}}
_CHINESE_UNIT = "|".join(re.escape(w) for w in sorted(_SUFFIX_WORDS, key=len, reverse=True) if w)
_PREFIX = r"US\$|\$|¥|€|£|RMB|CNY|USD|EUR|GBP|JPY"
_QUANTITY = re.compile(
    rf"(?:(?P<cur>{_PREFIX})\s*)?(?P<num>{_NUMBER})\s*(?P<unit>{_CHINESE_UNIT}|{_LATIN_UNIT}(?![A-Za-z]))?"
)


@dataclass(frozen=True)
class Quantity:
    value: float
    unit: str
    #: the number as written (``-40``, ``04465``, ``3.50``, ``1,200``)
    text: str = ""
    #: glued to a neighbouring number by ``-``, ``/``, ``:`` or ``.`` (part of an identifier)
    joined: bool = False

    @property
    def exact_key(self) -> tuple[str, str]:
        """What "the same number" means when no tolerance applies: the value, except that a
        number written with a leading zero (``04465``) must be written the same way."""
        digits = self.text.lstrip("+").replace(",", "")
        integer = digits.lstrip("-").split(".")[0]
        if len(integer) > 1 and integer.startswith("0"):
            return digits, self.unit
        return repr(self.value), self.unit

    @property
    def identifier_like(self) -> bool:
        """A number that names rather than measures, compared exactly: part of a code or date
        (``joined``), written with a leading zero, a bare integer of five or more digits (phone,
        part number), or a bare four-digit year 1900-2099."""
        if self.joined:
            return True
        digits = self.text.lstrip("+-")
        if "." in digits or "," in digits:  # decimals and thousands separators measure
            return False
        if len(digits) > 1 and digits.startswith("0"):
            return True
        if self.unit:
            return False
        return len(digits) >= 5 or (len(digits) == 4 and 1900 <= int(digits) <= 2099)


@lru_cache(maxsize=1024)
def canonical_unit(unit: str) -> str:
    """One spelling per unit, case folded (``N·m``, ``NM``, ``Nm`` -> ``nm``; ``元``, ``¥`` -> ``cny``)."""
    unit = unicodedata.normalize("NFKC", unit).strip()
    if unit in _SUFFIX_WORDS:
        return _SUFFIX_WORDS[unit]
    if unit.lower() in _CURRENCIES:
        return _CURRENCIES[unit.lower()]
    compact = _SEPARATORS.sub("", unit).replace("µ", "μ")
    if compact in _SUFFIX_WORDS:
        return _SUFFIX_WORDS[compact]
    if compact.endswith("Ω"):  # mΩ (milli) and MΩ (mega) are both real: the prefix keeps its case
        return _ALIASES.get(compact.lower(), compact)
    folded = compact.lower()
    return _ALIASES.get(folded, folded)


def parse_quantities(text: str, *, whole: bool) -> list[Quantity]:
    """The quantities in ``text``, in order.

    With ``whole=True`` the text must be nothing but quantities (and range/list joiners),
    else ``[]``: ``"M8"`` or ``"check the 12V battery"`` is not a quantity answer.
    """
    return list(_parse(text or "", whole))


@lru_cache(maxsize=1 << 16)
def _parse(text: str, whole: bool) -> tuple[Quantity, ...]:
    text = unicodedata.normalize("NFKC", text or "").replace("\u2212", "-").strip().rstrip("。.")
    values: list[float] = []
    units: list[str] = []
    texts: list[str] = []
    joined: list[bool] = []
    pos = 0
    for m in _QUANTITY.finditer(text):
        between = text[pos : m.start()]
        if whole and not _JOINERS.match(between):
            return ()
        before = text[m.start() - 1] if m.start() else ""
        if before.isascii() and before.isalpha():  # "M8", "P0301": a name with a number in it
            if whole:
                return ()
            continue
        num = m.group("num")
        unit = m.group("unit") or ""
        if unit.lower() in _NOT_UNITS:  # "30 to 35 N·m"
            unit = ""
        if unit[:1] in _GLUE and unit[1:2].isdigit():  # never a unit: "04465-34000" reads "-" as glue
            unit = ""
        currency = m.group("cur")
        glued = bool(values) and between in _GLUE and not currency
        if glued:  # "04465-34000": both numbers are parts of one identifier
            joined[-1] = True
        values.append(float(num.replace(",", "")))
        units.append(canonical_unit(currency) if currency else canonical_unit(unit))
        texts.append(num)
        joined.append(glued)
        pos = m.end("num") if not unit else m.end()
    if whole and (not values or not _JOINERS.match(text[pos:])):
        return ()
    for i in range(len(units) - 2, -1, -1):  # "30-35 N·m": a bound without a unit takes the next one's
        if not units[i] and units[i + 1]:
            units[i] = units[i + 1]
    return tuple(map(Quantity, values, units, texts, joined))
