"""``llamafactory``: LoRA-tune the student with ``llamafactory-cli train`` in a subprocess.

vlkd writes the LLaMA-Factory inputs into the stage directory (``llamafactory/``:
``dataset_info.json`` pointing at the dataset's split files, ``train.yaml`` from the
recipe), runs the CLI (the executable is an option, so LLaMA-Factory may live in its own
environment), follows its ``trainer_log.jsonl`` in the progress bar, and copies the adapter
into ``model/adapter``. On a CPU it is given an fp32 view of the student (see ``fp32_student``).
Distributed runs go through LLaMA-Factory's own torchrun route
(``FORCE_TORCHRUN`` and ``NNODES``/``NODE_RANK``/``NPROC_PER_NODE``/``MASTER_ADDR``/``MASTER_PORT``).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from pydantic import Field

from vlkd.api import StageContext, StageError
from vlkd.plugins.train.base import LoraTrainer, TrainPlan
from vlkd.plugins.train.hardware import Hardware
from vlkd.plugins.train.launch import ProgressFromLog, error_excerpt, llamafactory_env, run_streaming
from vlkd.plugins.train.options import RUN_ONLY, TrainOptions

#: what ``model/adapter`` gets from LLaMA-Factory's output directory (not its trainer state)
ADAPTER_PREFIXES = ("adapter_", "tokenizer", "README")
PROCESSOR_FILES = (
    "processor_config.json",
    "preprocessor_config.json",
    "video_preprocessor_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
)


#: the stage's fp32 view of the student on a CPU (under ``llamafactory/``)
FP32_VIEW = "student-fp32"
#: the config.json keys that name the weights' dtype (``torch_dtype`` before transformers 4.56)
DTYPE_KEYS = ("dtype", "torch_dtype")


def checkpoint_dir(student: str) -> Path:
    """The student's directory: a local checkpoint, or a hub id's snapshot (downloaded if missing,
    as LLaMA-Factory itself would)."""
    if Path(student).is_dir():
        return Path(student)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(student))
    except Exception as e:  # offline, not found, gated: huggingface_hub's own words
        raise StageError(
            f"student.model: {student} is not downloaded and could not be fetched for LLaMA-Factory "
            f"({type(e).__name__}: {e}); download it first (hf download {student}) or name its directory"
        ) from e


def fp32_student(student: str, view: Path) -> str:
    """The student as LLaMA-Factory 0.9.5 should load it on a CPU: in fp32.

    LLaMA-Factory loads the weights with ``torch_dtype="auto"`` (``model/loader.py``), that is in
    the dtype the checkpoint's config.json names (bf16 for the released Qwen2-VL, Qwen2.5-VL and
    Qwen3-VL), and has no option to change it: ``bf16: false, fp16: false`` only leave its compute
    dtype to ``infer_optim_dtype``, fp32 on a CPU, while the frozen weights stay bf16, which a CPU
    without bf16 arithmetic runs many times slower (the peft trainer loads fp32 on a CPU). So when
    the config names another dtype, ``view`` gets a config.json that says float32 and links to
    every other file of the student; LLaMA-Factory then upcasts the weights as it loads them.
    A student already in fp32 is returned as it is.
    """
    source = checkpoint_dir(student)
    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    sections = [config, *(v for v in config.values() if isinstance(v, dict))]
    named = [section[key] for section in sections for key in DTYPE_KEYS if key in section]
    if named and all(d == "float32" for d in named):
        return student
    config["dtype"] = "float32"
    for section in sections:
        for key in DTYPE_KEYS:
            if key in section:
                section[key] = "float32"
    shutil.rmtree(view, ignore_errors=True)
    view.mkdir(parents=True)
    for item in source.iterdir():
        if item.name != "config.json":
            (view / item.name).symlink_to(item.resolve())
    (view / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return str(view)


class LlamaFactoryOptions(TrainOptions):
    """The seed's LLaMA-Factory ``training_config`` values are the defaults."""

    lora_target: list[str] | str = Field("all-linear", description="Module names, or 'all-linear' ('all')")
    per_device_train_batch_size: int = Field(2, ge=1)
    gradient_accumulation_steps: int = Field(4, ge=1)
    learning_rate: float = Field(5e-5, gt=0)
    warmup_ratio: float = Field(0.1, ge=0, le=1)
    max_grad_norm: float = Field(1.0, gt=0)
    save_steps: int = Field(1000, ge=1)
    loraplus_lr_ratio: float | None = Field(16.0, gt=0)
    optim: str = Field("adamw_torch")
    use_liger_kernel: bool = Field(True, description="Liger kernels; applied only where CUDA is present")
    executable: str = Field(
        "llamafactory-cli",
        json_schema_extra=RUN_ONLY,
        description="The llamafactory-cli to run (may live in another environment)",
    )
    args: dict[str, Any] = Field({}, description="Any other LLaMA-Factory key, passed through to train.yaml")


