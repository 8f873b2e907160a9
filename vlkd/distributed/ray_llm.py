"""``teach.mode: ray_llm``: the teacher's requests through Ray Data LLM, as batches of the batch driver.

The core batch driver (``teach/batch.py``) builds the chunks exactly as for ``mode: batch``:
the same request bodies (prompts, image sizing, ``image: student``), the same cache keys, and it
parses, re-asks and caches every answer the same way, so a later online run reuses them and
nothing is asked twice. This module only runs a chunk: its lines become a Ray dataset, go through
``ray.data.llm`` (the HTTP processor against any OpenAI-compatible server, or vLLM engines on the
cluster's GPUs), and come back as an OpenAI-format output file beside the chunk.

Ray's multimodal pitfalls are guarded by a *canary* in every chunk: one more request, a generated
image with a number printed on it, whose answer must name the number. A teacher that never saw
the image (ray#56125: images dropped from a conversation without a system prompt; ray#57978:
``image`` vs ``images`` keys) fails the chunk with that message instead of filling the cache with
answers about nothing.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import logging
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlkd.core.errors import StageError
from vlkd.teach.batch_api import BatchAPI, BatchItem, BatchState
from vlkd.teach.teacher import FatalError, TeacherError

if TYPE_CHECKING:
    from vlkd.distributed.options import RayLLMOptions

CANARY_ID = "vlkd-canary"
CANARY_QUESTION = "What number is printed in this image? Answer with the digits only."


def canary_number(chunk: str) -> str:
    """A five-digit number of the chunk's own (so a cached answer of another chunk cannot pass)."""
    return str(10_000 + int(hashlib.sha256(chunk.encode()).hexdigest()[:8], 16) % 90_000)


def canary_png(number: str) -> bytes:
    """A white image with ``number`` printed large in black (Pillow's built-in font)."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (448, 224), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=96)
    draw.text((224, 112), number, fill="black", font=font, anchor="mm")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def canary_body(template: dict[str, Any], number: str) -> dict[str, Any]:
    """A request like the chunk's (model, system prompt, generation settings) about the canary image."""
    url = "data:image/png;base64," + base64.b64encode(canary_png(number)).decode()
    messages = [m for m in template.get("messages", []) if m.get("role") == "system"]
    content = [{"type": "text", "text": CANARY_QUESTION}, {"type": "image_url", "image_url": {"url": url}}]
    messages.append({"role": "user", "content": content})
    keep = ("model", "temperature")
    return {**{k: template[k] for k in keep if k in template}, "messages": messages, "max_tokens": 32}


def output_path(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".jsonl") + ".output.jsonl")


#: how an answer line of the canary starts (``vlkd.core.jsonl.dumps`` writes the id first)
CANARY_LINE = '{"custom_id":"' + CANARY_ID + '"'


def received_ids(parts: Path) -> set[str]:
    """The ids of the answers the block files in ``parts`` hold (a ``.tmp`` file is a block whose
    writing never finished: its requests are asked again)."""
    ids: set[str] = set()
    for path in sorted(parts.glob("*.jsonl")) if parts.is_dir() else ():
        with path.open(encoding="utf-8") as fh:
            ids.update(json.loads(line)["custom_id"] for line in fh if line.strip())
    return ids


