"""logit_kd's teacher behind a vLLM server: its top-k prompt log-probabilities on the answers.

vLLM's OpenAI-compatible chat endpoint scores a whole conversation when asked for
``prompt_logprobs`` (``vllm/entrypoints/openai/protocol.py``, ``ChatCompletionRequest``): each
sample goes out as its image(s), question and reviewed answer (the assistant's message), rendered
by the server's chat template with ``add_generation_prompt: false`` and ``continue_final_message:
false``, so that the prompt ends as the student's training sequence does, with the answer's
closing turn-end token (whose distribution the student learns too; a continued final message
would leave it out). ``max_tokens: 1``, ``prompt_logprobs: top_k`` and ``return_token_ids: true``;
the response's ``prompt_logprobs`` holds, per prompt token, ``{token_id: {logprob, rank,
decoded_token}}`` (``None`` for the first): the top ``top_k`` by rank plus the prompt's own token
(vLLM's ``--max-logprobs``, 20 by default, caps ``top_k``). ``prompt_token_ids`` are the tokens the
server scored.

The answer's positions are found on those ids with the student's own rule (the family's assistant
header ... turn end, :class:`~vlkd.plugins.train.peft_collator.AssistantMasker`) and checked against
the student's own tokenization of the same sample (the collator's labels): a server whose tokens
differ is an error naming the pair and both sequences' tails, never a silently shifted target.
The entries go into the same content-keyed cache as the local teacher's
(:mod:`vlkd.plugins.train.teacher_cache`; the key holds the served model's name), so a repeated
training calls no server, and the trainer reads them as it reads the local teacher's.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vlkd.api import StageError

if TYPE_CHECKING:
    from vlkd.plugins.train.distill_options import TeacherServer
    from vlkd.plugins.train.teacher_cache import TeacherCache

#: what a user runs to serve the teacher (the message of an unreachable server)
SERVE = "vllm serve MODEL --max-logprobs TOP_K; see docs/how-to/distill.md"
#: the longest wait between two tries of a request, in seconds
LONGEST_WAIT = 30.0


class _Transient(StageError):
    """A request that may succeed if tried again (no connection, a timeout, a 5xx answer)."""


@dataclass(frozen=True)
class ServerTeacher:
    """A teacher server, resolved without contacting it."""

    name: str  # the served model's name
    url: str
    family: str
    api_key_env: str | None = None
    timeout: float = 300.0
    retries: int = 3

    def fingerprint(self) -> str:
        """The served model's name: the same model at another address gives the same entries."""
        return hashlib.sha256(f"vllm-server\0{self.name}".encode()).hexdigest()[:16]

    def job(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint(),
            "name": self.name,
            "server": self.url,
            "api_key_env": self.api_key_env,
            "timeout": self.timeout,
            "retries": self.retries,
            "family": self.family,
        }


def server_teacher(spec: TeacherServer) -> ServerTeacher:
    from vlkd.api import family_of

    try:
        family = family_of(spec.model).name
    except StageError as exc:
        raise StageError(
            f"distill.teacher.model: {exc} (the tokenizer check reads the family from the served model's name: "
            "serve it under its hub name, vllm serve PATH --served-model-name Qwen/...)"
        ) from None
    return ServerTeacher(
        spec.model, spec.server.rstrip("/"), family, spec.api_key_env, spec.timeout, spec.retries
    )


def from_job(teacher: dict[str, Any]) -> ServerTeacher:
    return ServerTeacher(
        teacher["name"],
        teacher["server"],
        teacher["family"],
        teacher.get("api_key_env"),
        teacher["timeout"],
        teacher.get("retries", 3),
    )