class LlamaFactoryTrainer(LoraTrainer):
    """LoRA with LLaMA-Factory: writes its dataset_info.json and YAML, runs llamafactory-cli train."""

    Options = LlamaFactoryOptions
    requires = ("yaml",)
    extra = "llamafactory"
    trainer_name = "llamafactory"
    options: LlamaFactoryOptions

    @property
    def template(self) -> str:
        template = self.student.template
        if template is None:  # a family LLaMA-Factory has no template for
            raise StageError(
                f"LLaMA-Factory has no template for a {self.student.family.name} student; set "
                "student.template, or use train.plugin: peft"
            )
        return template

    def executable(self) -> str | None:
        exe = self.options.executable
        return shutil.which(exe) or (exe if Path(exe).is_file() and os.access(exe, os.X_OK) else None)

    def check_installation(self, hardware: Hardware) -> None:
        if self.executable() is None:
            raise StageError(
                f"LLaMA-Factory is not installed: '{self.options.executable}' not found on PATH. "
                'Install it with: pip install "vlkd[llamafactory]" (it pins llamafactory==0.9.5 with '
                "torch 2.11.0, torchvision 0.26.0, torchaudio 2.11.0), or set train.executable to the "
                "llamafactory-cli of the environment it lives in; or use train.plugin: peft"
            )

    # -- the generated inputs --------------------------------------------------------------
    def dataset_info(self, plan: TrainPlan) -> dict[str, Any]:
        """The dataset's entries, with absolute file names so any dataset_dir finds them."""
        info = {}
        for _split, entry in plan.data.entries.items():
            spec = dict(plan.data.dataset_info[entry])
            spec["file_name"] = str((plan.data.root / spec["file_name"]).resolve())
            info[entry] = spec
        return info

    def config(self, plan: TrainPlan, work_dir: Path) -> dict[str, Any]:
        """The train.yaml of LLaMA-Factory (stage sft, the student's template, finetuning_type lora)."""
        o = self.options
        s = self.student
        p = plan.precision
        target = "all" if self.lora_target == "all-linear" else ",".join(self.lora_target)
        student = fp32_student(plan.student, work_dir / FP32_VIEW) if p.use_cpu else plan.student
        cfg: dict[str, Any] = {
            # model
            "model_name_or_path": student,
            "image_min_pixels": s.image_min_pixels,
            "image_max_pixels": s.image_max_pixels,
            "trust_remote_code": True,
            # method
            "stage": "sft",
            "do_train": True,
            "finetuning_type": "lora",
            "lora_target": target,
            "lora_rank": o.lora_rank,
            "lora_alpha": o.lora_alpha,
            "lora_dropout": o.lora_dropout,
            # dataset
            "dataset": plan.data.entries["train"],
            "dataset_dir": str(work_dir),
            "media_dir": str(plan.data.media_dir),
            "template": self.template,
            "cutoff_len": s.cutoff_len,
            "overwrite_cache": True,
            "preprocessing_num_workers": 1,
            "dataloader_num_workers": 0,
            # output
            "output_dir": str(plan.output_dir),
            "logging_steps": o.logging_steps,
            "save_steps": o.save_steps,
            "save_total_limit": o.save_total_limit,
            "plot_loss": False,
            "overwrite_output_dir": plan.resume_from_checkpoint is None,
            "report_to": o.report_to or "none",
            "logging_dir": str(plan.output_dir / "runs"),
            # train
            "per_device_train_batch_size": o.per_device_train_batch_size,
            "gradient_accumulation_steps": o.gradient_accumulation_steps,
            "learning_rate": o.learning_rate,
            "num_train_epochs": o.num_train_epochs,
            "lr_scheduler_type": o.lr_scheduler_type,
            "warmup_ratio": o.warmup_ratio,
            "max_grad_norm": o.max_grad_norm,
            "weight_decay": o.weight_decay,
            "optim": o.optim,
            "seed": o.seed,
            "bf16": p.bf16,
            "fp16": p.fp16,
            "disable_gradient_checkpointing": not o.gradient_checkpointing,
        }
        if p.tf32:
            cfg["tf32"] = True
        if p.use_cpu:
            cfg["use_cpu"] = True
        if o.max_steps:
            cfg["max_steps"] = o.max_steps
        if o.modules_to_save:
            cfg["additional_target"] = ",".join(o.modules_to_save)
        if o.loraplus_lr_ratio:
            cfg["loraplus_lr_ratio"] = o.loraplus_lr_ratio
        if o.quantization_bit:
            cfg.update(quantization_bit=o.quantization_bit, quantization_method="bnb")
        if o.use_liger_kernel and plan.hardware.cuda:
            cfg["use_liger_kernel"] = True
        if o.deepspeed:
            cfg["deepspeed"] = str(o.deepspeed)
        if "val" in plan.data.entries:
            cfg.update(
                eval_dataset=plan.data.entries["val"],
                eval_strategy="steps",
                eval_steps=o.eval_steps,
                per_device_eval_batch_size=o.per_device_eval_batch_size,
            )
        if plan.resume_from_checkpoint:
            cfg["resume_from_checkpoint"] = plan.resume_from_checkpoint
        cfg.update(o.args)
        return cfg

    def write_inputs(self, plan: TrainPlan, work_dir: Path) -> Path:
        import yaml

        from vlkd.api import write_json_atomic

        work_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(work_dir / "dataset_info.json", self.dataset_info(plan))
        path = work_dir / "train.yaml"
        path.write_text(
            yaml.safe_dump(self.config(plan, work_dir), sort_keys=False, allow_unicode=True), encoding="utf-8"
        )
        return path

    def command(self, config_path: Path, action: str = "train") -> list[str]:
        return [self.executable() or self.options.executable, action, str(config_path)]

    def environment(self) -> dict[str, str]:
        env = llamafactory_env(self.options.distributed)
        env.setdefault("DISABLE_VERSION_CHECK", "0")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    # -- running ---------------------------------------------------------------------------
    def train(self, ctx: StageContext, plan: TrainPlan) -> dict[str, Any]:
        work_dir = ctx.dir / "llamafactory"
        config_path = self.write_inputs(plan, work_dir)
        clash = sorted(set(self.options.args) & {"model_name_or_path", "dataset", "output_dir", "template"})
        if clash:
            ctx.warn(f"args: overrides {', '.join(clash)} that vlkd sets; the stage may not find its outputs")
        progress = ProgressFromLog(ctx, "train (llamafactory)")
        output_log = ctx.dir / "llamafactory.log"
        cmd = self.command(config_path)
        ctx.info("running: " + " ".join(cmd))
        try:
            code = run_streaming(
                cmd,
                env=self.environment(),
                cwd=work_dir,
                trainer_log=plan.trainer_log,
                output_log=output_log,
                on_log=progress,
            )
        finally:
            progress.close()
        if code != 0:
            raise StageError(
                f"llamafactory-cli train failed (exit {code}); LLaMA-Factory said:\n"
                f"{error_excerpt(output_log)}\n  generated config: {config_path}\n"
                f"  full output: {output_log}"
            )
        self.collect_adapter(plan)
        if self.options.merge:
            self.merge(ctx, plan, work_dir)
        return dict(progress.last)

    def collect_adapter(self, plan: TrainPlan) -> None:
        adapter = plan.model_dir / "adapter"
        if not (plan.output_dir / "adapter_config.json").is_file():
            raise StageError(
                f"llamafactory-cli train finished but {plan.output_dir} holds no adapter_config.json"
            )
        adapter.mkdir(parents=True, exist_ok=True)
        for item in plan.output_dir.iterdir():
            if item.is_file() and (
                item.name.startswith(ADAPTER_PREFIXES)
                or item.name in PROCESSOR_FILES
                or item.suffix == ".jinja"
            ):
                shutil.copy2(item, adapter / item.name)
        config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
        if Path(str(config.get("base_model_name_or_path"))).name == FP32_VIEW:  # the student, not the view
            config["base_model_name_or_path"] = plan.student
            (adapter / "adapter_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")

    def merge(self, ctx: StageContext, plan: TrainPlan, work_dir: Path) -> None:
        import yaml

        export = {
            "model_name_or_path": plan.student,
            "adapter_name_or_path": str(plan.model_dir / "adapter"),
            "template": self.template,
            "finetuning_type": "lora",
            "trust_remote_code": True,
            "export_dir": str(plan.model_dir / "merged"),
            "export_device": "cpu",
        }
        path = work_dir / "merge.yaml"
        path.write_text(yaml.safe_dump(export, sort_keys=False), encoding="utf-8")
        output_log = ctx.dir / "llamafactory-export.log"
        code = run_streaming(
            self.command(path, "export"),
            env=self.environment(),
            cwd=work_dir,
            trainer_log=work_dir / "none.jsonl",
            output_log=output_log,
            on_log=lambda r: None,
        )
        if code != 0:
            raise StageError(
                f"llamafactory-cli export (merge) failed (exit {code}):\n{error_excerpt(output_log)}\n"
                f"  generated config: {path}"
            )
