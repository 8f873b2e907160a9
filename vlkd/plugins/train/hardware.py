"""Precision from the hardware (bf16 / fp16 / tf32), and the checks that need CUDA."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from vlkd.api import StageError


@dataclass(frozen=True)
class Hardware:
    cuda: bool
    bf16_supported: bool = False
    tf32_supported: bool = False

    @classmethod
    def detect(cls) -> Hardware:
        import torch

        if not torch.cuda.is_available():
            return cls(cuda=False)
        major, _ = torch.cuda.get_device_capability()
        return cls(cuda=True, bf16_supported=torch.cuda.is_bf16_supported(), tf32_supported=major >= 8)


@dataclass(frozen=True)
class Precision:
    bf16: bool
    fp16: bool
    tf32: bool
    use_cpu: bool

    @property
    def name(self) -> str:
        return "bf16" if self.bf16 else "fp16" if self.fp16 else "fp32"


def resolve_precision(precision: str, tf32: bool | None, hw: Hardware) -> Precision:
    """``auto``: bf16 where the GPU has it, else fp16 on CUDA, fp32 on CPU. An explicit choice wins,
    except half precision without CUDA, which trains nowhere useful and is an error."""
    if precision == "auto":
        precision = ("bf16" if hw.bf16_supported else "fp16") if hw.cuda else "fp32"
    if precision in ("bf16", "fp16") and not hw.cuda:
        raise StageError(
            f"precision: {precision} needs a CUDA GPU and none is visible; "
            "use precision: fp32 (or auto) on CPU"
        )
    if precision == "bf16" and not hw.bf16_supported:
        raise StageError("precision: bf16 is not supported by this GPU; use fp16 or auto")
    if tf32 and not hw.tf32_supported:
        raise StageError(
            "tf32: true needs an Ampere or newer CUDA GPU; leave tf32 unset to choose automatically"
        )
    return Precision(
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        tf32=hw.tf32_supported if tf32 is None else tf32,
        use_cpu=not hw.cuda,
    )


def check_quantization(quantization_bit: int | None, hw: Hardware) -> None:
    """QLoRA needs CUDA and bitsandbytes; say so before any model is loaded."""
    if quantization_bit is None:
        return
    if not hw.cuda:
        raise StageError(
            f"quantization_bit: {quantization_bit} (QLoRA) needs a CUDA GPU (bitsandbytes) and none "
            "is visible; remove quantization_bit to train plain LoRA"
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        raise StageError(
            f"quantization_bit: {quantization_bit} (QLoRA) needs bitsandbytes: pip install bitsandbytes"
        )
