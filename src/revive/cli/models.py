"""`revive models …`: list, pull, add, verify, locate and remove models in the store."""

from __future__ import annotations

import contextlib
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Column, Table
from rich.text import Text

from ..api import DownloadProgress, ModelSpec, ModelStore, ReviveError, default_registry, import_model
from .common import EXIT_FAILED, err_console, error_line, note_line, out_console

models_app = typer.Typer(name="models", help="List, download, import and check models.", no_args_is_help=True,
                        rich_markup_mode=None)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """The library raises; here its message becomes one red line and exit status 1. Ctrl-C goes on to
    the root handler (one "revive: cancelled" line, 130); the library has already removed what it had
    started (staged files, the probe process, locks)."""
    try:
        yield
    except ReviveError as err:
        error_line(str(err))
        raise typer.Exit(EXIT_FAILED) from None
    # KeyboardInterrupt goes on to the root handler (cli/app.py), which says "revive: cancelled" once


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"  # pragma: no cover


def _row(spec: ModelSpec, store: ModelStore) -> dict[str, object]:
    return {
        "name": spec.name,
        "purpose": spec.purpose,
        "scale": spec.scale,
        "runtime": spec.runtime,
        "architecture": spec.architecture,
        "content": spec.content,
        "license": spec.license,
        "non_commercial": spec.non_commercial,
        "size_bytes": spec.size_bytes,
        "status": store.status(spec),
        "description": spec.description,
    }


_COLUMNS = ("name", "purpose", "scale", "runtime", "arch", "content", "license", "size", "status")
_NO_WRAP = ("name", "scale", "size", "status")
_EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C
_MIN_DETAILS = 20  # the narrow table's wrapped details column needs at least this much room


def _short_license(text: str) -> str:
    """The weights' license id, e.g. "BSD-3-Clause" out of "BSD-3-Clause (weights); MIT (PyPI package)"."""
    return text.split(";")[0].split(" (")[0].strip() or text


_STATUS_STYLE = {"embedded": "green", "downloaded": "green", "imported": "cyan", "not downloaded": "dim"}


