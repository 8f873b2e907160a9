"""A local server speaking the OpenAI chat-completions and Anthropic messages wire formats.

For tests and benchmarks of teachers (yours too, if you write a plugin): the official SDKs talk
to it over real HTTP on 127.0.0.1, and it can misbehave on request, like real providers do:
latency, 429 with ``Retry-After``, 500/503/529, hanging until the client times out, dropped
connections, malformed answers, 401/400/404, and a server-enforced requests-per-minute limit.
It counts requests per image (the SHA-256 of the image bytes sent).

    with FakeProvider(latency=0.2, rpm=600) as server:
        client = openai.OpenAI(base_url=server.openai_url, api_key=server.api_key)

    python -m vlkd.testing.fake_provider --port 8000 --latency 0.2     # standalone; GET /_stats for counts

Only the standard library is used, so it runs wherever vlkd runs.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import math
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from vlkd.testing.fake_batches import BatchEndpoints
from vlkd.testing.loopback import Loopback

#: faults: "429" or "429:SECONDS", "500", "503", "529", "timeout", "drop", "401", "400", "404", "malformed",
#: "empty", "truncated" (an answer cut off by max_tokens), "absurd_usage" (1e12 tokens in, -5 out);
#: an error status may carry its message: "400::This model's maximum context length is 4096 tokens"
Fault = str
Answer = Callable[[str, dict[str, Any]], Any]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    529: "Overloaded",
}
_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    529: "overloaded_error",
}


def default_pairs(image: str) -> list[dict[str, str]]:
    """The pairs the server answers for an image: a comma inside an answer, and one negative."""
    return [
        {"question": "图中的零件编号是什么?", "answer": f"P-{image[:8]}"},
        {"question": "图中的拧紧力矩是多少?", "answer": "25 N·m, 分两次拧紧"},
        {"question": "图中是否有签名?", "answer": "不存在"},
    ]


def pairs_csv(pairs: list[dict[str, str]]) -> str:
    rows = ['"问题","答案"'] + [
        '"{}","{}"'.format(p["question"].replace('"', '""'), p["answer"].replace('"', '""')) for p in pairs
    ]
    return "好的,以下是问答对:\n```csv\n" + "\n".join(rows) + "\n```\n"


#: the key the server expects unless told otherwise
DEFAULT_KEY = "sk-test-0123456789abcdef"


class FakeProvider(BatchEndpoints, Loopback):
    def __init__(
        self,
        *,
        latency: float = 0.0,
        api_key: str | None = DEFAULT_KEY,
        rpm: float | None = None,
        burst: float | None = None,
        hang: float = 30.0,
        models: set[str] | None = None,
        list_models: bool = False,
        answer: Answer | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.latency = latency
        self.api_key = api_key
        self.rpm = rpm
        self.burst = burst if burst is not None else max(1.0, (rpm or 0) / 60)
        self.hang = hang
        self.models = models
        #: serve ``GET /v1/models`` (the names in ``models``), as vLLM does; off: 404 as most providers' proxies
        self.list_models = list_models
        self.answer = answer
        self.host, self.port = host, port
        #: faults for the next requests, whatever the image
        self.faults: list[Fault] = []
        #: faults for the next requests of one image (by SHA-256)
        self.image_faults: dict[str, list[Fault]] = defaultdict(list)
        self.requests: Counter[str] = Counter()
        #: calls of the batch endpoints, by "METHOD path"
        self.batch_calls: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.keep_bodies = True
        #: the request bodies as sent, bytes and all (images too: off unless a test turns it on)
        self.raw_bodies: list[bytes] = []
        self.keep_raw = False
        self._tokens = self.burst
        #: when the first request for an answer arrived (``time.time()``)
        self.first_request_at: float | None = None
        #: when each request the rate limit let through arrived (with ``rpm`` only)
        self.admitted_at: list[float] = []
        self._refilled = time.monotonic()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._init_batches()

    # -- addresses ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_url(self) -> str:
        return self.url + "/v1"

    @property
    def anthropic_url(self) -> str:
        return self.url

    # -- running in a thread --------------------------------------------------------------
    def start(self) -> FakeProvider:
        ready = threading.Event()

        def main() -> None:
            loop = self._loop = asyncio.new_event_loop()
            self._server = loop.run_until_complete(asyncio.start_server(self._handle, self.host, self.port))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            self._server.close()
            loop.run_until_complete(self._server.wait_closed())
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

        self._thread = threading.Thread(target=main, name="fake-provider", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(10)
            self._loop = None

    def stats(self) -> dict[str, Any]:
        return {
            "requests": sum(self.requests.values()),
            "first_request_at": self.first_request_at,
            "by_image": dict(self.requests),
            "statuses": {str(k): v for k, v in self.statuses.items()},
            **self._admitted_stats(),
        }

    def _admitted_stats(self) -> dict[str, Any]:
        """With ``rpm``: the most requests let through in any 60 s, and the span they arrived in."""
        times = list(self.admitted_at)
        if not times:
            return {}
        busiest, lo = 0, 0
        for hi, t in enumerate(times):
            while t - times[lo] >= 60.0:
                lo += 1
            busiest = max(busiest, hi - lo + 1)
        return {"admitted": len(times), "admitted_span_s": times[-1] - times[0], "busiest_60s": busiest}

    # -- HTTP/1.1 -------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                result = await self._respond(method, path.split("?", 1)[0], headers, body)
                if result is None:  # dropped connection
                    writer.transport.abort()
                    return
                status, payload, extra = result
                if isinstance(payload, bytes):  # a file's content
                    data = payload
                else:
                    try:
                        data = json.dumps(payload, ensure_ascii=False).encode()
                    except UnicodeEncodeError:  # a lone surrogate: sent as \\udXXX, as real servers do
                        data = json.dumps(payload).encode()
                extra = {"content-type": "application/json", **extra}
                out = [
                    f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
                    f"content-length: {len(data)}",
                    *(f"{k}: {v}" for k, v in extra.items()),
                ]
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode() + data)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def _next_fault(self, image: str) -> Fault | None:
        with self._lock:
            if self.image_faults.get(image):
                return self.image_faults[image].pop(0)
            if self.faults:
                return self.faults.pop(0)
        return None

    def _take_token(self) -> float | None:
        """None when the request is allowed, else seconds until it would be."""
        if not self.rpm:
            return None
        with self._lock:
            now = time.monotonic()
            rate = self.rpm / 60
            self._tokens = min(self.burst, self._tokens + (now - self._refilled) * rate)
            self._refilled = now
            if self._tokens >= 1:
                self._tokens -= 1
                self.admitted_at.append(now)
                return None
            return (1 - self._tokens) / rate

    async def _respond(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]] | None:
        if method == "GET" and path == "/_stats":
            return 200, self.stats(), {}
        if method == "GET" and path == "/v1/models" and self.list_models:
            if self.api_key is not None and headers.get("authorization", "") != f"Bearer {self.api_key}":
                return self._error("openai", 401, "Incorrect API key provided", code="invalid_api_key")
            names = sorted(self.models or ())
            return (
                200,
                {"object": "list", "data": [{"id": n, "object": "model", "owned_by": "vlkd"} for n in names]},
                {},
            )
        if "/batches" in path or path.startswith("/v1/files"):
            api = "anthropic" if path.startswith("/v1/messages") else "openai"
            if not self._authorised(api, headers):
                return self._error(api, 401, "Incorrect API key provided", code="invalid_api_key")
            with self._lock:
                self.batch_calls[
                    f"{method} {path.rsplit('/', 1)[-1] if path.endswith('cancel') else path}"
                ] += 1
            delay = self.batch_delays.get(self._batch_phase(method, path))
            if delay:  # the call is handled after the delay, even if the client has gone
                await asyncio.sleep(delay)
            return self._batch_route(method, path, headers, body)
        if method != "POST" or path not in ("/v1/chat/completions", "/v1/messages"):
            return 404, {"error": {"message": f"no route {method} {path}"}}, {}
        api = "openai" if path.endswith("chat/completions") else "anthropic"
        try:
            req = json.loads(body)
        except ValueError:
            return self._error(api, 400, "body is not JSON")
        image = _image_hash(req, api)
        with self._lock:
            self.requests[image] += 1
            if self.first_request_at is None:
                self.first_request_at = time.time()
            if self.keep_raw:
                self.raw_bodies.append(body)
            if self.keep_bodies:
                self.bodies.append(_without_images(req))
                self.headers.append(
                    {k: v for k, v in headers.items() if k not in ("authorization", "x-api-key")}
                )
        key = self._key(api, headers)
        if not self._authorised(api, headers):
            masked = f"{key[:3]}***{key[-4:]}" if len(key) > 8 else "***"
            return self._error(api, 401, f"Incorrect API key provided: {masked}", code="invalid_api_key")
        if self.models is not None and req.get("model") not in self.models:
            return self._error(
                api, 404, f"The model `{req.get('model')}` does not exist", code="model_not_found"
            )
        wait = self._take_token()
        if wait is not None:
            return self._error(
                api,
                429,
                "Rate limit reached for requests",
                code="rate_limit_exceeded",
                headers={"retry-after-ms": str(int(wait * 1000) + 1), "retry-after": str(math.ceil(wait))},
            )
        fault = self._next_fault(image)
        if self.latency:
            await asyncio.sleep(self.latency)
        if fault is not None:
            kind, _, rest = fault.partition(":")
            arg, _, message = rest.partition(":")
            if kind == "drop":
                self.statuses[0] += 1
                return None
            if kind == "timeout":
                await asyncio.sleep(float(arg) if arg else self.hang)
                self.statuses[0] += 1
                return None
            if kind.isdigit():
                status = int(kind)
                extra = {"retry-after": arg} if arg else {}
                return self._error(api, status, message or f"injected {status}", headers=extra)
        content = self._content(image, req, api, fault)
        self.statuses[200] += 1
        out = _completion(api, req, content, truncated=fault == "truncated")
        if fault == "absurd_usage":
            key = (
                ("prompt_tokens", "completion_tokens")
                if api == "openai"
                else ("input_tokens", "output_tokens")
            )
            out["usage"].update({key[0]: 10**12, key[1]: -5})
        return 200, out, {}

    def _key(self, api: str, headers: dict[str, str]) -> str:
        # Anthropic's API takes x-api-key; recent SDKs send the key as a bearer token
        if api == "anthropic" and "x-api-key" in headers:
            return headers["x-api-key"]
        return headers.get("authorization", "").removeprefix("Bearer ")

    def _authorised(self, api: str, headers: dict[str, str]) -> bool:
        return self.api_key is None or self._key(api, headers) == self.api_key

    def _error(
        self,
        api: str,
        status: int,
        message: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        self.statuses[status] += 1
        if api == "openai":
            payload = {
                "error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}
            }
        else:
            payload = {
                "type": "error",
                "error": {"type": _ANTHROPIC_ERRORS.get(status, "api_error"), "message": message},
            }
        return status, payload, headers or {}

    def _content(self, image: str, req: dict[str, Any], api: str, fault: Fault | None) -> Any:
        structured = bool(req.get("response_format")) if api == "openai" else bool(req.get("tools"))
        if fault == "malformed":
            return "抱歉,我无法以CSV格式回答。" if not structured else "{not json"
        if fault == "empty":
            return ""
        if fault == "truncated" and structured:
            return '{"pairs":[{"question":"图中的零件编号是什么?","answer":"P-'
        if fault == "truncated":
            return '```csv\n"图中的零件编号是什么?","P-1"\n"图中的拧紧力矩是多少?","25 N'

        answer = self.answer(image, req) if self.answer is not None else None
        if answer is not None:
            return answer
        pairs = default_pairs(image)
        return {"pairs": pairs} if structured else pairs_csv(pairs)


#: (width, height) of every PNG image the fake provider was sent, by SHA-256
IMAGE_SIZES: dict[str, tuple[int, int]] = {}


def _image_hash(req: dict[str, Any], api: str) -> str:
    for msg in req.get("messages", []):
        content = msg.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            data = None
            if api == "openai" and part.get("type") == "image_url":
                data = part["image_url"]["url"].split(",", 1)[-1]
            elif api == "anthropic" and part.get("type") == "image":
                data = part["source"].get("data")
            if data:
                raw = base64.b64decode(data)
                digest = hashlib.sha256(raw).hexdigest()
                if raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) >= 24:  # the IHDR chunk holds the size
                    IMAGE_SIZES[digest] = (
                        int.from_bytes(raw[16:20], "big"),
                        int.from_bytes(raw[20:24], "big"),
                    )
                return digest
    return "no-image"


def _without_images(req: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(req))
    for msg in out.get("messages", []):
        for part in msg.get("content", []) if isinstance(msg.get("content"), list) else []:
            if part.get("type") == "image_url":
                part["image_url"]["url"] = part["image_url"]["url"][:40] + "..."
            elif part.get("type") == "image":
                part["source"]["data"] = "..."
    return out


def _prompt_tokens(req: dict[str, Any]) -> int:
    """800 for the image, and about one token per four characters of text (cheap: no copy of the request)."""
    chars = len(req.get("system") or "") if isinstance(req.get("system"), str) else 0
    for msg in req.get("messages", []):
        content = msg.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            chars += sum(len(part.get("text", "")) for part in content if isinstance(part, dict))
    return 800 + chars // 4


def _completion(api: str, req: dict[str, Any], content: Any, truncated: bool = False) -> dict[str, Any]:
    prompt_tokens = _prompt_tokens(req)
    if api == "openai":
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "length" if truncated else "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(text) // 2 + 1,
                "total_tokens": prompt_tokens + len(text) // 2 + 1,
            },
        }
    if req.get("tools") and not isinstance(content, str):
        block: dict[str, Any] = {
            "type": "tool_use",
            "id": "toolu_fake",
            "name": req["tools"][0]["name"],
            "input": content,
        }
        out_len, stop = len(json.dumps(content, ensure_ascii=False)), "tool_use"
    else:
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        block, out_len = {"type": "text", "text": text}, len(text)
        stop = "max_tokens" if truncated else "end_turn"
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": req.get("model", "fake"),
        "content": [block],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": prompt_tokens, "output_tokens": out_len // 2 + 1},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m vlkd.testing.fake_provider",
        description="A local stand-in for the OpenAI and Anthropic APIs (chat completions, messages, "
        "batches) on 127.0.0.1, for trying a teacher recipe or a plugin without a key or a bill. "
        "It prints its address and serves until Ctrl-C; GET /_stats counts the requests.",
        epilog=f"""Point a teacher at it:
  teach: {{plugin: openai, model: gpt-4o, base_url: http://127.0.0.1:PORT/v1, api_key: {DEFAULT_KEY}}}
  teach: {{plugin: anthropic, model: claude-sonnet-4-5, base_url: http://127.0.0.1:PORT, api_key: {DEFAULT_KEY}}}
A request with another key gets 401 "Incorrect API key provided", as from the real APIs.""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer (default: 0)")
    parser.add_argument(
        "--rpm", type=float, default=None, help="requests per minute it allows, 429 with Retry-After beyond"
    )
    parser.add_argument("--burst", type=float, default=None, help="requests allowed at once under --rpm")
    parser.add_argument(
        "--api-key",
        default=DEFAULT_KEY,
        help=f"the key it expects, as a bearer token or x-api-key (default: {DEFAULT_KEY})",
    )
    args = parser.parse_args(argv)
    server = FakeProvider(
        latency=args.latency, rpm=args.rpm, burst=args.burst, api_key=args.api_key, port=args.port
    )
    server.keep_bodies = False
    server.start()
    print(server.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
