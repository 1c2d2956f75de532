"""The root Typer app; each sub-command lives in its own module and registers here."""

from __future__ import annotations

import importlib
import os
import signal
import sys
from typing import Annotated

import typer

from .. import api


def _declared_metavars_only() -> None:
    """Typer labels every parameter with its Python type (``<bool>`` on flags, ``<list[Path]>`` on
    IMAGE...); our parameters declare real metavars, so show those alone."""
    from typer import core

    original = core._TyperParameter.display_type

    def display_type(self: core._TyperParameter, ctx: object) -> str:
        if self.metavar is not None or getattr(self, "is_flag", False):
            return ""
        return original(self, ctx)  # type: ignore[arg-type]

    core._TyperParameter.display_type = display_type  # type: ignore[method-assign]


_declared_metavars_only()

app = typer.Typer(
    name="revive",
    help="Local, private AI photo enhancer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: no <bool>/<int> placeholders where a flag takes no value
)

# Each module below defines `register(app)`; listed here, imported explicitly (no scanning).
COMMAND_MODULES: tuple[str, ...] = ("upscale", "enhance", "faces", "diagnose", "compare", "models", "erase", "fill", "masks",
                                   "relight", "color_transfer", "serve", "batch")


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"revive {api.__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True, metavar="",
                                          help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", metavar="", help="Show the traceback of internal errors.")] = False,
) -> None:
    """Local, private AI photo enhancer."""
    from .common import settings

    settings.debug = debug


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"revive.cli.{name}").register(app)


_register_all()


_stopped_by: list[int] = []


def _terminate(signum: int, frame: object) -> None:
    _stopped_by.append(signum)
    raise KeyboardInterrupt  # the same clean-up path as Ctrl-C: temporary files are removed on the way out


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        app()
    except KeyboardInterrupt:
        _cancelled()
    except SystemExit as done:
        if _interrupted(done):  # Typer turns Ctrl-C into exit code 130 itself: the same way out
            _cancelled()
        raise


def _interrupted(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _cancelled() -> None:
    # Writes are atomic and temporary files were removed on the way here: nothing half-written remains.
    from .common import err_console

    err_console.print("revive: cancelled", style="yellow", markup=False, highlight=False)
    sys.stderr.flush()
    sys.stdout.flush()
    # A model's native worker thread may still be inside a tile; interpreter teardown would abort on
    # it ("terminate called without an active exception"), so leave at once with the usual code.
    os._exit(128 + (_stopped_by[0] if _stopped_by else signal.SIGINT))
