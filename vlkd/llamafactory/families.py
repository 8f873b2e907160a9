"""How LLaMA-Factory 0.9.5 takes each student family: one table, family -> its ``template`` and
the image rule of that template's multimodal plugin (LLaMA-Factory's ``register_template(...,
mm_plugin=...)`` in ``data/template.py``, ``_preprocess_image`` in ``data/mm_plugin.py``).

A student family (:mod:`vlkd.students`) knows its model: the processor's resize rule, visual
tokens, chat format, the tiny build. It knows nothing of LLaMA-Factory; what LLaMA-Factory does
on top of it lives here, and every place that asks (the student section's default template, the
pre-flight's token counts, evaluation's images as training saw them, ``vlkd export``, ``vlkd
student families``) asks this module. A family derived from one in the table takes its row; any
other has no default template (``student.template`` names one) and LLaMA-Factory's base image rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vlkd.llamafactory.images import prescale as base_prescale

if TYPE_CHECKING:
    from vlkd.students.family import StudentFamily

#: LLaMA-Factory's ``Qwen2VLPlugin`` (also Qwen2.5-VL's, and the parent of Qwen3-VL's and
#: Qwen3.5's): after the base rule, each side at least 28 px, an aspect ratio over 200 clamped to 180
QWEN2_VL_PLUGIN = "qwen2_vl"
BASE_PLUGIN = "base"


@dataclass(frozen=True)
class LlamaFactoryFamily:
    """What LLaMA-Factory uses for one family."""

    #: LLaMA-Factory's ``template`` (the default of ``student.template``)
    template: str
    #: whose ``_preprocess_image`` scales an image before the processor sees it
    image_plugin: str = BASE_PLUGIN


FAMILIES: dict[str, LlamaFactoryFamily] = {
    "qwen2_vl": LlamaFactoryFamily("qwen2_vl", QWEN2_VL_PLUGIN),
    "qwen2_5_vl": LlamaFactoryFamily("qwen2_vl", QWEN2_VL_PLUGIN),  # one template for 2 and 2.5
    # the Instruct models' chat template has no thinking block; ``qwen3_vl`` (an empty <think>
    # block in every answer) is for the Thinking models: student.template: qwen3_vl
    "qwen3_vl": LlamaFactoryFamily("qwen3_vl_nothink", QWEN2_VL_PLUGIN),
    "qwen3_5": LlamaFactoryFamily("qwen3_5", QWEN2_VL_PLUGIN),
    "gemma3": LlamaFactoryFamily("gemma3", BASE_PLUGIN),
}


def of(family: StudentFamily) -> LlamaFactoryFamily | None:
    """The row of ``family``, or of the nearest family it derives from (a third party's subclass
    of ``Qwen2VL`` is trained as Qwen2-VL); None for a family outside the table."""
    for cls in type(family).__mro__:
        row = FAMILIES.get(vars(cls).get("name", ""))
        if row is not None:
            return row
    return None


def template(family: StudentFamily) -> str | None:
    """LLaMA-Factory's template for ``family``; None where LLaMA-Factory has none."""
    known = of(family)
    return known.template if known is not None else None


def prescale(
    family: StudentFamily, width: int, height: int, image_min_pixels: int, image_max_pixels: int
) -> tuple[int, int]:
    """The size LLaMA-Factory's multimodal plugin hands the processor: its base rule into
    ``[image_min_pixels, image_max_pixels]``, then the plugin's own steps."""
    w, h = base_prescale(width, height, image_min_pixels, image_max_pixels)
    known = of(family)
    if known is None or known.image_plugin != QWEN2_VL_PLUGIN:
        return w, h
    if min(w, h) < 28:
        w, h = max(w, 28), max(h, 28)
    if w / h > 200:
        w, h = h * 180, h
    if h / w > 200:
        w, h = w, w * 180
    return w, h


def image_tokens(
    family: StudentFamily,
    width: int,
    height: int,
    image_min_pixels: int,
    image_max_pixels: int,
    processor_pixels: tuple[int, int] | None = None,
) -> int:
    """Visual tokens of an image in a LLaMA-Factory sample: LLaMA-Factory's prescale, then the
    processor within its own bounds (``processor_pixels``, default the family's released ones)."""
    w, h = prescale(family, width, height, image_min_pixels, image_max_pixels)
    lo, hi = processor_pixels or (family.processor_min_pixels, family.processor_max_pixels)
    return family.image_tokens(w, h, lo, hi)


def prepare_image(family: StudentFamily, image: Any, image_min_pixels: int, image_max_pixels: int) -> Any:
    """A PIL image as LLaMA-Factory's plugin hands it to the processor."""
    size = prescale(family, image.width, image.height, image_min_pixels, image_max_pixels)
    size = (max(1, size[0]), max(1, size[1]))
    return image if size == image.size else image.resize(size)
