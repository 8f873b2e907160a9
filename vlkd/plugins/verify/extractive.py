"""Which answers are extractive (copied from the page), and what a question asks about.

An extractive answer is one a reader copies off the page: a code or part number, a number
with or without a unit, or a short name. Such an answer must be printed on the page; a long
or descriptive answer ("check the brake fluid level, then ...") need not be, and is not
checked. :func:`answer_kind` makes that decision and names it.

:func:`question_subject` strips the question's frame ("图中的…是什么?", "What is the … shown
in the image?") to leave what it asks about, so a ``不存在`` answer can be checked against
the page: if the subject is printed there, the negative is suspect.
"""

from __future__ import annotations

import re

_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff]")
_UNITS = (
    r"n\s*[·.]?\s*m|nm|kpa|mpa|bar|psi|kg|g|mm|cm|m|km|km/h|mph|l|ml|v|a|ah|w|kw|hp|rpm|°c|℃|°|%|"
    r"h|s|min|months?|years?|升|毫升|公里|千米|伏|安|瓦|千瓦|转|个月|年|小时|分钟|秒|元|¥|￥|\$"
)
_NUMBER = re.compile(
    rf"^[¥￥$]?\s*[-+]?\d[\d,]*(\.\d+)?\s*({_UNITS})?(\s*[-~/x×+]\s*[-+]?\d[\d,.]*\s*({_UNITS})?)*$", re.I
)
_PART_NUMBER = re.compile(r"^\d{3,}(-[0-9A-Za-z]{3,})+$")
_CODE = re.compile(r"^(?=.*\d)(?=.*[A-Za-z0-9])[A-Za-z0-9][A-Za-z0-9\-_./#]*$")
_SENTENCE = re.compile(r"[。！？!?；;]|[,，]\s*\S+\s+\S+|\b(is|are|should|must|then|when|if|because)\b", re.I)

#: the frames of a question around its subject, Chinese and English
_ZH_FRAME = re.compile(
    r"^(请问)?(这张)?(图片|图像|图|页面|本页)?(中|上|里)?(所)?(标注|显示|列出|给出|写|印|标明)?(的|了)?"
    r"(?P<s>.+?)"
    r"(分别)?(是|为|有)?(什么|多少|哪个|哪些|几|多大|多长|怎样|如何)?(内容)?[?？。\s]*$"
)
_EN_FRAME = re.compile(
    r"^(what|which|who|when|how much|how many|where)\s+(is|are|was|were|does|do)?\s*(the\s+)?"
    r"(?P<s>.+?)"
    r"(\s+(is|are|was|were))?"
    r"(\s+(shown|given|printed|listed|written|stated|displayed|mentioned|say|says))?"
    r"(\s+(in|on)\s+(the|this)\s+(image|page|document|picture|photo|figure|sheet))?\s*[?.\s]*$",
    re.I,
)
_EN_STOP = {"the", "a", "an", "of", "for", "in", "on", "this", "that", "image", "page", "shown", "given"}


def answer_kind(answer: str) -> str | None:
    """``code``, ``number`` (with or without a unit), ``name``, or ``None`` (not extractive)."""
    text = answer.strip()
    if not text:
        return None
    if _PART_NUMBER.match(text):
        return "code"
    if _NUMBER.match(text):
        return "number"
    if _CODE.match(text) and len(text) >= 3:
        return "code"
    if _SENTENCE.search(text):
        return None
    cjk = len(_CJK.findall(text))
    words = len(text.split())
    if (cjk and cjk <= 16 and words <= 4) or (not cjk and words <= 5 and len(text) <= 48):
        return "name"
    return None


def question_subject(question: str) -> list[str]:
    """The parts a question asks about ("车轮螺母的力矩" -> ["车轮螺母", "力矩"]); [] when none."""
    q = question.strip()
    if _CJK.search(q):
        m = _ZH_FRAME.match(q)
        subject = m.group("s") if m else q
        subject = re.sub(r"^(图中|图片中|图上)(的)?", "", subject)
        parts = [p for p in re.split(r"的|之", subject) if p.strip()]
        return [p.strip(" ?？") for p in parts if len(p.strip(" ?？")) >= 2]
    m = _EN_FRAME.match(q)
    subject = m.group("s") if m else q
    parts = re.split(r"\s+of\s+(?:the\s+)?|\s+for\s+(?:the\s+)?", subject, flags=re.I)
    out = []
    for part in parts:
        words = [w for w in re.findall(r"[A-Za-z0-9\-]+", part) if w.lower() not in _EN_STOP]
        if words:
            out.append(" ".join(words))
    return out
