"""The in-process PEFT LoRA training run (also the torchrun entry point for several GPUs).

``train(job)`` takes a JSON-serialisable job written by the ``peft`` plugin: the student,
the dataset directory, the output directories and the resolved options. Run as
``python -m vlkd.plugins.train.peft_worker JOB.json`` under torchrun, every rank reads the
same job; only rank 0 writes logs and the adapter.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from vlkd.adapters import no_false_tie_warning
from vlkd.api import StageError
from vlkd.plugins.train.distill_trainer import LOGGED_PARTS
from vlkd.plugins.train.launch import TRAINER_LOG

VISION_PREFIXES = ("visual", "vision_tower", "vision_model")


def linear_layer_names(model: Any) -> tuple[set[str], set[str]]:
    """Short names of the linear layers: (language model, vision tower), lm_head left out."""
    import torch

    language: set[str] = set()
    vision: set[str] = set()
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or name.endswith("lm_head"):
            continue
        parts = name.split(".")
        short = ".".join(parts[-2:]) if parts[-1].isdigit() else parts[-1]  # merger.mlp.0 -> mlp.0
        (vision if any(p in VISION_PREFIXES for p in parts) else language).add(short)
    return language, vision


def target_modules(requested: list[str] | str, model: Any) -> str | list[str]:
    """PEFT ``target_modules`` for the recipe's ``lora_target``; unknown names are an error.

    ``all-linear`` and names of the language model become a regular expression that leaves
    the vision tower frozen (as LLaMA-Factory does); names only the vision tower has are
    passed as they are.
    """
    import re

    language, vision = linear_layer_names(model)
    names = sorted(language) if requested == "all-linear" else list(requested)
    unknown = [n for n in names if n not in language | vision]
    if unknown:
        raise StageError(
            f"lora_target: {', '.join(unknown)} is not a linear layer of this student. "
            f"Its language model has: {', '.join(sorted(language))}"
            + (f"; its vision tower: {', '.join(sorted(vision))}" if vision else "")
            + "; or use lora_target: all-linear"
        )
    if all(n in language for n in names):
        vision_re = "|".join(VISION_PREFIXES)
        return rf"^(?!.*\b(?:{vision_re})\b).*\.(?:{'|'.join(map(re.escape, names))})$"
    return names


def job_family(job: dict[str, Any]) -> Any:
    """The student family named in the job (``module:Class``), as an instance."""
    import importlib

    module, _, name = job["family"].partition(":")
    return getattr(importlib.import_module(module), name)()


def load_student(job: dict[str, Any], family: Any):
    import torch
    from transformers import AutoModelForImageTextToText

    opts = job["options"]
    dtype = (
        torch.bfloat16
        if job["precision"] == "bf16"
        else torch.float16
        if job["precision"] == "fp16"
        else torch.float32
    )
    kwargs: dict[str, Any] = {"dtype": dtype}
    if opts.get("quantization_bit") == 4:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
        )
    processor = family.load_processor(job["student"], opts["image_min_pixels"], opts["image_max_pixels"])
    model = AutoModelForImageTextToText.from_pretrained(job["student"], **kwargs)
    return processor, model


def _trainer_log_callback(output_dir: Path, on_log: Any):
    from transformers import TrainerCallback

    class TrainerLog(TrainerCallback):
        """Writes LLaMA-Factory's trainer_log.jsonl lines (rank 0) and feeds the progress bar."""

        def __init__(self) -> None:
            self.start = time.time()
            self.start_step = 0

        def on_train_begin(self, args, state, control, **kwargs):
            self.start, self.start_step = time.time(), state.global_step

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero:
                return
            logs = logs or {}
            done = state.global_step - self.start_step
            elapsed = time.time() - self.start
            remaining = elapsed / done * (state.max_steps - state.global_step) if done else 0.0
            record = {
                "current_steps": state.global_step,
                "total_steps": state.max_steps,
                "loss": logs.get("loss"),
                "eval_loss": logs.get("eval_loss"),
                "lr": logs.get("learning_rate"),
                "epoch": logs.get("epoch", state.epoch),
                "percentage": round(state.global_step / state.max_steps * 100, 2) if state.max_steps else 100,
                "elapsed_time": time.strftime("%H:%M:%S", time.gmtime(elapsed)),
                "remaining_time": time.strftime("%H:%M:%S", time.gmtime(remaining)),
            }
            if state.num_input_tokens_seen:
                record["total_tokens"] = state.num_input_tokens_seen
                record["throughput"] = round(state.num_input_tokens_seen / max(elapsed, 1e-9), 2)
            for part in LOGGED_PARTS:  # distillation: the loss's parts, the share sampled on-policy
                record[part] = logs.get(part)
            record = {k: v for k, v in record.items() if v is not None}
            with (output_dir / TRAINER_LOG).open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
            if on_log is not None:
                on_log(record)

    return TrainerLog()


