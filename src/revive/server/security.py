"""The server's gate, as one ASGI middleware: who may address it, who may change state, how much it reads.

* **Host** (DNS rebinding): a page on ``evil.example`` whose name is made to resolve to 127.0.0.1
  still sends ``Host: evil.example``. Only localhost, IP literals (which no DNS answer can rebind)
  and names the user allowed are served; anything else gets 421.
* **Origin** (cross-site requests): a request that changes state (POST, PUT, PATCH, DELETE) from a
  browser must come from this server's own origin; browsers always send ``Origin`` then, and
  ``Sec-Fetch-Site`` when they do not. Scripts without either (curl, httpx) are let through. No
  CORS headers are ever sent, so other origins cannot read answers either.
* **Size**: a body longer than the cap is refused from its ``Content-Length`` before any byte is
  read, and a body without one is counted as it streams (413 either way).
* Every answer carries ``nosniff``, no-framing and same-origin resource headers; pages get a
  content security policy that allows only the server's own scripts and styles.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_CSP = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
_DOCS = ("/docs", "/redoc")  # FastAPI's API pages load their scripts from a CDN and inline code


class BodyTooLarge(Exception):
    """Raised from ``receive`` when a streamed body passes the cap; the app answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request is larger than the upload limit of {limit / (1 << 20):.0f} MiB: "
                         "send a smaller file (or start the server with a larger --max-upload)")


def host_allowed(host_header: str, allowed: frozenset[str]) -> bool:
    host = _hostname(host_header)
    if host is None:
        return False
    if host in allowed or host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def _hostname(netloc: str) -> str | None:
    try:
        parts = urlsplit(f"//{netloc}")
        _ = parts.port  # refuses a malformed port
    except ValueError:
        return None
    return parts.hostname.lower() if parts.hostname else None


def same_origin(origin: str, host_header: str) -> bool:
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host_header.lower()


class Gate:
    def __init__(self, app: ASGIApp, *, max_body: int, allowed_hosts: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_body = max_body
        self.allowed = frozenset(h.lower() for h in allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if not host_allowed(host, self.allowed):
            await _refuse(send, 421, f"this server does not answer to the host name {_hostname(host) or host!r}; "
                                     "open it by localhost or its IP address (or start it with --allow-host NAME)")
            return
        if scope["method"] in UNSAFE_METHODS and not _from_here(headers, host):
            await _refuse(send, 403, "cross-origin request refused: only pages served by this server may change "
                                     "its state")
            return
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _refuse(send, 413, str(BodyTooLarge(self.max_body)))
            return
        await self.app(scope, self._counting(receive), _with_headers(send, scope["path"]))

    def _counting(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body:
                raise BodyTooLarge(self.max_body)
            return message

        return counted


def _from_here(headers: dict[str, str], host: str) -> bool:
    origin = headers.get("origin")
    if origin is not None:
        return origin != "null" and same_origin(origin, host)
    return headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


def _with_headers(send: Send, path: str) -> Send:
    extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
    if not path.startswith(_DOCS):
        extra += [(b"x-frame-options", b"DENY"), (b"cross-origin-resource-policy", b"same-origin"),
                  (b"content-security-policy", _CSP.encode())]

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), *extra]
        await send(message)

    return sending


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"x-content-type-options", b"nosniff")]})
    await send({"type": "http.response.body", "body": body})
