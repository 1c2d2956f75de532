"""The root Typer app; each sub-command lives in its own module and registers here."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="revive",
    help="Local, private AI photo enhancer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module below defines `register(app)`; listed here, imported explicitly (no scanning).
COMMAND_MODULES: tuple[str, ...] = ("upscale", "models", "diagnose", "compare", "enhance")


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"revive.cli.{name}").register(app)


_register_all()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        # Writes are atomic and temporary files are removed on the way out: nothing half-written remains.
        from .common import err_console

        err_console.print("revive: cancelled", style="yellow", markup=False, highlight=False)
        raise SystemExit(130) from None
