"""`revive diagnose`: what is wrong with a photo, measured (noise, JPEG, blur, colour, exposure, faces)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from ..errors import ReviveError
from .common import EXIT_FAILED, EXIT_OK, error_line, out_console, print_json

if TYPE_CHECKING:
    from ..analysis import Diagnosis


def diagnose(
    images: Annotated[list[Path], typer.Argument(help="Image files or folders.", show_default=False)],
    json_lines: Annotated[bool, typer.Option("--json", help="One JSON object per image per line.")] = False,
) -> None:
    """Measure noise, JPEG damage, blur, colour cast, exposure, content type and faces."""
    from .. import imageio
    from ..analysis import diagnose as run_diagnosis
    from ..outputs import expand_inputs

    failures = 0
    paths, _ = expand_inputs(images)  # a folder stands for its images, as with enhance
    if not paths:
        error_line("no image files found in the given folder(s)")
        raise typer.Exit(EXIT_FAILED)
    for path in paths:
        try:
            result = run_diagnosis(imageio.read(path))
        except ReviveError as err:
            failures += 1
            error_line(str(err), path)
            if json_lines:
                print_json({"input": str(path), "error": str(err)})
            continue
        if json_lines:
            print_json({"input": str(path), **result.to_dict()})
        else:
            _print_table(path, result)
    raise typer.Exit(EXIT_FAILED if failures else EXIT_OK)


def _print_table(path: Path, result: Diagnosis) -> None:
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
