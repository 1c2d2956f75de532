"""`revive diagnose`: what is wrong with a photo, measured (noise, JPEG, blur, colour, exposure, faces)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from .. import api
from .common import make_engine, out_console, prepare, run_command
from .options import INPUTS


def diagnose(
    images: INPUTS,
    json_lines: Annotated[bool, typer.Option("--json", metavar="", help="One JSON object per image per line.")] = False,
) -> None:
    """Measure noise, JPEG damage, blur, colour cast, exposure, content type and faces.

    IMAGE... are image files or folders (searched recursively).
    """
    engine = make_engine("auto", None, None)
    jobs = prepare(lambda: api.file_jobs([str(p) for p in images], None, api.DiagnoseRequest(), engine=engine,
                                         operations=api.operations()))

    def show(result: api.JobResult) -> list[str]:
        if result.result is not None and isinstance(result.result.extra, api.Diagnosis):
            _print_table(Path(result.job.source.name), result.result.extra)
        return []

    raise typer.Exit(run_command(jobs, engine, quiet=False, json_lines=json_lines, summarize=show))


def _print_table(path: Path, result: api.Diagnosis) -> None:
    table = Table(title=str(path), title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("measure")
    table.add_column("value")
    table.add_column("")
    for _, m in result.measurements():
        mark = "[bold yellow]needs attention[/]" if m.attention else "[green]ok[/]"
        table.add_row(m.label, m.summary(), mark)
    out_console.print(table)
    findings = result.findings()
    if findings:
        for line in findings:
            out_console.print(f"  • {line}", markup=False)
    else:
        out_console.print("  • nothing needs attention")
    out_console.print()


def register(app: typer.Typer) -> None:
    app.command(no_args_is_help=True)(diagnose)