class LogprobClient:
    """The few calls made to the server, over the standard library's HTTP (JSON in, JSON out)."""

    def __init__(self, teacher: ServerTeacher):
        self.teacher = teacher
        self.headers = {"Content-Type": "application/json"}
        if teacher.api_key_env:
            key = os.environ.get(teacher.api_key_env)
            if not key:
                raise StageError(
                    f"distill.teacher.api_key_env: {teacher.api_key_env} is not set; export the teacher "
                    "server's key (vllm serve --api-key) under that name"
                )
            self.headers["Authorization"] = f"Bearer {key}"

    def _call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """One request; a refused connection, a timeout or a 5xx answer is tried again
        ``retries`` times (waiting 1, 2, 4... seconds, at most :data:`LONGEST_WAIT`)."""
        url = f"{self.teacher.url}{path}"
        data = None if body is None else json.dumps(body).encode()
        tries = self.teacher.retries + 1
        for attempt in range(tries):
            request = urllib.request.Request(
                url, data=data, headers=self.headers, method="GET" if data is None else "POST"
            )
            try:
                return self._once(request, url, tries)
            except _Transient:
                if attempt + 1 == tries:
                    raise
                time.sleep(min(2**attempt, LONGEST_WAIT))
        raise AssertionError("unreachable")

    def _once(self, request: urllib.request.Request, url: str, tries: int) -> Any:
        after = f" (after {tries} tries)" if tries > 1 else ""
        try:
            with urllib.request.urlopen(request, timeout=self.teacher.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            said = _error_text(exc)
            hint = {
                401: "; set distill.teacher.api_key_env to the variable holding the key",
                404: "; the URL should end in /v1, as vLLM's does",
            }.get(exc.code, "")
            if "logprobs" in said and "max" in said:  # vLLM's --max-logprobs (20 by default) is below top_k
                hint = "; restart the server with --max-logprobs at least distill.top_k, or lower top_k"
            if exc.code >= 500:
                raise _Transient(
                    f"the teacher server {url} answered {exc.code}{after}: {said}{hint}"
                ) from None
            raise StageError(f"the teacher server {url} answered {exc.code}: {said}{hint}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise _Transient(
                f"distill.teacher.server: cannot reach {url}{after} ({reason}); start the teacher server "
                f"({SERVE}) or correct the URL"
            ) from None

    def check(self) -> None:
        """The server answers and serves the recipe's model: one call, before any scoring."""
        listed = self._call("/models")
        served = [m.get("id") for m in (listed.get("data") or []) if isinstance(m, dict)]
        if self.teacher.name not in served:
            raise StageError(
                f"distill.teacher.model: the server at {self.teacher.url} serves {served or 'no model'}, "
                f"not {self.teacher.name}; name one of those (or start it with --served-model-name)"
            )

    def prompt_logprobs(self, messages: list[dict[str, Any]], top_k: int) -> tuple[list[int], list[Any]]:
        body = {
            "model": self.teacher.name,
            "messages": messages,
            "max_tokens": 1,
            "temperature": 0,
            "prompt_logprobs": top_k,
            "add_generation_prompt": False,
            "continue_final_message": False,
            "return_token_ids": True,
        }
        reply = self._call("/chat/completions", body)
        ids, scored = reply.get("prompt_token_ids"), reply.get("prompt_logprobs")
        if not isinstance(ids, list) or not isinstance(scored, list) or len(ids) != len(scored):
            raise StageError(
                f"the teacher server {self.teacher.url} returned no prompt_token_ids/prompt_logprobs of one "
                "length: it must be vLLM's OpenAI-compatible server, of a version that has return_token_ids"
            )
        return ids, scored


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        data = json.loads(exc.read() or b"{}")
    except ValueError:
        return str(exc.reason)
    error = data.get("error", data) if isinstance(data, dict) else data
    message = error.get("message") if isinstance(error, dict) else None
    return str(message or data.get("detail") or exc.reason)


def chat_messages(sample: Any, family: Any, min_pixels: int, max_pixels: int) -> list[dict[str, Any]]:
    """The sample's messages as OpenAI chat messages: each ``<image>`` an ``image_url`` part (a PNG
    data URL of the image at the size the student's processor makes of it), in the place it has."""
    from vlkd.answering.images import data_url
    from vlkd.images.files import open_as
    from vlkd.plugins.train.peft_collator import to_chat

    images = iter(sample.images)
    out = []
    for message in to_chat(sample.messages):
        parts: list[dict[str, Any]] = []
        for part in message["content"]:
            if part["type"] == "image":
                image = family.server_image(open_as(next(images)), min_pixels, max_pixels)
                parts.append({"type": "image_url", "image_url": {"url": data_url(image)}})
            else:
                parts.append(part)
        if message["role"] != "user" and all(p["type"] == "text" for p in parts):
            out.append({"role": message["role"], "content": "".join(p["text"] for p in parts)})
        else:
            out.append({"role": message["role"], "content": parts})
    return out


def answer_entries(
    sample: Any,
    student: tuple[list[int], list[int], bool],
    served: tuple[list[int], list[Any]],
    masker: Any,
    top_k: int,
) -> tuple[Any, Any]:
    """The server's top-k at the student's answer tokens: ``ids`` int32 and ``log_probs``, ``(A, k)``.

    ``student``: the student's input ids, labels and whether its row was cut at ``cutoff_len``;
    ``served``: the server's prompt ids and prompt log-probabilities."""
    import torch

    from vlkd.plugins.train.peft_collator import IGNORE_INDEX

    ids, labels, cut = student
    ours = [t for t in labels if t != IGNORE_INDEX]
    server_ids, scored = served
    positions = [p for p, t in enumerate(masker.labels(server_ids)) if t != IGNORE_INDEX]
    theirs = [server_ids[p] for p in positions]
    if theirs[: len(ours)] != ours or (len(theirs) != len(ours) and not cut):
        raise StageError(
            f"{sample.where}: the teacher server tokenized the answer otherwise than the student "
            f"(answer tokens: server {theirs[-12:]}, student {ours[-12:]}; sequence tails: server "
            f"{server_ids[-16:]}, student {ids[-16:]}): the server must run the student's tokenizer and "
            "chat template (same family and vocabulary)"
        )
    rows_ids, rows_lp = [], []
    for p in positions[: len(ours)]:
        entry = scored[p]
        if not isinstance(entry, dict):
            raise StageError(f"{sample.where}: the teacher server returned no log-probabilities at token {p}")
        ranked = sorted(
            ((int(v.get("rank") or 0), int(k), float(v["logprob"])) for k, v in entry.items()),
            key=lambda r: r[0],
        )
        top = [r for r in ranked if 1 <= r[0] <= top_k][:top_k]
        if len(top) < top_k:
            raise StageError(
                f"{sample.where}: the teacher server returned {len(top)} log-probabilities at a token, not "
                f"top_k={top_k}: start it with --max-logprobs {top_k} or more"
            )
        rows_ids.append([r[1] for r in top])
        rows_lp.append([r[2] for r in top])
    return torch.tensor(rows_ids, dtype=torch.int32), torch.tensor(rows_lp, dtype=torch.float32)


class ServerScoring:
    """What scoring a sample on the server needs: the client (checked), the student's collator
    (the sequences the student trains on) and the answer-token rule; ``requests`` at a time."""

    def __init__(self, job: dict[str, Any], teacher: ServerTeacher, top_k: int, processor: Any = None):
        from vlkd.plugins.train.peft_collator import AssistantMasker, ChatCollator
        from vlkd.plugins.train.peft_worker import job_family

        o = job["options"]
        self.lo, self.hi, self.cutoff_len = o["image_min_pixels"], o["image_max_pixels"], o["cutoff_len"]
        self.requests = o["distill"]["teacher_batch_size"]
        self.client = LogprobClient(teacher)
        self.client.check()
        self.family = job_family(job)
        if processor is None:
            processor = self.family.load_processor(job["student"], self.lo, self.hi)
        self.collator = ChatCollator(processor, self.family, self.cutoff_len)
        self.masker = AssistantMasker(processor.tokenizer, self.family.assistant_prefix, self.family.turn_end)
        self.top_k = top_k
        self.kept = min(top_k, len(processor.tokenizer))
        # one thread at a time in the tokenizer: a fast tokenizer shared at once fails ("Already borrowed")
        self.tokenizing = threading.Lock()

    def row(self, batch: dict[str, Any], row: int) -> tuple[list[int], list[int], bool]:
        """A collated (right-padded) row as :func:`answer_entries` reads it: ids, labels, cut."""
        n = int(batch["attention_mask"][row].sum())
        return batch["input_ids"][row, :n].tolist(), batch["labels"][row, :n].tolist(), n >= self.cutoff_len

    def entries(self, sample: Any, student: tuple[list[int], list[int], bool]) -> tuple[Any, Any]:
        """The server's top-k at ``sample``'s answer tokens, checked against the student's row."""
        messages = chat_messages(sample, self.family, self.lo, self.hi)
        served = self.client.prompt_logprobs(messages, self.top_k)
        return answer_entries(sample, student, served, self.masker, self.kept)

    def each(self, work: Any, items: list[Any], on_done: Any = None) -> list[Any]:
        """``work(item)`` for every item, ``requests`` at a time, results in order; the first
        error cancels what has not started and is raised."""
        from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

        with ThreadPoolExecutor(max_workers=self.requests) as pool:
            futures = [pool.submit(work, item) for item in items]
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in done:
                    error = future.exception()
                    if error is not None:
                        for rest in pending:
                            rest.cancel()
                        raise error
                    if on_done is not None:
                        on_done(1)
        return [f.result() for f in futures]


def compute(
    job: dict[str, Any], cache: TeacherCache, samples: list[Any], teacher: ServerTeacher, on_progress: Any
) -> None:
    """Score ``samples`` on the server (``teacher_batch_size`` requests at a time); each entry is
    saved as it arrives, so a failure keeps what was paid for."""
    scoring = ServerScoring(job, teacher, cache.top_k)

    def one(sample: Any) -> None:
        with scoring.tokenizing:
            batch = scoring.collator([sample])
        cache.save(sample, *scoring.entries(sample, scoring.row(batch, 0)))

    scoring.each(one, samples, on_progress)
