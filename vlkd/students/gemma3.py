"""Gemma 3 (4B, 12B, 27B): a SigLIP vision tower at a fixed square size whose patches are pooled to
a fixed number of soft tokens per image (256 in the released models), whatever the image's size.

The processor resizes every image to ``image_size`` x ``image_size`` itself (pan-and-scan
off), so vlkd only keeps images within the pixel limits (aspect kept) and counts
``mm_tokens_per_image`` per image. The prompt is Gemma's turn format
(``<start_of_turn>user\\n...<end_of_turn>\\n<start_of_turn>model\\n``, a system prompt
prepended to the first user turn); an image is ``\\n\\n<start_of_image>`` + soft tokens +
``<end_of_image>\\n\\n``. LLaMA-Factory trains it with ``template: gemma3``; transformers
loads it as ``Gemma3ForConditionalGeneration`` with ``Gemma3Processor``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from vlkd.students.family import IMAGE_TAG, AspectRatioError, StudentFamily

SPECIAL_TOKENS = (
    "<start_of_turn>",
    "<end_of_turn>",
    "<start_of_image>",
    "<end_of_image>",
    "<image_soft_token>",
)

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- if messages[0]['content'] is string -%}{%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}"
    "{%- else -%}{%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}{%- endif -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' -%}{{ '<start_of_image>' }}"
    "{%- elif item['type'] == 'text' -%}{{ item['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{ '<end_of_turn>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}"
)

#: the tiny student's vision tower: 224 px squares of 14 px patches, 16 x 16 = 256 soft tokens
#: (no pooling), the released models' count (896 px, 64 x 64 patches pooled 4 x 4)
TINY_IMAGE_SIZE, TINY_PATCH = 224, 14


class Gemma3(StudentFamily):
    """Gemma 3: a fixed number of visual tokens per image (the processor resizes to a square)."""

    name: ClassVar[str] = "gemma3"
    model_types: ClassVar[tuple[str, ...]] = ("gemma3",)
    hub_names: ClassVar[tuple[str, ...]] = ("gemma-3-",)
    model_class: ClassVar[str] = "Gemma3ForConditionalGeneration"
    processor_class: ClassVar[str] = "Gemma3Processor"
    patch_size: ClassVar[int] = 14
    merge_size: ClassVar[int] = 4  # 4x4 patches pooled into one soft token
    #: soft tokens per image of the released checkpoints (``mm_tokens_per_image``)
    tokens_per_image: ClassVar[int] = 256
    default_min_pixels: ClassVar[int] = 32 * 32
    default_max_pixels: ClassVar[int] = 896 * 896  # the released processors' square
    processor_min_pixels: ClassVar[int] = 896 * 896
    processor_max_pixels: ClassVar[int] = 896 * 896
    image_placeholder: ClassVar[str] = "<start_of_image>"
    image_token: ClassVar[str] = "<image_soft_token>"
    special_tokens: ClassVar[tuple[str, ...]] = SPECIAL_TOKENS
    chat_template: ClassVar[str] = CHAT_TEMPLATE
    assistant_prefix: ClassVar[str] = "<start_of_turn>model\n"
    turn_end: ClassVar[str] = "<end_of_turn>"
    default_system: ClassVar[str | None] = None
    tiny_version: ClassVar[int] = 2  # 2: projector no longer zeros

    def summary(self) -> dict[str, Any]:
        return {**super().summary(), "block": None, "tokens_per_image": self.tokens_per_image}

    # -- images: a fixed count, whatever the size ------------------------------------------------
    def resize(self, width: int, height: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
        """Within ``[min_pixels, max_pixels]``, aspect kept (the processor squares it later)."""
        if width <= 0 or height <= 0:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        if max(width, height) / min(width, height) > self.max_aspect_ratio:
            raise AspectRatioError(
                f"aspect ratio {max(width, height) / min(width, height):.1f} is over {self.name}'s "
                f"limit of {self.max_aspect_ratio:g}"
            )
        area = width * height
        scale = math.sqrt(max_pixels / area) if area > max_pixels else math.sqrt(min_pixels / area)
        if min_pixels <= area <= max_pixels:
            return width, height
        return max(1, int(width * scale)), max(1, int(height * scale))

    def visual_tokens(self, width: int, height: int) -> int:
        return self.tokens_per_image

    def image_tokens(self, width: int, height: int, min_pixels: int, max_pixels: int) -> int:
        return self.tokens_per_image

    def processor_pixels(self, model_dir: str | Path | None) -> tuple[int, int]:
        return self.processor_min_pixels, self.processor_max_pixels

    def set_pixel_limits(self, processor: Any, min_pixels: int, max_pixels: int) -> None:
        """Gemma's processor always resizes to its square: the limits only bound the input."""

    def server_image(self, image: Any, min_pixels: int, max_pixels: int) -> Any:
        return image  # a server's processor squares it as the local one does

    def server_processor_kwargs(self, min_pixels: int, max_pixels: int) -> dict[str, int]:
        return {}  # its square is fixed

    # -- text: Gemma's turns, LLaMA-Factory's gemma3 template --------------------------------
    def render(self, turns: Sequence[tuple[str, str]], system: str | None) -> str:
        image = "\n\n<start_of_image><end_of_image>\n\n"  # pads left out, as for every family
        parts = ["<bos>"]
        for i, (role, content) in enumerate(turns):
            content = content.replace(IMAGE_TAG, image)
            if role == "assistant":
                parts.append(f"{content}<end_of_turn>\n")
            else:
                prefix = f"{system}\n\n" if system and i == 0 else ""
                parts.append(f"<start_of_turn>user\n{prefix}{content}<end_of_turn>\n<start_of_turn>model\n")
        return "".join(parts)

    def rendered_chat(self, text: str) -> str:
        """A chat template's text as :meth:`render` writes it (images expanded, pads left out)."""
        return text.replace("<start_of_image>", "\n\n<start_of_image><end_of_image>\n\n")

    # -- the tiny student ----------------------------------------------------------------------
    def build_tiny(self, out_dir: Path) -> Path:
        from vlkd.students.tiny import build_atomic

        return build_atomic(out_dir, self.name, self.tiny_version, self._write_tiny)

    def _tokenizer(self) -> Any:
        from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
        from transformers import GemmaTokenizer

        from vlkd.students.tiny import CORPUS

        base = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
        byte_tokens = [f"<0x{i:02X}>" for i in range(256)]
        tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
        tok.normalizer = normalizers.Replace(" ", "▁")
        tok.pre_tokenizer = pre_tokenizers.Split(pattern=" ", behavior="merged_with_previous")
        trainer = trainers.BpeTrainer(
            vocab_size=1024, min_frequency=1, show_progress=False, special_tokens=base + byte_tokens
        )
        tok.train_from_iterator(list(CORPUS) * 2, trainer=trainer)
        import json

        state = json.loads(tok.to_str())
        merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in state["model"]["merges"]]
        tokenizer = GemmaTokenizer(
            vocab=state["model"]["vocab"],
            merges=merges,
            extra_special_tokens={
                "boi_token": "<start_of_image>",
                "eoi_token": "<end_of_image>",
                "image_token": "<image_soft_token>",
            },
        )
        tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)})
        tokenizer.model_max_length = 32768
        return tokenizer

    def _write_tiny(self, path: Path) -> None:
        import torch
        from transformers import Gemma3Config, Gemma3ImageProcessor, Gemma3Processor

        from vlkd.students.tiny import check_head_dim, padded_vocab

        tokenizer = self._tokenizer()
        ids = {t: tokenizer.convert_tokens_to_ids(t) for t in ("<bos>", "<eos>", "<pad>", *SPECIAL_TOKENS)}
        head_dim = 32
        check_head_dim(head_dim)
        config = Gemma3Config(
            text_config={
                "vocab_size": padded_vocab(len(tokenizer)),
                "hidden_size": 128,
                "intermediate_size": 256,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "num_key_value_heads": 2,
                "head_dim": head_dim,
                "query_pre_attn_scalar": head_dim,
                "max_position_embeddings": 4096,
                "sliding_window": 512,
                "layer_types": ["sliding_attention", "full_attention"],
                "bos_token_id": ids["<bos>"],
                "eos_token_id": ids["<eos>"],
                "pad_token_id": ids["<pad>"],
            },
            vision_config={
                "hidden_size": 64,
                "intermediate_size": 128,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "image_size": TINY_IMAGE_SIZE,
                "patch_size": TINY_PATCH,
                "vision_use_head": False,
            },
            mm_tokens_per_image=self.tokens_per_image,
            boi_token_index=ids["<start_of_image>"],
            eoi_token_index=ids["<end_of_image>"],
            image_token_index=ids["<image_soft_token>"],
            tie_word_embeddings=True,
        )
        config.bos_token_id, config.eos_token_id, config.pad_token_id = (
            ids["<bos>"],
            ids["<eos>"],
            ids["<pad>"],
        )
        torch.manual_seed(1234)
        model = self.model_class_object()(config).to(torch.float32).eval()
        # transformers initialises the projector (a bare Parameter, not a Linear) to zeros, as
        # for a checkpoint that loads it: left so, every image embeds as zeros and the tiny
        # student's logits do not depend on the pixels at all (measured: photo vs blank image,
        # identical logits). A released model's projector is trained; the tiny one gets the
        # random init every other layer gets, so that images reach the language model.
        with torch.no_grad():
            model.model.multi_modal_projector.mm_input_projection_weight.normal_(
                0.0, config.text_config.initializer_range
            )
        model.generation_config.eos_token_id = [ids["<end_of_turn>"], ids["<eos>"]]
        model.generation_config.pad_token_id = ids["<pad>"]
        model.generation_config.do_sample = False
        model.save_pretrained(path, safe_serialization=True)
        processor = Gemma3Processor(
            image_processor=Gemma3ImageProcessor(size={"height": TINY_IMAGE_SIZE, "width": TINY_IMAGE_SIZE}),
            tokenizer=tokenizer,
            chat_template=self.chat_template,
            image_seq_length=self.tokens_per_image,
        )
        processor.save_pretrained(path)
