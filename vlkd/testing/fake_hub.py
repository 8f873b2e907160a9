"""A local stand-in for the Hugging Face Hub's HTTP API, for tests of pushes (yours too).

``huggingface_hub`` (and ``datasets``, through it) talks to ``HF_ENDPOINT``; point it here and a
push goes through the library's real code over real HTTP on 127.0.0.1: the token check
(``/api/whoami-v2``), repository creation, the preupload and commit calls. Every file is taken as
a regular (inline) upload, so what reaches the server is the files themselves; ``repos`` holds
them with each repository's settings, for a test to read.

    with FakeHub(tokens={"hf_write": "write", "hf_read": "read"}) as hub:
        os.environ["HF_ENDPOINT"] = hub.url
        ...
        hub.repos["me/model"].files["README.md"]

Only the standard library is used.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlparse

from vlkd.testing.loopback import ThreadedHTTP


@dataclass
class HubRepo:
    repo_id: str
    repo_type: str
    private: bool
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[str] = field(default_factory=list)


class FakeHub(ThreadedHTTP):
    methods = ("GET", "POST", "HEAD")

    def __init__(self, tokens: dict[str, str] | None = None, user: str = "me"):
        #: token -> role ("write" or "read")
        self.tokens = tokens if tokens is not None else {"hf_write_0123456789": "write"}
        self.user = user
        self.repos: dict[str, HubRepo] = {}
        #: every request as "METHOD /path", in order
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start the hub first (with FakeHub() as hub)"
        return self.address

    # -- the API ----------------------------------------------------------------------------
    def handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        path = unquote(urlparse(req.path).path)
        self.requests.append(f"{method} {path}")
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        token = (req.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        role = self.tokens.get(token)
        if path == "/api/whoami-v2":
            if role is None:
                return self._send(req, 401, {"error": "Invalid credentials in Authorization header"})
            access = {"displayName": "vlkd-test", "role": role}
            return self._send(req, 200, {"type": "user", "name": self.user, "auth": {"accessToken": access}})
        if role is None:
            return self._send(req, 401, {"error": "Invalid credentials in Authorization header"})
        if method == "POST" and role != "write":
            return self._send(req, 403, {"error": "You don't have the rights to create or change this repo"})
        if method == "POST" and path == "/api/validate-yaml":  # a model card's metadata: accepted
            return self._send(req, 200, {"errors": [], "warnings": []})
        if method == "POST" and path == "/api/repos/create":
            data = json.loads(body or b"{}")
            owner = data.get("organization") or self.user
            repo_id = f"{owner}/{data['name']}"
            kind = data.get("type") or "model"
            # huggingface_hub 1.x sends visibility ("private", "public"); older ones a private flag
            private = data["visibility"] != "public" if "visibility" in data else bool(data.get("private"))
            if repo_id not in self.repos:
                self.repos[repo_id] = HubRepo(repo_id, kind, private)
            prefix = "" if kind == "model" else f"{kind}s/"
            return self._send(req, 200, {"url": f"{self.url}/{prefix}{repo_id}", "name": repo_id})
        parts = path.strip("/").split("/")
        # /api/{type}s/{owner}/{name}/{preupload|commit}/{revision}
        if method == "POST" and len(parts) >= 6 and parts[0] == "api" and parts[4] in ("preupload", "commit"):
            repo = self.repos.get(f"{parts[2]}/{parts[3]}")
            if repo is None:
                return self._send(req, 404, {"error": "Repository not found"}, "RepoNotFound")
            if parts[4] == "preupload":
                files = json.loads(body)["files"]
                modes = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]
                return self._send(req, 200, {"files": modes, "commitOid": self._oid(repo)})
            return self._commit(req, repo, body)
        # /api/{type}s/{owner}/{name}[/revision/{rev}]: what the repository holds
        if method == "GET" and len(parts) >= 4 and parts[0] == "api":
            repo = self.repos.get(f"{parts[2]}/{parts[3]}")
            if repo is None:
                return self._send(req, 404, {"error": "Repository not found"}, "RepoNotFound")
            if len(parts) >= 6 and parts[4] == "tree":  # /tree/{rev}[/{folder}]
                folder = "/".join(parts[6:])
                inside = [n for n in sorted(repo.files) if not folder or n.startswith(folder + "/")]
                entries = [
                    {"type": "file", "path": n, "size": len(repo.files[n]), "oid": self._blob(repo.files[n])}
                    for n in inside
                ]
                return self._send(req, 200, entries)
            siblings = [{"rfilename": name} for name in sorted(repo.files)]
            info = {"id": repo.repo_id, "private": repo.private, "sha": self._oid(repo), "siblings": siblings}
            return self._send(req, 200, info)
        # /{type}s/{owner}/{name}/resolve/{rev}/{file}: a file, as hf_hub_download reads it
        if method in ("GET", "HEAD") and "resolve" in parts:
            at = parts.index("resolve")
            owner_name = "/".join(parts[at - 2 : at])
            repo = self.repos.get(owner_name)
            name = "/".join(parts[at + 2 :])
            if repo is None or name not in repo.files:
                return self._send(req, 404, {"error": "Entry not found"}, "EntryNotFound")
            return self._send_bytes(req, repo.files[name], self._blob(repo.files[name]))
        return self._send(req, 404, {"error": f"not in this stand-in: {method} {path}"})

    def _commit(self, req: BaseHTTPRequestHandler, repo: HubRepo, body: bytes) -> None:
        for line in body.splitlines():
            item = json.loads(line)
            value = item.get("value", {})
            if item.get("key") == "header":
                repo.commits.append(value.get("summary", ""))
            elif item.get("key") == "file":
                repo.files[value["path"]] = base64.b64decode(value["content"])
            elif item.get("key") == "deletedFile":
                repo.files.pop(value["path"], None)
            elif item.get("key") == "lfsFile":  # never asked for: every upload is regular
                return self._send(req, 400, {"error": "LFS uploads are not served by this stand-in"})
        oid = self._oid(repo)
        url = f"{self.url}/{repo.repo_id}/commit/{oid}"
        return self._send(req, 200, {"commitUrl": url, "commitOid": oid, "pullRequestUrl": None})

    @staticmethod
    def _oid(repo: HubRepo) -> str:
        digest = hashlib.sha1(repr(sorted(repo.files.items())).encode(), usedforsecurity=False)
        return digest.hexdigest()

    @staticmethod
    def _blob(data: bytes) -> str:
        return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()

    @staticmethod
    def _send(req: BaseHTTPRequestHandler, status: int, data: Any, error_code: str | None = None) -> None:
        body = json.dumps(data).encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(body)))
        if error_code:
            req.send_header("X-Error-Code", error_code)
        req.end_headers()
        if req.command != "HEAD":
            req.wfile.write(body)

    @staticmethod
    def _send_bytes(req: BaseHTTPRequestHandler, data: bytes, etag: str) -> None:
        req.send_response(200)
        req.send_header("Content-Type", "application/octet-stream")
        req.send_header("Content-Length", str(len(data)))
        req.send_header("ETag", f'"{etag}"')
        req.send_header("X-Repo-Commit", "0" * 40)
        req.end_headers()
        if req.command != "HEAD":
            req.wfile.write(data)
