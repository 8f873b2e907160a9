"""``peft``: LoRA-tune the student in this process with the transformers Trainer and PEFT.

On one device the training runs inside ``vlkd run`` (the progress bar follows the steps);
with ``distributed:`` it runs under torchrun (``python -m vlkd.plugins.train.peft_worker``),
each rank reading the same job file.
"""

from __future__ import annotations

import json
import time
from typing import Any

from vlkd.api import StageContext, StageError, write_json_atomic
from vlkd.plugins.train.base import LoraTrainer, TrainPlan
from vlkd.plugins.train.launch import ProgressFromLog, error_excerpt, run_streaming, torchrun_args
from vlkd.plugins.train.teacher_cache import CACHE_DIR

WORKER_MODULE = "vlkd.plugins.train.peft_worker"


class PeftTrainer(LoraTrainer):
    """LoRA with PEFT and the transformers Trainer, in-process (torchrun for several GPUs)."""

    trainer_name = "peft"

    def job(self, plan: TrainPlan) -> dict[str, Any]:
        s = self.student
        options = self.options.model_dump(mode="json")
        options.update(
            lora_target=self.lora_target,
            cutoff_len=s.cutoff_len,
            image_min_pixels=s.image_min_pixels,
            image_max_pixels=s.image_max_pixels,
        )
        family = type(s.family)
        return {
            "student": plan.student,
            "family": f"{family.__module__}:{family.__qualname__}",
            "dataset": str(plan.data.root),
            "output_dir": str(plan.output_dir),
            "model_dir": str(plan.model_dir),
            "options": options,
            "precision": plan.precision.name,
            "tf32": plan.precision.tf32,
            "use_cpu": plan.precision.use_cpu,
            "resume_from_checkpoint": plan.resume_from_checkpoint,
            **self.distill_job(plan),
        }

    def distill_job(self, plan: TrainPlan) -> dict[str, Any]:
        """Which teacher, and where its cached log-probabilities are (logit_kd)."""
        if self.options.distill is None:
            return {}
        from vlkd.plugins.train.teacher import TeacherModel, teacher_of

        teacher = teacher_of(self.options.distill.teacher)
        if not isinstance(teacher, TeacherModel):  # a teacher server
            return {"cache_dir": str(plan.run_dir / CACHE_DIR), "teacher": teacher.job()}
        return {
            "cache_dir": str(plan.run_dir / CACHE_DIR),
            "teacher": {
                "fingerprint": teacher.fingerprint(),
                "name": teacher.name,
                "base": teacher.base,
                "adapter": teacher.adapter,
                "family": teacher.family,
            },
        }

    def prepare_teacher(self, ctx: StageContext, plan: TrainPlan, job: dict[str, Any]) -> dict[str, Any]:
        """Before the student loads: the teacher checked against the built student; for logit_kd,
        its top-k computed where not cached; for on_policy, both models' memory checked."""
        from vlkd.plugins.train.teacher import check_teacher

        assert self.options.distill is not None
        reason = check_teacher(self.options.distill.teacher, self.student, plan.student)
        if reason:
            raise StageError(reason)
        if self.options.distill.method == "logit_kd":
            return self.fill_teacher_cache(ctx, plan, job)
        if "server" in job["teacher"]:
            return self.probe_teacher_server(plan, job)
        from vlkd.plugins.train.memory import check_side_by_side

        warning = check_side_by_side(
            job["teacher"]["base"],
            plan.student,
            plan.precision.name,
            cuda=plan.hardware.cuda,
            per_rank=self.options.distributed.enabled,
        )
        if warning:
            ctx.warn(warning)
        return {}

    def probe_teacher_server(self, plan: TrainPlan, job: dict[str, Any]) -> dict[str, Any]:
        """on_policy from a server, before the student loads: the server answers, serves the
        model, and tokenizes the first training sample's reviewed answer as the student does (its
        entry kept in the cache; the student's samples are scored during the training)."""
        from vlkd.plugins.train.teacher_cache import fill
        from vlkd.plugins.train.teacher_server import LogprobClient, from_job

        teacher = from_job(job["teacher"])
        LogprobClient(teacher).check()  # also when the first entry is cached: the samples need it
        fill(job, (plan.data.splits.get("train") or [])[:1], teacher)
        return {}

    def fill_teacher_cache(self, ctx: StageContext, plan: TrainPlan, job: dict[str, Any]) -> dict[str, Any]:
        """Run the teacher over the samples not in the cache yet, before the student loads."""
        from vlkd.plugins.train.teacher import teacher_of
        from vlkd.plugins.train.teacher_cache import fill

        assert self.options.distill is not None
        samples = [s for split in ("train", "val") for s in plan.data.splits.get(split) or []]
        task = ctx.progress(len(samples), description="teacher top-k (logit_kd)")
        started = time.perf_counter()
        try:
            counts = fill(job, samples, teacher_of(self.options.distill.teacher), task.advance)
        finally:
            task.close()
        # the teacher's share of the rung's cost (the report's ladder): 0 when all came from the cache
        counts["teacher_seconds"] = (
            round(time.perf_counter() - started, 3) if counts["teacher_samples_computed"] else 0.0
        )
        ctx.info(
            f"teacher log-probabilities: {counts['teacher_samples_computed']} computed, "
            f"{counts['teacher_samples_cached']} from the cache"
        )
        return counts

    def command(self, job_path: str) -> list[str]:
        """The torchrun command line for a distributed run."""
        return [*torchrun_args(self.options.distributed), "-m", WORKER_MODULE, job_path]

    def train(self, ctx: StageContext, plan: TrainPlan) -> dict[str, Any]:
        job = self.job(plan)
        job_path = ctx.dir / "peft_job.json"
        write_json_atomic(job_path, job)
        teacher_facts = self.prepare_teacher(ctx, plan, job) if self.options.distill else {}
        progress = ProgressFromLog(ctx, "train (peft)")
        try:
            if not self.options.distributed.enabled:
                from vlkd.plugins.train.peft_worker import train

                facts = train(job, on_log=progress)
            else:
                facts = self.train_distributed(ctx, plan, job_path, progress)
        finally:
            progress.close()
        return {**facts, **progress.last, **teacher_facts}

    def train_distributed(self, ctx: StageContext, plan: TrainPlan, job_path, progress) -> dict[str, Any]:
        import os

        cmd = self.command(str(job_path))
        ctx.info("launching: " + " ".join(cmd))
        output_log = ctx.dir / "peft.log"
        code = run_streaming(
            cmd,
            env=dict(os.environ),
            cwd=ctx.dir,
            trainer_log=plan.trainer_log,
            output_log=output_log,
            on_log=progress,
        )
        if code != 0:
            raise StageError(
                f"peft training under torchrun failed (exit {code}):\n{error_excerpt(output_log)}\n"
                f"  job: {job_path}\n  full output: {output_log}"
            )
        facts_path = plan.output_dir / "facts.json"
        return json.loads(facts_path.read_text(encoding="utf-8")) if facts_path.is_file() else {}
