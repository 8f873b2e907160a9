"""What every tiny offline student shares: the atomic build, its marker, and a small BPE tokenizer.

No model weights can be downloaded where vlkd is built and tested, and a user wants a
smoke-test student before renting a GPU. A family's ``build_tiny`` writes a complete Hugging
Face checkpoint (config, random weights, tokenizer, processor) through :func:`build_atomic`:
files go to a temporary sibling directory that is renamed into place, so an interrupted
build leaves no half checkpoint behind, and a directory already built by the same family and
build version is returned at once.

Tiny students have a head dimension of at least 32 (vLLM's CPU attention refuses smaller
ones). They learn only what a few thousand parameters can: they exist so that training,
saving, loading, serving and generation run end to end on a CPU.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

MARKER = "vlkd_tiny_student.json"
SEED = 1234
MIN_HEAD_DIM = 32

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


def is_built(out_dir: Path, family: str, version: int | str) -> bool:
    """True when ``out_dir`` holds a complete tiny student of this family and build version."""
    try:
        marker = json.loads((Path(out_dir) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return marker.get("version") == version and marker.get("family", "qwen2_vl") == family


def build_atomic(out_dir: Path, family: str, version: int | str, write: Callable[[Path], None]) -> Path:
    """Run ``write(tmp_dir)`` and move the result to ``out_dir`` (or return it if already built)."""
    out_dir = Path(out_dir)
    if is_built(out_dir, family, version):
        return out_dir
    _check_replaceable(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        _write_or_say_why(write, tmp, out_dir)
        (tmp / MARKER).write_text(
            json.dumps({"family": family, "version": version, "seed": SEED}) + "\n", encoding="utf-8"
        )
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


#: errors of the disk that libraries report in their own exception types (safetensors' Rust
#: I/O errors, torch's stream writer), found by the operating system's words for them
_DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def _write_or_say_why(write: Callable[[Path], None], tmp: Path, out_dir: Path) -> None:
    """``write(tmp)``; a full, over-quota or read-only disk is a one-line error, not a traceback."""
    from vlkd.core.errors import VlkdError

    try:
        write(tmp)
    except Exception as exc:
        code = exc.errno if isinstance(exc, OSError) else None
        said = next((os.strerror(n) for n in _DISK_ERRNOS if n == code or os.strerror(n) in str(exc)), None)
        if said is None:
            raise
        raise VlkdError(
            f"{out_dir}: cannot write the tiny student: {said} (it needs a few MB); free some "
            "space or choose another folder"
        ) from None


def _check_replaceable(out_dir: Path) -> None:
    """Only an empty folder or another tiny student (older build, other family) is replaced:
    ``vlkd student tiny qwen2_vl ~/photos`` must never delete someone's files."""
    from vlkd.core.errors import VlkdError

    if not out_dir.exists() and not out_dir.is_symlink():
        return
    if not out_dir.is_dir() or out_dir.is_symlink():
        raise VlkdError(f"{out_dir}: exists and is not a folder; choose a new folder for the tiny student")
    if any(out_dir.iterdir()) and not (out_dir / MARKER).is_file():
        raise VlkdError(
            f"{out_dir}: is not empty and holds no tiny student (no {MARKER}); vlkd replaces only "
            "an empty folder or a tiny student it built: choose a new folder"
        )


def train_bpe(vocab_size: int = 1024, corpus: Sequence[str] = CORPUS) -> tuple[dict[str, int], list[tuple]]:
    """A byte-level BPE (vocab, merges) trained on ``corpus``: Chinese, English and digits round-trip."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(list(corpus) * 2, trainer=trainer)
    state = json.loads(tok.to_str())
    vocab: dict[str, int] = state["model"]["vocab"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["model"]["merges"]]
    return vocab, merges


def padded_vocab(n: int, multiple: int = 64) -> int:
    """Embedding rows for ``n`` tokens, rounded up as Qwen and Gemma pad their embeddings."""
    return -(-n // multiple) * multiple


def check_head_dim(head_dim: int) -> None:
    if head_dim < MIN_HEAD_DIM:
        raise AssertionError(
            f"tiny student head_dim {head_dim} < {MIN_HEAD_DIM}: vLLM's CPU backend refuses it"
        )
