"""The batch endpoints of the fake provider: OpenAI's Files + Batches API, Anthropic's Message Batches.

OpenAI: ``POST /v1/files`` (multipart, purpose ``batch``), ``GET /v1/files/{id}/content``,
``POST /v1/batches``, ``GET /v1/batches[/{id}]``, ``POST /v1/batches/{id}/cancel``.
Anthropic: ``POST /v1/messages/batches``, ``GET /v1/messages/batches[/{id}]``,
``GET /v1/messages/batches/{id}/results``, ``POST /v1/messages/batches/{id}/cancel``.

A batch ends ``batch_latency`` seconds after it was created (checked when it is retrieved).
Each request then meets the same per-image faults as online requests: a status ("500", "400")
makes that item errored, ``"expired"`` expires it, ``"malformed"``/``"truncated"``/``"empty"``
spoil its answer. ``expire_batches = True`` expires whole batches; cancel works as the
providers' does (requests not yet run are cancelled). Only answered requests count in
``requests`` (what a provider charges).
"""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime
from typing import Any

Result = tuple[int, Any, dict[str, str]]


def _iso(t: float | None) -> str | None:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z") if t is not None else None


def _multipart(headers: dict[str, str], body: bytes) -> dict[str, bytes]:
    """The fields of a multipart/form-data body (enough for the SDKs' uploads)."""
    ctype = headers.get("content-type", "")
    boundary = ctype.split("boundary=", 1)[-1].strip('"').encode()
    fields: dict[str, bytes] = {}
    for part in body.split(b"--" + boundary):
        head, sep, data = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        text = head.decode("latin-1")
        name = text.split('name="', 1)[-1].split('"', 1)[0]
        fields[name] = data[:-2] if data.endswith(b"\r\n") else data
    return fields