def read_answers(parts: Path) -> dict[str, dict[str, Any]]:
    """The answer lines (``{"custom_id", "response"}``) of the block files in ``parts``, by id;
    of an id answered more than once, an answer (status 200) wins over an error."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(parts.glob("*.jsonl")) if parts.is_dir() else ():
        with path.open(encoding="utf-8") as fh:
            for text in fh:
                if not text.strip():
                    continue
                line = json.loads(text)
                had = found.get(line["custom_id"])
                if had is None or answered(line) or not answered(had):
                    found[line["custom_id"]] = line
    return found


def answered(line: dict[str, Any]) -> bool:
    """Whether an answer line holds an answer (not an error the server sent back)."""
    return (line.get("response") or {}).get("status_code") == 200


def ensure_ray() -> None:
    """Ray connected: the executor's cluster where it runs the stage, else ``RAY_ADDRESS``'s (or
    a Ray of this machine's)."""
    import ray

    if not ray.is_initialized():
        ray.init(
            address=os.environ.get("RAY_ADDRESS"),
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
        )


def missing_lines(path: Path, received: set[str], rest: Path) -> int:
    """Write the request lines of ``path`` whose answer is not in ``received`` into ``rest``."""
    n = 0
    with path.open(encoding="utf-8") as src, rest.open("w", encoding="utf-8") as fh:
        for text in src:
            if text.strip() and json.loads(text)["custom_id"] not in received:
                fh.write(text)
                n += 1
    return n


def ray_chunk(path: Path, batch: str | None) -> bool:
    """Whether the chunk file ``path``, recorded with the batch id ``batch``, was run by
    ``mode: ray_llm``: its id says so, or (a run killed before the id was recorded) the canary
    request that its first act writes beside it, or its answers in ``.parts``."""
    if batch is not None:
        return batch.startswith("ray:")
    stem = path.name.removesuffix(".jsonl")
    return path.with_name(stem + ".canary.jsonl").exists() or path.with_name(stem + ".parts").is_dir()


def take_cut_short_answers(cache: Any, teacher: Any, plugin: str) -> tuple[int, list[str]]:
    """The answers of ray_llm chunks cut short (a killed or failed run, ``<chunk>.parts``, or one
    killed once the chunk had run whole, before its answers were collected) into
    the response cache, for a run in another mode (online, batch) to find there instead of asking
    again; each such chunk is recorded as collected, so that no later run sends it again.

    A chunk's answers are taken only where the canary answers that came with them are all right
    (the teacher saw its images); otherwise they are left, and its images asked again. Returns
    (answers taken, a note per chunk whose answers were left)."""
    from vlkd.plugins.teach.openai_batch import output_line
    from vlkd.teach.batch_book import BatchBook

    book = BatchBook(cache.root)
    taken, notes = 0, []
    try:
        for c in book.open_chunks():
            path = Path(c.path)
            if (c.plugin and c.plugin != plugin) or not ray_chunk(path, c.batch):
                continue
            stem = path.name.removesuffix(".jsonl")
            parts = path.with_name(stem + ".parts")
            blocks = sorted(parts.glob("*.jsonl")) if parts.is_dir() else []
            if output_path(path).exists():  # it ran whole, and was never collected
                blocks.append(output_path(path))
            lines = [t for b in blocks for t in b.read_text(encoding="utf-8").splitlines() if t.strip()]
            canaries = [output_line(teacher, t) for t in lines if t.startswith(CANARY_LINE)]
            number = canary_number(c.chunk)
            seen = [i.response is not None and number in i.response.text.replace(",", "") for i in canaries]
            keys = set(c.keys)
            got: dict[str, Any] = {}
            if seen and all(seen):
                for text in lines:
                    item = output_line(teacher, text)
                    if item.custom_id in keys and item.response is not None:
                        got[item.custom_id] = item.response
            elif lines:
                why = "no answer to its canary came" if not seen else "the teacher misread its canary image"
                notes.append(f"{len(lines)} answers of the ray_llm chunk {c.chunk} are not used: {why}")
            new = {k: r for k, r in got.items() if not cache.stored(k)}
            if new:
                pack = cache.pack(stem + "-cut-short")
                try:
                    for key, response in new.items():
                        pack.add(key, response.cleaned().to_json())
                finally:
                    pack.close()
            taken += len(new)
            # nothing goes on answering a chunk cut short: its other images are asked anew
            left = dict.fromkeys(sorted(keys - set(got)), "not answered before its ray_llm run stopped")
            book.collected(c.chunk, "cut short", left)
            for name in (".canary.jsonl", ".rest.jsonl"):
                path.with_name(stem + name).unlink(missing_ok=True)
            if got or not lines:
                shutil.rmtree(parts, ignore_errors=True)
    finally:
        book.close()
    return taken, notes


# -- the processors ---------------------------------------------------------------------------------
def http_processor_config(url: str, options: RayLLMOptions, headers: dict[str, str]) -> Any:
    """Ray Data LLM's HTTP processor: any OpenAI-compatible server (CI: the fake provider). Each
    request travels as its JSON text (:func:`http_payload`) and is posted as that text."""
    from ray.data.llm import HttpRequestProcessorConfig

    return HttpRequestProcessorConfig(
        url=url,
        headers=headers,
        qps=options.qps,
        batch_size=options.batch_size,
        concurrency=options.replicas,
        max_retries=options.max_retries,
        session_factory=TextBodySession,
    )


#: the one key of an HTTP processor's payload: the request body's JSON text
BODY_TEXT = "vlkd_body_json"


def http_payload(body: dict[str, Any]) -> dict[str, str]:
    """A request body as the HTTP processor's ``payload``: its JSON text under one key.

    Ray Data keeps rows as Arrow tables between stages. A list of dicts with different keys (a
    user message's parts: ``{"type", "text"}`` and ``{"type", "image_url"}``) becomes a list of
    structs with the union of the keys, and comes back with ``"text": None`` in the image part and
    ``"image_url": None`` in the text part: the server would be asked something else than online
    mode asks (with a system prompt, whose content is a string, Ray pickles the column instead, and
    the parts survive: ray#56125's other face). One string column survives every conversion."""
    return {BODY_TEXT: json.dumps(body, ensure_ascii=False, separators=(",", ":"))}


class TextBodySession:
    """The HTTP processor's client session (its ``session_factory``): posts a payload made by
    :func:`http_payload` as the body text it carries, byte for byte, and anything else as given."""

    def __init__(self) -> None:
        import aiohttp

        self._session = aiohttp.ClientSession()

    async def __aenter__(self) -> TextBodySession:
        await self._session.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._session.__aexit__(*exc)  # type: ignore[arg-type]

    def post(self, url: str, **kwargs: Any) -> Any:
        text = _body_text(kwargs.get("json"), kwargs.get("data"))
        if text is not None:
            kwargs.pop("json", None)
            kwargs["data"] = text.encode("utf-8")
        return self._session.post(url, **kwargs)


def _body_text(payload: Any, data: Any) -> str | None:
    """The body text an :func:`http_payload` carries (Ray 2.58 passes the payload as ``json=``,
    later versions its ``json.dumps`` as ``data=``), or None for any other payload."""
    if payload is None and isinstance(data, str | bytes):
        try:
            payload = json.loads(data)
        except ValueError:
            return None
    if isinstance(payload, dict) and set(payload) == {BODY_TEXT}:
        return payload[BODY_TEXT]
    return None


#: the LoRA ranks vLLM accepts as ``max_lora_rank``
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


def vllm_processor_config(model: str, options: RayLLMOptions, lora_rank: int | None = None) -> Any:
    """Ray Data LLM's vLLM engines on the cluster's GPUs: the recipe's model, tensor parallelism,
    replicas, batch size and context length. ``prepare_multimodal_stage`` is Ray 2.58's name for
    the stage that reads the images out of the messages (``has_image`` before). ``lora_rank``:
    the engines also serve a LoRA adapter of that rank (a row whose ``model`` is its path)."""
    from ray.data.llm import vLLMEngineProcessorConfig

    lora: dict[str, Any] = {}
    if lora_rank is not None:
        rank = next((r for r in VLLM_LORA_RANKS if r >= lora_rank), lora_rank)
        lora = {"enable_lora": True, "max_lora_rank": rank, "max_loras": 1}

    engine = {
        "tensor_parallel_size": options.tensor_parallel_size,
        "pipeline_parallel_size": options.pipeline_parallel_size,
        "gpu_memory_utilization": options.gpu_memory_utilization,
        "limit_mm_per_prompt": {"image": 1},
        "enable_prefix_caching": True,  # the system prompt is the same for every image
        **({"max_model_len": options.max_model_len} if options.max_model_len else {}),
        **lora,
        **options.engine_kwargs,
    }
    return vLLMEngineProcessorConfig(
        model_source=model,
        engine_kwargs=engine,
        concurrency=options.replicas,
        batch_size=options.batch_size,
        accelerator_type=options.accelerator_type,
        prepare_multimodal_stage={"enabled": True},
        chat_template_stage={"enabled": True},
        tokenize_stage={"enabled": True},
        detokenize_stage={"enabled": True},
    )


def vllm_row(body: dict[str, Any]) -> dict[str, Any]:
    """A request body as the vLLM processor's row: the same messages, the same sampling settings;
    its ``model`` where the body names one (the engines' own model, or a LoRA adapter's path that
    they load for the rows naming it).

    The messages and the JSON schema travel as their JSON text, as the HTTP path's bodies do (see
    :func:`http_payload`): as Arrow structs a message's parts, and a schema's properties, would come
    back with each other's keys set to null (ray#56435). :func:`carry_messages_as_text` makes the
    processor's first stage read the text; vLLM reads a schema given as text itself."""
    sampling: dict[str, Any] = {"max_tokens": body.get("max_tokens")}
    if body.get("temperature") is not None:
        sampling["temperature"] = body["temperature"]
    schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema")
    if schema is not None:
        sampling["structured_outputs"] = {"json": _text(schema)}
    model = {"model": body["model"]} if body.get("model") else {}
    return {**model, "messages": _text(body["messages"]), "sampling_params": sampling}


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def decode_messages(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with their ``messages`` read back from the JSON text :func:`vllm_row` made."""
    for row in rows:
        if isinstance(row.get("messages"), str):
            row["messages"] = json.loads(row["messages"])
    return rows


def carry_messages_as_text(processor: Any) -> None:
    """The vLLM processor's first stage (``PrepareMultimodalStage``: it reads the images out of the
    messages) made to read messages carried as JSON text (:func:`vllm_row`), before anything else."""
    name = "PrepareMultimodalStage"
    stage = processor.get_stage_by_name(name)
    # a copy (the stage's own field refuses a class on assignment, though its default is one)
    processor.stages[name] = stage.model_copy(update={"fn": _text_messages_udf(stage.fn)})


def _text_messages_udf(base: type) -> type:
    if getattr(base, "reads_text_messages", False):
        return base

    class TextMessagesUDF(base):
        reads_text_messages = True

        async def udf(self, batch: list[dict[str, Any]]) -> Any:
            async for out in super().udf(decode_messages(batch)):
                yield out

    TextMessagesUDF.__qualname__ = TextMessagesUDF.__name__ = "Text" + base.__name__
    return TextMessagesUDF


def _vllm_pre(row: dict[str, Any]) -> dict[str, Any]:
    line = json.loads(row["text"])
    return {"custom_id": line["custom_id"], **vllm_row(line["body"])}


def vllm_answer(row: dict[str, Any], model: str) -> dict[str, Any]:
    """The vLLM processor's output row as a chat completion body (what ``output_line`` reads)."""
    finish = "length" if row.get("num_generated_tokens", 0) >= (row.get("max_tokens") or 1 << 30) else "stop"
    return {
        "id": f"ray-{row['custom_id']}",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": finish,
                "message": {"role": "assistant", "content": row.get("generated_text") or ""},
            }
        ],
        "usage": {
            "prompt_tokens": int(row.get("num_input_tokens") or 0),
            "completion_tokens": int(row.get("num_generated_tokens") or 0),
            "total_tokens": int(row.get("num_input_tokens") or 0) + int(row.get("num_generated_tokens") or 0),
        },
    }


