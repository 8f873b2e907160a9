"""The teacher's top-k log-probabilities per answer token, computed once and cached by content.

Before the student loads, every train (and val) sample whose key is not in the cache goes
through the teacher: the sample rendered by the same collator as the student's (the same chat
template, labels on the same answer tokens; the tokenizer is shared, checked at validation),
one forward pass, ``log_softmax`` over the whole vocabulary, the ``top_k`` ids and
log-probabilities at each answer token. Each sample's result is one small safetensors file in
``<run_dir>/cache/teacher_logits/``, named by a hash of its content: the bytes of its images, its
messages (question and reviewed answer), the teacher (:meth:`TeacherModel.fingerprint`), the
pixel limits, ``cutoff_len`` and ``top_k``. A teacher behind a vLLM server fills the same entries
(:mod:`vlkd.plugins.train.teacher_server`; its key holds the served model's name). A resumed or repeated training, or another recipe in
the same run directory, finds them and never loads the teacher; an edited answer or a changed
image is a new key, computed alone. The teacher is freed before the student loads.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlkd.plugins.train.teacher import TeacherModel

if TYPE_CHECKING:
    from vlkd.plugins.train.teacher_server import ServerTeacher

CACHE_DIR = Path("cache") / "teacher_logits"


class TeacherCache:
    """Key -> (ids, log_probs) of one sample's answer tokens, as files under ``root``."""

    def __init__(self, root: Path, teacher_fingerprint: str, top_k: int, settings: dict[str, Any]):
        self.root = Path(root)
        self.top_k = top_k
        self.salt = json.dumps({"teacher": teacher_fingerprint, "top_k": top_k, **settings}, sort_keys=True)
        self._keys: dict[tuple, str] = {}

    def key(self, sample: Any) -> str:
        memo = (json.dumps(sample.messages, ensure_ascii=False), tuple(sample.images))
        if memo not in self._keys:
            h = hashlib.sha256(self.salt.encode())
            h.update(memo[0].encode())
            for image in sample.images:
                h.update(hashlib.sha256(Path(image).read_bytes()).digest())
            self._keys[memo] = h.hexdigest()
        return self._keys[memo]

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.safetensors"

    def has(self, sample: Any) -> bool:
        """Whether a whole, matching entry is there. A torn, empty or foreign file (a copy from
        another run, another ``top_k`` or teacher under this name) is removed, to be computed again."""
        key = self.key(sample)
        path = self.path(key)
        if not path.is_file():
            return False
        if self._valid(path, key):
            return True
        path.unlink(missing_ok=True)
        return False

    def _valid(self, path: Path, key: str) -> bool:
        from safetensors import safe_open

        try:
            with safe_open(str(path), "pt") as f:
                meta = f.metadata() or {}
                shapes = [f.get_slice(name).get_shape() for name in ("ids", "log_probs")]
        except Exception:  # safetensors' own error for a torn or empty file; a missing tensor
            return False
        ids, log_probs = shapes
        return meta.get("key") == key and len(ids) == 2 and ids == log_probs and 1 <= ids[1] <= self.top_k

    def save(self, sample: Any, ids: Any, log_probs: Any) -> None:
        """Write one entry atomically, through Python's own file calls: a full disk is an
        ``OSError`` naming the file (safetensors' writer raises its own error type), and a killed
        run leaves no half entry under the entry's name."""
        from safetensors.torch import save

        key = self.key(sample)
        data = save({"ids": ids.contiguous(), "log_probs": log_probs.contiguous()}, metadata={"key": key})
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if exc.filename is None:  # a write's error names no file: name the entry
                raise OSError(exc.errno, exc.strerror, str(path)) from None
            raise
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def load(self, sample: Any) -> tuple[Any, Any]:
        from safetensors.torch import load_file

        data = load_file(str(self.path(self.key(sample))))
        return data["ids"], data["log_probs"]


def cache_for(job: dict[str, Any]) -> TeacherCache:
    """The cache a job's distill options and student settings address."""
    o = job["options"]
    d = o["distill"]
    settings = {k: o[k] for k in ("cutoff_len", "image_min_pixels", "image_max_pixels")}
    return TeacherCache(Path(job["cache_dir"]), job["teacher"]["fingerprint"], d["top_k"], settings)


