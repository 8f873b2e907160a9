"""Whether on-policy distillation's two models fit in memory together, checked before either loads.

On-policy distillation holds the teacher beside the student for the whole training (it scores the
student's own samples, so nothing can be cached), where logit_kd runs the teacher alone first and
frees it. The weights' size is read from the safetensors headers (parameter counts; no weights are
read) at the training's precision, and compared with the memory free now: the GPUs' free memory
(each GPU under torchrun, where every rank holds its own teacher), else the machine's available RAM.
Weights are a lower bound (activations, optimiser state and the KV cache of sampling come on top):
an error when they alone do not fit, a warning when they take most of it.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from vlkd.api import StageError

BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}
#: the share of free memory the two models' weights may take before a warning
WARN_AT = 0.8


def parameter_count(model_dir: str | Path) -> int | None:
    """Parameters in a checkpoint directory's ``*.safetensors`` files (headers only), or None."""
    files = sorted(Path(model_dir).glob("*.safetensors")) if Path(model_dir).is_dir() else []
    if not files:
        return None
    total = 0
    for file in files:
        with file.open("rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(size))
        for name, entry in header.items():
            if name != "__metadata__":
                n = 1
                for dim in entry["shape"]:
                    n *= dim
                total += n
    return total


def free_memory(cuda: bool, per_rank: bool) -> int | None:
    """Bytes free now: on the GPUs (summed, or the smallest one when each rank holds a copy), else RAM."""
    if cuda:
        import torch

        free = [torch.cuda.mem_get_info(i)[0] for i in range(torch.cuda.device_count())]
        return min(free) if per_rank else sum(free)
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_side_by_side(
    teacher_dir: str, student_dir: str, precision: str, *, cuda: bool, per_rank: bool
) -> str | None:
    """Raise StageError when teacher and student weights exceed the free memory; return a warning
    when they take most of it; None when they fit or a size is unknown (a hub model not local)."""
    counts = parameter_count(teacher_dir), parameter_count(student_dir)
    free = free_memory(cuda, per_rank)
    if counts[0] is None or counts[1] is None or not free:
        return None
    need = (counts[0] + counts[1]) * BYTES.get(precision, 4)
    where = ("each GPU" if per_rank else "the GPUs") if cuda else "this machine's RAM"
    gib = 2**30
    said = (
        f"on_policy holds the teacher ({counts[0] * BYTES.get(precision, 4) / gib:.2f} GiB at {precision}) "
        f"and the student ({counts[1] * BYTES.get(precision, 4) / gib:.2f} GiB) in memory together; "
        f"{where} has {free / gib:.2f} GiB free"
    )
    if need > free:
        raise StageError(
            f"train.distill: {said}. Use method: logit_kd (the teacher runs alone first, its top-k "
            "cached), a smaller teacher of the family, or more GPU memory"
        )
    if need > WARN_AT * free:
        return f"{said}: activations, optimiser state and sampling need more; it may run out of memory"
    return None
