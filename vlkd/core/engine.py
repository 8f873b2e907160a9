"""Runs a validated recipe: plans which stages to run, runs them, records everything.

A stage's fingerprint hashes its plugins (name, distribution, version), their options
(secrets and run-only settings such as ``concurrency`` left out), whatever the plugins add
through ``fingerprint()``, and the fingerprint of the stage before it. On a re-run:

- a finished stage whose fingerprint is unchanged is skipped;
- an unfinished one (killed, interrupted, failed, waiting, or marked ``stale`` by a command
  such as ``vlkd review import``) with the same fingerprint resumes per item, and so does a
  finished one whose plugin says a person changed its files since (``changed_outside``);
- a changed one starts over, and so does every later stage.
"""

from __future__ import annotations

import contextlib
import errno
import shlex
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pluggy
from pydantic import BaseModel

from vlkd.core.context import RunInfo, StageContext
from vlkd.core.errors import RunInterrupted, StageError, StageWaiting, StorageError, VlkdError, did_you_mean
from vlkd.core.executor import ExecutorOptions, make_executor
from vlkd.core.overrides import to_remember
from vlkd.core.plugin import Plugin
from vlkd.core.plugin_manager import call_hook
from vlkd.core.progress import Reporter, literal
from vlkd.core.recipe import Recipe, StageConfig, stable_hash
from vlkd.core.rundir import RunDir, environment_versions, manifest_time, storage_fault


def _fingerprint_options(options: Any) -> dict[str, Any]:
    """The options that decide a stage's output: every ``RUN_ONLY`` option left out, at any depth
    (``train.distill.teacher.timeout`` as well as ``ingest.workers``)."""
    return _without_run_only(options, options.model_dump(mode="json"))


def _without_run_only(value: Any, data: Any) -> Any:
    """``data`` (``value`` dumped as JSON) without the run-only fields of the models inside it."""
    if isinstance(value, BaseModel) and isinstance(data, dict):
        for name, info in type(value).model_fields.items():
            extra = info.json_schema_extra
            if isinstance(extra, dict) and extra.get("fingerprint") is False:
                data.pop(name, None)
            elif name in data:
                data[name] = _without_run_only(getattr(value, name), data[name])
    elif isinstance(value, list | tuple) and isinstance(data, list) and len(value) == len(data):
        data = [_without_run_only(v, d) for v, d in zip(value, data, strict=True)]
    elif isinstance(value, dict) and isinstance(data, dict):
        data = {k: _without_run_only(value[k], d) if k in value else d for k, d in data.items()}
    return data


