"""What every command shares: error lines, exit codes and a progress display."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..errors import ImageWriteError, InvalidParameter, ReviveError
from ..outputs import OutputPlan, expand_inputs, is_output_of, plan_outputs

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
out_console = Console(highlight=False, soft_wrap=True)


def error_line(message: str, subject: object | None = None) -> None:
    """One red line: `revive: error: <subject>: <message>` (no traceback, ever)."""
    prefix = f"{subject}: " if subject is not None and not str(message).startswith(str(subject)) else ""
    # Messages hold brackets (pip install "revive-photo[torch]", file names): never read them as markup.
    err_console.print(f"[bold red]revive: error:[/] {escape(prefix + str(message))}", markup=True, highlight=False)


def note_line(message: str) -> None:
    err_console.print(f"[yellow]revive: note:[/] {escape(message)}", markup=True, highlight=False)


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


_FORMAT_ALIASES = {"jpeg": "jpg", "tif": "tiff"}


def normalize_format(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.lower().lstrip(".")
    return _FORMAT_ALIASES.get(value, value)


def plan_file_jobs(
    inputs: Sequence[Path], output: str | Path | None, format: str | None, tag: str
) -> tuple[list[OutputPlan], bool]:
    """Inputs (files and folders, searched recursively) paired with their outputs; True when the
    inputs name several files. An output ending in a slash is a folder even if it does not exist yet."""
    wants_folder = output is not None and str(output).endswith(("/", os.sep))
    out = Path(output) if output is not None else None
    sources, many = expand_inputs(inputs, recursive=True, exclude=out)
    if out is None:  # outputs land beside their inputs: a folder's earlier outputs are not inputs again
        given = {Path(p) for p in inputs}
        sources = [s for s in sources if s in given or not is_output_of(s, tag)]
    if not sources:
        raise InvalidParameter(f"no image files found in {', '.join(map(str, inputs))}")
    output_is_dir = many or wants_folder or (out is not None and out.is_dir())
    roots = [p for p in inputs if p.is_dir()]
    plans = plan_outputs(sources, out, output_is_dir=output_is_dir, format=normalize_format(format), tag=tag,
                         roots=roots)
    return plans, many


class FileResult(Protocol):
    @property
    def notes(self) -> tuple[str, ...]: ...

    def to_dict(self) -> dict[str, Any]: ...


ResultT = TypeVar("ResultT", bound=FileResult)


def run_file_jobs(
    plans: Sequence[OutputPlan],
    run_one: Callable[[OutputPlan], ResultT | None],
    summarize: Callable[[ResultT], Sequence[str]],
    *,
    progress: TileProgress,
    quiet: bool,
    json_lines: bool,
) -> int:
    """Run each file; a failure is one red line and the rest still run. Returns the exit code.

    ``run_one`` may return None when it reported on its own (a dry run).
    """
    failures = 0
    try:
        for plan in plans:
            progress.start_file(plan.source.name)
            try:
                result = run_one(plan)
            except ReviveError as err:
                failures += 1
                progress.close()
                # Output-side errors already name the output path; the rest are about the input.
                error_line(str(err), None if isinstance(err, ImageWriteError) else plan.source)
                if json_lines:
                    print_json({"input": str(plan.source), "error": str(err)})
                continue
            progress.close()
            if result is None:
                continue
            if json_lines:
                print_json(result.to_dict())
            elif not quiet:
                for note in result.notes:
                    note_line(f"{plan.source}: {note}")
                for line in summarize(result):
                    out_console.print(line, markup=False)
    finally:
        progress.close()
    return EXIT_FAILED if failures else EXIT_OK
