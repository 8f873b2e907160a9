"""What both trainers do around the training itself: checks first, then the model artifact.

Order matters: every check that can fail on the user's input (student, dataset, QLoRA,
LoRA targets, the LLaMA-Factory installation) runs before any model weights are loaded or
any process is started, so a mistake costs seconds, not a GPU-hour.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlkd.api import ModelCard, StageContext, StagePlugin
from vlkd.plugins.train.dataset import TrainData, load_dataset_dir, preflight
from vlkd.plugins.train.hardware import Hardware, Precision, check_quantization, resolve_precision
from vlkd.plugins.train.launch import TRAINER_LOG
from vlkd.plugins.train.options import MOVED_TO_STUDENT, TrainOptions
from vlkd.plugins.train.student import local_config

if TYPE_CHECKING:
    from vlkd.api import Student

MODEL_CARD = ModelCard.FILE


@dataclass
class TrainPlan:
    """Everything a trainer needs once the checks have passed."""

    student: str
    data: TrainData
    precision: Precision
    hardware: Hardware
    output_dir: Path  # checkpoints, trainer_log.jsonl, TensorBoard runs
    model_dir: Path  # the artifact: adapter/, vlkd_model.json
    resume_from_checkpoint: str | None
    run_dir: Path = Path(".")  # the run directory (its cache/ holds the teacher's log-probabilities)

    @property
    def trainer_log(self) -> Path:
        return self.output_dir / TRAINER_LOG


class LoraTrainer(StagePlugin):
    """Base of the ``peft`` and ``llamafactory`` trainers."""

    Options = TrainOptions
    requires: tuple[str, ...] = ("torch", "transformers", "peft")
    extra = "train"
    #: the name written to vlkd_model.json
    trainer_name = ""
    options: TrainOptions
    uses_student = True
    moved_options = MOVED_TO_STUDENT
    student: Student

    @classmethod
    def check_student(cls, student: Student) -> str | None:
        from vlkd.api import StageError

        try:
            student.family.check_trainer(cls.trainer_name)
        except StageError as exc:
            return str(exc)
        return None

    def check_options(self) -> tuple[tuple[str, ...], str] | None:
        """``distill:`` needs the peft trainer and a teacher of the student's tokenizer."""
        distill = self.options.distill
        if distill is None:
            return None
        if self.trainer_name != "peft":
            return (
                ("distill",),
                f"distillation (distill:) runs in the peft trainer; set train.plugin: peft "
                f"(the {self.trainer_name} trainer has none: LLaMA-Factory declined it, its issue #7365)",
            )
        from vlkd.plugins.train.teacher import check_teacher, student_dir

        reason = check_teacher(distill.teacher, self.student, student_dir(self.student), not_here_yet=True)
        return (("distill", "teacher"), reason.removeprefix("distill.teacher: ")) if reason else None

    @property
    def lora_target(self) -> list[str] | str:
        """The recipe's ``lora_target``, else the student family's."""
        return self.options.lora_target or list(self.student.family.lora_targets)

    # -- the stage -------------------------------------------------------------------------
    def run(self, ctx: StageContext) -> None:
        plan = self.prepare(ctx)
        facts = self.train(ctx, plan) or {}
        self.write_model_card(plan, ctx.run_dir)
        ctx.facts.update({k: v for k, v in facts.items() if v is not None})
        ctx.counts.add_ok(len(plan.data.splits["train"]))

    def prepare(self, ctx: StageContext, hardware: Hardware | None = None) -> TrainPlan:
        o = self.options
        hardware = hardware or Hardware.detect()
        check_quantization(o.quantization_bit, hardware)
        precision = resolve_precision(o.precision, o.tf32, hardware)
        self.check_installation(hardware)
        data = load_dataset_dir(o.dataset or ctx.input("dataset"))
        self.student.family.check_trainer(self.trainer_name)
        student = self.student.path(ctx.run_dir)
        ctx.facts.update(
            preflight(data, self.student, ctx.run_dir, tokenizer=local_tokenizer(student), warn=ctx.warn)
        )
        check_targets(student, self.lora_target)
        output_dir = ctx.dir / "output"
        resume = last_checkpoint(output_dir) if ctx.resumed else None
        if resume:
            ctx.info(f"resuming from {resume}")
        # the steps after the checkpoint are trained (and logged) again: forget their old lines
        trim_trainer_log(output_dir / TRAINER_LOG, int(Path(resume).name[11:]) if resume else 0)
        ctx.facts.update(
            {"student": student, "precision": precision.name, "device": "cuda" if hardware.cuda else "cpu"}
        )
        return TrainPlan(
            student, data, precision, hardware, output_dir, ctx.output("model"), resume, Path(ctx.run_dir)
        )

    def check_installation(self, hardware: Hardware) -> None:
        """Raise a StageError when the trainer cannot run here (e.g. LLaMA-Factory missing)."""

    def train(self, ctx: StageContext, plan: TrainPlan) -> dict[str, Any] | None:
        raise NotImplementedError

    # -- the artifact ----------------------------------------------------------------------
    def write_model_card(self, plan: TrainPlan, run_dir: Path) -> None:
        adapter = plan.model_dir / "adapter"
        if not (adapter / "adapter_config.json").is_file():
            from vlkd.api import StageError

            raise StageError(f"training finished but wrote no adapter into {adapter}")
        s = self.student
        merged = (plan.model_dir / "merged" / "config.json").is_file()
        relative = functools.partial(ModelCard.relative, plan.model_dir, run_dir)
        ModelCard(
            trainer=self.trainer_name,
            base_model=relative(plan.student),
            family=s.family.name,
            adapter="adapter",
            template=s.template,
            image_min_pixels=s.image_min_pixels,
            image_max_pixels=s.image_max_pixels,
            cutoff_len=s.cutoff_len,
            log=relative(str(plan.trainer_log)),
            merged="merged" if merged else None,
            distill=self.options.distill.as_trained() if self.options.distill else None,
        ).write(plan.model_dir)


