"""``evaluate: {plugin: student}``: base vs tuned student (and the teacher) on the held-out split."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_serializer, field_validator, model_validator

from vlkd.answering.backends import BACKEND_REQUIRES, check_backend
from vlkd.api import RUN_ONLY, OnError, PluginOptions, StageError, StagePlugin
from vlkd.distributed.options import RayLLMOptions
from vlkd.metrics.not_present import DEFAULT_NOT_PRESENT

System = Literal["base", "tuned", "teacher"]


class StudentEvalOptions(PluginOptions):
    backend: Literal["transformers", "openai", "ray_llm"] = Field(
        "transformers",
        description="transformers: load the student here; openai: ask an OpenAI-compatible server; "
        "ray_llm: through Ray Data LLM (an OpenAI-compatible server, or vLLM engines on a Ray cluster)",
    )
    ray_llm: RayLLMOptions | None = Field(
        None,
        # how the questions are run, as teach.ray_llm: the students are named by the options below
        json_schema_extra=RUN_ONLY,
        description="ray_llm backend: the engine (http or vllm), replicas, batch size, GPUs per engine",
    )
    systems: list[System] = Field(
        ["base", "tuned", "teacher"],
        min_length=1,
        description="rows to evaluate: base student, tuned student, teacher reference",
    )
    split: Literal["test", "val", "train"] = Field(
        "test", description="split to evaluate; an empty test split falls back to val with a warning"
    )
    max_items: int | None = Field(None, gt=0, description="evaluate only the first N pairs (smoke tests)")
    max_new_tokens: int = Field(64, gt=0, description="longest answer generated (greedy decoding)")
    system_prompt: str | None = Field(
        None, description="system turn [default: the format stage's `system`, as in training]"
    )
    batch_size: int = Field(
        8, gt=0, description="answers generated per forward pass (transformers)", json_schema_extra=RUN_ONLY
    )
    device: str = Field("auto", description="auto, cpu, cuda, cuda:1, mps", json_schema_extra=RUN_ONLY)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    base_url: str | None = Field(
        None, description="openai backend: the server, e.g. http://localhost:8000/v1"
    )
    tuned_base_url: str | None = Field(
        None,
        description="openai backend: the tuned student's server when it is not base_url's (e.g. the "
        "merged model served on a port of its own) [default: base_url]",
    )
    api_key: SecretStr | None = Field(None, description="openai backend: key (prefer api_key_env)")
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="openai backend: environment variable holding the key"
    )
    base_model_name: str | None = Field(
        None,
        description="openai backend: model name of the base student; ray_llm with engine vllm: the "
        "model the engines load [default: the train stage's base model]",
    )
    tuned_model_name: str | None = Field(
        None,
        description="openai backend: model name of the tuned student (the LoRA module's name on vLLM); "
        "ray_llm with engine vllm: its LoRA adapter's folder [default: the train stage's adapter]",
    )
    image_min_pixels: int | None = Field(
        None, ge=1, description="override the train stage's image_min_pixels"
    )
    image_max_pixels: int | None = Field(
        None, ge=1, description="override the train stage's image_max_pixels"
    )
    concurrency: int = Field(
        8, gt=0, description="openai backend: requests in flight", json_schema_extra=RUN_ONLY
    )
    timeout: float = Field(
        120.0, gt=0, description="openai backend: seconds per request", json_schema_extra=RUN_ONLY
    )
    not_present_answer: str = Field(DEFAULT_NOT_PRESENT, description="the answer meaning 'not in the image'")
    anls_threshold: float = Field(
        0.5, gt=0, le=1, description="ANLS tau: normalised distance at which a score is 0"
    )
    relaxed_tolerance: float = Field(0.05, ge=0, description="relative tolerance of relaxed accuracy")
    bootstrap_samples: int = Field(1000, ge=0, description="bootstrap resamples for the CIs (0: no CIs)")
    confidence: float = Field(0.95, gt=0, lt=1)
    seed: int = Field(0, description="seed of the bootstrap")
    judge: dict[str, Any] | None = Field(
        None,
        description="optional LLM judge: a teach plugin section, e.g. {plugin: openai, model: gpt-4o-mini}",
    )
    judge_systems: list[System] = Field(["base", "tuned"], description="rows the judge grades")
    on_error: OnError = "skip"

    @field_validator("judge")
    @classmethod
    def _judge_is_a_teacher(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        from vlkd.plugins.evaluate.judge import validate_judge

        return validate_judge(value)

    @field_serializer("base_url", "tuned_base_url", when_used="json")
    def _redact_urls(self, value: str | None) -> str | None:
        # what reaches manifest.json and the fingerprint: never a password or a key in the URL
        from vlkd.api import redact_url

        return redact_url(value)

    @model_validator(mode="after")
    def _openai_needs_a_server(self):
        if self.ray_llm is not None and self.backend != "ray_llm":
            raise ValueError(
                f"ray_llm applies to backend: ray_llm only (this backend is {self.backend}); remove "
                "it, or set backend: ray_llm"
            )
        if self.backend == "ray_llm":
            _check_ray_llm(self)
        served = self.backend == "openai" or (
            self.backend == "ray_llm" and self.engine_options().engine == "http"
        )
        if served:
            backend = "openai" if self.backend == "openai" else "ray_llm with engine http"
            if not self.base_url:
                raise ValueError(f"backend '{backend}' needs base_url (e.g. http://localhost:8000/v1)")
            for system in ("base", "tuned"):
                if system in self.systems and not getattr(self, f"{system}_model_name"):
                    raise ValueError(
                        f"backend '{backend}' needs {system}_model_name for the {system} student"
                    )
        return self

    def engine_options(self) -> RayLLMOptions:
        """The ray_llm backend's section, its defaults where the recipe has none."""
        return self.ray_llm if self.ray_llm is not None else RayLLMOptions()