def training_arguments(job: dict[str, Any], has_eval: bool):
    from transformers import TrainingArguments

    o = job["options"]
    return TrainingArguments(
        output_dir=job["output_dir"],
        num_train_epochs=o["num_train_epochs"],
        max_steps=o["max_steps"] or -1,
        per_device_train_batch_size=o["per_device_train_batch_size"],
        per_device_eval_batch_size=o["per_device_eval_batch_size"],
        gradient_accumulation_steps=o["gradient_accumulation_steps"],
        learning_rate=o["learning_rate"],
        lr_scheduler_type=o["lr_scheduler_type"],
        warmup_steps=o["warmup_ratio"],  # a float < 1 is a ratio of the total steps
        max_grad_norm=o["max_grad_norm"],
        weight_decay=o["weight_decay"],
        optim=o["optim"],
        seed=o["seed"],
        bf16=job["precision"] == "bf16",
        fp16=job["precision"] == "fp16",
        tf32=job["tf32"] if job["tf32"] else None,
        use_cpu=job["use_cpu"],
        eval_strategy="steps" if has_eval else "no",
        eval_steps=o["eval_steps"],
        save_strategy="steps",
        save_steps=o["save_steps"],
        save_total_limit=o["save_total_limit"],
        logging_steps=o["logging_steps"],
        report_to=o["report_to"] or "none",
        gradient_checkpointing=o["gradient_checkpointing"],
        # reentrant: measured 2.2x faster per step than non-reentrant on the tiny student (and
        # what LLaMA-Factory uses); the inputs require grad (enable_input_require_grads)
        gradient_checkpointing_kwargs={"use_reentrant": True} if o["gradient_checkpointing"] else None,
        ddp_find_unused_parameters=False,  # LoRA uses every adapter; and reentrant checkpointing needs it
        remove_unused_columns=False,
        include_num_input_tokens_seen=True,
        deepspeed=o.get("deepspeed"),
        dataloader_num_workers=0,
        disable_tqdm=True,
    )