def _http_pre(row: dict[str, Any]) -> dict[str, Any]:
    # each request travels as its JSON text, to the server (see http_payload)
    line = json.loads(row["text"])
    return {"custom_id": line["custom_id"], "payload": http_payload(line["body"])}


def _http_post(row: dict[str, Any]) -> dict[str, Any]:
    return {"custom_id": row["custom_id"], "answer": json.dumps(row["http_response"])}


def run_chunk(inputs: list[str], engine: str, config: Any, model: str, parts: Path) -> None:
    """The request lines of ``inputs`` (files every node reads) through a Ray Data LLM processor.
    Each block of answers is written where it was answered, as a file of its own in ``parts`` (on
    the shared storage; written whole or not at all), as soon as it is there: a run stopped at any
    point keeps every block that was done, whatever the driver had read of them."""
    import ray
    from ray.data.llm import build_processor

    ds = ray.data.read_text(inputs)
    if engine == "http":
        processor = build_processor(config, preprocess=_http_pre, postprocess=_http_post)
    else:

        def post(row: dict[str, Any]) -> dict[str, Any]:
            return {"custom_id": row["custom_id"], "answer": json.dumps(vllm_answer(row, model))}

        processor = build_processor(config, preprocess=_vllm_pre, postprocess=post)
        carry_messages_as_text(processor)
    parts.mkdir(parents=True, exist_ok=True)
    kept = processor(ds).map_batches(
        keep_block,  # type: ignore[arg-type]  # its second argument, the folder, is fn_args
        fn_args=(str(parts),),
        batch_size=None,
        batch_format="pandas",
    )
    for _ in kept.iter_batches(batch_size=None):
        pass  # the blocks are on the storage already


