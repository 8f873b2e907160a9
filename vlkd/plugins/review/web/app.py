"""The review page's routes (Starlette): the page, its two static files, images, a small JSON API.

No request parameter reaches the file system: an image is asked for by its index among the
run's image records (``/img/3``), and the static files are a fixed list.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from vlkd.plugins.review import decisions
from vlkd.plugins.review.web.page import render_page
from vlkd.plugins.review.web.security import HEADERS, Guard
from vlkd.plugins.review.web.store import ReviewStore

STATIC = {
    "review.js": "text/javascript; charset=utf-8",
    "review.css": "text/css; charset=utf-8",
    "team.js": "text/javascript; charset=utf-8",  # a team review's page (.team_gate)
    "team.css": "text/css; charset=utf-8",
}
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
}
FILTERS = ("category", "status", "negative", "flag")
#: how much of the first queue the page carries (the rest is asked for after the first image shows)
FIRST_PAGE = 50


def _filters(request: Request) -> dict[str, str]:
    return {k: request.query_params.get(k, "") for k in FILTERS}


def _queue_json(store: ReviewStore, filters: dict[str, str], order: str) -> dict[str, Any]:
    """What ``/api/queue`` answers (and the page carries for its first view); under the store's lock."""
    return {
        "images": store.queue(filters, order),
        "progress": store.progress(),
        "categories": sorted(c for c in store.categories if c),
    }


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class GuardMiddleware:
    """Host, token and CSRF checks before any route; security headers on every answer."""

    def __init__(self, app, guard: Guard):
        self.app = app
        self.guard = guard

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        problem = self._problem(request)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {k.lower() for k, _ in headers}
                headers += [
                    (k.lower().encode(), v.encode())
                    for k, v in HEADERS.items()
                    if k.lower().encode() not in have
                ]
                message = {**message, "headers": headers}
            await send(message)

        if problem is not None:
            return await problem(scope, receive, send_with_headers)
        return await self.app(scope, receive, send_with_headers)

    def _problem(self, request: Request) -> Response | None:
        guard = self.guard
        if not guard.allowed_host(request.headers.get("host")):
            return PlainTextResponse(
                "unknown host; open the URL printed by vlkd review serve", status_code=403
            )
        status = guard.token_problem(
            request.query_params.get("token"),
            request.cookies.get(guard.cookie),
            request.headers.get("authorization"),
        )
        if status == 401:
            return PlainTextResponse(
                "this review server needs its token: open the URL that vlkd review serve printed",
                status_code=401,
            )
        if status == 403:
            return PlainTextResponse(
                "wrong token: open the URL that vlkd review serve printed", status_code=403
            )
        origin = f"{request.url.scheme}://{request.headers.get('host', '')}"
        why = guard.csrf_problem(request.method, {k.lower(): v for k, v in request.headers.items()}, origin)
        if why:
            return _error(403, why)
        return None


