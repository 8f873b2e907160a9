"""What a student family is: everything vlkd knows about one kind of vision-language model.

A family (``qwen2_vl``, ``qwen3_vl``, ``gemma3``, ...) is a :class:`StudentFamily` subclass,
registered through the ``vlkd_register_students`` hook like every other plugin. It answers
every question a stage asks about the student, so no other module holds a block size, a
template name, a pixel default or an image placeholder:

- which transformers classes load it, and how its processor is told the pixel limits;
- its image rule: the size the processor resizes an image to, the visual tokens that costs;
- its chat format: chat template, special tokens, image placeholder, how an assistant turn
  starts and ends (for labels), the default system prompt;
- sensible LoRA targets, which trainers train it (and why not, where one cannot);
- how to build a tiny random one offline (``tiny:FAMILY`` in a recipe).

What LLaMA-Factory does with a family (its template, its multimodal plugin's image rule) is
not here: :mod:`vlkd.llamafactory.families` holds it, one table for every family.

Module import is light (no torch, no transformers): heavy imports live in the methods.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

IMAGE_TAG = "<image>"  # the sharegpt image slot, the same for every family
TRAINERS = ("peft", "llamafactory")


class AspectRatioError(ValueError):
    """The image is too long and thin for the student's processor."""


class StudentFamily:
    """Base class of a student family; subclasses set the class attributes and may override methods."""

    #: the registered name (``student.family`` in a recipe)
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: ``model_type`` values of ``config.json`` that belong to this family
    model_types: ClassVar[tuple[str, ...]] = ()
    #: lower-case substrings of hub ids that name this family (guessing without a download)
    hub_names: ClassVar[tuple[str, ...]] = ()
    #: transformers classes (names, so that nothing is imported to list them)
    model_class: ClassVar[str] = ""
    processor_class: ClassVar[str] = ""
    #: trainers that train it; ``unsupported`` says why each other one cannot
    trainers: ClassVar[tuple[str, ...]] = TRAINERS
    unsupported: ClassVar[dict[str, str]] = {}

    # -- the image rule -----------------------------------------------------------------------
    patch_size: ClassVar[int] = 14
    merge_size: ClassVar[int] = 1
    #: what the ``student:`` section uses when it sets no pixel limits
    default_min_pixels: ClassVar[int] = 32 * 32
    default_max_pixels: ClassVar[int] = 768 * 768
    max_aspect_ratio: ClassVar[float] = 200.0
    #: the pixel bounds of the released checkpoints' own processors (LLaMA-Factory leaves them
    #: as they are; a local student's processor config is read instead, see ``processor_pixels``)
    processor_min_pixels: ClassVar[int] = 56 * 56
    processor_max_pixels: ClassVar[int] = 28 * 28 * 1280

    # -- the chat format ----------------------------------------------------------------------
    #: the text of one image inside the rendered prompt, pads included
    image_placeholder: ClassVar[str] = ""
    #: the token repeated once per visual token
    image_token: ClassVar[str] = ""
    special_tokens: ClassVar[tuple[str, ...]] = ()
    chat_template: ClassVar[str] = ""
    #: how an assistant turn starts and ends in the rendered text (labels lie between them)
    assistant_prefix: ClassVar[str] = ""
    turn_end: ClassVar[str] = ""
    #: written before every answer (e.g. Qwen3.5's empty thinking block, which LLaMA-Factory's
    #: reasoning templates add too): part of the labels, and of the generation prompt
    answer_prefix: ClassVar[str] = ""
    default_system: ClassVar[str | None] = None

    # -- training -----------------------------------------------------------------------------
    lora_targets: ClassVar[tuple[str, ...]] = ("q_proj", "k_proj", "v_proj", "o_proj")

    # -- derived ------------------------------------------------------------------------------
    @property
    def block(self) -> int:
        """Pixels per side of the square that costs one visual token (patch x merge)."""
        return self.patch_size * self.merge_size

    def __repr__(self) -> str:
        return f"<student family {self.name}>"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))

    def summary(self) -> dict[str, Any]:
        """What ``vlkd student families`` shows, and what the manifest records."""
        return {
            "name": self.name,
            "model_class": self.model_class,
            "block": self.block,
            "default_min_pixels": self.default_min_pixels,
            "default_max_pixels": self.default_max_pixels,
            "trainers": list(self.trainers),
        }

    # -- images -------------------------------------------------------------------------------
    def resize(self, width: int, height: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
        """``(width, height)`` the processor resizes an image to (raises :class:`AspectRatioError`).

        The default is the Qwen-VL ``smart_resize``: sides rounded to multiples of ``block``,
        the pixel count clamped into ``[min_pixels, max_pixels]``.
        """
        h, w = smart_resize(
            height, width, self.block, min_pixels, max_pixels, self.max_aspect_ratio, self.name
        )
        return w, h

    def visual_tokens(self, width: int, height: int) -> int:
        """Visual tokens of an image already at a :meth:`resize` size."""
        return (height // self.block) * (width // self.block)

    def image_tokens(self, width: int, height: int, min_pixels: int, max_pixels: int) -> int:
        """Visual tokens the processor spends on an image of any size."""
        return self.visual_tokens(*self.resize(width, height, min_pixels, max_pixels))

    def pixel_floor(self, model_dir: str | Path | None = None) -> int:
        """The fewest pixels this family's processor leaves an image (1: none). transformers and
        LLaMA-Factory enlarge a smaller image to it in training whatever ``image_min_pixels``
        says, so the student section is raised to it: the record, both trainers and evaluation
        then see the same pixels."""
        return 1

    def processor_pixels(self, model_dir: str | Path | None) -> tuple[int, int]:
        """The pixel bounds of a checkpoint's own image processor (its saved config), else the family's."""
        config = _image_processor_config(Path(model_dir)) if model_dir else {}
        size = config.get("size") if isinstance(config.get("size"), dict) else {}
        lo = size.get("shortest_edge") or config.get("min_pixels") or self.processor_min_pixels
        hi = size.get("longest_edge") or config.get("max_pixels") or self.processor_max_pixels
        return int(lo), int(hi)

    def rendered_chat(self, text: str) -> str:
        """A chat template's text as :meth:`render` writes it: each image placeholder with its
        pads left out."""
        return text.replace(self.image_placeholder, self.image_placeholder.replace(self.image_token, ""))

    def server_processor_kwargs(self, min_pixels: int, max_pixels: int) -> dict[str, int]:
        """What vLLM's ``--mm-processor-kwargs`` must say for its processor to resize images as
        :meth:`set_pixel_limits` makes the local one: without it vLLM uses the model's own
        limits, and Qwen3-VL's smallest (65,536 pixels) enlarges every smaller image."""
        return {"min_pixels": min_pixels, "max_pixels": max_pixels}

    def server_image(self, image: Any, min_pixels: int, max_pixels: int) -> Any:
        """The image (as training handed it to the processor) at the size this processor resizes it
        to (:meth:`resize`), for an OpenAI-compatible server: whatever pixel limits the server's
        processor has (vLLM's are the model's own, 12,845,056 pixels at most for Qwen-VL, not the
        training's), an image already on the student's grid is left as it is, so the server sees
        the visual tokens the local processor makes. Unchanged when already that size."""
        size = self.resize(image.width, image.height, min_pixels, max_pixels)
        return image if size == image.size else image.resize(size, resample=3)  # bicubic, as the processor

    # -- text ---------------------------------------------------------------------------------
    def render(self, turns: Sequence[tuple[str, str]], system: str | None) -> str:
        """The sample in the family's chat format (as the trainers write it), image pads left out.

        ``turns`` are ``(role, content)`` with role ``user`` or ``assistant`` and ``<image>``
        tags in the content. The default is ChatML (the Qwen families).
        """
        bare = self.image_placeholder.replace(self.image_token, "")
        system = system if system is not None else self.default_system
        parts = [f"<|im_start|>system\n{system}<|im_end|>\n"] if system else []
        for role, content in turns:
            content = content.replace(IMAGE_TAG, bare)
            if role == "assistant":
                parts.append(f"{self.answer_prefix}{content}<|im_end|>\n")
            else:
                parts.append(f"<|im_start|>user\n{content}<|im_end|>\n<|im_start|>assistant\n")
        return "".join(parts)

    # -- loading ------------------------------------------------------------------------------
    def load_processor(self, path: str, min_pixels: int, max_pixels: int) -> Any:
        from transformers import AutoProcessor

        processor = AutoProcessor.from_pretrained(path)
        self.set_pixel_limits(processor, min_pixels, max_pixels)
        return processor

    def set_pixel_limits(self, processor: Any, min_pixels: int, max_pixels: int) -> None:
        """Make the processor resize images into ``[min_pixels, max_pixels]``."""
        image_processor = processor.image_processor
        image_processor.size = {"shortest_edge": min_pixels, "longest_edge": max_pixels}
        for name, value in (("min_pixels", min_pixels), ("max_pixels", max_pixels)):
            if hasattr(image_processor, name):
                setattr(image_processor, name, value)

    def model_class_object(self) -> Any:
        import transformers

        return getattr(transformers, self.model_class)

    # -- trainers -----------------------------------------------------------------------------
    def check_trainer(self, trainer: str) -> None:
        """Raise a StageError naming the other trainer when ``trainer`` cannot train this family."""
        if trainer in self.trainers or trainer not in TRAINERS:
            return
        from vlkd.core.errors import StageError

        why = self.unsupported.get(trainer, "it is not supported")
        others = [t for t in self.trainers if t != trainer]
        instead = f"; use train.plugin: {others[0]}" if others else ""
        raise StageError(f"the {trainer} trainer cannot train a {self.name} student: {why}{instead}")

    # -- the tiny offline student ---------------------------------------------------------------
    def build_tiny(self, out_dir: Path) -> Path:
        """Build a tiny random student of this family into ``out_dir`` (offline); return it."""
        raise NotImplementedError(f"family {self.name} cannot build a tiny student")


def _image_processor_config(model_dir: Path) -> dict[str, Any]:
    import json

    for name, key in (("preprocessor_config.json", None), ("processor_config.json", "image_processor")):
        try:
            data = json.loads((model_dir / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        data = data.get(key, {}) if key else data
        if isinstance(data, dict) and data:
            return data
    return {}


def smart_resize(
    height: int,
    width: int,
    factor: int,
    min_pixels: int,
    max_pixels: int,
    max_ratio: float = 200.0,
    who: str = "the student",
) -> tuple[int, int]:
    """``(height, width)`` after the Qwen-VL rule: multiples of ``factor``, pixels clamped."""
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    ratio = max(height, width) / min(height, width)
    if ratio > max_ratio:
        raise AspectRatioError(f"aspect ratio {ratio:.1f} is over {who}'s limit of {max_ratio:g}")
    # Python's round() (half to even) on purpose: the processor uses it too
    new_h = round(height / factor) * factor
    new_w = round(width / factor) * factor
    if new_h * new_w > max_pixels:
        scale = math.sqrt(height * width / max_pixels)
        new_h = max(factor, math.floor(height / scale / factor) * factor)
        new_w = max(factor, math.floor(width / scale / factor) * factor)
    elif new_h * new_w < min_pixels:
        scale = math.sqrt(min_pixels / (height * width))
        new_h = math.ceil(height * scale / factor) * factor
        new_w = math.ceil(width * scale / factor) * factor
    return new_h, new_w