#: the options of one backend only, and what takes their place on the ray_llm backend
NOT_ON_RAY_LLM = {
    "concurrency": "ray_llm.replicas",
    "timeout": None,
    "tuned_base_url": None,
    "batch_size": "ray_llm.batch_size",
    "device": None,
    "dtype": None,
}
#: options of the served students (openai, ray_llm's http engine)
SERVED_ONLY = ("base_url", "tuned_base_url", "api_key")


def _check_ray_llm(opts: StudentEvalOptions) -> None:
    """The ray_llm backend's options: its section, and none of the other backends' that it would
    ignore (each named, with what takes its place); ``ray_llm`` on another backend is refused by
    the options' own check."""
    engine = opts.engine_options().engine
    given = opts.model_fields_set
    wrong = [name for name in NOT_ON_RAY_LLM if name in given]
    if engine == "vllm":
        wrong += [name for name in SERVED_ONLY if name in given and name not in wrong]
    if wrong:
        instead = [
            f"{name} (use {NOT_ON_RAY_LLM[name]})" if NOT_ON_RAY_LLM.get(name) else name for name in wrong
        ]
        raise ValueError(
            f"{', '.join(instead)} do{'' if len(wrong) > 1 else 'es'} not apply to backend 'ray_llm' "
            f"with engine {engine}: remove {'them' if len(wrong) > 1 else 'it'}"
        )