class BatchEndpoints:
    """Mixed into ``FakeProvider``; its state and request handling stay there."""

    batch_latency: float = 0.0
    expire_batches: bool = False
    #: seconds each kind of batch call waits before it is handled (to kill a client mid-call):
    #: "upload" (a file, or Anthropic's whole batch), "create", "retrieve", "results"
    batch_delays: dict[str, float]

    def _init_batches(self) -> None:
        self.batch_delays = {}
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.batch_results: dict[str, list[dict[str, Any]]] = {}
        self._ids = itertools.count(1)

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    # -- routing ----------------------------------------------------------------------------
    @staticmethod
    def _batch_phase(method: str, path: str) -> str:
        if method == "POST" and path in ("/v1/files", "/v1/messages/batches"):
            return "upload"
        if method == "POST" and path == "/v1/batches":
            return "create"
        if path.endswith(("/content", "/results")):
            return "results"
        return "retrieve" if method == "GET" else "other"

    def _batch_route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Result | None:
        parts = path.strip("/").split("/")
        if parts[:2] == ["v1", "files"]:
            return self._openai_files(method, parts[2:], headers, body)
        if parts[:2] == ["v1", "batches"]:
            return self._openai_batches(method, parts[2:], body)
        if parts[:3] == ["v1", "messages", "batches"]:
            return self._anthropic_batches(method, parts[3:], body)
        return None

    # -- OpenAI -----------------------------------------------------------------------------
    def _openai_files(self, method: str, rest: list[str], headers: dict[str, str], body: bytes) -> Result:
        if method == "POST" and not rest:
            fields = _multipart(headers, body)
            if fields.get("purpose") != b"batch":
                return self._error("openai", 400, "purpose must be 'batch'")
            fid = self._new_id("file-")
            self.files[fid] = fields.get("file", b"")
            return 200, self._file_json(fid), {}
        if method == "GET" and len(rest) == 2 and rest[1] == "content" and rest[0] in self.files:
            return 200, self.files[rest[0]], {"content-type": "application/octet-stream"}
        if method == "GET" and len(rest) == 1 and rest[0] in self.files:
            return 200, self._file_json(rest[0]), {}
        return self._error("openai", 404, f"no such file {'/'.join(rest)}")

    def _file_json(self, fid: str) -> dict[str, Any]:
        return {
            "id": fid,
            "object": "file",
            "bytes": len(self.files[fid]),
            "created_at": int(time.time()),
            "filename": "batch.jsonl",
            "purpose": "batch",
            "status": "processed",
        }

    def _openai_batches(self, method: str, rest: list[str], body: bytes) -> Result:
        if method == "POST" and not rest:
            req = json.loads(body or b"{}")
            data = self.files.get(req.get("input_file_id", ""))
            if data is None:
                return self._error("openai", 400, "input_file_id not found")
            lines = [json.loads(x) for x in data.splitlines() if x.strip()]
            bid = self._new_id("batch_")
            self.batches[bid] = {
                "api": "openai",
                "id": bid,
                "requests": [(x["custom_id"], x["body"]) for x in lines],
                "created": time.time(),
                "input_file_id": req["input_file_id"],
                "metadata": req.get("metadata"),
                "endpoint": req.get("endpoint"),
                "state": "validating",
            }
            return 200, self._openai_batch_json(bid), {}
        if method == "GET" and not rest:  # a list shows each batch as it is now, as a look at it does
            ours = [b for b, v in self.batches.items() if v["api"] == "openai"]
            for bid in ours:
                self._advance(bid)
            data = [self._openai_batch_json(b) for b in ours]
            data.reverse()
            return 200, {"object": "list", "data": data, "has_more": False}, {}
        if rest and rest[0] in self.batches:
            bid = rest[0]
            if method == "POST" and rest[1:] == ["cancel"]:
                self._cancel(bid)
                return 200, self._openai_batch_json(bid), {}
            if method == "GET" and len(rest) == 1:
                self._advance(bid)
                return 200, self._openai_batch_json(bid), {}
        return self._error("openai", 404, f"no such batch {'/'.join(rest)}")

    def _openai_batch_json(self, bid: str) -> dict[str, Any]:
        b = self.batches[bid]
        results = self.batch_results.get(bid, [])
        failed = sum(1 for r in results if r["kind"] != "succeeded")
        done = b["state"] in ("completed", "expired", "cancelled")
        out_id = err_id = None
        if done:
            out_id, err_id = b.setdefault("files", self._openai_output_files(bid))
        return {
            "id": bid,
            "object": "batch",
            "endpoint": b["endpoint"],
            "errors": None,
            "input_file_id": b["input_file_id"],
            "completion_window": "24h",
            "status": b["state"],
            "output_file_id": out_id,
            "error_file_id": err_id,
            "created_at": int(b["created"]),
            "expires_at": int(b["created"] + 86400),
            "metadata": b["metadata"],
            "request_counts": {
                "total": len(b["requests"]),
                "completed": len(results) - failed,
                "failed": failed,
            },
        }

    def _openai_output_files(self, bid: str) -> tuple[str | None, str | None]:
        ok, bad = [], []
        for n, r in enumerate(self.batch_results.get(bid, [])):
            line: dict[str, Any] = {"id": f"batch_req_{n}", "custom_id": r["custom_id"]}
            if r["kind"] == "succeeded":
                line.update(
                    response={"status_code": 200, "request_id": f"req_{n}", "body": r["body"]}, error=None
                )
                ok.append(line)
            elif r["kind"] == "errored":
                body = {"error": {"message": r["message"], "type": "server_error", "code": None}}
                line.update(
                    response={"status_code": r["status"], "request_id": f"req_{n}", "body": body}, error=None
                )
                bad.append(line)
            else:  # expired or cancelled
                code = "batch_expired" if r["kind"] == "expired" else "batch_cancelled"
                line.update(response=None, error={"code": code, "message": f"request {r['kind']}"})
                bad.append(line)
        ids: list[str | None] = []
        for lines in (ok, bad):
            if not lines:
                ids.append(None)
                continue
            fid = self._new_id("file-")
            self.files[fid] = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines).encode()
            ids.append(fid)
        return ids[0], ids[1]

    # -- Anthropic --------------------------------------------------------------------------
    def _anthropic_batches(self, method: str, rest: list[str], body: bytes) -> Result:
        if method == "POST" and not rest:
            req = json.loads(body or b"{}")
            bid = self._new_id("msgbatch_")
            self.batches[bid] = {
                "api": "anthropic",
                "id": bid,
                "requests": [(x["custom_id"], x["params"]) for x in req.get("requests", [])],
                "created": time.time(),
                "state": "in_progress",
            }
            return 200, self._anthropic_batch_json(bid), {}
        if method == "GET" and not rest:
            ours = [b for b, v in self.batches.items() if v["api"] == "anthropic"]
            for bid in ours:
                self._advance(bid)
            data = [self._anthropic_batch_json(b) for b in ours]
            data.reverse()
            return 200, {"data": data, "has_more": False, "first_id": None, "last_id": None}, {}
        if rest and rest[0] in self.batches:
            bid = rest[0]
            if method == "POST" and rest[1:] == ["cancel"]:
                self._cancel(bid)
                return 200, self._anthropic_batch_json(bid), {}
            if method == "GET" and len(rest) == 1:
                self._advance(bid)
                return 200, self._anthropic_batch_json(bid), {}
            if method == "GET" and rest[1:] == ["results"] and self.batches[bid]["state"] == "ended":
                return 200, self._anthropic_results(bid), {"content-type": "application/binary"}
        return self._error("anthropic", 404, f"no such batch {'/'.join(rest)}")

    def _anthropic_batch_json(self, bid: str) -> dict[str, Any]:
        b = self.batches[bid]
        counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
        results = self.batch_results.get(bid)
        if results is None:
            counts["processing"] = len(b["requests"])
        for r in results or ():
            counts[{"cancelled": "canceled"}.get(r["kind"], r["kind"])] += 1
        ended = b["state"] == "ended"
        return {
            "id": bid,
            "type": "message_batch",
            "processing_status": b["state"],
            "request_counts": counts,
            "created_at": _iso(b["created"]),
            "expires_at": _iso(b["created"] + 86400),
            "ended_at": _iso(b.get("ended")),
            "cancel_initiated_at": _iso(b.get("cancel_at")),
            "archived_at": None,
            "results_url": f"{self.url}/v1/messages/batches/{bid}/results" if ended else None,
        }

    def _anthropic_results(self, bid: str) -> bytes:
        lines = []
        for r in self.batch_results.get(bid, []):
            if r["kind"] == "succeeded":
                result: dict[str, Any] = {"type": "succeeded", "message": r["body"]}
            elif r["kind"] == "errored":
                err = {"type": "api_error", "message": r["message"]}
                result = {"type": "errored", "error": {"type": "error", "error": err}}
            else:
                result = {"type": {"cancelled": "canceled"}.get(r["kind"], r["kind"])}
            lines.append(json.dumps({"custom_id": r["custom_id"], "result": result}, ensure_ascii=False))
        return ("\n".join(lines) + "\n").encode()

    # -- processing -------------------------------------------------------------------------
    def _advance(self, bid: str) -> None:
        """Run the batch once its time has come."""
        b = self.batches[bid]
        if b["state"] == "validating":
            b["state"] = "in_progress"
        if b["state"] != "in_progress" or time.time() - b["created"] < self.batch_latency:
            return
        self.batch_results[bid] = [self._run_item(b["api"], cid, req) for cid, req in b["requests"]]
        b["ended"] = time.time()
        if b["api"] == "anthropic":
            b["state"] = "ended"
        else:
            b["state"] = "expired" if self.expire_batches else "completed"

    def _cancel(self, bid: str) -> None:
        b = self.batches[bid]
        if b["state"] in ("completed", "ended", "expired", "cancelled"):
            return
        b["cancel_at"] = b["ended"] = time.time()
        self.batch_results[bid] = [{"custom_id": cid, "kind": "cancelled"} for cid, _ in b["requests"]]
        b["state"] = "ended" if b["api"] == "anthropic" else "cancelled"

    def _run_item(self, api: str, custom_id: str, req: dict[str, Any]) -> dict[str, Any]:
        from vlkd.testing.fake_provider import _completion, _image_hash

        if self.expire_batches:
            return {"custom_id": custom_id, "kind": "expired"}
        image = _image_hash(req, api)
        fault = self._next_fault(image)
        kind, _, rest = (fault or "").partition(":")
        if kind == "expired":
            return {"custom_id": custom_id, "kind": "expired"}
        if kind.isdigit():
            message = rest.partition(":")[2] or f"injected {kind}"
            return {"custom_id": custom_id, "kind": "errored", "status": int(kind), "message": message}
        with self._lock:
            self.requests[image] += 1
        body = _completion(api, req, self._content(image, req, api, fault), truncated=fault == "truncated")
        return {"custom_id": custom_id, "kind": "succeeded", "body": body}
