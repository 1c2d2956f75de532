"""Serving the app with uvicorn: in the foreground for ``revive serve``, or in a thread for tests and embedding."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn

from .. import api
from .app import create_app
from .settings import ServerSettings


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as err:
        sock.close()
        raise api.InvalidParameter(f"cannot listen on {host}:{port}: {err.strerror or err} (another program may use "
                                   "that port: pick another with --port)") from None
    sock.listen(128)
    return sock


def _server(app: Any) -> uvicorn.Server:
    # a few seconds for open event streams to end on Ctrl-C; uvicorn's own log lines stay quiet
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=3,
                            lifespan="on", server_header=False)
    return uvicorn.Server(config)


def serve(settings: ServerSettings, engine: api.Engine, *, on_ready: Callable[[str], None] | None = None,
          operations: api.OperationRegistry | None = None) -> None:
    """Listen and serve until Ctrl-C or SIGTERM; then jobs are cancelled and every temporary file removed."""
    sock = _bind(settings.host, settings.port)
    with contextlib.closing(sock):
        server = _server(create_app(settings, engine, operations))
        if on_ready is not None:
            on_ready(settings.url(sock.getsockname()[1]))  # already listening: early connections wait in the backlog
        server.run(sockets=[sock])


@contextlib.contextmanager
def running(app: Any, host: str = "127.0.0.1", port: int = 0, timeout: float = 20.0) -> Iterator[str]:
    """Serve ``app`` from a thread on ``host`` (a free port by default); yields its URL, stops on exit."""
    sock = _bind(host, port)
    server = _server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="revive-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield ServerSettings(host=host).url(sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
