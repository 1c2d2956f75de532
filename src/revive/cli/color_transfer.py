"""`revive color-transfer`: the colours of a reference photo given to each photo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import api
from .common import make_engine, prepare, run_command, summary_line
from .options import FORMAT, INPUTS, JSON, MAX_PIXELS, OUTPUT, OVERWRITE, QUALITY, QUIET


def color_transfer(
    inputs: INPUTS,
    reference: Annotated[Path, typer.Option("--reference", "-r", metavar="REF", help="The photo whose colours to take.")],
    output: OUTPUT = None,
    strength: Annotated[float, typer.Option(min=0.0, max=1.0, metavar="0-1", help="Share of the matched colours.")] = 0.8,
    format: FORMAT = None,
    quality: QUALITY = None,
    overwrite: OVERWRITE = False,
    max_pixels: MAX_PIXELS = 100_000_000,
    quiet: QUIET = False,
    json_lines: JSON = False,
) -> None:
    """Match each photo's colours to a reference photo (Lab histogram matching).

    IMAGE... are image files or folders (searched recursively).
    """

    def build() -> tuple[api.Engine, list[api.Job]]:
        engine = make_engine("auto", None, None)
        request = api.ColorTransferRequest(api.ColorTransferParams(Path(reference), strength))
        jobs = api.file_jobs([str(p) for p in inputs], output, request, engine=engine, operations=api.operations(),
                             format=format)
        return engine, jobs

    engine, jobs = prepare(build)

    def summarize(result: api.JobResult) -> list[str]:
        return [summary_line(result)]

    options = api.OutputOptions(quality=quality, overwrite=overwrite, max_pixels=max_pixels)
    raise typer.Exit(run_command(jobs, engine, output=options, quiet=quiet, json_lines=json_lines, summarize=summarize))


def register(app: typer.Typer) -> None:
    app.command("color-transfer", no_args_is_help=True)(color_transfer)
