"""The common fields of automotive documents that a page may print: the OCR teacher asks for
those the page does not show (its negatives), and the ``ocr_grounding`` check flags a "not
present" answer about one the page does show. One table, read by both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    zh: str
    en: str
    #: a label or a unit of this field anywhere in the text means it is present
    present: re.Pattern[str]


FIELDS = (
    Field("零件号", "part number", re.compile(r"零件号|零件编号|配件号|件号|part\s*(no|number|#)|p/n", re.I)),
    Field("拧紧力矩", "tightening torque", re.compile(r"力矩|扭矩|torque|n\s*·?\s*m\b|nm\b", re.I)),
    Field("压力", "pressure", re.compile(r"压力|胎压|气压|pressure|kpa|\bbar\b|psi", re.I)),
    Field("加注容量", "fill capacity", re.compile(r"容量|加注量|capacity|\d\s*(l|升|ml)\b", re.I)),
    Field(
        "保养间隔", "service interval", re.compile(r"间隔|周期|interval|\d\s*(km|公里)|个月|months?", re.I)
    ),
    Field("日期", "date", re.compile(r"日期|date|\d{4}[-/.年]\d{1,2}", re.I)),
    Field("适用车型", "vehicle model", re.compile(r"车型|型号|model", re.I)),
    Field("额定电压", "rated voltage", re.compile(r"电压|voltage|\d\s*v\b", re.I)),
    Field("故障码", "fault code", re.compile(r"故障码|dtc|\b[pcbu]\d{4}\b", re.I)),
)