class Engine:
    def __init__(
        self,
        recipe: Recipe,
        run_dir: str | Path | None = None,
        *,
        fresh: bool = False,
        from_stage: str | None = None,
        to_stage: str | None = None,
        dry_run: bool = False,
        no_cache: bool = False,
        no_wait: bool = False,
        retry_failed: bool = True,
        reporter: Reporter | None = None,
        pm: pluggy.PluginManager | None = None,
        executor: ExecutorOptions | None = None,
    ):
        """``executor``: where the items run (``vlkd run --executor``; default: the recipe's)."""
        self.recipe = recipe
        self.run_dir = RunDir(run_dir or Path("runs") / recipe.name)
        self.fresh = fresh
        self.dry_run = dry_run
        self.no_cache = no_cache
        self.no_wait = no_wait
        self.retry_failed = retry_failed
        self.reporter = reporter or Reporter()
        self.pm = pm or recipe.registry.pm
        self.executor_options = executor or recipe.executor
        names = list(recipe.stages)
        for flag, stage in (("--from", from_stage), ("--to", to_stage)):
            if stage is not None and stage not in recipe.stages:
                raise StageError(
                    f"{flag} {stage}: no such stage in recipe '{recipe.name}'{did_you_mean(stage, names)} "
                    f"(this recipe has: {', '.join(names)})"
                )
        self.from_stage = from_stage
        self.to_stage = to_stage

    # -- planning ------------------------------------------------------------------------
    def _instantiate(self) -> tuple[dict[str, list[Plugin]], dict[str, str]]:
        plugins: dict[str, list[Plugin]] = {}
        fingerprints: dict[str, str] = {}
        previous = None
        for name, stage in self.recipe.stages.items():
            plugins[name] = [step.instantiate(self.recipe.student) for step in stage.steps]
            parts = {
                "stage": name,
                "previous": previous,
                "steps": [
                    {
                        "plugin": s.info.name,
                        "distribution": s.info.distribution,
                        "version": s.info.version,
                        "options": _fingerprint_options(s.options),
                        "extra": p.fingerprint(),
                        # only where the plugin reads it: other stages keep their fingerprints
                        **({"student": p.student.to_json()} if p.student is not None else {}),
                    }
                    for s, p in zip(stage.steps, plugins[name], strict=True)
                ],
                "settings": _fingerprint_options(stage.settings) if stage.settings is not None else None,
            }
            previous = fingerprints[name] = stable_hash(parts)
        return plugins, fingerprints

    def _input_paths(self) -> list[Path]:
        """Every path in the ingest stage's options: the folders and files the run reads."""
        stage = self.recipe.stages.get("ingest")
        found: list[Path] = []
        for step in stage.steps if stage else ():
            for name in type(step.options).model_fields:
                value = getattr(step.options, name)
                values = value if isinstance(value, list | tuple) else [value]
                found.extend(v for v in values if isinstance(v, Path))
        return found

    def changed_outside(
        self, plugins: dict[str, list[Plugin]], manifest: dict[str, Any] | None
    ) -> dict[str, str]:
        """stage -> why a finished stage must run again (its plugin saw files changed by people;
        it has failed items, asked again unless ``--no-retry-failed``)."""
        found = {}
        for name, entry in (manifest or {}).get("stages", {}).items():
            if entry.get("status") != "done" or name not in plugins:
                continue
            failed = (entry.get("counts") or {}).get("failed") or 0
            if failed and self.retry_failed:
                found[name] = f"{failed} items failed (--no-retry-failed leaves them failed)"
                continue
            for plugin in plugins[name]:
                reason = plugin.changed_outside(self.run_dir.path, entry)
                if reason:
                    found[name] = reason
                    break
        return found

    def plan(
        self,
        manifest: dict[str, Any] | None,
        fingerprints: dict[str, str],
        outside: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """stage -> 'skip' (up to date), 'resume', 'run', or 'after' (beyond --to)."""
        old = (manifest or {}).get("stages", {})
        names = list(self.recipe.stages)
        start = names.index(self.from_stage) if self.from_stage else 0
        stop = names.index(self.to_stage) if self.to_stage else len(names) - 1
        plan: dict[str, str] = {}
        dirty = False
        for i, name in enumerate(names):
            entry = old.get(name, {})
            same = entry.get("fingerprint") == fingerprints[name]
            if i > stop:
                plan[name] = "after"
            elif i < start:
                if not (same and entry.get("status") == "done"):
                    raise StageError(
                        f"--from {self.from_stage}: stage '{name}' before it is not done "
                        f"with this recipe; run without --from first"
                    )
                plan[name] = "skip"
            elif (i == start and self.from_stage) or dirty or not same:
                plan[name] = "run"
            elif entry.get("status") == "done" and name not in (outside or {}):
                plan[name] = "skip"
            else:
                plan[name] = "resume"
            dirty = dirty or plan[name] in ("run", "resume")
        return plan

    # -- running -------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Run the plan; a full disk or a read-only run directory is a user error that says what to do."""
        try:
            return self._run()
        except OSError as exc:
            error = storage_error(exc, self.run_dir.path)
            if error is None:
                raise
            raise error from None

    def _run(self) -> dict[str, Any]:
        plugins, fingerprints = self._instantiate()
        self.run_dir.check_apart(self._input_paths())
        self.run_dir.check_is_ours()  # before the lock file is made in someone's folder
        lock = (
            contextlib.nullcontext()  # a dry run of a new directory leaves no directory behind
            if self.dry_run and not self.run_dir.path.exists()
            else self.run_dir.locked()
        )
        with lock:
            old = self.run_dir.check_owner(self.recipe.name, self.fresh, delete=not self.dry_run)
            outside = self.changed_outside(plugins, old)
            plan = self.plan(old, fingerprints, outside)
            manifest = self._new_manifest(old, fingerprints)
            run = self._run_info(manifest, plugins, fingerprints)
            for name, reason in outside.items():
                if plan.get(name) == "resume":
                    self.reporter.info(f"{name}: {reason}; running it again")
            if self.dry_run:
                return self._dry_run(run, plan)
            # e.g. a teacher's SDK imported while the executor starts and earlier stages run
            for name, action in plan.items():
                if action in ("run", "resume"):
                    for plugin in plugins.get(name, ()):
                        plugin.warm_up()
            self.run_dir.check_resettable(
                old,
                (
                    n
                    for n, a in plan.items()
                    if a == "run" and not any(getattr(p, "keep_dir", False) for p in plugins[n])
                ),
            )
            with self._executor(run, plan):
                return self._run_plan(run, plan, manifest)

    @contextlib.contextmanager
    def _executor(self, run: RunInfo, plan: dict[str, str]) -> Iterator[None]:
        """Connect the executor and check it before any stage runs; give it back after."""
        if not any(a in ("run", "resume") for a in plan.values()):
            yield
            return
        run.executor = make_executor(self.executor_options)
        run.executor.start(self.run_dir.path)
        try:
            run.executor.check_gpus(
                [
                    need
                    for name, action in plan.items()
                    if action in ("run", "resume")
                    for plugin in run.plugins.get(name, ())
                    if (need := plugin.cluster_gpus()) is not None
                ]
            )
            yield
        finally:
            run.executor.close()

    def _run_plan(self, run: RunInfo, plan: dict[str, str], manifest: dict[str, Any]) -> dict[str, Any]:
        self.run_dir.write_manifest(manifest)
        call_hook(self.pm, "vlkd_run_start", run=run)
        status = "done"
        try:
            for name, action in plan.items():
                if action == "after":
                    continue
                if action == "skip":
                    self.reporter.info(f"[dim]{name}: up to date[/dim]")
                    continue
                self._run_stage(run, self.recipe.stages[name], resume=action == "resume")
        except StageWaiting:
            status = "waiting"  # an outcome: later stages wait, exit status 0
        except RunInterrupted:
            status = "interrupted"
            raise
        except BaseException:
            status = "failed"
            raise
        finally:
            manifest["status"] = status
            self.run_dir.write_manifest(manifest)
            call_hook(self.pm, "vlkd_run_end", run=run, status=status)
            self.reporter.summary(manifest, [n for n, a in plan.items() if a != "after"])
        return manifest

    def _new_manifest(self, old: dict[str, Any] | None, fingerprints: dict[str, str]) -> dict[str, Any]:
        recipe = self.recipe
        stages = {}
        for name in recipe.stages:
            entry = dict((old or {}).get("stages", {}).get(name, {}))
            entry.setdefault("status", "pending")
            stages[name] = entry
        return {
            "format": 1,
            "status": "running",
            "recipe": {
                "name": recipe.name,
                "path": str(recipe.source.path),
                "files": [str(p) for p in recipe.source.files],
                "hash": recipe.hash,
                "resolved": recipe.resolved(),
            },
            "versions": environment_versions(recipe.registry.distributions()),
            "fingerprints": fingerprints,
            "overrides": to_remember(recipe)[0],
            "created": (old or {}).get("created") or manifest_time(),
            "stages": stages,
        }

    def _run_stage(self, run: RunInfo, stage: StageConfig, *, resume: bool) -> None:
        name = stage.kind.name
        if resume or any(getattr(p, "keep_dir", False) for p in run.plugins[name]):
            path = self.run_dir.stage_dir(name)
            path.mkdir(parents=True, exist_ok=True)
        else:
            path = self.run_dir.reset_stage(name)
        # later stages no longer describe this stage's outputs
        started = False
        for other in run.manifest["stages"]:
            started = started or other == name
            if started and other != name:
                run.manifest["stages"][other] = {"status": "pending"}
        entry: dict[str, Any] = {
            "status": "running",
            "fingerprint": run.fingerprints[name],
            "plugins": [s.info.name for s in stage.steps],
            "started": manifest_time(),
        }
        run.manifest["stages"][name] = entry
        ctx = StageContext(run, stage, path, resumed=resume)
        self.run_dir.write_manifest(run.manifest)
        t0 = time.perf_counter()
        try:
            call_hook(self.pm, "vlkd_stage_start", run=run, stage=name)
            stage.kind.driver.run(ctx)
            entry["status"] = "done"
        except KeyboardInterrupt:
            entry["status"] = "interrupted"
            raise RunInterrupted(
                f"interrupted during stage '{name}'; finished items are kept.\n"
                f"Resume with: {self.resume_command()}"
            ) from None
        except RunInterrupted:
            entry["status"] = "interrupted"
            raise
        except StageWaiting as exc:
            entry["status"] = "waiting"
            entry["next"] = str(exc)
            raise
        except BaseException as exc:
            entry["status"] = "failed"
            entry["error"] = str(exc) if isinstance(exc, VlkdError) else f"{type(exc).__name__}: {exc}"
            raise
        finally:
            ctx.close()
            entry["wall_time_s"] = round(time.perf_counter() - t0, 3)
            entry["finished"] = manifest_time()
            run.save_stage(ctx)
            call_hook(self.pm, "vlkd_stage_end", run=run, stage=name, result=entry)

    def resume_command(self) -> str:
        """The command that continues this run (the run directory remembers the overrides)."""
        recipe = self.recipe.source.path
        words = ["vlkd", "run", _shown(recipe), "--run-dir", _shown(self.run_dir.path)]
        if self.to_stage:
            words += ["--to", self.to_stage]
        line = " ".join(shlex.quote(w) for w in words)
        secret = to_remember(self.recipe)[1]
        if secret:
            line += " " + " ".join(f"--set {k}=..." for k in secret) + "  (secrets are not remembered)"
        return line

    def _run_info(
        self, manifest: dict[str, Any], plugins: dict[str, list[Plugin]], fingerprints: dict[str, str]
    ) -> RunInfo:
        return RunInfo(
            self.recipe,
            self.run_dir,
            manifest,
            self.reporter,
            plugins,
            fingerprints,
            self.recipe.source.path,
            self.dry_run,
            self.no_cache,
            self.no_wait,
            self.retry_failed,
        )

    def _dry_run(self, run: RunInfo, plan: dict[str, str]) -> dict[str, Any]:
        cheap = self._cheap_to_run(plan)
        if cheap:
            return self._dry_run_on_scratch(plan, cheap)
        return self._estimate(run, plan)

    def _cheap_to_run(self, plan: dict[str, str]) -> list[str]:
        """The free stages at the head of ``plan`` that must run before what follows can be
        estimated (a new run directory: the teacher's images are not known before ingest and
        preprocess have run); empty when no teacher follows them."""
        cheap: list[str] = []
        for name, action in plan.items():
            if name not in FREE_STAGES or action not in ("run", "resume"):
                break
            cheap.append(name)
        rest = [n for n in plan if n not in cheap and plan[n] in ("run", "resume")]
        return cheap if any(n in PRICED_PER_IMAGE for n in rest) else []

    def _dry_run_on_scratch(self, plan: dict[str, str], cheap: list[str]) -> dict[str, Any]:
        """Run the free stages for real in a scratch directory (spending nothing, writing nothing
        here), then estimate the rest from what they made: the images the teacher will see."""
        for name in cheap:
            self.reporter.console.print(
                f"{name:<11} {plan[name]} (run now in a scratch directory, deleted after: the "
                "estimate below counts the images it finds)"
            )
        with tempfile.TemporaryDirectory(prefix="vlkd-dry-run-") as tmp:
            scratch = Path(tmp) / "run"
            Engine(self.recipe, scratch, to_stage=cheap[-1], reporter=Reporter(quiet=True), pm=self.pm).run()
            rest = Engine(
                self.recipe,
                scratch,
                to_stage=self.to_stage,
                dry_run=True,
                no_cache=self.no_cache,
                reporter=self.reporter,
                pm=self.pm,
            )
            plugins, fingerprints = rest._instantiate()
            old = rest.run_dir.read_manifest()
            rest_plan = {n: a for n, a in rest.plan(old, fingerprints, {}).items() if n not in cheap}
            manifest = rest._new_manifest(old, fingerprints)
            rest._estimate(rest._run_info(manifest, plugins, fingerprints), rest_plan)
        return manifest

    def _estimate(self, run: RunInfo, plan: dict[str, str]) -> dict[str, Any]:
        words = {"skip": "up to date", "resume": "resume", "run": "run", "after": "not run (--to)"}
        for name, action in plan.items():
            self.reporter.console.print(f"{name:<11} {words[action]}")
            stage = self.recipe.stages[name]
            driver = stage.kind.driver
            if driver.estimates and action in ("run", "resume"):
                with contextlib.ExitStack() as stack:
                    # a stage that will start over is estimated on an empty folder: what its old
                    # ledger holds will be redone, so it must not count as done
                    folder = (
                        self.run_dir.stage_dir(name)
                        if action == "resume"
                        else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vlkd-dry-run-")))
                    )
                    ctx = StageContext(run, stage, folder, resumed=action == "resume")
                    for line in driver.estimate(ctx) or ():
                        self.reporter.console.print(f"            {literal(line)}")
        return run.manifest


#: stages that cost nothing but time, run for real by a dry run of a new run directory
FREE_STAGES = ("ingest", "preprocess")
#: stages whose estimate counts the images the free stages make (a teacher paid per image)
PRICED_PER_IMAGE = ("teach", "verify")

_STORAGE_ADVICE = {
    errno.ENOSPC: "free some space there (or choose a --run-dir on another disk)",
    errno.EDQUOT: "free some space within your quota (or choose a --run-dir elsewhere)",
    errno.EROFS: "the file system is read-only: choose a --run-dir where you can write",
    errno.EACCES: "you may not write there: fix its permissions or choose another --run-dir",
    errno.EPERM: "you may not write there: fix its permissions or choose another --run-dir",
}


def storage_error(exc: OSError, run_dir: Path) -> StorageError | None:
    """A person's message for an OSError from writing the run directory (else ``None``)."""
    if not storage_fault(exc, run_dir):
        return None
    name = exc.filename if isinstance(exc.filename, str) else None
    what = f"cannot write {name}" if name else "cannot write"
    advice = _STORAGE_ADVICE.get(exc.errno or 0, "fix that and run the same command again")
    return StorageError(
        f"{what}: {exc.strerror or exc} (run directory {run_dir}); {advice}. "
        f"Finished work is kept: the same command resumes."
    )


def _shown(path: Path) -> str:
    """A path as a person would type it here: relative to the working directory when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
