"""Qwen2.5-VL: Qwen2-VL's image rule (14-px patches merged 2x2: 28x28 px per visual token) with a
windowed-attention vision tower; LLaMA-Factory trains it with the ``qwen2_vl`` template.

transformers loads it as ``Qwen2_5_VLForConditionalGeneration`` with ``Qwen2_5_VLProcessor``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from vlkd.students.qwen import QwenVLFamily
from vlkd.students.qwen2_vl import TINY_HIDDEN, tiny_qwen2_text_config


class Qwen2_5_VL(QwenVLFamily):
    """Qwen2.5-VL (3B, 7B, 32B, 72B): 28x28 px per visual token, ChatML with a default system prompt."""

    name: ClassVar[str] = "qwen2_5_vl"
    model_types: ClassVar[tuple[str, ...]] = ("qwen2_5_vl",)
    hub_names: ClassVar[tuple[str, ...]] = ("qwen2.5-vl", "qwen2_5-vl", "qwen2_5_vl")
    model_class: ClassVar[str] = "Qwen2_5_VLForConditionalGeneration"
    processor_class: ClassVar[str] = "Qwen2_5_VLProcessor"
    patch_size: ClassVar[int] = 14
    default_system: ClassVar[str | None] = "You are a helpful assistant."
    #: the released checkpoints' preprocessor_config.json
    processor_min_pixels: ClassVar[int] = 56 * 56
    processor_max_pixels: ClassVar[int] = 28 * 28 * 16384
    tiny_version: ClassVar[int] = 2

    def _tiny_config(self, tokenizer: Any, ids: dict[str, int]) -> Any:
        from transformers import Qwen2_5_VLConfig

        config = Qwen2_5_VLConfig(
            text_config=tiny_qwen2_text_config(tokenizer, ids),
            vision_config={
                "depth": 2,
                "hidden_size": 64,
                "intermediate_size": 128,
                "num_heads": 2,
                "out_hidden_size": TINY_HIDDEN,
                "patch_size": self.patch_size,
                "spatial_merge_size": self.merge_size,
                "temporal_patch_size": 2,
                "window_size": 112,
                "fullatt_block_indexes": [1],
            },
            **self._vision_token_ids(ids),
            tie_word_embeddings=False,
        )
        return config

    def _tiny_processor(self, tokenizer: Any) -> Any:
        from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

        return Qwen2_5_VLProcessor(
            image_processor=Qwen2VLImageProcessor(
                size={"shortest_edge": self.processor_min_pixels, "longest_edge": self.processor_max_pixels}
            ),
            tokenizer=tokenizer,
            video_processor=Qwen2VLVideoProcessor(),
            chat_template=self.chat_template,
        )
