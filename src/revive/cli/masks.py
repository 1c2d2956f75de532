"""`revive masks`: soft masks of sky, skin, foliage, water and the subject, as PNGs in a folder."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .. import api
from .common import make_engine, prepare, run_command
from .options import INPUTS, JSON, MAX_PIXELS, OVERWRITE, QUIET


def masks(
    inputs: INPUTS,
    output: Annotated[str, typer.Option("-o", "--output", metavar="DIR", help="Folder for <name>_<class>.png (created).")],
    classes: Annotated[str, typer.Option(metavar="LIST", help="Comma-separated: sky, skin, foliage, water, subject.")] = "sky,skin,foliage,water,subject",
    model: Annotated[Optional[str], typer.Option("--model", "-m", metavar="NAME", help="A segmentation model from the store; default: the embedded estimate.")] = None,  # noqa: UP045
    overwrite: OVERWRITE = False,
    max_pixels: MAX_PIXELS = 100_000_000,
    quiet: QUIET = False,
    json_lines: JSON = False,
) -> None:
    """Write soft (0-255) masks of sky, skin, foliage, water and the subject for each photo.

    IMAGE... are image files or folders (searched recursively).
    """

    def build() -> tuple[api.Engine, list[api.Job]]:
        engine = make_engine("auto", None, None)
        request = api.MasksRequest(folder=output, classes=classes, model=model, overwrite=overwrite)
        if model is not None:
            engine.registry.get(model)
        jobs = api.file_jobs([str(p) for p in inputs], None, request, engine=engine, operations=api.operations())
        return engine, jobs

    engine, jobs = prepare(build)

    def summarize(result: api.JobResult) -> list[str]:
        details = result.result.details if result.result else {}
        shares = ", ".join(f"{k} {v:.0%}" for k, v in details.get("shares", {}).items())
        return [f"{result.job.source.name} → {output}  ({shares}; {result.seconds:.1f} s)"]

    options = api.OutputOptions(overwrite=overwrite, max_pixels=max_pixels)
    raise typer.Exit(run_command(jobs, engine, output=options, quiet=quiet, json_lines=json_lines, summarize=summarize))


def register(app: typer.Typer) -> None:
    app.command(no_args_is_help=True)(masks)
