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
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlkd.core.errors import StageError
from vlkd.teach.batch_api import BatchAPI, BatchItem, BatchState
from vlkd.teach.teacher import FatalError

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


def vllm_processor_config(model: str, options: RayLLMOptions) -> Any:
    """Ray Data LLM's vLLM engines on the cluster's GPUs: the recipe's model, tensor parallelism,
    replicas, batch size and context length. ``prepare_multimodal_stage`` is Ray 2.58's name for
    the stage that reads the images out of the messages (``has_image`` before)."""
    from ray.data.llm import vLLMEngineProcessorConfig

    engine = {
        "tensor_parallel_size": options.tensor_parallel_size,
        "pipeline_parallel_size": options.pipeline_parallel_size,
        "gpu_memory_utilization": options.gpu_memory_utilization,
        "limit_mm_per_prompt": {"image": 1},
        "enable_prefix_caching": True,  # the system prompt is the same for every image
        **({"max_model_len": options.max_model_len} if options.max_model_len else {}),
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
    """A request body as the vLLM processor's row: the same messages, the same sampling settings."""
    sampling: dict[str, Any] = {"max_tokens": body.get("max_tokens")}
    if body.get("temperature") is not None:
        sampling["temperature"] = body["temperature"]
    schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema")
    if schema is not None:
        sampling["structured_outputs"] = {"json": schema}
    return {"messages": body["messages"], "sampling_params": sampling}


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


def run_chunk(inputs: list[str], engine: str, config: Any, model: str) -> Iterator[dict[str, Any]]:
    """The request lines of ``inputs`` (files every node reads) through a Ray Data LLM processor:
    an OpenAI-format output line per answer, as they come (the driver never holds the chunk)."""
    import ray
    from ray.data.llm import build_processor

    ds = ray.data.read_text(inputs)
    if engine == "http":
        processor = build_processor(config, preprocess=_http_pre, postprocess=_http_post)
    else:

        def pre(row: dict[str, Any]) -> dict[str, Any]:
            line = json.loads(row["text"])
            return {"custom_id": line["custom_id"], **vllm_row(line["body"])}

        def post(row: dict[str, Any]) -> dict[str, Any]:
            return {"custom_id": row["custom_id"], "answer": json.dumps(vllm_answer(row, model))}

        processor = build_processor(config, preprocess=pre, postprocess=post)
    for row in processor(ds).iter_rows():
        body = json.loads(row["answer"])
        status = 400 if isinstance(body, dict) and isinstance(body.get("error"), dict) else 200
        yield {"custom_id": row["custom_id"], "response": {"status_code": status, "body": body}}


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
        await asyncio.to_thread(self._run, path, chunk)
        return f"ray:{path}"

    def _run(self, path: Path, chunk: str) -> None:
        import ray

        from vlkd.core.jsonl import dumps

        with path.open(encoding="utf-8") as fh:
            first = json.loads(fh.readline() or "{}")
        canary = path.with_name(path.name.removesuffix(".jsonl") + ".canary.jsonl")
        body = canary_body(first.get("body") or {}, canary_number(chunk))
        canary.write_text(dumps({"custom_id": CANARY_ID, "body": body}) + "\n", encoding="utf-8")
        if not ray.is_initialized():
            ray.init(
                address=os.environ.get("RAY_ADDRESS"),
                include_dashboard=False,
                log_to_driver=False,
                logging_level="ERROR",
            )
        out = output_path(path)
        tmp = out.with_name(out.name + ".part")
        answers = run_chunk(
            [str(canary), str(path)], self.options.engine, self.processor_config(), self.teacher.options.model
        )
        canary_line = None
        with tmp.open("w", encoding="utf-8") as fh:  # written as the answers come
            for line in answers:
                if line["custom_id"] == CANARY_ID:
                    canary_line = line
                else:
                    fh.write(dumps(line) + "\n")
        # the output file appears whole (the canary's line first) or not at all
        whole = out.with_name(out.name + ".tmp")
        with whole.open("w", encoding="utf-8") as fh, tmp.open(encoding="utf-8") as src:
            if canary_line is not None:
                fh.write(dumps(canary_line) + "\n")
            for text in src:
                fh.write(text)
        os.replace(whole, out)
        tmp.unlink()
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
            first = output_line(self.teacher, fh.readline())
            if first.custom_id != CANARY_ID:  # the canary request got no answer at all
                first = BatchItem(CANARY_ID, error="no answer to the canary request")
            self.check_canary(first, batch_id)
            for line in fh:
                if line.strip():
                    yield output_line(self.teacher, line)

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
