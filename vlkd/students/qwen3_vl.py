"""Qwen3-VL: 16-px patches merged 2x2, so one visual token per 32x32 pixels (Qwen2-VL: 28x28).

The Instruct models' chat template has no default system prompt and no thinking block, so
LLaMA-Factory trains them with ``qwen3_vl_nothink`` (its ``qwen3_vl`` template adds an empty
``<think>`` block to every answer, for the Thinking models: set ``student.template: qwen3_vl``
for those). transformers loads it as ``Qwen3VLForConditionalGeneration`` with
``Qwen3VLProcessor`` (the Qwen2-VL image processor at patch 16).
"""

from __future__ import annotations

from typing import Any, ClassVar

from vlkd.students.qwen import QwenVLFamily


class Qwen3VL(QwenVLFamily):
    """Qwen3-VL (2B to 235B): 32x32 px per visual token, ChatML without a default system prompt."""

    min_pixels_enforced = True  # its processor keeps 65,536 (LLaMA-Factory applies it)

    name: ClassVar[str] = "qwen3_vl"
    model_types: ClassVar[tuple[str, ...]] = ("qwen3_vl",)
    hub_names: ClassVar[tuple[str, ...]] = ("qwen3-vl",)
    model_class: ClassVar[str] = "Qwen3VLForConditionalGeneration"
    processor_class: ClassVar[str] = "Qwen3VLProcessor"
    patch_size: ClassVar[int] = 16
    default_system: ClassVar[str | None] = None
    #: the released checkpoints' preprocessor_config.json
    processor_min_pixels: ClassVar[int] = 256 * 256
    processor_max_pixels: ClassVar[int] = 4096 * 4096
    tiny_version: ClassVar[int] = 2

    def _text_config(self, tokenizer: Any, ids: dict[str, int]) -> dict[str, Any]:
        from vlkd.students.tiny import check_head_dim, padded_vocab

        head_dim = 32
        check_head_dim(head_dim)
        return {
            "vocab_size": padded_vocab(len(tokenizer)),
            "hidden_size": 128,
            "intermediate_size": 256,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": head_dim,
            "max_position_embeddings": 4096,
            "rms_norm_eps": 1e-6,
            # interleaved M-RoPE; the sections sum to head_dim / 2 (Qwen3-VL's 24/20/20 of 64, scaled)
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 5000000.0,
                "mrope_section": [6, 5, 5],
                "mrope_interleaved": True,
            },
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
            "tie_word_embeddings": False,
        }

    def _vision_config(self) -> dict[str, Any]:
        return {
            "depth": 2,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_heads": 2,
            "out_hidden_size": 128,
            "patch_size": self.patch_size,
            "spatial_merge_size": self.merge_size,
            "temporal_patch_size": 2,
            "num_position_embeddings": 256,
            "deepstack_visual_indexes": [0],
        }

    def _tiny_config(self, tokenizer: Any, ids: dict[str, int]) -> Any:
        from transformers import Qwen3VLConfig

        config = Qwen3VLConfig(
            text_config=self._text_config(tokenizer, ids),
            vision_config=self._vision_config(),
            **self._vision_token_ids(ids),
            tie_word_embeddings=False,
        )
        return config

    def _tiny_processor(self, tokenizer: Any) -> Any:
        from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor, Qwen3VLVideoProcessor

        return Qwen3VLProcessor(
            image_processor=Qwen2VLImageProcessor(
                patch_size=self.patch_size,
                merge_size=self.merge_size,
                size={"shortest_edge": self.processor_min_pixels, "longest_edge": self.processor_max_pixels},
            ),
            tokenizer=tokenizer,
            video_processor=Qwen3VLVideoProcessor(),
            chat_template=self.chat_template,
        )
