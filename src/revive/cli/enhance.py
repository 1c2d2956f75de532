"""`revive enhance`: the autopilot — diagnose each photo, plan, run, guard, and explain."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import api
from .common import duration_text, make_engine, out_console, parse_tile, prepare, print_json, run_command
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
    creative_settings,
    parse_pairs,
    parse_print,
    stage_option,
)


def enhance(
    inputs: INPUTS,
    output: OUTPUT = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", metavar="", help="Print the plan with its reasons; write nothing.")] = False,
    json_lines: JSON = False,
    report: Annotated[Optional[Path], typer.Option(metavar="FILE.json|FILE.html", help="Write a report (several inputs: one each, named after the input).")] = None,  # noqa: UP045
    scale: Annotated[Optional[float], typer.Option("--scale", "-s", metavar="FACTOR", help="Upscale factor; default from the photo's size (1 = no upscaling).")] = None,  # noqa: UP045
    print_size: PRINT = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", metavar="NAME", help="Upscale model (see 'revive models list'); default by content.")] = None,  # noqa: UP045
    faces: Annotated[str, stage_option("faces", "Needs a face model: revive models pull gfpgan-1.4.")] = "auto",
    denoise: Annotated[str, stage_option("denoise")] = "auto",
    color: Annotated[str, stage_option("color")] = "auto",
    deblur: Annotated[str, stage_option("deblur")] = "auto",
    sky: Annotated[str, stage_option("sky")] = "auto",
    skin: Annotated[str, stage_option("skin")] = "auto",
    foliage: Annotated[str, stage_option("foliage")] = "auto",
    color_reference: Annotated[Optional[Path], typer.Option("--color-reference", metavar="FILE", help="Match the colours of this photo.")] = None,  # noqa: UP045
    set_: Annotated[Optional[list[str]], typer.Option("--set", metavar="OPTION=VALUE", help="Any stage option, e.g. --set denoise=0.4 (repeatable).")] = None,  # noqa: UP045
    look: Annotated[str, typer.Option(metavar="faithful|balanced|sharp|creative", help="How the upscale model is chosen and how strictly the guard holds it; creative: then diffusion adds detail (marked as generated).")] = "faithful",
    creativity: CREATIVITY = None,
    resemblance: RESEMBLANCE = None,
    hdr: HDR = None,
    prompt: GEN_PROMPT = "",
    negative_prompt: NEGATIVE_PROMPT = "",
    seed: SEED = None,
    steps: STEPS = 20,
    guidance: GUIDANCE = 5.0,
    gen_model: Annotated[Optional[str], typer.Option("--gen-model", metavar="PATH|NAME", help="Generative: the diffusion model, a diffusers folder, a checkpoint (with --config) or a folder name in the store (default: stable-diffusion).")] = None,  # noqa: UP045
    controlnet: CONTROLNET = None,
    config: CONFIG = None,
    strength: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, metavar="0-1", help="Share of the model's result over a plain resample (default: the look's).")] = None,  # noqa: UP045
    tile: TILE = "auto",
    threads: THREADS = None,
    device: DEVICE = "auto",
    memory: MEMORY = None,
    format: FORMAT = None,
    quality: QUALITY = None,
    overwrite: OVERWRITE = False,
    max_pixels: MAX_PIXELS = 100_000_000,
    quiet: QUIET = False,
) -> None:
    """Enhance photos automatically: diagnose, then clean, upscale, fix colour — and prove it faithful.

    IMAGE... are image files or folders (searched recursively).

    Use '-' as the input to read stdin and '-o -' to write stdout (with --format).
    """

    def build() -> tuple[api.Engine, api.EnhanceRequest, list[api.Job]]:
        engine = make_engine(device, threads, memory)
        flags = {"faces": faces, "denoise": denoise, "color": color, "deblur": deblur, "sky": sky, "skin": skin,
                 "foliage": foliage}
        chosen = {**flags, **parse_pairs(set_ or [])}
        generation = creative_settings(creativity=creativity, resemblance=resemblance, hdr=hdr, prompt=prompt,
                                       negative_prompt=negative_prompt, seed=seed, steps=steps, guidance=guidance,
                                       model=gen_model, config=config, controlnet=controlnet)
        options = api.EnhanceOptions.make(scale=scale, model=model, strength=strength, look=look, tile=parse_tile(tile),
                                          print_size=parse_print(print_size), color_reference=color_reference,
                                          generation=generation, **{k: v for k, v in chosen.items() if v != "auto"})
        request = api.EnhanceRequest(api.check_options(options))
        if not dry_run and (look == "creative" or chosen.get("creative", "off") not in ("off", "auto")):
            api.check_creative_model(generation, engine=engine)  # weights and extra, before any file
        if report is not None:
            api.report_format(report)
        if model is not None:
            engine.registry.get(model)  # an unknown name fails now, with suggestions
        jobs = api.file_jobs([str(p) for p in inputs], output, request, engine=engine, operations=api.operations(),
                             format=format, report=report)
        return engine, request, jobs

    engine, request, jobs = prepare(build)
    if dry_run:
        raise typer.Exit(_dry_run(jobs, request, engine, max_pixels, json_lines))

    def summarize(result: api.JobResult) -> list[str]:
        done = result.result
        extra = done.extra if done is not None else None
        if not isinstance(extra, api.EnhanceResult):
            return []
        steps = ", ".join(s.stage for s in extra.plan.steps if s.track != "reference") or "nothing to do"
        sink = result.job.sink.name if result.job.sink else "-"
        lines = [f"{result.job.source.name} → {sink}  ({extra.photo.width}×{extra.photo.height}; {steps}; "
                 f"{result.seconds:.1f} s)"]
        if result.job.report is not None:
            lines.append(f"  report: {result.job.report}")
        return lines

    options = api.OutputOptions(quality=quality, overwrite=overwrite, max_pixels=max_pixels)
    raise typer.Exit(run_command(jobs, engine, output=options, quiet=quiet, json_lines=json_lines, summarize=summarize))


def _dry_run(jobs: list[api.Job], request: api.EnhanceRequest, engine: api.Engine, max_pixels: int,
             json_lines: bool) -> int:
    """The plan for each photo, and why; nothing is written."""
    from .common import EXIT_FAILED, EXIT_OK, error_line

    failures = 0
    for job in jobs:
        sink = job.sink.name if job.sink else "-"
        try:
            plan = api.plan(job.source.read(max_pixels), request.options, engine=engine)
        except api.ReviveError as err:
            failures += 1
            error_line(str(err), job.source.name)
            continue
        seconds = api.estimate_seconds(plan, engine)
        if json_lines:
            print_json({"input": job.source.name, "output": sink, "dry_run": True, **plan.to_dict(),
                        "estimated_seconds": round(seconds, 1)})
            continue
        out_console.print(f"{job.source.name} → {sink}  (dry run: nothing written)", markup=False)
        out_console.print("  " + plan.explain().replace("\n", "\n  "), markup=False)
        out_console.print(f"  time: about {duration_text(seconds)} on this computer's CPU (from declared costs)",
                          markup=False)
        out_console.print()
    return EXIT_FAILED if failures else EXIT_OK


def register(app: typer.Typer) -> None:
    app.command(no_args_is_help=True)(enhance)