def fill(
    job: dict[str, Any], samples: list[Any], teacher: TeacherModel | ServerTeacher, on_progress: Any = None
) -> dict[str, int]:
    """Compute the missing entries of ``samples``; return ``{computed, cached}`` counts. Nothing
    is loaded or contacted when every entry is cached."""
    cache = cache_for(job)
    for torn in cache.root.glob("*/*.tmp"):  # a run killed while writing (the run directory is locked)
        torn.unlink(missing_ok=True)
    missing = [s for s in samples if not cache.has(s)]
    counts = {"teacher_samples_computed": len(missing), "teacher_samples_cached": len(samples) - len(missing)}
    if missing and isinstance(teacher, TeacherModel):
        _compute(job, cache, missing, teacher, on_progress)
    elif missing:
        from vlkd.plugins.train.teacher_server import compute

        compute(job, cache, missing, teacher, on_progress)
    return counts


def _compute(
    job: dict[str, Any], cache: TeacherCache, samples: list[Any], teacher: TeacherModel, on_progress
) -> None:
    import gc

    import torch

    from vlkd.api import family_of
    from vlkd.plugins.train.peft_collator import IGNORE_INDEX, ChatCollator

    o = job["options"]
    family = family_of(teacher.base, teacher.family or None)
    processor = family.load_processor(teacher.base, o["image_min_pixels"], o["image_max_pixels"])
    model = load_teacher(teacher, job["precision"])
    collator = ChatCollator(processor, family, o["cutoff_len"])
    size = o["distill"]["teacher_batch_size"]
    top_k = min(cache.top_k, model.get_output_embeddings().weight.shape[0])
    try:
        with torch.inference_mode():
            for start in range(0, len(samples), size):
                chunk = samples[start : start + size]
                batch = collator(chunk)
                labels = batch.pop("labels")
                device = next(model.parameters()).device
                logits = model(**{k: v.to(device) for k, v in batch.items()}).logits[:, :-1]
                mask = labels[:, 1:] != IGNORE_INDEX
                for row, sample in enumerate(chunk):
                    answer = logits[row][mask[row].to(logits.device)].float()
                    top = torch.log_softmax(answer, dim=-1).topk(top_k, dim=-1)
                    cache.save(sample, top.indices.to(torch.int32).cpu(), top.values.cpu())
                if on_progress is not None:
                    on_progress(len(chunk))
    finally:
        del model
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def load_teacher(teacher: TeacherModel, precision: str) -> Any:
    import torch
    from transformers import AutoModelForImageTextToText

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    kwargs: dict[str, Any] = {"dtype": dtype}
    if torch.cuda.is_available():
        import os

        # a teacher larger than one GPU is spread over all of them; under torchrun (on-policy) each
        # rank keeps its own copy on its own GPU
        local = os.environ.get("LOCAL_RANK") if int(os.environ.get("WORLD_SIZE", "1")) > 1 else None
        kwargs["device_map"] = {"": int(local)} if local is not None else "auto"
    model = AutoModelForImageTextToText.from_pretrained(teacher.base, **kwargs)
    if teacher.adapter:
        from vlkd.adapters import load_adapter

        model = load_adapter(model, teacher.adapter).merge_and_unload()
    return model.eval()


def teacher_batch(cache: TeacherCache, samples: list[Any]) -> dict[str, Any]:
    """The cached entries of a batch, padded: ``teacher_ids``/``teacher_log_probs`` ``(B, A, k)``
    and ``teacher_counts`` ``(B,)``."""
    return pad_entries([cache.load(s) for s in samples])


def pad_entries(loaded: list[tuple[Any, Any]]) -> dict[str, Any]:
    """Per-sample ``(ids, log_probs)`` ``(A_b, k)`` as one batch: ``teacher_ids``,
    ``teacher_log_probs`` ``(B, max A_b, k)`` and ``teacher_counts`` ``(B,)``."""
    import torch

    longest = max(ids.shape[0] for ids, _ in loaded)
    k = loaded[0][0].shape[1]
    ids = torch.zeros(len(loaded), longest, k, dtype=torch.long)
    log_probs = torch.zeros(len(loaded), longest, k)
    for row, (i, lp) in enumerate(loaded):
        ids[row, : i.shape[0]] = i.long()
        log_probs[row, : lp.shape[0]] = lp
    counts = torch.tensor([i.shape[0] for i, _ in loaded])
    return {"teacher_ids": ids, "teacher_log_probs": log_probs, "teacher_counts": counts}
