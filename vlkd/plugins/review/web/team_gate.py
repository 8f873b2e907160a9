"""The review page of a team: every request needs a reviewer's key; each sees only their own work.

Inside the page's :class:`~.app.GuardMiddleware` (host check, CSRF and security headers stay
as they are). A reviewer's link carries ``?key=`` once: the key is then kept in an HttpOnly,
SameSite=Strict cookie (one per port) and the address bar shows ``/`` again. An API client
sends ``Authorization: Bearer KEY``. No key: 401; an unknown key: 403; a revoked one: 403,
saying so. The queue, image and decision routes answer from the reviewer's own view
(:class:`~vlkd.plugins.review.team.views.TeamViews`); images outside a reviewer's queue are
404, as if they did not exist; the agreement figures are the lead's.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route, Router

from vlkd.plugins.review import decisions
from vlkd.plugins.review.team.roster import KEY_PARAM, Reviewer
from vlkd.plugins.review.team.views import TeamViews
from vlkd.plugins.review.web.app import FILTERS, _error, _json
from vlkd.plugins.review.web.page import render_page


def cookie_name(port: int) -> str:
    return f"vlkd_review_key_{port}"


class TeamGate:
    """ASGI middleware: who is asking (by key), and the team's routes; the rest goes to ``app``."""

    def __init__(self, app, views: TeamViews, csrf: str, port: int):
        self.app = app
        self.views = views
        self.csrf = csrf
        self.cookie = cookie_name(port)
        self.router = Router(_routes(views, csrf), default=self._images_then_app)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        path = scope["path"]
        team = self.views.team
        given = request.query_params.get(KEY_PARAM) if path == "/" else None
        if given:
            found = team.lookup(given)
            if found is None or found.revoked:
                return await _refused(found, path)(scope, receive, send)
            response: Response = RedirectResponse("/", status_code=303)  # the key leaves the address bar
            response.set_cookie(self.cookie, given, httponly=True, samesite="strict", path="/")
            return await response(scope, receive, send)
        if path.startswith("/static/"):  # the page's own files: nothing secret in them
            return await self.app(scope, receive, send)
        key = request.cookies.get(self.cookie)
        auth = request.headers.get("authorization") or ""
        if not key and auth.lower().startswith("bearer "):
            key = auth[7:].strip()
        if not key:
            return await _answer(
                path, "this review needs your own link: ask your lead for it (vlkd review add-reviewer)", 401
            )(scope, receive, send)
        await run_in_threadpool(self._refresh)
        who = team.find(key)
        if who is None:
            return await _refused(team.lookup(key), path)(scope, receive, send)
        scope.setdefault("state", {})["reviewer"] = who
        return await self.router(scope, receive, send)

    def _refresh(self) -> None:
        with self.views.store.lock:
            self.views.team.refresh()

    async def _images_then_app(self, scope, receive, send):
        path = scope["path"]
        if path.startswith("/img/"):  # only the images of one's own queue
            who: Reviewer = scope["state"]["reviewer"]
            try:
                n = int(path[5:])
            except ValueError:
                n = -1
            with self.views.store.lock:
                self.views.catch_up()  # a run rewrote the pairs: the queue as it is now
                allowed = self.views.may_see(who, n)
            if not allowed:
                return await PlainTextResponse("not found", status_code=404)(scope, receive, send)
        return await self.app(scope, receive, send)


def _refused(found: Reviewer | None, path: str) -> Response:
    if found is not None and found.revoked:
        return _answer(path, "this reviewer's key was revoked; ask your lead for a new link", 403)
    return _answer(path, "unknown key: open the link your lead gave you", 403)


def _answer(path: str, message: str, status: int) -> Response:
    """A refusal as the asker reads it: the page's API calls read JSON (a tab left open when its
    key was revoked showed a bare "403"), a browser opening a link reads text."""
    if path.startswith("/api/"):
        return _error(status, message)
    return PlainTextResponse(message, status_code=status)


def _who(request: Request) -> Reviewer:
    return request.scope["state"]["reviewer"]


def _filters(request: Request) -> dict[str, str]:
    return {k: request.query_params.get(k, "") for k in FILTERS}


def _routes(views: TeamViews, csrf: str) -> list[Route]:
    store = views.store

    def page(request: Request) -> Response:
        who = _who(request)
        with store.lock:
            config = {"name": who.name, "role": who.role, "blind": views.team.settings.blind}
            html = render_page(run_name=store.run_name, csrf=csrf, reviewer=who.name, team=config)
        return Response(html, media_type="text/html; charset=utf-8")

    def queue(request: Request) -> Response:
        who = _who(request)
        order = request.query_params.get("order", "risk")
        view = request.query_params.get("view", "")
        with store.lock:
            views.catch_up()
            return JSONResponse(
                {
                    "images": views.queue(who, _filters(request), order, view),
                    "progress": views.progress(who),
                    "categories": sorted(c for c in store.categories if c),
                }
            )

    def image_data(request: Request) -> Response:
        with store.lock:
            views.catch_up()
            try:
                return JSONResponse(
                    views.image_json(_who(request), request.path_params["n"], _filters(request))
                )
            except decisions.DecisionError as exc:
                return _error(exc.status, str(exc))

    async def decide(request: Request) -> Response:
        body = await _json(request)
        if isinstance(body, Response):
            return body
        who = _who(request)
        n, pair_id = request.path_params["n"], request.path_params["pair_id"]
        fields: dict[str, Any] = {
            k: body[k] for k in ("question", "answer", "negative", "comment") if k in body
        }

        def run() -> Response:
            try:
                pair = views.decide(who, n, pair_id, str(body.get("action", "")), fields, body.get("base"))
            except decisions.DecisionError as exc:
                answer: dict[str, Any] = {"error": str(exc)}
                if isinstance(exc, decisions.Conflict):
                    with store.lock:
                        index = views.find(views.image_id(n), pair_id) if views.may_see(who, n) else None
                        if index is not None:  # the version that is current for this reviewer
                            answer["pair"] = views.pair_json_for(who, views.image_id(n) or "", index)
                return JSONResponse(answer, status_code=exc.status)
            with store.lock:
                progress = views.progress(who)
            return JSONResponse({"pair": pair, "progress": progress})

        return await run_in_threadpool(run)

    async def add(request: Request) -> Response:
        body = await _json(request)
        if isinstance(body, Response):
            return body
        who = _who(request)
        if not who.is_lead:
            return _error(403, "in a team review only a lead adds pairs; leave a comment for the lead")

        def run() -> Response:
            try:
                pair = store.add(request.path_params["n"], body, reviewer=who.name)
            except decisions.DecisionError as exc:
                return _error(exc.status, str(exc))
            with store.lock:
                progress = views.progress(who)
            return JSONResponse({"pair": pair, "progress": progress}, status_code=201)

        return await run_in_threadpool(run)

    def figures(request: Request) -> Response:
        if not _who(request).is_lead:
            return _error(403, "the agreement figures are the lead's")
        from vlkd.plugins.review.team.agreement import missing_libraries

        missing = missing_libraries()
        if missing:
            return _error(501, missing)
        with store.lock:
            views.catch_up()
            return JSONResponse(views.figures())

    return [
        Route("/", page),
        Route("/api/queue", queue),
        Route("/api/image/{n:int}", image_data),
        Route("/api/image/{n:int}/pair/{pair_id}", decide, methods=["POST"]),
        Route("/api/image/{n:int}/add", add, methods=["POST"]),
        Route("/api/team/figures", figures),
    ]
