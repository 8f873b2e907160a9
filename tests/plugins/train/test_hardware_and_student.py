"""Precision from the hardware, and what the ``student:`` option resolves to."""

from __future__ import annotations

import pytest

from vlkd.core.errors import StageError
from vlkd.plugins.train.hardware import Hardware, resolve_precision

CPU = Hardware(cuda=False)
AMPERE = Hardware(cuda=True, bf16_supported=True, tf32_supported=True)
TURING = Hardware(cuda=True, bf16_supported=False, tf32_supported=False)


@pytest.mark.parametrize(
    ("hw", "precision", "tf32", "expected"),
    [
        (CPU, "auto", None, ("fp32", False, True)),
        (AMPERE, "auto", None, ("bf16", True, False)),
        (TURING, "auto", None, ("fp16", False, False)),
        (AMPERE, "fp16", None, ("fp16", True, False)),
        (AMPERE, "fp32", False, ("fp32", False, False)),
    ],
)
def test_precision_follows_the_hardware_unless_overridden(hw, precision, tf32, expected):
    p = resolve_precision(precision, tf32, hw)
    assert (p.name, p.tf32, p.use_cpu) == expected


@pytest.mark.parametrize(
    ("hw", "precision", "tf32", "match"),
    [
        (CPU, "fp16", None, "precision: fp16 needs a CUDA GPU"),
        (TURING, "bf16", None, "bf16 is not supported by this GPU"),
        (TURING, "auto", True, "tf32: true needs an Ampere or newer"),
    ],
)
def test_impossible_precision_is_an_error(hw, precision, tf32, match):
    with pytest.raises(StageError, match=match):
        resolve_precision(precision, tf32, hw)


def test_distributed_options_are_checked():
    from pydantic import ValidationError

    from vlkd.plugins.train.options import DistributedOptions

    with pytest.raises(ValidationError, match="node_rank 2 must be < nnodes 2"):
        DistributedOptions(nnodes=2, node_rank=2)
    assert not DistributedOptions().enabled and DistributedOptions(nproc_per_node=2).enabled
