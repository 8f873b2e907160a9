"""Qwen3.5: a natively multimodal Qwen whose decoder mixes Gated DeltaNet (linear attention) and
full-attention layers; the vision side is Qwen3-VL's (16-px patches merged 2x2: 32x32 px per
visual token) through the same ``Qwen3VLProcessor``. LLaMA-Factory trains it with ``qwen3_5``
(a reasoning template: every answer gets an empty ``<think>`` block, as the model's own chat
template writes it with thinking off).

transformers 5.6 loads it as ``Qwen3_5ForConditionalGeneration``; without the
flash-linear-attention kernels it runs the DeltaNet layers in plain torch (slow, but on a CPU too).
"""

from __future__ import annotations

from typing import Any, ClassVar

from vlkd.students.qwen import SPECIAL_TOKENS
from vlkd.students.qwen3_vl import Qwen3VL


class Qwen3_5(Qwen3VL):
    """Qwen3.5 (hybrid DeltaNet decoder, Qwen3-VL vision): 32x32 px per visual token."""

    name: ClassVar[str] = "qwen3_5"
    model_types: ClassVar[tuple[str, ...]] = ("qwen3_5",)
    hub_names: ClassVar[tuple[str, ...]] = ("qwen3.5",)
    model_class: ClassVar[str] = "Qwen3_5ForConditionalGeneration"
    processor_class: ClassVar[str] = "Qwen3VLProcessor"
    special_tokens: ClassVar[tuple[str, ...]] = (*SPECIAL_TOKENS, "<think>", "</think>")
    answer_prefix: ClassVar[str] = "<think>\n\n</think>\n\n"
    tiny_version: ClassVar[int] = 1

    def _tiny_config(self, tokenizer: Any, ids: dict[str, int]) -> Any:
        from transformers import Qwen3_5Config

        text = self._text_config(tokenizer, ids)
        text.update(
            layer_types=["linear_attention", "full_attention"],
            linear_conv_kernel_dim=4,
            linear_key_head_dim=32,
            linear_value_head_dim=32,
            linear_num_key_heads=2,
            linear_num_value_heads=4,
        )
        vision = self._vision_config()
        vision.pop("deepstack_visual_indexes")
        config = Qwen3_5Config(
            text_config=text,
            vision_config=vision,
            **self._vision_token_ids(ids),
            tie_word_embeddings=False,
        )
        return config