class StudentEvaluator(StagePlugin):
    """Base vs tuned student (and the teacher) on the test split: EM, ANLS, relaxed accuracy, not-present F1."""

    Options = StudentEvalOptions
    options: StudentEvalOptions
    uses_student = True

    BACKEND_REQUIRES = BACKEND_REQUIRES

    def cluster_gpus(self) -> tuple[float, str] | None:
        if self.options.backend == "ray_llm":
            return self.options.engine_options().gpus_needed("evaluate")
        if self.options.backend == "transformers" and _gpus(self.options.device):
            return 1.0, f"evaluate.device: {self.options.device} (one per worker)"
        return None

    def _check_backend(self) -> None:
        check_backend("evaluate", self.options.backend)

    def run(self, ctx) -> None:
        from vlkd.answering.items import load_items

        opts = self.options
        if any(s != "teacher" for s in opts.systems):
            self._check_backend()
        images = ctx.input("images") if ctx.has_input("images") else None
        split, items = load_items(ctx.input("pairs"), images, opts.split, run_dir=ctx.run_dir, warn=ctx.warn)
        if opts.max_items:
            items = items[: opts.max_items]
        students = [s for s in opts.systems if s != "teacher"]
        model = self._model_info(ctx) if students else None
        ctx.info(f"{len(items)} {split} pairs; rows: {', '.join(opts.systems)}")

        records: list[dict[str, Any]] = []
        notes: list[str] = []
        system_prompt = opts.system_prompt if opts.system_prompt is not None else _training_system_prompt(ctx)
        backend = None
        if students:
            from vlkd.answering.openai_backend import ServerGone

            backend = self._backend(model, system_prompt)
            todo = [(s, it) for s in students for it in items if not ctx.ledger().finished(f"{s}:{it.id}")]
            try:
                if todo and self._served_by_openai_server():
                    backend.check_models(students)  # a wrong name or a dead server: one error now
                if opts.backend == "ray_llm" and todo:
                    from vlkd.answering.ray_llm_backend import FOLDER

                    backend.ask(ctx.dir / FOLDER, todo)  # every question of both students in one run
                for system in students:
                    records += self._run_student(ctx, backend, system, items)
            except ServerGone as stop:
                raise StageError(f"evaluate stopped: {stop.message}") from None
            if opts.backend == "ray_llm":
                from vlkd.answering.ray_llm_backend import FOLDER

                backend.done(ctx.dir / FOLDER)
        teacher: dict[str, Any] | None = None
        if "teacher" in opts.systems:
            teacher, note = self._teacher_rows(ctx, items, records)
            if note:
                notes.append(note)
                ctx.info(f"teacher row left out: {note}")
        judge = self._judge(ctx, records, notes) if opts.judge else None
        evaluated = self._evaluated(ctx, model, backend)
        missing = _categories_not_evaluated(ctx.input("pairs"), items, split)
        for category, why in missing.items():
            ctx.warn(f"category '{category}' is not evaluated: {why}")
        self._write(ctx, split, items, records, evaluated, teacher, notes, system_prompt, judge, missing)

    def _served_by_openai_server(self) -> bool:
        """Whether the students are on an OpenAI-compatible server that the SDK can ask first
        (the ray_llm backend's http engine: where the openai extra is installed)."""
        import importlib.util

        opts = self.options
        if opts.backend == "ray_llm":
            return opts.engine_options().engine == "http" and importlib.util.find_spec("openai") is not None
        return opts.backend == "openai"

    def _model_info(self, ctx):
        """``vlkd_model.json`` of the train stage; for a served student without one, the pixel bounds
        from the options (LLaMA-Factory's defaults unless set)."""
        from dataclasses import replace

        from vlkd.answering.items import ModelInfo, load_model_info

        opts = self.options
        if ctx.has_input("model"):
            # a resumed evaluation whose items are done loads no weights: a missing student is
            # named by the backend if it must be loaded after all
            info = load_model_info(ctx.input("model"), check_student=False)
            if self.student is not None:
                info = replace(info, family=self.student.family)
        elif opts.backend in ("openai", "ray_llm"):
            ctx.info("no train stage in the recipe: evaluating the served models as they are")
            if self.student is None:
                raise StageError("evaluate: name the served student in the recipe's 'student:' section")
            info = ModelInfo(
                trainer="",
                base_model=opts.base_model_name or "",
                adapter=None,
                min_pixels=self.student.image_min_pixels,
                max_pixels=self.student.image_max_pixels,
                template=self.student.template,
                log=None,
                family=self.student.family,
            )
        else:
            raise StageError(
                "evaluate: the transformers backend needs a train stage (the student and its adapter); "
                "add one, or use backend: openai with a server that serves both students"
            )
        return replace(
            info,
            min_pixels=opts.image_min_pixels or info.min_pixels,
            max_pixels=opts.image_max_pixels or info.max_pixels,
        )

    def estimate(self, ctx) -> list[str]:
        """``--dry-run``: how many answers and judge calls the stage will make."""
        from vlkd.api import ARTIFACT_PATHS, read_pairs

        opts = self.options
        students = [s for s in opts.systems if s != "teacher"]
        producer = ctx.producer("pairs")
        path = ctx.run_dir / producer / ARTIFACT_PATHS["pairs"] if producer else None
        if path is None or not path.exists():
            n, where = None, "the test pairs (not split yet)"
        else:
            splits = [p.split or "train" for p in read_pairs(path) if p.review != "rejected"]
            split = (
                opts.split
                if opts.split in splits
                else "val"
                if opts.split == "test" and "val" in splits
                else opts.split
            )
            n = min(splits.count(split), opts.max_items or len(splits))
            where = f"{n} {split} pairs"
        lines = [
            f"{where} x {len(students)} students ({', '.join(students)}) on backend {opts.backend}"
            + (f" = {n * len(students)} answers" if n is not None else "")
        ]
        if opts.judge:
            judged = [s for s in opts.judge_systems if s in opts.systems]
            calls = f"{n * len(judged)} calls" if n is not None else f"{len(judged)} calls per pair"
            lines.append(
                f"judge {opts.judge['plugin']} {opts.judge.get('model', '')}: {calls}, paid per call"
            )
        return lines

    # -- students --------------------------------------------------------------------------
    def _backend(self, model, system_prompt: str | None):
        opts = self.options
        if opts.backend in ("openai", "ray_llm"):
            from vlkd.answering.openai_backend import OpenAIStudent

            served = OpenAIStudent
            if opts.backend == "ray_llm":
                from functools import partial

                from vlkd.answering.ray_llm_backend import RayLLMStudent

                served = partial(RayLLMStudent, options=opts.engine_options())  # type: ignore[assignment]
            return served(
                model,
                base_url=opts.base_url,
                tuned_base_url=opts.tuned_base_url,
                api_key=opts.api_key.get_secret_value() if opts.api_key else None,
                api_key_env=opts.api_key_env,
                model_names={"base": opts.base_model_name or "", "tuned": opts.tuned_model_name or ""},
                max_new_tokens=opts.max_new_tokens,
                system_prompt=system_prompt,
                timeout=opts.timeout,
            )
        from vlkd.answering.local_backend import LocalStudent

        return LocalStudent(
            model,
            max_new_tokens=opts.max_new_tokens,
            system_prompt=system_prompt,
            device=opts.device,
            dtype=opts.dtype,
        )

    def _run_student(self, ctx, backend, system: str, items: list) -> list[dict[str, Any]]:
        from functools import partial

        from vlkd.answering.batching import BatchedWork, OnWorkers

        opts = self.options
        key = partial(_key, system)
        to_records = partial(self.scoring().records, system)
        on_workers = None
        if opts.backend == "ray_llm":

            def work(it):
                return to_records(it, backend.answer(system, it))

            # the answers of the stage's one Ray Data run, handed to the ledger where it is
            work.runs_on_driver = True  # type: ignore[attr-defined]
            workers = 1
            drain_s = None
        elif opts.backend == "openai":
            first = _first_answer(backend, system, [it for it in items if not ctx.ledger().finished(key(it))])

            def work(it):
                answer = first.pop(it.id) if it.id in first else backend.answer(system, it)
                return to_records(it, answer)

            # paid or served calls, network-bound: they stay on the driver with the ledger, so an
            # answer received once is never asked again, whichever executor runs the stage
            work.runs_on_driver = True  # type: ignore[attr-defined]
            workers = opts.concurrency
            drain_s: float | None = backend.call_limit_s
        else:
            generate = partial(backend.generate, system)
            work = BatchedWork(items, key, ctx.ledger().finished, generate, to_records, opts.batch_size)
            on_workers = OnWorkers(key, generate, to_records, opts.batch_size, _gpus(opts.device))
            workers = 1
            drain_s = None
        out = ctx.map_items(
            items,
            key=key,
            work=work,
            workers=workers,
            on_error=opts.on_error,
            description=f"evaluate {system}",
            drain_s=drain_s,
            on_workers=on_workers,
        )
        if items and not out:
            entries = [ctx.ledger().entries.get(key(it)) or {} for it in items]
            reasons = {e.get("reason") for e in entries if e.get("reason")}
            raise StageError(
                f"the {system} student answered none of the {len(items)} pairs: "
                + "; ".join(sorted(r for r in reasons if r))[:800]
            )
        return out

    def scoring(self) -> Scoring:
        opts = self.options
        return Scoring(opts.not_present_answer, opts.anls_threshold, opts.relaxed_tolerance)

    def _record(self, system: str, it, answer: str) -> dict[str, Any]:
        return self.scoring().record(system, it, answer)

    # -- teacher ---------------------------------------------------------------------------
    def _teacher_rows(self, ctx, items, records) -> tuple[dict[str, Any] | None, str | None]:
        from vlkd.plugins.evaluate.teacher_reference import teacher_answers, teacher_summary

        answers, why_not = teacher_answers(ctx.run_dir, list(ctx.run.recipe.stages))
        if answers is None:
            return None, why_not
        summary = teacher_summary(answers, {it.id: it.reference for it in items})
        if not summary["items"]:
            return None, "none of the evaluated pairs has a teacher answer (all were added by reviewers)"
        if not summary["edited_by_reviewers"]:
            return None, (
                f"the reviewers changed none of the teacher's answers on the {summary['items']} "
                f"evaluated items (auto-approved, or all approved), so the teacher "
                f"row would score 100% by construction and is left out"
            )
        records += [self._record("teacher", it, answers[it.id]) for it in items if it.id in answers]
        return summary, None

    # -- judge -----------------------------------------------------------------------------
    def _judge(self, ctx, records: list[dict[str, Any]], notes: list[str]) -> dict[str, Any]:
        """Grade answers; what the judge said is summarised, unreadable verdicts included."""
        from vlkd.plugins.evaluate.judge import Judge

        todo = [r for r in records if r["system"] in self.options.judge_systems]

        def key(r) -> str:
            return f"judge:{r['system']}:{r['id']}"

        judge = Judge(ctx.make_plugin("teach", self.options.judge))
        try:

            def work(r):
                return [judge.judge(ctx, r)]

            if any(not ctx.ledger().finished(key(r)) for r in todo):
                judge.start(ctx)  # opens the client only when there is something left to grade
            verdicts = ctx.map_items(
                todo,
                key=key,
                work=work,
                workers=judge.concurrency,
                on_error=self.options.on_error,
                description="judge",
            )
        finally:
            judge.close()
        if todo and not verdicts:
            reasons = {(ctx.ledger().entries.get(key(r)) or {}).get("reason") for r in todo}
            raise StageError(
                "the judge graded none of the answers: " + "; ".join(sorted(x for x in reasons if x))[:800]
            )
        by_key = {(v["system"], v["id"]): v for v in verdicts}
        unread: list[str] = []
        for r in todo:
            v = by_key.get((r["system"], r["id"]))
            if v is not None:
                r["scores"]["judge"] = v["judge"]
                r["judge_text"] = v["judge_text"]
                if v["judge"] is None:
                    unread.append(v["judge_text"])
        summary: dict[str, Any] = {
            "plugin": self.options.judge.get("plugin"),
            "model": self.options.judge.get("model"),
            "asked": len(todo),
            "answered": len(verdicts),
            "graded": len(verdicts) - len(unread),
            "unreadable": len(unread),
            "unreadable_examples": unread[:3],
        }
        if unread:
            said = "; ".join(repr(t[:60]) for t in unread[:3])
            if len(unread) == len(verdicts):
                summary["missing"] = (
                    f"none of the judge's {len(unread)} verdicts could be read (it said {said}); "
                    f"it must reply 'correct' or 'incorrect'"
                )
                message = f"judge accuracy is missing: {summary['missing']}"
            else:
                message = (
                    f"judge accuracy counts {summary['graded']} of {len(verdicts)} answers: "
                    f"{len(unread)} verdicts could not be read (e.g. {said})"
                )
            ctx.warn(message)
            notes.append(message)
        return summary

    def _evaluated(self, ctx, model, backend) -> dict[str, Any] | None:
        """What was really evaluated: the served names on the server, or the local student and adapter."""
        if model is None:
            return None
        if self.options.backend in ("openai", "ray_llm") and backend is not None:
            return backend.describe()
        return {
            "backend": "transformers",
            "base_model": _shown(model.base_model, ctx.run_dir),
            "adapter": _shown(model.adapter, ctx.run_dir) if model.adapter else None,
            "trainer": model.trainer or None,
            "image_min_pixels": model.min_pixels,
            "image_max_pixels": model.max_pixels,
        }

    # -- results ---------------------------------------------------------------------------
    def _write(
        self, ctx, split, items, records, evaluated, teacher, notes, system_prompt, judge, missing
    ) -> None:
        from vlkd.metrics.summary import METRICS, summarize

        opts = self.options
        for rec in records:  # answers resumed from the ledger are scored by today's metrics too
            rec["scores"] = {
                **self._record(rec["system"], _item_of(rec), rec["prediction"])["scores"],
                **({"judge": rec["scores"]["judge"]} if "judge" in rec["scores"] else {}),
            }
        systems = [s for s in opts.systems if s != "teacher" or teacher is not None]
        ctx.save("predictions", records)
        metrics = summarize(
            records,
            systems=systems,
            samples=opts.bootstrap_samples,
            seed=opts.seed,
            confidence=opts.confidence,
        )
        if judge and judge.get("missing"):
            label = dict(METRICS)["judge_accuracy"]
            metrics["metrics"].append({"name": "judge_accuracy", "label": label, "missing": judge["missing"]})
        metrics.update(
            {
                "split": split,
                "items": len(items),
                "references": dict(Counter(it.review or "not reviewed" for it in items)),
                "backend": opts.backend,
                "model": evaluated,
                "prompt": {
                    "system": system_prompt,
                    "user": "the image, then one question (a new conversation each)",
                    "decoding": "greedy",
                    "max_new_tokens": opts.max_new_tokens,
                },
                "teacher": teacher,
                "judge": judge,
                "categories_not_evaluated": missing,
                "notes": notes,
                "predictions": "predictions.jsonl",
            }
        )
        ctx.save("metrics", metrics)
        headline = {s: metrics["results"][s]["overall"]["exact_match"]["value"] for s in systems}
        ctx.facts.update({"split": split, "items": len(items), "exact_match": headline})
        ctx.info(
            "exact match: "
            + ", ".join(f"{s} {v:.3f}" if v is not None else f"{s} n/a" for s, v in headline.items())
        )