def last_checkpoint(output_dir: Path) -> str | None:
    """The newest complete ``checkpoint-N`` directory, if any."""
    if not output_dir.is_dir():
        return None
    found = []
    for child in output_dir.iterdir():
        name = child.name
        if (
            child.is_dir()
            and name.startswith("checkpoint-")
            and name[11:].isdigit()
            and (child / "trainer_state.json").is_file()
        ):
            found.append((int(name[11:]), child))
    return str(max(found)[1]) if found else None


def local_tokenizer(student: str) -> Any:
    """The student's tokenizer when it is on disk (exact token counts for the pre-flight check)."""
    import importlib.util

    if not Path(student).is_dir() or importlib.util.find_spec("transformers") is None:
        return None
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(student)


def check_targets(student: str, lora_target: list[str] | str) -> None:
    """Unknown LoRA target names are an error listing the student's linear layers.

    The student is built on the meta device from its config (no weights read), so this is
    instant even for a 7B model; a hub student that is not downloaded yet is checked later.
    """
    import importlib.util

    if lora_target == "all-linear" or importlib.util.find_spec("transformers") is None:
        return
    config = local_config(student)
    if config is None:
        return
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    from vlkd.plugins.train.peft_worker import target_modules

    cfg = AutoConfig.from_pretrained(student) if Path(student).is_dir() else AutoConfig.for_model(**config)
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(cfg)
    target_modules(lora_target, model)


def trim_trainer_log(path: Path, last_step: int) -> None:
    """Keep the lines of ``trainer_log.jsonl`` up to ``last_step`` (the checkpoint training
    resumes from; 0: training starts over), so that a resumed training logs each step once."""
    if not path.is_file():
        return
    from vlkd.api import write_jsonl_atomic

    rows = read_trainer_log(path)
    kept = [r for r in rows if isinstance(r, dict) and int(r.get("current_steps") or 0) <= last_step]
    if len(kept) != len(rows):
        write_jsonl_atomic(path, kept)


def read_trainer_log(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_bytes().splitlines():  # bytes: a line torn inside a character is skipped too
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out
