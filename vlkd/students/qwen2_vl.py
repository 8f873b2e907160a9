"""Qwen2-VL (the seed's student): 14-px patches merged 2x2, so one visual token per 28x28 pixels.

LLaMA-Factory trains it with ``template: qwen2_vl``; transformers loads it as
``Qwen2VLForConditionalGeneration`` with ``Qwen2VLProcessor``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from vlkd.students.qwen import QwenVLFamily

#: the tiny Qwen2 language model's width and heads (head_dim 32: vLLM's CPU attention needs >= 32)
TINY_HIDDEN, TINY_HEADS = 128, 4


def tiny_qwen2_text_config(tokenizer: Any, ids: dict[str, int]) -> dict[str, Any]:
    """The tiny student's Qwen2 language model, as Qwen2-VL and Qwen2.5-VL both carry it."""
    from vlkd.students.tiny import check_head_dim, padded_vocab

    check_head_dim(TINY_HIDDEN // TINY_HEADS)
    return {
        "vocab_size": padded_vocab(len(tokenizer)),
        "hidden_size": TINY_HIDDEN,
        "intermediate_size": 256,
        "num_hidden_layers": 2,
        "num_attention_heads": TINY_HEADS,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "max_window_layers": 2,
        "rms_norm_eps": 1e-6,
        # M-RoPE sections must sum to head_dim / 2 (Qwen's 16/24/24 of 64, scaled)
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 1000000.0,
            "mrope_section": [4, 6, 6],
        },
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
        "tie_word_embeddings": False,
    }


class Qwen2VL(QwenVLFamily):
    """Qwen2-VL (2B, 7B, 72B): 28x28 px per visual token, ChatML with a default system prompt."""

    name: ClassVar[str] = "qwen2_vl"
    model_types: ClassVar[tuple[str, ...]] = ("qwen2_vl",)
    hub_names: ClassVar[tuple[str, ...]] = ("qwen2-vl", "qvq-")
    model_class: ClassVar[str] = "Qwen2VLForConditionalGeneration"
    processor_class: ClassVar[str] = "Qwen2VLProcessor"
    patch_size: ClassVar[int] = 14
    default_system: ClassVar[str | None] = "You are a helpful assistant."
    #: the released checkpoints' preprocessor_config.json
    processor_min_pixels: ClassVar[int] = 56 * 56
    processor_max_pixels: ClassVar[int] = 28 * 28 * 16384
    tiny_version: ClassVar[int] = 4

    def _tiny_config(self, tokenizer: Any, ids: dict[str, int]) -> Any:
        from transformers import Qwen2VLConfig

        config = Qwen2VLConfig(
            text_config=tiny_qwen2_text_config(tokenizer, ids),
            vision_config={
                "depth": 2,
                "embed_dim": 64,
                "hidden_size": TINY_HIDDEN,
                "mlp_ratio": 2,
                "num_heads": 2,
                "in_channels": 3,
                "patch_size": self.patch_size,
                "spatial_merge_size": self.merge_size,
                "temporal_patch_size": 2,
            },
            **self._vision_token_ids(ids),
            tie_word_embeddings=False,
        )
        return config

    def _scale_tiny(self, config: Any, scale: int) -> None:
        """``scale`` times the width and heads (head_dim kept: M-RoPE sections stay valid), one more
        layer per doubling, and the vision merger projecting to the new width."""
        text = config.text_config
        text.hidden_size *= scale
        text.intermediate_size *= scale
        text.num_attention_heads *= scale
        text.num_key_value_heads *= scale
        text.num_hidden_layers += scale.bit_length() - 1
        text.max_window_layers = text.num_hidden_layers
        if getattr(text, "layer_types", None):
            text.layer_types = [text.layer_types[0]] * text.num_hidden_layers
        config.vision_config.hidden_size = text.hidden_size

    def _tiny_processor(self, tokenizer: Any) -> Any:
        from transformers import Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor

        return Qwen2VLProcessor(
            image_processor=Qwen2VLImageProcessor(
                size={"shortest_edge": self.processor_min_pixels, "longest_edge": self.processor_max_pixels}
            ),
            tokenizer=tokenizer,
            video_processor=Qwen2VLVideoProcessor(),
            chat_template=self.chat_template,
        )
