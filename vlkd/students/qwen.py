"""What the Qwen vision-language families share: ChatML, the vision tokens, the resize rule.

Qwen2-VL, Qwen2.5-VL, Qwen3-VL and Qwen3.5 write their prompts in ChatML
(``<|im_start|>role\\n...<|im_end|>``), show an image as
``<|vision_start|><|image_pad|>...<|image_pad|><|vision_end|>`` (one pad per visual token),
and resize images with ``smart_resize``: sides rounded to multiples of patch x merge, the
pixel count clamped. They differ in patch size (14 or 16), default system prompt and model
classes: each has its own module (:mod:`vlkd.students.qwen2_vl`, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from vlkd.students.family import StudentFamily

#: the special tokens of the Qwen-VL tokenizers, in Qwen's order
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)


def chatml_template(default_system: str | None, answer_prefix: str = "") -> str:
    """The Qwen-VL chat template: images and videos inside the user turn, an optional default
    system turn, and ``answer_prefix`` (Qwen3.5's empty thinking block) before every answer."""
    prefix = answer_prefix.replace("\n", "\\n")
    system = (
        "{%- if loop.first and message['role'] != 'system' -%}"
        "{{ '<|im_start|>system\\n" + default_system + "<|im_end|>\\n' }}"
        "{%- endif -%}"
        if default_system
        else ""
    )
    return (
        "{%- set image_count = namespace(value=0) -%}{%- set video_count = namespace(value=0) -%}"
        "{%- for message in messages -%}" + system + "{{ '<|im_start|>' + message['role'] + '\\n' }}"
        "{%- if message['role'] == 'assistant' -%}{{ '" + prefix + "' }}{%- endif -%}"
        "{%- if message['content'] is string -%}{{ message['content'] }}"
        "{%- else -%}{%- for part in message['content'] -%}"
        "{%- if part['type'] == 'image' or 'image' in part or 'image_url' in part -%}"
        "{%- set image_count.value = image_count.value + 1 -%}"
        "{%- if add_vision_id -%}{{ 'Picture ' + image_count.value|string + ': ' }}{%- endif -%}"
        "{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
        "{%- elif part['type'] == 'video' or 'video' in part -%}"
        "{%- set video_count.value = video_count.value + 1 -%}"
        "{%- if add_vision_id -%}{{ 'Video ' + video_count.value|string + ': ' }}{%- endif -%}"
        "{{ '<|vision_start|><|video_pad|><|vision_end|>' }}"
        "{%- elif 'text' in part -%}{{ part['text'] }}"
        "{%- endif -%}{%- endfor -%}{%- endif -%}"
        "{{ '<|im_end|>\\n' }}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n" + prefix + "' }}{%- endif -%}"
    )


class QwenVLFamily(StudentFamily):
    """Base of the Qwen-VL families (not registered itself)."""

    merge_size: ClassVar[int] = 2
    image_placeholder: ClassVar[str] = "<|vision_start|><|image_pad|><|vision_end|>"
    image_token: ClassVar[str] = "<|image_pad|>"
    special_tokens: ClassVar[tuple[str, ...]] = SPECIAL_TOKENS
    assistant_prefix: ClassVar[str] = "<|im_start|>assistant\n"
    turn_end: ClassVar[str] = "<|im_end|>"
    #: the tiny student's build version: bump when its files change
    tiny_version: ClassVar[int] = 1

    @property
    def chat_template(self) -> str:  # type: ignore[override]
        return chatml_template(self.default_system, self.answer_prefix)

    @property
    def default_min_pixels(self) -> int:  # type: ignore[override]
        return self.processor_min_pixels  # what the released processors enforce anyway

    #: whether the processor keeps its own ``min_pixels`` whatever it is told (Qwen3-VL and
    #: Qwen3.5: 65,536, which LLaMA-Factory applies); Qwen2/2.5-VL's take the training's lower bound
    min_pixels_enforced: ClassVar[bool] = False

    def pixel_floor(self, model_dir: str | Path | None = None) -> int:
        """The processor's own ``min_pixels`` (its ``size.shortest_edge``) where it keeps it whatever
        ``image_min_pixels`` says (``min_pixels_enforced``), else none."""
        return self.processor_pixels(model_dir)[0] if self.min_pixels_enforced else 1

    # -- the tiny student -------------------------------------------------------------------
    def build_tiny(self, out_dir: Path, scale: int = 1) -> Path:
        """``scale`` > 1: a wider, deeper tiny model with the same tokenizer (a tiny *teacher* for
        logit distillation into the scale-1 student; families that can say so in ``_scale_tiny``)."""
        import functools

        from vlkd.students.tiny import build_atomic

        version: Any = self.tiny_version if scale == 1 else f"{self.tiny_version}x{scale}"
        return build_atomic(out_dir, self.name, version, functools.partial(self._write_tiny, scale=scale))

    def _tokenizer(self) -> Any:
        from transformers import Qwen2Tokenizer

        from vlkd.students.tiny import train_bpe

        vocab, merges = train_bpe()
        tokenizer = Qwen2Tokenizer(
            vocab=vocab, merges=merges, unk_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>"
        )
        tokenizer.add_special_tokens({"additional_special_tokens": list(self.special_tokens)})
        tokenizer.model_max_length = 32768
        return tokenizer

    def _write_tiny(self, path: Path, scale: int = 1) -> None:
        import torch

        tokenizer = self._tokenizer()
        ids = {t: tokenizer.convert_tokens_to_ids(t) for t in self.special_tokens}
        config = self._tiny_config(tokenizer, ids)
        if scale != 1:
            self._scale_tiny(config, scale)
        # the top-level ids every Qwen family's config carries beside its text config's
        config.bos_token_id = ids["<|endoftext|>"]
        config.eos_token_id = ids["<|im_end|>"]
        config.pad_token_id = ids["<|endoftext|>"]
        torch.manual_seed(1234)
        model = self.model_class_object()(config).to(torch.float32).eval()
        model.generation_config.eos_token_id = [ids["<|im_end|>"], ids["<|endoftext|>"]]
        model.generation_config.pad_token_id = ids["<|endoftext|>"]
        model.generation_config.do_sample = False
        model.save_pretrained(path, safe_serialization=True)
        self._tiny_processor(tokenizer).save_pretrained(path)

    @staticmethod
    def _vision_token_ids(ids: dict[str, int]) -> dict[str, int]:
        """The image/video placeholder and vision start/end ids, as every Qwen config names them."""
        return {
            "image_token_id": ids["<|image_pad|>"],
            "video_token_id": ids["<|video_pad|>"],
            "vision_start_token_id": ids["<|vision_start|>"],
            "vision_end_token_id": ids["<|vision_end|>"],
        }

    def _tiny_config(self, tokenizer: Any, ids: dict[str, int]) -> Any:
        raise NotImplementedError

    def _scale_tiny(self, config: Any, scale: int) -> None:
        raise NotImplementedError(f"family {self.name} builds tiny models of one size only")

    def _tiny_processor(self, tokenizer: Any) -> Any:
        raise NotImplementedError
