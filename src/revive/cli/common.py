"""What every command shares: error lines, exit codes, the engine options and a progress display.

Commands parse their arguments into a request and jobs, then hand them to :func:`run_command`,
which runs them through the library's job runner and prints its events. Only :mod:`revive.api`
is imported here and in the command modules.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from .. import api

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
out_console = Console(highlight=False, soft_wrap=True)


@dataclass
class Settings:
    """Options of the root command that every sub-command honours."""

    debug: bool = False


settings = Settings()


def error_line(message: str, subject: object | None = None) -> None:
    """One red line: `revive: error: <subject>: <message>` (no traceback, ever)."""
    prefix = f"{subject}: " if subject is not None and not str(message).startswith(str(subject)) else ""
    # Messages hold brackets (pip install "revive-photo[torch]", file names): never read them as markup.
    err_console.print(f"[bold red]revive: error:[/] {escape(prefix + str(message))}", markup=True, highlight=False)


def note_line(message: str) -> None:
    err_console.print(f"[yellow]revive: note:[/] {escape(message)}", markup=True, highlight=False)


def fail(err: api.ReviveError, subject: object | None = None) -> typer.Exit:
    """Report a library error; usage-type errors exit 2, the rest 1."""
    error_line(str(err), subject)
    return typer.Exit(EXIT_USAGE if isinstance(err, api.InvalidParameter) else EXIT_FAILED)


def print_json(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


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


def make_engine(device: str, threads: int | None, memory: str | None) -> api.Engine:
    """The default engine, or one with the device, threads and memory budget the user asked for."""
    load = api.LoadOptions(device=device, threads=threads)
    budget = None if memory is None else api.parse_memory(memory)
    engine = api.default_engine()
    if load == engine.options and budget is None:
        return engine
    return api.Engine(engine.registry, engine.store, load, memory=budget)


class EventDisplay:
    """Shows the runner's events: the phase from the first moment, tiles and a moving ETA (terminals only)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and err_console.is_terminal
        self.quiet = not enabled
        self._progress: Progress | None = None
        self._task: Any = None

    def __call__(self, event: api.JobEvent) -> None:
        if event.kind == "estimate" and not self.quiet:
            self.estimate(event)  # said on a pipe too: it helps decide whether to wait
            return
        if not self.enabled:
            return
        if event.kind in ("done", "failed"):
            self.close()
            return
        if self._progress is None:
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[eta]}"),
                                      TimeElapsedColumn(), console=err_console, transient=True)
            self._progress.start()
            self._task = self._progress.add_task("", total=None, eta="")
        where = f"[{event.index}/{event.total}] " if event.total > 1 else ""
        label = escape(f"{where}{_short(event.name)} · {event.phase or 'starting'}")
        eta = f"ETA {duration_text(event.eta)}" if event.eta is not None else ""
        if event.kind == "progress" and event.of:
            unit = "steps" if (event.phase or "").startswith("denoising") else "tiles"  # fill reports denoising steps
            label += f" ({event.done}/{event.of} {unit})"
            self._progress.update(self._task, description=label, completed=event.done, total=event.of, eta=eta)
        else:
            self._progress.update(self._task, description=label, completed=0, total=None, eta=eta)

    def estimate(self, event: api.JobEvent) -> None:
        if event.eta is not None and event.eta >= api.WORTH_SAYING:
            note_line(f"{event.name}: this will take about {duration_text(event.eta)} (estimated on a sample tile)")

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _short(name: str, width: int = 40) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1):]


def duration_text(value: float) -> str:
    value = max(0.0, value)
    return f"{value:.0f} s" if value < 90 else f"{value / 60:.1f} min"


def run_command(
    jobs: Sequence[api.Job],
    engine: api.Engine,
    *,
    output: api.OutputOptions | None = None,
    quiet: bool = False,
    json_lines: bool = False,
    summarize: Callable[[api.JobResult], Sequence[str]] = lambda result: (),
) -> int:
    """Run the jobs; each failure is one red line and the rest still run. Returns the exit code."""
    display = EventDisplay(enabled=not quiet and not json_lines)
    failures = 0

    def report(result: api.JobResult) -> None:
        nonlocal failures
        display.close()
        if not result.ok:
            failures += 1
            subject = None if result.error and result.error.startswith(result.job.source.name) else result.job.source.name
            error_line(result.error or "failed", subject)
            if settings.debug and result.traceback:
                err_console.print(result.traceback, markup=False, highlight=False)
        if json_lines:
            print_json(result.to_dict())
            return
        if quiet or not result.ok:
            return
        for note in result.notes:
            note_line(f"{result.job.source.name}: {note}")
        to_stdout = result.job.sink is not None and result.job.sink.stream is not None
        console = err_console if to_stdout else out_console  # stdout carries the image itself
        for line in summarize(result):
            console.print(line, markup=False)

    try:
        api.run_jobs(jobs, engine=engine, operations=api.operations(), output=output or api.OutputOptions(), on_event=display,
                     on_result=report)
    finally:
        display.close()
    return EXIT_FAILED if failures else EXIT_OK


def summary_line(result: api.JobResult, *details: str) -> str:
    """``source → output  (details…, N.N s)``: the one line a finished job prints."""
    sink = result.job.sink.name if result.job.sink else "-"
    return f"{result.job.source.name} → {sink}  ({', '.join([*details, f'{result.seconds:.1f} s'])})"


def prepare(build: Callable[[], Any]) -> Any:
    """Run argument checks that may fail with a library error: one line and exit 2 (usage) or 1."""
    try:
        return build()
    except api.ReviveError as err:
        raise fail(err) from err
