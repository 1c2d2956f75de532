"""`revive relight`: a soft directional key light (and fill) on the subject of each photo."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import api
from .common import make_engine, prepare, run_command, summary_line
from .options import FORMAT, INPUTS, JSON, MAX_PIXELS, OUTPUT, OVERWRITE, QUALITY, QUIET


def relight(
    inputs: INPUTS,
    output: OUTPUT = None,
    light: Annotated[str, typer.Option(metavar="left|right|top|bottom|X,Y", help="Where the light comes from; X,Y are fractions of the frame.")] = "left",
    strength: Annotated[float, typer.Option(min=0.0, max=1.0, metavar="0-1", help="The key light's strength.")] = 0.5,
    fill: Annotated[float, typer.Option(min=0.0, max=1.0, metavar="0-1", help="A fill light lifting the subject's shadows.")] = 0.0,
    format: FORMAT = None,
    quality: QUALITY = None,
    overwrite: OVERWRITE = False,
    max_pixels: MAX_PIXELS = 100_000_000,
    quiet: QUIET = False,
    json_lines: JSON = False,
) -> None:
    """Add a soft key light shaped by the subject and its faces; highlights are never clipped.

    IMAGE... are image files or folders (searched recursively).
    """

    def build() -> tuple[api.Engine, list[api.Job]]:
        engine = make_engine("auto", None, None)
        request = api.RelightRequest(api.RelightParams(light=light, strength=strength, fill=fill))
        jobs = api.file_jobs([str(p) for p in inputs], output, request, engine=engine, operations=api.operations(),
                             format=format)
        return engine, jobs

    engine, jobs = prepare(build)

    def summarize(result: api.JobResult) -> list[str]:
        return [summary_line(result)]

    options = api.OutputOptions(quality=quality, overwrite=overwrite, max_pixels=max_pixels)
    raise typer.Exit(run_command(jobs, engine, output=options, quiet=quiet, json_lines=json_lines, summarize=summarize))


def register(app: typer.Typer) -> None:
    app.command(no_args_is_help=True)(relight)
