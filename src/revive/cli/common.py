"""What every command shares: error lines, exit codes and a progress display."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..errors import InvalidParameter, ReviveError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
out_console = Console(highlight=False, soft_wrap=True)


def error_line(message: str, subject: object | None = None) -> None:
    """One red line: `revive: error: <subject>: <message>` (no traceback, ever)."""
    prefix = f"{subject}: " if subject is not None and not str(message).startswith(str(subject)) else ""
    err_console.print(f"[bold red]revive: error:[/] {prefix}{message}", markup=True, highlight=False)


def note_line(message: str) -> None:
    err_console.print(f"[yellow]revive: note:[/] {message}", markup=True, highlight=False)


def fail(err: ReviveError, subject: object | None = None) -> typer.Exit:
    """Report a library error; usage-type errors exit 2, the rest 1."""
    error_line(str(err), subject)
    return typer.Exit(EXIT_USAGE if isinstance(err, InvalidParameter) else EXIT_FAILED)


def print_json(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


class TileProgress:
    """A rich progress bar with tile counts and ETA, shown only once a job lasts more than a moment."""

    def __init__(self, enabled: bool, delay: float = 0.4) -> None:
        self.enabled = enabled and err_console.is_terminal
        self.delay = delay
        self._progress: Progress | None = None
        self._task: Any = None
        self._label = ""
        self._started = time.monotonic()

    def start_file(self, label: str) -> None:
        self._label = label
        self._started = time.monotonic()
        if self._progress is not None and self._task is not None:
            self._progress.reset(self._task, description=label, total=None)

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self._progress is None:
            if time.monotonic() - self._started < self.delay and done < total:
                return
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("tiles"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=err_console, transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self._label, total=total)
        self._progress.update(self._task, description=f"{self._label} · {stage}", completed=done, total=total)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def parse_tile(value: str) -> int | None:
    if value == "auto":
        return None
    try:
        tile = int(value)
    except ValueError:
        raise typer.BadParameter(f"expected 'auto' or a number of pixels, got {value!r}") from None
    if tile < 8:
        raise typer.BadParameter(f"tile must be at least 8 pixels, got {tile}")
    return tile
