"""A tiny, randomly initialised Qwen2-VL that is built offline in a second.

No model weights can be downloaded where vlkd is built and tested, and a user wants a
smoke-test student before renting a GPU. :func:`build_tiny_qwen2_vl` writes a complete
Hugging Face checkpoint directory: ``config.json``, safetensors weights, a byte-level BPE
tokenizer trained on a small English + Chinese corpus (with the Qwen2-VL special tokens and
chat template), and the Qwen2-VL image and video processors. ``AutoProcessor`` and
``AutoModelForImageTextToText`` load it, and so does LLaMA-Factory with ``template: qwen2_vl``.

The architecture is Qwen2-VL's (M-RoPE text decoder, 14-px patches merged 2x2 so one visual
token covers 28x28 pixels); only the sizes are tiny. It learns nothing useful: it exists
so that training, saving, loading and generation can be exercised end to end on a CPU.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

#: bump when the built files change, so a cached directory is rebuilt
BUILD_VERSION = 2
SEED = 1234
MARKER = "vlkd_tiny_student.json"

#: the special tokens of the Qwen2-VL tokenizer, in Qwen's order
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

#: the Qwen2-VL chat format: a default system turn, images and videos as
#: ``<|vision_start|><|image_pad|><|vision_end|>`` inside the user turn
CHAT_TEMPLATE = (
    "{%- set image_count = namespace(value=0) -%}{%- set video_count = namespace(value=0) -%}"
    "{%- for message in messages -%}"
    "{%- if loop.first and message['role'] != 'system' -%}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
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
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

#: text the byte-level BPE is trained on: automotive English and Chinese, digits, and the
#: words the demo data and the evaluation use (``不存在`` is the answer to a negative question)
CORPUS = (
    "The brake pad, brake disc and caliper are parts of the braking system.",
    "Check the engine oil level, the coolant temperature and the tire pressure.",
    "The dashboard warning light shows a fault in the battery, ABS or airbag.",
    "Replace the air filter every 20000 km; torque the wheel nuts to 120 Nm.",
    "What part is shown in the image? Which warning light is on? What does the manual say?",
    "Question answer image vehicle model brand category diagnosis manual part recognition.",
    "Spark plug, timing belt, alternator, radiator, gearbox, clutch, exhaust, steering wheel.",
    "Yes no unknown not present none. The answer is 0 1 2 3 4 5 6 7 8 9 10 100 1000 2024 km/h rpm.",
    "You are a helpful assistant. Picture 1: Video 1:",
    "刹车片、刹车盘和卡钳是制动系统的零件。发动机机油、冷却液温度和轮胎气压。",
    "仪表盘警告灯显示电池、防抱死系统或安全气囊故障。每行驶20000公里更换空气滤清器。",
    "图片中是什么零件?哪个警告灯亮了?维修手册怎么说?故障诊断、零件识别、手册解析。",
    "火花塞、正时皮带、发电机、散热器、变速箱、离合器、排气管、方向盘、车型、品牌。",
    "不存在。图中不存在该零件。是的。不是。答案是0123456789。",
)


def is_built(out_dir: Path) -> bool:
    """True when ``out_dir`` holds a complete tiny student of this build version."""
    marker = Path(out_dir) / MARKER
    try:
        return json.loads(marker.read_text(encoding="utf-8")).get("version") == BUILD_VERSION
    except (OSError, ValueError):
        return False


def build_tiny_qwen2_vl(out_dir: Path) -> Path:
    """Build the tiny student into ``out_dir`` (or return at once if it is already there).

    The build is deterministic (fixed seed) and atomic: files are written to a temporary
    sibling directory that is renamed into place, so an interrupted build leaves no half
    checkpoint behind. Returns ``out_dir``.
    """
    out_dir = Path(out_dir)
    if is_built(out_dir):
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        _write_checkpoint(tmp)
        (tmp / MARKER).write_text(
            json.dumps({"version": BUILD_VERSION, "seed": SEED}) + "\n", encoding="utf-8"
        )
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def _train_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1024,
        min_frequency=1,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(list(CORPUS) * 2, trainer=trainer)
    state = json.loads(tok.to_str())
    vocab: dict[str, int] = state["model"]["vocab"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["model"]["merges"]]
    return vocab, merges


def _write_checkpoint(path: Path) -> None:
    import torch
    from transformers import (
        Qwen2Tokenizer,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    vocab, merges = _train_tokenizer()
    tokenizer = Qwen2Tokenizer(
        vocab=vocab, merges=merges, unk_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)})
    tokenizer.model_max_length = 32768
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    vocab_size = -(-len(tokenizer) // 64) * 64  # round up, as Qwen pads its embedding

    text_hidden, heads = 64, 4
    head_dim = text_hidden // heads  # 16: M-RoPE sections must sum to head_dim / 2
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": text_hidden,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": heads,
            "num_key_value_heads": 2,
            "max_position_embeddings": 4096,
            "max_window_layers": 2,
            "rms_norm_eps": 1e-6,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]},
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
            "tie_word_embeddings": False,
        },
        vision_config={
            "depth": 2,
            "embed_dim": 32,
            "hidden_size": text_hidden,
            "mlp_ratio": 2,
            "num_heads": 2,
            "in_channels": 3,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    assert sum(config.text_config.rope_parameters["mrope_section"]) == head_dim // 2
    config.bos_token_id = ids["<|endoftext|>"]
    config.eos_token_id = ids["<|im_end|>"]
    config.pad_token_id = ids["<|endoftext|>"]

    torch.manual_seed(SEED)
    model = Qwen2VLForConditionalGeneration(config).to(torch.float32).eval()
    model.generation_config.eos_token_id = [ids["<|im_end|>"], ids["<|endoftext|>"]]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.do_sample = False
    model.save_pretrained(path, safe_serialization=True)

    pixels = {"min_pixels": 56 * 56, "max_pixels": 28 * 28 * 1280}
    image_processor = Qwen2VLImageProcessor(
        size={"shortest_edge": pixels["min_pixels"], "longest_edge": pixels["max_pixels"]}
    )
    video_processor = Qwen2VLVideoProcessor()
    processor = Qwen2VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=CHAT_TEMPLATE,
    )
    processor.save_pretrained(path)
