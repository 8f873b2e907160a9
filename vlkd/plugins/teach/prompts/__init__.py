"""The built-in prompt pack: the seed's automotive prompts (zh, en), their task categories,
the other spellings of those categories, and the answers that mean "not in the image".

The core teach driver knows none of this: it asks the teacher for a pack
(``Teacher.prompt_pack()``); the built-in teachers return :func:`automotive_pack`, and a
third-party teacher may return it too, or a pack of its own.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from vlkd.api import PromptPack

HERE = Path(__file__).resolve().parent


@cache
def automotive_pack() -> PromptPack:
    return PromptPack(
        root=HERE,
        categories=("part_recognition", "fault_diagnosis", "manual_parsing"),
        aliases={
            "parts": "part_recognition",
            "part": "part_recognition",
            "warning_lights": "fault_diagnosis",
            "fault": "fault_diagnosis",
            "diagnosis": "fault_diagnosis",
            "manual": "manual_parsing",
            "manuals": "manual_parsing",
            "documents": "manual_parsing",
        },
        negative_aliases=(
            "不存在",
            "无法识别",
            "图中不存在",
            "未显示",
            "not present",
            "not found",
            "not shown",
            "not visible",
            "not available",
            "n/a",
        ),
    )
