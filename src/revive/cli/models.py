"""`revive models …`: list, pull, add, verify, locate and remove models in the store."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from ..errors import ReviveError
from ..models import ModelSpec, ModelStore, default_registry
from ..models.download import Progress as DownloadProgress
from ..models.importer import import_model
from .common import EXIT_FAILED, err_console, error_line, out_console

models_app = typer.Typer(name="models", help="List, download, import and check models.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")


def _out() -> Console:
    return out_console


def _err() -> Console:
    return err_console


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """The library raises; here its message becomes one red line and exit status 1."""
    try:
        yield
    except ReviveError as err:
        error_line(str(err))
        raise typer.Exit(EXIT_FAILED) from None


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
_WIDE = 120  # below this many columns the full table would be squeezed into ellipses


def _short_license(text: str) -> str:
    """The weights' license id, e.g. "BSD-3-Clause" out of "BSD-3-Clause (weights); MIT (PyPI package)"."""
    return text.split(";")[0].split(" (")[0].strip() or text


_STATUS_STYLE = {"embedded": "green", "downloaded": "green", "imported": "cyan", "not downloaded": "dim"}


@models_app.command("list")
def list_models(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show every model revive knows and whether it is on this computer."""
    with _errors():
        store = ModelStore()
        rows = [_row(spec, store) for spec in default_registry(store)]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    out = _out()
    wide = out.width >= _WIDE
    columns = _COLUMNS if wide else ("name", "status", "details")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in columns:
        table.add_column(column, no_wrap=column in _NO_WRAP, justify="right" if column in ("scale", "size") else "left")
    for r in rows:
        license = _short_license(str(r["license"])) + (" [bold red]NC[/]" if r["non_commercial"] else "")
        status = f"[{_STATUS_STYLE[str(r['status'])]}]{r['status']}[/]"
        size = _size(r["size_bytes"])  # type: ignore[arg-type]
        info = (r["purpose"], f"x{r['scale']}", r["runtime"], r["architecture"], r["content"], license, size)
        if wide:
            table.add_row(str(r["name"]), *map(str, info), status)
        else:  # a narrow terminal: one wrapped details column instead of seven squeezed ones
            table.add_row(str(r["name"]), status, " · ".join(map(str, info)))
    out.print(table)


@models_app.command()
def pull(name: Annotated[str, typer.Argument(help="Model name, as 'revive models list' shows it.")]) -> None:
    """Download a model into the store, verifying its sha256 (interrupted downloads resume)."""
    with _errors():
        store = ModelStore()
        spec = default_registry(store).get(name)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=_err()) as bar:
            tasks: dict[str, TaskID] = {}

            def report(p: DownloadProgress) -> None:
                if p.file not in tasks:
                    tasks[p.file] = bar.add_task(p.file, total=p.total, completed=p.done)
                bar.update(tasks[p.file], completed=p.done, total=p.total)

            paths = store.pull(spec, progress=report)
        if not tasks:
            _err().print(f"{spec.name} is already in the store", markup=False)
    for p in paths:
        typer.echo(str(p))


@models_app.command()
def add(
    path: Annotated[Path, typer.Argument(help="A .param (ncnn), .onnx, .pth, .pt, .ckpt, .safetensors or .bin file.")],
    name: Annotated[str | None, typer.Option("--name", help="Name in the store (default: from the file).")] = None,
    scale: Annotated[int | None, typer.Option("--scale", min=1, help="Scale, when it cannot be detected.")] = None,
    purpose: Annotated[str | None, typer.Option("--purpose", help="upscale, restore-face, denoise, deblock…")] = None,
) -> None:
    """Import a model file you already have; its sha256 is recorded."""
    with _errors():
        spec = import_model(ModelStore(), path, name, scale=scale, purpose=purpose)  # type: ignore[arg-type]
    _err().print(f"added {spec.name}: {spec.runtime}, x{spec.scale}, {spec.purpose}", markup=False)


@models_app.command()
def verify() -> None:
    """Re-hash every model on this computer; exit status 1 if any is damaged or incomplete."""
    with _errors():
        results = ModelStore().verify()
    out = _out()
    for r in results:
        style = "green" if r.status == "ok" else "red"
        out.print(f"[{style}]{r.status:8}[/] {r.name}")
        for problem in r.problems:
            out.print(f"         {problem}", markup=False, soft_wrap=True)
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
    _err().print(f"removed {name}", markup=False)