def keep_block(block: Any, parts: str) -> Any:
    """One block of answers as ``parts/<uuid>.jsonl``: a line per answer, in the OpenAI batch
    output format; returns how many."""
    import uuid

    import numpy as np

    from vlkd.core.jsonl import dumps

    # the block comes as Ray holds it (with batch_size None, pandas or Arrow, whatever was asked)
    if not len(block):
        rows = []
    elif hasattr(block, "to_pylist"):
        rows = block.select(["custom_id", "answer"]).to_pylist()
    else:
        rows = block[["custom_id", "answer"]].to_dict("records")
    lines = []
    for custom_id, answer in ((r["custom_id"], r["answer"]) for r in rows):
        body = json.loads(answer)
        status = 400 if isinstance(body, dict) and isinstance(body.get("error"), dict) else 200
        lines.append(
            dumps({"custom_id": custom_id, "response": {"status_code": status, "body": body}}) + "\n"
        )
    if lines:
        path = Path(parts) / f"{uuid.uuid4().hex}.jsonl"
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.writelines(lines)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    return {"n": np.array([len(lines)])}


def task_error(exc: BaseException) -> str:
    """What failed in a Ray Data run, in one line: the first ``SomeError: ...`` line of its text
    (a task's error carries the worker's traceback), else its last line."""
    lines = [x.strip() for x in str(exc).splitlines() if x.strip()]
    named = [x for x in lines if re.match(r"^[\w.]+(Error|Exception): ", x)]
    return ((named or lines or [type(exc).__name__])[0 if named else -1])[:300]


