"""`revive serve`: the local web app and REST API (needs revive-photo[server])."""

from __future__ import annotations

import ipaddress
import webbrowser
from typing import Annotated, Optional

import typer

from .. import api
from .common import err_console, make_engine, out_console, prepare
from .options import DEVICE, MAX_PIXELS, MEMORY, THREADS


def serve(
    host: Annotated[str, typer.Option(metavar="ADDRESS", help="Address to listen on (default: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, metavar="PORT", help="Port (0: any free one).")] = 7860,
    allow_host: Annotated[Optional[list[str]], typer.Option("--allow-host", metavar="NAME", help="A host name browsers may use to reach the server besides localhost and IP addresses (repeatable).")] = None,  # noqa: UP045
    max_upload: Annotated[int, typer.Option(min=1, metavar="MB", help="Largest request accepted, in MiB.")] = 256,
    max_pixels: MAX_PIXELS = 100_000_000,
    queue: Annotated[int, typer.Option(min=1, metavar="N", help="Jobs that may wait or run at once; more are refused (503).")] = 32,
    keep: Annotated[float, typer.Option(min=1, metavar="SECONDS", help="How long results are kept after a job ends.")] = 3600,
    open_browser: Annotated[bool, typer.Option("--open", metavar="", help="Open the page in the default browser.")] = False,
    threads: THREADS = None,
    device: DEVICE = "auto",
    memory: MEMORY = None,
) -> None:
    """Start the web app: drop a photo, see its diagnosis and plan, run, compare, download.

    The REST API is documented at /docs. It listens on 127.0.0.1 unless --host says otherwise;
    there is no login, so anyone who can reach the address can use it. Ctrl-C stops it and
    removes every uploaded and produced file.
    """
    engine = prepare(lambda: make_engine(device, threads, memory))
    if not _is_loopback(host):
        err_console.print(
            f"revive: WARNING: listening on {host}, not on this machine only: anyone who can reach this address can "
            "upload photos, run models and read results. There is no login. Use --host 127.0.0.1 unless you mean it.",
            style="bold red", markup=False, highlight=False)

    def ready(url: str) -> None:
        out_console.print(f"revive: serving on {url}  (API documentation: {url}/docs; Ctrl-C stops)",
                          markup=False, highlight=False)
        if open_browser:
            webbrowser.open(url)

    prepare(lambda: api.serve(host, port, engine=engine, on_ready=ready, max_upload_bytes=max_upload << 20,
                              max_pixels=max_pixels, queue_limit=queue, result_ttl=keep,
                              allowed_hosts=tuple(allow_host or ())))


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def register(app: typer.Typer) -> None:
    app.command()(serve)