@dataclass(frozen=True)
class Scoring:
    """How an answer is scored (sent with the work to a cluster's workers: no key, no client)."""

    not_present: str
    tau: float
    tolerance: float

    def record(self, system: str, it, answer: str) -> dict[str, Any]:
        from vlkd.metrics.summary import score_item

        scores = score_item(
            answer,
            it.reference,
            negative=it.negative,
            not_present=self.not_present,
            tau=self.tau,
            tolerance=self.tolerance,
        )
        return {"system": system, **it.to_json(), "prediction": answer, "scores": scores}

    def records(self, system: str, it, answer: str) -> list[dict[str, Any]]:
        return [self.record(system, it, answer)]


def _key(system: str, it) -> str:
    return f"{system}:{it.id}"


def _gpus(device: str) -> float | None:
    """GPUs a worker of the transformers backend asks a cluster for: ``auto`` takes one where
    there are any; ``cuda``/``cuda:N`` needs one."""
    if device == "auto":
        return None
    return 1.0 if device.startswith("cuda") else 0.0


def _training_system_prompt(ctx) -> str | None:
    """The system prompt the student saw in training: the format stage's dataset card says (none
    without a format stage, or when the model was trained on a dataset from elsewhere)."""
    try:
        return ctx.load("dataset").system if ctx.has_input("dataset") else None
    except StageError:
        return None


