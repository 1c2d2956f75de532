"""The root Typer app; each sub-command lives in its own module and registers here."""

from __future__ import annotations

import importlib
import signal
from typing import Annotated

import typer

from .. import api

app = typer.Typer(
    name="revive",
    help="Local, private AI photo enhancer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module below defines `register(app)`; listed here, imported explicitly (no scanning).
COMMAND_MODULES: tuple[str, ...] = ("upscale", "enhance", "diagnose", "compare", "models")


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"revive {api.__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of internal errors.")] = False,
) -> None:
    """Local, private AI photo enhancer."""
    from .common import settings

    settings.debug = debug


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"revive.cli.{name}").register(app)


_register_all()


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # the same clean-up path as Ctrl-C: temporary files are removed on the way out


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        app()
    except KeyboardInterrupt:
        # Writes are atomic and temporary files are removed on the way out: nothing half-written remains.
        from .common import err_console

        err_console.print("revive: cancelled", style="yellow", markup=False, highlight=False)
        raise SystemExit(130) from None
