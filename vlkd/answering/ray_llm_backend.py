"""The ``ray_llm`` backend: the students answer through Ray Data LLM, as the teacher does in
``teach.mode: ray_llm`` (:mod:`vlkd.distributed.ray_llm` runs both).

Every question the stage has not answered yet, of both students, goes in one Ray Data run: the
request bodies are the ``openai`` backend's, byte for byte (its :meth:`request_body`), so the
answers are those a server gives that backend. The engine is Ray Data LLM's HTTP processor
against an OpenAI-compatible server (``base_url``), or vLLM engines on the cluster's GPUs: the base
student's model, and the tuned student as its LoRA adapter, loaded by the same engines.

The answers land in ``ray_llm/requests.parts/`` of the stage's folder a block at a time as they
come: a run stopped or failed midway keeps them, and the next run asks only for the others; the
ledger takes them over item by item, as it does the ``openai`` backend's. There is no canary here
(the teacher's proof that it saw an image): reading a number off an image is what a weak student
may fail, and the images travel as the request's JSON text, which Ray's conversions leave whole.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlkd.answering.answers import clean_answer
from vlkd.answering.openai_backend import OpenAIStudent, safe_url
from vlkd.api import StageError

if TYPE_CHECKING:
    from vlkd.answering.items import EvalItem, ModelInfo
    from vlkd.distributed.options import RayLLMOptions

#: the folder of the stage's Ray Data run, in the stage's folder
FOLDER = "ray_llm"


class RayLLMStudent(OpenAIStudent):
    def __init__(self, model: ModelInfo, *, options: RayLLMOptions, **openai: Any):
        super().__init__(model, **openai)
        self.options = options
        #: the answer lines of the run (``{"custom_id", "response"}``), by ledger key
        self.answers: dict[str, dict[str, Any]] = {}
        #: the questions whose image could not be read, and why (they fail as items)
        self.unreadable: dict[str, Exception] = {}

    # -- what is asked ---------------------------------------------------------------------------
    def model_name(self, system: str) -> str:
        if self.options.engine == "http":
            return super().model_name(system)
        if system == "base":  # what the engines load
            source = self.model_names.get("base") or self.info.base_model
            if not source:
                raise StageError(
                    "evaluate: no model for the vLLM engines: add a train stage, or set "
                    "evaluate.base_model_name to the base student (a Hugging Face id or a folder)"
                )
            return source
        adapter = self.model_names.get("tuned") or (str(self.info.adapter) if self.info.adapter else "")
        if not adapter:
            raise StageError(
                "evaluate: the train stage's vlkd_model.json names no LoRA adapter, which vLLM engines "
                "load for the tuned student; set evaluate.tuned_model_name to the adapter's folder, or "
                "serve the tuned model and use ray_llm.engine: http"
            )
        return adapter

    def lora_rank(self, systems: list[str]) -> int | None:
        """The rank of the tuned student's adapter, where the engines serve it."""
        if self.options.engine != "vllm" or "tuned" not in systems:
            return None
        config = Path(self.model_name("tuned")) / "adapter_config.json"
        try:
            return int(json.loads(config.read_text(encoding="utf-8"))["r"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StageError(
                f"evaluate: cannot read the tuned student's LoRA rank from {config} ({exc}); the vLLM "
                "engines need it (evaluate.tuned_model_name: the adapter's folder)"
            ) from None

    def processor_config(self, systems: list[str]) -> Any:
        from vlkd.distributed.ray_llm import http_processor_config, vllm_processor_config

        if self.options.engine == "vllm":
            return vllm_processor_config(self.model_name("base"), self.options, self.lora_rank(systems))
        url = (self.base_url or "").rstrip("/") + "/chat/completions"
        return http_processor_config(url, self.options, {"Authorization": f"Bearer {self.api_key}"})

    # -- the run ---------------------------------------------------------------------------------
    def ask(self, folder: Path, todo: list[tuple[str, EvalItem]]) -> None:
        """One Ray Data run for the ``(system, item)`` pairs of ``todo`` whose answer is not in
        ``folder`` from an earlier run; afterwards :meth:`answer` hands out each one's answer."""
        from vlkd.core.jsonl import dumps
        from vlkd.distributed.ray_llm import answered, ensure_ray, read_answers, run_chunk, task_error

        parts = folder / "requests.parts"
        have = {k for k, line in read_answers(parts).items() if answered(line)}
        lines: list[str] = []
        unreadable: dict[str, Exception] = {}
        for system, item in todo:
            key = f"{system}:{item.id}"
            if key in have:
                continue
            try:
                body = self.request_body(system, item)
            except Exception as exc:  # an image that cannot be read: that item fails, as online
                unreadable[key] = exc
                continue
            lines.append(dumps({"custom_id": key, "body": body}) + "\n")
        self.unreadable = unreadable
        if lines:
            folder.mkdir(parents=True, exist_ok=True)
            requests = folder / "requests.jsonl"
            tmp = requests.with_name(requests.name + ".tmp")
            tmp.write_text("".join(lines), encoding="utf-8")
            os.replace(tmp, requests)
            systems = sorted({system for system, _ in todo})
            config = self.processor_config(systems)
            try:
                ensure_ray()
                run_chunk([str(requests)], self.options.engine, config, self.model_name("base"), parts)
            except Exception as exc:  # a request out of retries, a lost node, an unreachable server
                kept = len({k for k, line in read_answers(parts).items() if answered(line)})
                raise StageError(
                    f"evaluate stopped: the Ray Data LLM run of {len(lines)} questions failed: "
                    f"{task_error(exc)}; the {kept} answers received are kept in {parts}, and the next "
                    "run asks only for the others"
                ) from None
        self.answers = read_answers(parts)

    def answer(self, system: str, item: EvalItem) -> str:
        key = f"{system}:{item.id}"
        if key in self.unreadable:
            raise self.unreadable[key]
        line = self.answers.get(key)
        if line is None:
            raise RuntimeError("the Ray Data LLM run returned no answer to this question")
        response = line.get("response") or {}
        body = response.get("body") if isinstance(response.get("body"), dict) else {}
        if response.get("status_code") != 200:
            inner = body.get("error") if isinstance(body.get("error"), dict) else {}
            said = inner.get("message") or json.dumps(body)[:200]
            raise RuntimeError(f"{response.get('status_code')}: {said}")
        choices = body.get("choices") or [{}]
        content = ((choices[0] or {}).get("message") or {}).get("content")
        with self._lock:
            self.returned.setdefault(system, body.get("model"))
        return clean_answer(content or "")

    def done(self, folder: Path) -> None:
        """Every answer is in the ledger: the run's files go."""
        shutil.rmtree(folder, ignore_errors=True)

    def describe(self) -> dict[str, Any]:
        opts = self.options
        engine: dict[str, Any] = {
            "engine": opts.engine,
            "replicas": opts.replicas,
            "batch_size": opts.batch_size,
        }
        if opts.engine == "vllm":
            engine.update(
                model_source=self.model_names.get("base") or self.info.base_model,
                tensor_parallel_size=opts.tensor_parallel_size,
                pipeline_parallel_size=opts.pipeline_parallel_size,
                max_model_len=opts.max_model_len,
            )
            students = {s: {"model_name": self._shown(s)} for s in ("base", "tuned") if s in self.returned}
            out: dict[str, Any] = {"backend": "ray_llm", "ray_llm": engine, "students": students}
        else:
            out = {
                **super().describe(),
                "backend": "ray_llm",
                "ray_llm": engine,
                "base_url": safe_url(self.base_url),
            }
            out.pop("served_models", None)
        out.update(image_min_pixels=self.info.min_pixels, image_max_pixels=self.info.max_pixels)
        return out

    def _shown(self, system: str) -> str:
        try:
            return self.model_name(system)
        except StageError:
            return ""