def _item_of(rec: dict[str, Any]):
    from vlkd.answering.items import EvalItem

    return EvalItem(**{k: rec.get(k) for k in EvalItem.__dataclass_fields__})


def _shown(path, run_dir: Path) -> str:
    """A path inside the run directory relative to it; a hub id or an outside path as it is."""
    try:
        return str(Path(path).resolve().relative_to(Path(run_dir).resolve()))
    except (ValueError, OSError):
        return str(path)


def _first_answer(backend, system: str, todo: list) -> dict[str, str]:
    """The first answer of ``system``, asked before the item loop so that a server that cannot
    answer at all stops the stage at once (:class:`ServerGone` goes through); an item whose
    image cannot be read is passed over, any other failure is left to the item loop."""
    from vlkd.api import SkipItem

    for it in todo:
        try:
            return {it.id: backend.answer(system, it)}
        except SkipItem:
            continue
        except Exception:
            return {}
    return {}


def _categories_not_evaluated(pairs_path: Path, items: list, split: str) -> dict[str, str]:
    """Categories with pairs in the dataset but none in the evaluated split, and why."""
    from vlkd.api import read_pairs

    evaluated = {it.category for it in items}
    where: dict[str, Counter] = {}
    for p in read_pairs(pairs_path):
        if p.review == "rejected":
            continue
        if p.category and p.category not in evaluated:
            where.setdefault(p.category, Counter())[p.split or "train"] += 1
    return {
        c: f"no {split} pair ({', '.join(f'{n} in {s}' for s, n in sorted(n.items()))})"
        for c, n in sorted(where.items())
    }