def train(job: dict[str, Any], on_log: Any = None) -> dict[str, Any]:
    """Train the LoRA adapter described by ``job``; return facts for the manifest."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import PrinterCallback, Trainer

    from vlkd.plugins.train.checkpointing import frozen_layers_callback
    from vlkd.plugins.train.dataset import load_dataset_dir
    from vlkd.plugins.train.peft_collator import ChatCollator

    o = job["options"]
    output_dir, model_dir = Path(job["output_dir"]), Path(job["model_dir"])
    output_dir.mkdir(parents=True, exist_ok=True)
    data = load_dataset_dir(Path(job["dataset"]))
    family = job_family(job)
    processor, model = load_student(job, family)
    targets = target_modules(o["lora_target"], model)
    if o.get("quantization_bit"):
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=o["gradient_checkpointing"])
    if o["gradient_checkpointing"]:
        model.enable_input_require_grads()
    model.config.use_cache = False
    lora = LoraConfig(
        r=o["lora_rank"],
        lora_alpha=o["lora_alpha"],
        lora_dropout=o["lora_dropout"],
        bias="none",
        task_type="CAUSAL_LM",
        target_modules=targets,
        modules_to_save=o["modules_to_save"] or None,
    )
    from transformers import set_seed

    set_seed(o["seed"])  # the LoRA weights' initialisation too, whatever ran before in this process
    with no_false_tie_warning(model):
        model = get_peft_model(model, lora)
    trainable, total = model.get_nb_trainable_parameters()

    eval_samples = data.splits.get("val") or []
    args = training_arguments(job, has_eval=bool(eval_samples))
    optimizers: tuple[Any, Any] = (None, None)
    if o.get("loraplus_lr_ratio"):
        from peft.optimizers import create_loraplus_optimizer

        optimizers = (
            create_loraplus_optimizer(
                model,
                torch.optim.AdamW,
                lr=o["learning_rate"],
                loraplus_lr_ratio=o["loraplus_lr_ratio"],
                weight_decay=o["weight_decay"],
            ),
            None,
        )
    trainer_kwargs: dict[str, Any] = dict(
        model=model,
        args=args,
        train_dataset=data.splits["train"],
        eval_dataset=eval_samples or None,
        data_collator=ChatCollator(processor, family, o["cutoff_len"]),
        optimizers=optimizers,
        callbacks=[_trainer_log_callback(output_dir, on_log), frozen_layers_callback()],
    )
    distill = o.get("distill")
    if distill and distill["method"] == "on_policy":
        trainer = _on_policy_trainer(job, model, processor, family, trainer_kwargs)
    elif distill:
        from vlkd.plugins.train.distill_trainer import DistillCollator, distill_trainer
        from vlkd.plugins.train.teacher_cache import cache_for

        trainer_kwargs["data_collator"] = DistillCollator(trainer_kwargs["data_collator"], cache_for(job))
        trainer = distill_trainer(distill, **trainer_kwargs)
    else:
        trainer = Trainer(**trainer_kwargs)
    trainer.remove_callback(PrinterCallback)  # progress goes to the vlkd bar and trainer_log.jsonl
    resume = job.get("resume_from_checkpoint")
    result = trainer.train(resume_from_checkpoint=resume)
    facts: dict[str, Any] = {
        "trainable_params": trainable,
        "all_params": total,
        "global_step": trainer.state.global_step,
        "train_loss": round(result.training_loss, 6),
        "resumed_from": resume,
        "train_runtime": result.metrics.get("train_runtime"),
        "train_steps_per_second": result.metrics.get("train_steps_per_second"),
        "num_input_tokens_seen": trainer.state.num_input_tokens_seen,
    }
    if distill:
        facts["distill_method"] = distill["method"]
    if hasattr(trainer, "sampled_batches"):  # on-policy: how many batches the student sampled
        facts.update(on_policy_batches=trainer.sampled_batches, scored_batches=trainer.scored_batches)
        facts.update(getattr(trainer.teacher, "counts", {}))  # a teacher server: what it scored
    if torch.cuda.is_available():
        facts["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
    adapter_dir = model_dir / "adapter"
    trainer.save_model(str(adapter_dir))  # every rank: DeepSpeed ZeRO-3 gathers the weights collectively
    if trainer.is_world_process_zero():
        processor.save_pretrained(str(adapter_dir))
        if job["options"]["merge"]:
            merged = model.merge_and_unload()
            merged.save_pretrained(str(model_dir / "merged"))
            processor.save_pretrained(str(model_dir / "merged"))
    return facts


def _on_policy_trainer(job: dict[str, Any], model: Any, processor: Any, family: Any, kwargs: dict[str, Any]):
    """The teacher loaded beside the student (or its server), and the Trainer that samples and scores."""
    from vlkd.plugins.train.distill_trainer import on_policy_trainer
    from vlkd.plugins.train.on_policy import generation_config
    from vlkd.plugins.train.teacher import TeacherModel
    from vlkd.plugins.train.teacher_cache import cache_for, load_teacher

    d, t = job["options"]["distill"], job["teacher"]
    teacher: Any
    if "server" in t:
        from vlkd.plugins.train.on_policy_server import ServerScorer, WithSamples

        teacher = ServerScorer(job, processor, cache_for(job))
        kwargs["data_collator"] = WithSamples(kwargs["data_collator"])
    else:
        teacher = load_teacher(
            TeacherModel(t["name"], t["base"], t["adapter"], t["family"]), job["precision"]
        )
    config = generation_config(
        model, processor.tokenizer, family.turn_end, d["max_new_tokens"], d["temperature"], family.image_token
    )
    return on_policy_trainer(d, teacher, config, job["options"]["seed"], **kwargs)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    facts = train(job)
    import torch.distributed as dist

    if not dist.is_initialized() or dist.get_rank() == 0:
        Path(job["output_dir"], "facts.json").write_text(json.dumps(facts) + "\n", encoding="utf-8")
    if dist.is_initialized():
        # every rank leaves the group before the interpreter exits: left to process exit, gloo's
        # threads were sometimes destroyed still running ("terminate called without an active
        # exception", SIGABRT in rank 1) after a training that had finished and saved
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