def create_app(store: ReviewStore, guard: Guard, reviewer: str, team=None) -> Starlette:
    """The page's app; ``team`` (a :class:`~vlkd.plugins.review.team.views.TeamViews`): every
    request needs a reviewer's key (:mod:`.team_gate`, inside the guard's checks)."""

    def page(request: Request) -> Response:
        if guard.token and request.query_params.get("token"):
            # keep the token in a cookie and out of the address bar (and of bookmarks, screenshots)
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(guard.cookie, guard.token, httponly=True, samesite="strict", path="/")
            return response
        with store.lock:
            # the first queue and the first image's pairs come with the page (no filter set
            # yet), so the page needs no request of its own before it can show them
            first = _queue_json(store, {}, "risk")
            image = store.image_json(first["images"][0]) if first["images"] else None
            if len(first["images"]) > FIRST_PAGE:  # the rest comes by /api/queue once the page shows
                first["total"] = len(first["images"])
                first["images"] = first["images"][:FIRST_PAGE]
            html = render_page(
                run_name=store.run_name,
                csrf=guard.csrf,
                reviewer=reviewer,
                initial={"queue": first, "image": image},
            )
        return Response(html, media_type="text/html; charset=utf-8")

    def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return PlainTextResponse("not found", status_code=404)
        data = resources.files("vlkd.plugins.review.web").joinpath("static", name).read_bytes()
        return Response(data, media_type=STATIC[name])

    async def image(request: Request) -> Response:
        n = request.path_params["n"]
        with store.lock:
            store.refresh()
            path = store.image_file(n)
            recorded = store.image(n).id if path is not None else ""
        media = IMAGE_TYPES.get(path.suffix.lower()) if path is not None else None
        if path is None or media is None:
            return PlainTextResponse("not found", status_code=404)
        headers = {"Cache-Control": "private, max-age=3600"}
        run = store.run_dir.resolve()
        if run in path.resolve().parents:
            return FileResponse(path, media_type=media, headers=headers)  # the run's own copy
        # an input file, as ingest read it: its bytes are its id; a file (or a symlink's target)
        # changed since then is not what the pairs are about, and is not shown
        data = await run_in_threadpool(path.read_bytes)
        if hashlib.sha256(data).hexdigest() != recorded:
            return PlainTextResponse("this image file changed since ingest; re-run the run", status_code=409)
        return Response(data, media_type=media, headers=headers)

    def queue(request: Request) -> Response:
        order = request.query_params.get("order", "risk")
        with store.lock:
            return JSONResponse(_queue_json(store, _filters(request), order))

    def image_data(request: Request) -> Response:
        n = request.path_params["n"]
        with store.lock:
            store.refresh()  # a run rewrote the pairs meanwhile: the new ones
            if not 0 <= n < len(store.image_pairs):
                return _error(404, "no such image in this run")
            return JSONResponse(store.image_json(n, store.shown_pairs(n, _filters(request))))

    async def decide(request: Request) -> Response:
        body = await _json(request)
        if isinstance(body, Response):
            return body
        name = decisions.reviewer_name(body.get("reviewer"), reviewer)
        n, pair_id = request.path_params["n"], request.path_params["pair_id"]
        fields: dict[str, Any] = {
            k: body[k] for k in ("question", "answer", "negative", "comment") if k in body
        }
        return await run_in_threadpool(
            _run,
            lambda: store.decide(
                n, pair_id, str(body.get("action", "")), fields, base=body.get("base"), reviewer=name
            ),
            store,
            n,
            pair_id,
        )

    async def add(request: Request) -> Response:
        body = await _json(request)
        if isinstance(body, Response):
            return body
        name = decisions.reviewer_name(body.get("reviewer"), reviewer)
        return await run_in_threadpool(
            _run, lambda: store.add(request.path_params["n"], body, reviewer=name), store, None, None, 201
        )

    routes = [
        Route("/", page),
        Route("/static/{name}", static),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Route("/img/{n:int}", image),
        Route("/api/queue", queue),
        Route("/api/image/{n:int}", image_data),
        Route("/api/image/{n:int}/pair/{pair_id}", decide, methods=["POST"]),
        Route("/api/image/{n:int}/add", add, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    if team is not None:
        from vlkd.plugins.review.web.team_gate import TeamGate

        app.add_middleware(TeamGate, views=team, csrf=guard.csrf, port=guard.port)
    app.add_middleware(GuardMiddleware, guard=guard)  # added last: runs first
    return app


MAX_BODY = 1 << 20  # a decision is a few kB; anything bigger is not one


async def _json(request: Request) -> dict[str, Any] | Response:
    too_large = _error(413, "request too large")
    try:
        if int(request.headers.get("content-length") or 0) > MAX_BODY:
            return too_large
    except ValueError:
        return _error(400, "bad Content-Length")
    # read it in pieces: a chunked body says no length, and must be bounded all the same
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return too_large
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError):
        return _error(400, "the request body is not JSON")
    return body if isinstance(body, dict) else _error(400, "send a JSON object")


def _run(action, store: ReviewStore, n: int | None, pair_id: str | None, status: int = 200) -> Response:
    try:
        pair = action()
    except decisions.DecisionError as exc:
        body: dict[str, Any] = {"error": str(exc)}
        if isinstance(exc, decisions.Conflict) and n is not None and pair_id is not None:
            current = store.current(n, pair_id)  # the version that won, so the page can show it
            if current is not None:
                body["pair"] = current
        return JSONResponse(body, status_code=exc.status)
    with store.lock:
        progress = store.progress()
    return JSONResponse({"pair": pair, "progress": progress}, status_code=status)