@models_app.command("list")
def list_models(
    as_json: Annotated[bool, typer.Option("--json", metavar="", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show every model revive knows and whether it is on this computer."""
    with _errors():
        store = ModelStore()
        registry = default_registry(store)
        rows = [_row(spec, store) for spec in registry]
    for problem in registry.problems:  # the catalog still works; say what is hidden and why
        note_line(problem)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    _print_table(out_console, rows)


def _table(columns: tuple[str, ...]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in columns:
        table.add_column(column, no_wrap=column in _NO_WRAP, justify="right" if column in ("scale", "size") else "left")
    return table


def _print_table(out: Console, rows: list[dict[str, object]]) -> None:
    """The widest layout that shows every name in full: one column per field, or one wrapped details
    column, or (very narrow terminals) each model on its own lines."""
    cells: list[list[Text]] = []
    for r in rows:
        license = Text(_short_license(str(r["license"])))
        if r["non_commercial"]:
            license.append(" NC", style="bold red")
        info = [Text(str(v)) for v in (r["purpose"], f"x{r['scale']}", r["runtime"], r["architecture"], r["content"])]
        info += [license, Text(_size(r["size_bytes"]))]  # type: ignore[arg-type]
        state = str(r["status"])
        cells.append([Text(str(r["name"])), *info, Text(state, style=_STATUS_STYLE[state])])

    def width(i: int) -> int:
        return max([len(_COLUMNS[i]), *(c[i].cell_len for c in cells)])

    narrow_needs = width(0) + width(len(_COLUMNS) - 1) + _MIN_DETAILS + 3 * 2 + 2  # 3 between columns, 1 at each edge
    if out.width < narrow_needs:  # each model on two lines; long names fold, never truncate
        for name, *info, status in cells:
            out.print(Text.assemble(name, "  ", status), overflow="fold", soft_wrap=False)
            details = " · ".join(t.plain.replace(" ", "\N{NO-BREAK SPACE}") for t in info)  # "45.7 MB" stays whole
            out.print(textwrap.fill(details, out.width, initial_indent="  ", subsequent_indent="  "), markup=False)
        return
    table = _table(_COLUMNS)
    for row in cells:
        table.add_row(*row)
    if Measurement.get(out, out.options.update_width(10**6), table).maximum > out.width:  # too wide: wrap details
        table = _table(("name", "status", "details"))
        for name, *info, status in cells:
            table.add_row(name, status, Text(" · ").join(info))
    out.print(table)


def _download_columns(width: int) -> tuple[ProgressColumn, ...]:
    """Size, speed and time left always in full; the file name gives way on narrow terminals."""
    whole = Column(no_wrap=True)
    return (
        TextColumn("{task.description}", table_column=Column(no_wrap=True, overflow="ellipsis", max_width=max(8, width - 50))),
        BarColumn(bar_width=None),
        DownloadColumn(table_column=whole),
        TransferSpeedColumn(table_column=whole),
        TimeRemainingColumn(table_column=whole),
    )


@models_app.command()
def pull(name: Annotated[str, typer.Argument(help="Model name, as 'revive models list' shows it.")]) -> None:
    """Download a model into the store, verifying its sha256 (interrupted downloads resume)."""
    # transient: once stopped the bar goes, so an error is the last and only line, and nothing says a
    # discarded file arrived in full
    bar = Progress(*_download_columns(err_console.width), console=err_console, transient=True)
    tasks: dict[str, TaskID] = {}

    def report(p: DownloadProgress) -> None:
        if not tasks:
            bar.start()  # only once bytes move: an error before that stays one line
        if p.file not in tasks:
            tasks[p.file] = bar.add_task(p.file, total=p.total, completed=p.done)
        bar.update(tasks[p.file], completed=p.done, total=p.total)

    with _errors():
        store = ModelStore()
        spec = default_registry(store).get(name)
        interrupted = False
        try:
            paths = store.pull(spec, progress=report)
        except KeyboardInterrupt:
            interrupted = True  # said below, outside the handler, so the root adds no "cancelled" line
        finally:
            bar.stop()
        if interrupted:
            err_console.print(f"revive: interrupted; run 'revive models pull {spec.name}' again to resume",
                              style="yellow", markup=False, highlight=False)
            raise typer.Exit(_EXIT_INTERRUPTED)
        if not tasks:
            err_console.print(f"{spec.name} is already in the store", markup=False)
    for p in paths:
        typer.echo(str(p))


@models_app.command()
def add(
    path: Annotated[Path, typer.Argument(help="A .param (ncnn), .onnx, .pth, .pt, .ckpt, .safetensors or .bin file.")],
    name: Annotated[str | None, typer.Option("--name", help="Name in the store (default: from the file).")] = None,
    scale: Annotated[int | None, typer.Option("--scale", min=1, help="Scale, when it cannot be detected.")] = None,
    purpose: Annotated[str | None, typer.Option("--purpose", help="upscale, restore-face, denoise, deblock…")] = None,
    probe_timeout: Annotated[float | None, typer.Option(
        "--probe-timeout", min=0.1, max=86400, metavar="SECONDS",
        help="Time limit for the test run that tells an ONNX model's scale (default 60, or $REVIVE_PROBE_TIMEOUT).",
    )] = None,
) -> None:
    """Import a model file you already have; its sha256 is recorded."""
    with _errors():
        spec = import_model(ModelStore(), path, name, scale=scale, purpose=purpose,  # type: ignore[arg-type]
                            probe_timeout_s=probe_timeout)
    err_console.print(f"added {spec.name}: {spec.runtime}, x{spec.scale}, {spec.purpose}", markup=False)


@models_app.command()
def verify() -> None:
    """Re-hash every model on this computer; exit status 1 if any is damaged or incomplete."""
    with _errors():
        results = ModelStore().verify()
    out = out_console
    for r in results:
        style = "green" if r.status == "ok" else "red"
        out.print(f"[{style}]{r.status:10}[/] {escape(r.name)}")
        for problem in r.problems:
            out.print(f"           {problem}", markup=False, soft_wrap=True)
    if any(r.status != "ok" for r in results):
        raise typer.Exit(1)


@models_app.command()
def path(name: Annotated[str, typer.Argument(help="Model name.")]) -> None:
    """Print where a model's files are, one per line."""
    with _errors():
        store = ModelStore()
        paths = store.locate(store.get(name))
    for p in paths:
        typer.echo(str(p))


@models_app.command()
def remove(name: Annotated[str, typer.Argument(help="Model name.")]) -> None:
    """Delete a downloaded or imported model from the store."""
    with _errors():
        ModelStore().remove(name)
    err_console.print(f"removed {name}", markup=False)
