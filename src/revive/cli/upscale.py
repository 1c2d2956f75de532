"""`revive upscale`: super-resolution of files and folders (or stdin to stdout)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .. import api
from .common import make_engine, parse_tile, prepare, run_command, summary_line
from .options import (
    DEVICE,
    FORMAT,
    INPUTS,
    JSON,
    MAX_PIXELS,
    MEMORY,
    OUTPUT,
    OVERWRITE,
    PRINT,
    QUALITY,
    QUIET,
    THREADS,
    TILE,
    TILE_OVERLAP,
    parse_print,
)


def upscale(
    inputs: INPUTS,
    output: OUTPUT = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", metavar="NAME", help="Model name (see 'revive models list').")] = None,  # noqa: UP045
    scale: Annotated[Optional[float], typer.Option("--scale", "-s", metavar="FACTOR", help="Any positive factor up to 16; default: the model's own.")] = None,  # noqa: UP045
    print_size: PRINT = None,
    tile: TILE = "auto",
    tile_overlap: TILE_OVERLAP = 32,
    threads: THREADS = None,
    device: DEVICE = "auto",
    memory: MEMORY = None,
    format: FORMAT = None,
    quality: QUALITY = None,
    overwrite: OVERWRITE = False,
    max_pixels: MAX_PIXELS = 100_000_000,
    quiet: QUIET = False,
    json_lines: JSON = False,
) -> None:
    """Upscale photos with a super-resolution model (default: the embedded Real-ESRGAN x4plus).

    IMAGE... are image files or folders (searched recursively).

    Use '-' as the input to read stdin and '-o -' to write stdout (with --format).
    """

    def build() -> tuple[api.Engine, list[api.Job], api.OutputOptions]:
        engine = make_engine(device, threads, memory)
        params = api.UpscaleParams(model=model or api.DEFAULT_UPSCALE_MODEL, scale=scale, tile=parse_tile(tile),
                                   tile_overlap=tile_overlap)
        request = api.UpscaleRequest(params, print_size=parse_print(print_size))
        jobs = api.file_jobs([str(p) for p in inputs], output, request, engine=engine, operations=api.operations(),
                             format=format)
        engine.load(params.model)  # a missing model or device is one error line, not one per file
        return engine, jobs, api.OutputOptions(quality=quality, overwrite=overwrite, max_pixels=max_pixels)

    engine, jobs, options = prepare(build)

    def summarize(result: api.JobResult) -> list[str]:
        photo = result.result.photo if result.result else None
        return [summary_line(result, *([f"{photo.width}×{photo.height}"] if photo is not None else []))]

    raise typer.Exit(run_command(jobs, engine, output=options, quiet=quiet, json_lines=json_lines, summarize=summarize))


def register(app: typer.Typer) -> None:
    app.command(no_args_is_help=True)(upscale)


