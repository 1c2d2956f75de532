"""`revive fill`: generate what a prompt describes where a mask marks (Stable Diffusion inpainting)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .. import api
from .common import make_engine, prepare, run_command, summary_line
from .erase import BOX, CONTEXT, GROW, MASK, mask_and_boxes
from .options import (
    CONFIG,
    DEVICE,
    FORMAT,
    GUIDANCE,
    INPUTS,
    JSON,
    MAX_PIXELS,
    MEMORY,
    NEGATIVE_PROMPT,
    OUTPUT,
    OVERWRITE,
    PROMPT,
    QUALITY,
    QUIET,
    SEED,
    STEPS,
    THREADS,
)


def fill(
    inputs: INPUTS,
    prompt: PROMPT,
    mask: MASK = None,
    box: BOX = None,
    negative_prompt: NEGATIVE_PROMPT = "",
    seed: SEED = None,
    steps: STEPS = 30,
    guidance: GUIDANCE = 7.5,
    model: Annotated[Optional[str], typer.Option("--model", "-m", metavar="PATH|NAME", help="A diffusers folder, a checkpoint file (with --config), or a folder name in the store (default: sd-inpainting).")] = None,  # noqa: UP045
    config: CONFIG = None,
    output: OUTPUT = None,
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
    """Generative fill: replace what the mask (or --box) marks with what --prompt describes.

    IMAGE... are image files or folders (the same mask applies to each); '-' reads stdin.
    Runs a Stable Diffusion inpainting pipeline from local files (pip install "revive-photo[gen]");
    the output records that its pixels were generated, with the prompt and seed.
    """

    def build() -> tuple[api.Engine, list[api.Job], api.OutputOptions]:
        engine = make_engine(device, threads, memory)
        mask_path, boxes = mask_and_boxes(mask, box)
        params = api.FillParams(prompt=prompt, mask=None if mask_path is None else str(mask_path), boxes=boxes,
                                negative_prompt=negative_prompt, seed=seed, steps=steps, guidance=guidance,
                                model=model, config=config, grow=grow, context=context)
        api.check_fill_model(model, config, engine=engine)  # no weights or no extra: one error line, before any file
        jobs = api.file_jobs([str(p) for p in inputs], output, api.FillRequest(params), engine=engine,
                             operations=api.operations(), format=format)
        return engine, jobs, api.OutputOptions(quality=quality, overwrite=overwrite, max_pixels=max_pixels)

    engine, jobs, options = prepare(build)

    def summarize(result: api.JobResult) -> list[str]:
        details = result.result.details if result.result else {}
        return [summary_line(result, f"seed {details.get('seed')}",
                             f"{details.get('steps')} steps on {details.get('device')}")]

    raise typer.Exit(run_command(jobs, engine, output=options, quiet=quiet, json_lines=json_lines, summarize=summarize))


def register(app: typer.Typer) -> None:
    app.command(no_args_is_help=True)(fill)
