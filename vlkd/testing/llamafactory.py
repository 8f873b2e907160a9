"""LLaMA-Factory's own loader, as ``llamafactory-cli train`` runs it, for tests that compare vlkd's
predictions with what LLaMA-Factory does (needs the ``llamafactory`` package)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load_sft(
    student: str | Path, template: str, dataset_dir: str | Path, out_dir: str | Path, **more: Any
) -> tuple[Any, Any]:
    """``(dataset module, tokenizer)``: LLaMA-Factory's argument parsing, tokenizer and template
    loading and ``get_dataset`` for SFT of ``student`` on CPU (``more``: further arguments, e.g.
    ``dataset``, ``cutoff_len``, ``image_min_pixels``)."""
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    args = dict(
        model_name_or_path=str(student),
        stage="sft",
        do_train=True,
        finetuning_type="lora",
        template=template,
        dataset_dir=str(dataset_dir),
        output_dir=str(out_dir),
        overwrite_cache=True,
        report_to="none",
        use_cpu=True,
        bf16=False,
        fp16=False,
        per_device_train_batch_size=1,
    )
    args.update(more)
    model_args, data_args, training_args, _, _ = get_train_args(args)
    tokenizer_module = load_tokenizer(model_args)
    template_obj = get_template_and_fix_tokenizer(tokenizer_module["tokenizer"], data_args)
    module = get_dataset(template_obj, model_args, data_args, training_args, stage="sft", **tokenizer_module)
    return module, tokenizer_module["tokenizer"]
