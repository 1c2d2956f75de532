"""`revive erase`: remove what a mask marks and fill the hole from its surroundings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import api
from .common import make_engine, prepare, run_command, summary_line
from .options import DEVICE, FORMAT, INPUTS, JSON, MAX_PIXELS, MEMORY, OUTPUT, OVERWRITE, QUALITY, QUIET, THREADS

MASK = Annotated[Optional[Path], typer.Option("--mask", metavar="MASK", help="Mask image: white = replace; any size with the photo's proportions.")]  # noqa: UP045
BOX = Annotated[Optional[list[str]], typer.Option("--box", metavar="X,Y,W,H", help="A rectangle to replace, in pixels (repeatable).")]  # noqa: UP045
GROW = Annotated[Optional[int], typer.Option(min=0, max=512, metavar="PX", help="Grow the mask by this much and feather the fill over it (default: 0.4% of the long side).")]  # noqa: UP045
CONTEXT = Annotated[float, typer.Option(min=0.0, max=4.0, metavar="SHARE", help="Context around the mask in each crop, as a share of its size.")]


def mask_and_boxes(mask: Path | None, box: list[str] | None) -> tuple[Path | None, api.Boxes]:
    """The mask file (read once here, so a bad one is one error line) and the boxes."""
    boxes = api.Boxes(box or ())
    if mask is None and not boxes:
        raise api.MaskError("give --mask MASK.png (white = replace) or at least one --box X,Y,W,H")
    if mask is not None:
        api.read_mask(mask)
    return mask, boxes


def erase(
    inputs: INPUTS,
    mask: MASK = None,
    box: BOX = None,
    output: OUTPUT = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", metavar="NAME", help=f"Inpainting model (default: the best in the store, else {api.EMBEDDED_ERASE_MODEL}).")] = None,  # noqa: UP045
    grow: GROW = None,
    context: CONTEXT = 0.5,
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
    """Remove objects: fill what the mask (or --box) marks from the surroundings.

    IMAGE... are image files or folders (the same mask applies to each); '-' reads stdin.
    Uses an inpainting model from the store (LaMa, MAT: 'revive models add FILE'), else OpenCV's
    built-in fill. Pixels outside the slightly grown mask stay exactly as they were.
    """

    def build() -> tuple[api.Engine, list[api.Job], api.OutputOptions]:
        engine = make_engine(device, threads, memory)
        mask_path, boxes = mask_and_boxes(mask, box)
        params = api.EraseParams(mask=None if mask_path is None else str(mask_path), boxes=boxes, model=model,
                                 grow=grow, context=context)
        jobs = api.file_jobs([str(p) for p in inputs], output, api.EraseRequest(params), engine=engine,
                             operations=api.operations(), format=format)
        if model is not None:
            api.check_erase_model(model, engine=engine)  # a wrong or missing model is one line, not one per file
        return engine, jobs, api.OutputOptions(quality=quality, overwrite=overwrite, max_pixels=max_pixels)

    engine, jobs, options = prepare(build)

    def summarize(result: api.JobResult) -> list[str]:
        details = result.result.details if result.result else {}
        return [summary_line(result, str(details.get("engine")), f"{details.get('changed_pixels')} px")]

    raise typer.Exit(run_command(jobs, engine, output=options, quiet=quiet, json_lines=json_lines, summarize=summarize))


def register(app: typer.Typer) -> None:
    app.command(no_args_is_help=True)(erase)
