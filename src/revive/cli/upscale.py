"""`revive upscale`: super-resolution of files and folders (or stdin to stdout)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .. import api
from .common import make_engine, parse_tile, prepare, run_command, summary_line
from .options import (
    CONFIG,
    CONTROLNET,
    CREATIVITY,
    DEVICE,
    FORMAT,
    GEN_PROMPT,
    GUIDANCE,
    HDR,
    INPUTS,
    JSON,
    MAX_PIXELS,
    MEMORY,
    NEGATIVE_PROMPT,
    OUTPUT,
    OVERWRITE,
    PRINT,
    QUALITY,
    QUIET,
    RESEMBLANCE,
    SEED,
    STEPS,
    THREADS,
    TILE,
    TILE_OVERLAP,
    creative_settings,
    parse_print,
)


def upscale(
    inputs: INPUTS,
    output: OUTPUT = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", metavar="NAME", help="Model name (see 'revive models list'); with --creative, the diffusion model: a diffusers folder, a checkpoint (with --config) or a folder name in the store (default: stable-diffusion).")] = None,  # noqa: UP045
    scale: Annotated[Optional[float], typer.Option("--scale", "-s", metavar="FACTOR", help="Any positive factor up to 16; default: the model's own (with --creative: from the photo's size).")] = None,  # noqa: UP045
    print_size: PRINT = None,
    creative: Annotated[bool, typer.Option("--creative", metavar="", help="Generative upscaling: the faithful upscale, then diffusion adds plausible detail (marked as generated; pip install \"revive-photo[gen]\" and local Stable Diffusion weights).")] = False,
    creativity: CREATIVITY = None,
    resemblance: RESEMBLANCE = None,
    hdr: HDR = None,
    prompt: GEN_PROMPT = "",
    negative_prompt: NEGATIVE_PROMPT = "",
    seed: SEED = None,
    steps: STEPS = 20,
    guidance: GUIDANCE = 5.0,
    controlnet: CONTROLNET = None,
    config: CONFIG = None,
    upscaler: Annotated[Optional[str], typer.Option("--upscaler", metavar="NAME", help="Generative: the model of the faithful upscale (default: the autopilot's choice).")] = None,  # noqa: UP045
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

    With --creative, the autopilot's faithful upscale is refined by Stable Diffusion: --creativity,
    --resemblance and --hdr (0-1) steer it, --seed repeats it, and the output records that its
    detail was generated.

    Use '-' as the input to read stdin and '-o -' to write stdout (with --format).
    """

    generative = {"creativity": creativity, "resemblance": resemblance, "hdr": hdr, "prompt": prompt,
                  "negative_prompt": negative_prompt, "seed": seed, "controlnet": controlnet, "config": config,
                  "upscaler": upscaler}
    if not creative:
        given = [name for name, value in generative.items() if value not in (None, "")]
        if given:
            raise typer.BadParameter(f"--{given[0].replace('_', '-')} needs --creative")

    def build_creative(engine: api.Engine) -> tuple[api.Engine, list[api.Job], api.OutputOptions]:
        settings = creative_settings(creativity=creativity, resemblance=resemblance, hdr=hdr, prompt=prompt,
                                     negative_prompt=negative_prompt, seed=seed, steps=steps, guidance=guidance,
                                     model=model, config=config, controlnet=controlnet)
        api.check_creative_model(settings, engine=engine)  # no weights or no extra: one error line, before any file
        if upscaler is not None:
            engine.registry.get(upscaler)
        request = api.CreativeRequest(scale=scale, print_size=parse_print(print_size), upscaler=upscaler,
                                      generation=settings)
        jobs = api.file_jobs([str(p) for p in inputs], output, request, engine=engine, operations=api.operations(),
                             format=format)
        return engine, jobs, api.OutputOptions(quality=quality, overwrite=overwrite, max_pixels=max_pixels)

    def build() -> tuple[api.Engine, list[api.Job], api.OutputOptions]:
        engine = make_engine(device, threads, memory)
        if creative:
            return build_creative(engine)
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
        details = result.result.details if result.result else {}
        extra = [f"seed {details['seed']}", "generated detail"] if details.get("generative") else []
        return [summary_line(result, *([f"{photo.width}×{photo.height}"] if photo is not None else []), *extra)]

    raise typer.Exit(run_command(jobs, engine, output=options, quiet=quiet, json_lines=json_lines, summarize=summarize))


def register(app: typer.Typer) -> None:
    app.command(no_args_is_help=True)(upscale)