class RayLLMBatches(BatchAPI):
    """``mode: ray_llm``: each chunk of the batch driver runs at once through Ray Data LLM."""

    #: no provider's limits: a chunk is one Ray Data run (vLLM engines start once per chunk), so
    #: large; the driver streams it to a file and back, never holding it (batch_max_requests lowers it)
    max_requests = 200_000
    max_bytes = 64 * 1024**3

    def __init__(self, teacher: Any, line_of: Any):
        self.teacher = teacher
        self.options: RayLLMOptions = teacher.options.ray_llm
        self.line = line_of  # type: ignore[method-assign]

    def processor_config(self) -> Any:
        if self.options.engine == "vllm":
            return vllm_processor_config(self.teacher.options.model, self.options)
        base = self.teacher.options.base_url
        if not base:
            raise FatalError("teach.mode ray_llm with engine: http needs teach.base_url (the server to ask)")
        key = self.teacher.resolved_key() or "EMPTY"
        return http_processor_config(
            base.rstrip("/") + "/chat/completions", self.options, {"Authorization": f"Bearer {key}"}
        )

    async def submit(self, path: Path, chunk: str) -> str:
        try:
            await asyncio.to_thread(self._run, path, chunk)
        except (FatalError, StageError):
            raise
        except Exception as exc:  # the Ray Data run failed (a request out of retries, a lost node)
            first = task_error(exc)
            # what it received is kept: the next try asks only for the rest
            raise TeacherError(f"the Ray Data LLM run of chunk {chunk} failed: {first}") from None
        return f"ray:{path}"

    def _run(self, path: Path, chunk: str) -> None:
        """The chunk through Ray Data LLM. Every block of answers lands in ``<chunk>.parts/`` as it
        is done: a run killed or failed mid-chunk leaves them there, and the next run of the chunk
        asks only for the lines not answered yet. Each run asks the canary again (the engine may
        have changed between them); the answers reach the response cache once the chunk is whole
        and every canary of it was read right (:meth:`results`)."""
        from vlkd.core.jsonl import dumps

        out = output_path(path)
        if out.exists():  # a kill after the chunk ran whole, before its batch id was recorded
            return
        parts = path.with_name(path.name.removesuffix(".jsonl") + ".parts")
        received = received_ids(parts)
        with path.open(encoding="utf-8") as fh:
            first = json.loads(fh.readline() or "{}")
        stem = path.name.removesuffix(".jsonl")
        canary = path.with_name(stem + ".canary.jsonl")
        body = canary_body(first.get("body") or {}, canary_number(chunk))
        canary.write_text(dumps({"custom_id": CANARY_ID, "body": body}) + "\n", encoding="utf-8")
        inputs = [str(canary)]
        rest = path.with_name(stem + ".rest.jsonl")
        if not received:
            inputs.append(str(path))
        elif missing_lines(path, received, rest):
            inputs.append(str(rest))
        ensure_ray()
        run_chunk(inputs, self.options.engine, self.processor_config(), self.teacher.options.model, parts)
        # the output file appears whole (the canary answers first) or not at all
        whole = out.with_name(out.name + ".tmp")
        blocks = sorted(parts.glob("*.jsonl"))
        with whole.open("w", encoding="utf-8") as fh:
            for canaries in (True, False):
                for block in blocks:
                    with block.open(encoding="utf-8") as src:
                        fh.writelines(t for t in src if t.startswith(CANARY_LINE) == canaries)
        os.replace(whole, out)
        shutil.rmtree(parts, ignore_errors=True)
        rest.unlink(missing_ok=True)
        canary.unlink(missing_ok=True)

    def _input(self, batch_id: str) -> Path:
        return Path(batch_id.removeprefix("ray:"))

    async def state(self, batch_id: str) -> BatchState:
        done = output_path(self._input(batch_id)).exists()
        return BatchState(id=batch_id, status="completed" if done else "lost", ended=True)

    async def results(self, batch_id: str) -> AsyncIterator[BatchItem]:
        from vlkd.plugins.teach.openai_batch import output_line

        path = output_path(self._input(batch_id))
        if not path.exists():
            return
        with path.open(encoding="utf-8", errors="replace") as fh:
            line = fh.readline()
            if not line.startswith(CANARY_LINE):  # the canary request got no answer at all
                self.check_canary(BatchItem(CANARY_ID, error="no answer to the canary request"), batch_id)
            while line.startswith(CANARY_LINE):  # one per run of the chunk: each must have seen it
                self.check_canary(output_line(self.teacher, line), batch_id)
                line = fh.readline()
            while line:
                if line.strip():
                    yield output_line(self.teacher, line)
                line = fh.readline()

    def check_canary(self, item: BatchItem, batch_id: str) -> None:
        chunk = self._input(batch_id).name.removesuffix(".jsonl")
        number = canary_number(chunk)
        answer = item.response.text if item.response is not None else f"(error: {item.error})"
        if number not in answer.replace(",", "").replace(" ", ""):
            # its answers are not kept: the next run asks for the chunk's items again
            path = output_path(self._input(batch_id))
            path.replace(path.with_name(path.name.replace(".output.", ".canary-failed.")))
            raise StageError(
                f"teach ray_llm: the teacher did not read the canary image of {chunk} (asked for the "
                f"number {number}, answered {answer[:80]!r}): its images are not reaching the model "
                "(Ray Data LLM drops images without a system prompt, ray#56125; image keys, ray#57978); "
                f"no answer of this chunk was kept (they are in {path.name.replace('.output.', '.canary-failed.')})"
            )

    async def cancel(self, batch_id: str) -> BatchState:
        return BatchState(id=batch_id, status="cancelled", ended=True)
