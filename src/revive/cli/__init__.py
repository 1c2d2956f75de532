"""The `revive` command: a thin Typer shell over :mod:`revive.api`."""

from __future__ import annotations

from .app import app, main

__all__ = ["app", "main"]
