"""Who may use the review page, and what a browser is told about it.

- Bound to 127.0.0.1 (the default) the page needs no token, but the ``Host`` header must
  name this server (a page of another site cannot reach it by DNS rebinding).
- Bound to any other address it needs a token: ``?token=`` in the printed URL once (it is
  then kept in an HttpOnly, SameSite=Strict cookie and dropped from the address bar), or an
  ``Authorization: Bearer`` header. No token: 401; a wrong one: 403.
- A request that changes anything must carry the page's CSRF token in ``X-CSRF-Token``, be
  JSON, and come from this origin when the browser says where it comes from.
- Every answer forbids framing, sniffing and referrers; the page runs only its own script.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

COOKIE = "vlkd_review_token"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
}


def is_local(host: str) -> bool:
    return host in LOCAL_HOSTS


@dataclass
class Guard:
    host: str
    port: int
    token: str | None = None  # None: no token needed (bound to 127.0.0.1)
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def cookie(self) -> str:
        """The token cookie's name: one per port, since browsers share cookies across the ports
        of a host (a second server's cookie would log the first one's page out)."""
        return f"{COOKIE}_{self.port}"

    def allowed_host(self, header: str | None) -> bool:
        if not is_local(self.host):
            return True  # reachable under any name; the token guards it
        if not header:
            return False
        name = urlsplit(f"//{header}").hostname or ""
        return name in LOCAL_HOSTS

    def token_problem(
        self, query_token: str | None, cookie: str | None, authorization: str | None
    ) -> int | None:
        """None when the request may go on, else the HTTP status (401 no token, 403 wrong)."""
        if self.token is None:
            return None
        given = query_token or cookie
        if not given and authorization and authorization.lower().startswith("bearer "):
            given = authorization[7:].strip()
        if not given:
            return 401
        return None if hmac.compare_digest(given.encode(), self.token.encode()) else 403

    def csrf_problem(self, method: str, headers: dict[str, str], origin_expected: str) -> str | None:
        if method in ("GET", "HEAD", "OPTIONS"):
            return None
        sent = headers.get("x-csrf-token", "")
        if not sent or not hmac.compare_digest(sent.encode(), self.csrf.encode()):
            return "missing or wrong CSRF token; reload the page"
        origin = headers.get("origin")
        if origin and origin != origin_expected:
            return f"cross-site request from {origin} refused"
        if headers.get("sec-fetch-site") not in (None, "same-origin", "none"):
            return "cross-site request refused"
        if not headers.get("content-type", "").startswith("application/json"):
            return "send JSON"
        return None
