"""`revive batch`: one operation over a whole folder, resumable, with worker processes or on Ray."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .. import api
from .common import (
    EXIT_FAILED,
    EXIT_OK,
    _short,
    duration_text,
    err_console,
    error_line,
    fail,
    note_line,
    out_console,
    prepare,
    print_json,
)
from .options import DEVICE, FORMAT, MAX_PIXELS, MAX_THREADS, PRINT, QUALITY, QUIET, parse_pairs


def batch(
    input: Annotated[Path, typer.Argument(metavar="IN_DIR", show_default=False)],
    output: Annotated[Path, typer.Argument(metavar="OUT_DIR", show_default=False)],
    recursive: Annotated[bool, typer.Option("--recursive", "-r", metavar="", help="Include subfolders (mirrored under OUT_DIR).")] = False,
    op: Annotated[str, typer.Option("--op", metavar="NAME", help="The operation: enhance, upscale, … (every one revive has).")] = "enhance",
    set_: Annotated[Optional[list[str]], typer.Option("--set", metavar="OPTION=VALUE", help="Any option of the operation, e.g. --set denoise=0.4 (repeatable).")] = None,  # noqa: UP045
    scale: Annotated[Optional[str], typer.Option("--scale", "-s", metavar="FACTOR", help="Scale factor (passed to the operation).")] = None,  # noqa: UP045
    model: Annotated[Optional[str], typer.Option("--model", "-m", metavar="NAME", help="Model name (see 'revive models list').")] = None,  # noqa: UP045
    strength: Annotated[Optional[str], typer.Option(metavar="0-1", help="enhance: share of the model's result over a plain resample.")] = None,  # noqa: UP045
    tile: Annotated[Optional[str], typer.Option(metavar="auto|PX", help="Tile size in pixels, or 'auto'.")] = None,  # noqa: UP045
    print_size: PRINT = None,
    workers: Annotated[int, typer.Option(min=1, max=1024, metavar="N", help="Worker processes (or Ray actors); each loads its models once.")] = 1,
    engine: Annotated[str, typer.Option(metavar="local|ray", help="Run here (local) or on Ray.")] = "local",
    ray_address: Annotated[Optional[str], typer.Option(metavar="auto|HOST:PORT", help="Join a running Ray cluster (default: start a private local Ray).")] = None,  # noqa: UP045
    retries: Annotated[int, typer.Option(min=0, max=20, metavar="N", help="Retries of a photo whose worker died (never for bad photos).")] = 2,
    threads: Annotated[Optional[int], typer.Option(min=1, max=MAX_THREADS, metavar="N", help="CPU threads per worker (default: the cores shared among the workers).")] = None,  # noqa: UP045
    device: DEVICE = "auto",
    memory: Annotated[Optional[str], typer.Option(metavar="SIZE", help="Memory budget per worker, e.g. 4G (default: half of what is free, shared).")] = None,  # noqa: UP045
    format: FORMAT = None,
    quality: QUALITY = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", metavar="", help="Replace files in OUT_DIR that this batch did not write (its own it always replaces).")] = False,
    max_pixels: MAX_PIXELS = 100_000_000,
    no_report: Annotated[bool, typer.Option("--no-report", metavar="", help="Skip revive-batch.json/.html in OUT_DIR.")] = False,
    quiet: QUIET = False,
    json_summary: Annotated[bool, typer.Option("--json", metavar="", help="Print the summary as one JSON object.")] = False,
) -> None:
    """Process every image in IN_DIR into OUT_DIR; run it again to resume.

    Finished photos are journaled in OUT_DIR/.revive-batch: a rerun skips them, redoes photos whose
    file or settings changed, and retries failures. A bad photo never stops the batch; the exit code
    is 1 when any failed. OUT_DIR gets revive-batch.json and revive-batch.html (thumbnails, timings,
    fidelity).
    """
    fields = {k: v for k, v in {"scale": scale, "model": model, "strength": strength, "tile": tile,
                                "print_size": print_size}.items() if v is not None}

    def build() -> tuple[object, api.BatchOptions]:
        request = api.request_for(op, {**fields, **parse_pairs(set_ or [])})
        options = api.BatchOptions(
            recursive=recursive, format=format, quality=quality, overwrite=overwrite, max_pixels=max_pixels,
            engine=engine, workers=workers, ray_address=ray_address, device=device, threads=threads,
            memory=None if memory is None else api.parse_memory(memory), retries=retries, report=not no_report,
            operations=api.operations)
        return request, options

    request, options = prepare(build)
    display = BatchDisplay(enabled=not quiet and not json_summary)
    try:
        summary = api.run_batch(input, output, request, options, on_event=display)
    except api.ReviveError as err:
        display.close()
        raise fail(err) from err
    finally:
        display.close()
    if json_summary:
        print_json(summary.to_dict())
    elif not quiet:
        _print_summary(summary)
    raise typer.Exit(EXIT_OK if summary.ok else EXIT_FAILED)


class BatchDisplay:
    """Failures (and retries) as lines as they happen; on a terminal, a bar with counts, rate and ETA."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None
        self._task: object = None

    def __call__(self, event: api.BatchEvent) -> None:
        if event.kind == "failed":
            message = event.message or "failed"
            error_line(message, None if event.name in message else event.name)  # reasons usually name the file
        elif event.kind == "retry" and self.enabled:
            note_line(f"{event.name}: {event.message}; trying again")
        if not self.enabled or not err_console.is_terminal:
            return
        if self._progress is None:
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[eta]}"),
                                      TimeElapsedColumn(), console=err_console, transient=True)
            self._progress.start()
            self._task = self._progress.add_task("", total=event.total, rate="", eta="")
        rate = f"{event.per_minute:.1f}/min" if event.per_minute else ""
        eta = f"ETA {duration_text(event.eta)}" if event.eta is not None else ""
        label = escape(f"{event.failed} failed · {_short(event.name)}" if event.failed else _short(event.name))
        self._progress.update(self._task, description=label, completed=event.finished,  # type: ignore[arg-type]
                              rate=rate, eta=eta)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _print_summary(summary: api.BatchSummary) -> None:
    rate = f", {summary.per_minute:.1f} photos a minute" if summary.per_minute else ""
    out_console.print(f"{len(summary.done)} done, {len(summary.skipped)} skipped (done before), "
                      f"{len(summary.failed)} failed, of {summary.total} in {summary.seconds:.1f} s{rate}",
                      markup=False)
    for name, error in summary.failed:
        out_console.print(f"  failed: {error if name in error else f'{name}: {error}'}", markup=False)
    if summary.report_html is not None:
        out_console.print(f"report: {summary.report_html}", markup=False)


def register(app: typer.Typer) -> None:
    app.command(no_args_is_help=True)(batch)
