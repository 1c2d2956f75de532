"""`revive enhance`: the autopilot — diagnose each photo, plan, run, guard, and explain."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ..errors import ReviveError
from .common import TileProgress, fail, out_console, parse_tile, plan_file_jobs, print_json, run_file_jobs

if TYPE_CHECKING:
    from ..api import EnhanceFileResult
    from ..engine import Engine
    from ..outputs import OutputPlan
    from ..pipeline.autopilot import EnhanceOptions


def _report_path(report: Path | None, source: Path, many: bool, taken: set[Path]) -> Path | None:
    """The report file for one input: as given for one input, ``<stem>-<input stem><suffix>`` for several
    (``-1``, ``-2``… when inputs from different folders share a name, as their outputs do)."""
    if report is None or not many:
        return report
    path, n = report.with_name(f"{report.stem}-{source.stem}{report.suffix}"), 0
    while path in taken:
        n += 1
        path = report.with_name(f"{report.stem}-{source.stem}-{n}{report.suffix}")
    taken.add(path)
    return path


def enhance(
    inputs: Annotated[list[Path], typer.Argument(help="Image files or folders.", show_default=False)],
    output: Annotated[Optional[str], typer.Option("-o", "--output", help="Output file, or folder for several inputs.")] = None,  # noqa: UP045
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan with its reasons; write nothing.")] = False,
    json_lines: Annotated[bool, typer.Option("--json", help="One JSON line per photo (the plan with --dry-run).")] = False,
    report: Annotated[Optional[Path], typer.Option(help="Write a report: report.json or report.html (several inputs: one each, named after the input).")] = None,  # noqa: UP045
    scale: Annotated[Optional[float], typer.Option("--scale", "-s", help="Upscale factor; default from the photo's size (1 = no upscaling).")] = None,  # noqa: UP045
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Upscale model (see 'revive models list'); default by content.")] = None,  # noqa: UP045
    faces: Annotated[str, typer.Option(help="Face restoration: auto, on or off.")] = "auto",
    denoise: Annotated[str, typer.Option(help="Noise and JPEG cleanup: auto, off, or a strength 0..1.")] = "auto",
    color: Annotated[str, typer.Option(help="White balance, exposure and contrast: auto or off.")] = "auto",
    strength: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of the model's result over a plain resample.")] = 0.8,
    tile: Annotated[str, typer.Option(help="Tile size in pixels for model steps, or 'auto' (from free memory).")] = "auto",
    threads: Annotated[Optional[int], typer.Option(min=1, help="CPU threads (default: all cores).")] = None,  # noqa: UP045
    device: Annotated[str, typer.Option(help="auto, cpu or gpu (or cuda:N / mps with torch models).")] = "auto",
    format: Annotated[Optional[str], typer.Option("--format", "-f", help="png, jpg, webp or tiff.")] = None,  # noqa: UP045
    quality: Annotated[Optional[int], typer.Option(min=1, max=100, help="JPEG/WebP quality (default 95).")] = None,  # noqa: UP045
    overwrite: Annotated[bool, typer.Option(help="Replace existing outputs and reports.")] = False,
    max_pixels: Annotated[int, typer.Option(min=1, help="Refuse inputs with more pixels (decompression bombs).")] = 100_000_000,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no summary lines.")] = False,
) -> None:
    """Enhance photos automatically: diagnose, then denoise/deblock, upscale, fix colour — and prove it faithful."""
    from .. import api
    from ..models.loaders import LoadOptions
    from ..pipeline.report import report_format

    try:
        settings = {k: v for k, v in (("faces", faces), ("denoise", denoise), ("color", color)) if v != "auto"}
        options = api.check_options(api.EnhanceOptions.make(scale=scale, model=model, strength=strength,
                                                            tile=parse_tile(tile), **settings))
        runtime = api.default_engine()
        if model is not None:
            runtime.registry.get(model)  # an unknown name fails now, with suggestions
        if report is not None:
            report_format(report)
        plans, many = plan_file_jobs(inputs, output, format, "enhanced")
    except ReviveError as err:
        raise fail(err) from err

    load = LoadOptions(device=device, threads=threads)
    reports_taken: set[Path] = set()

    def run_one(target: OutputPlan) -> EnhanceFileResult | None:
        if dry_run:
            _dry_run(target.source, target.target, options, max_pixels, runtime, json_lines)
            return None
        return api.enhance_file(
            target.source, target.target, options=options, load=load, format=target.format,
            quality=quality, overwrite=overwrite, max_pixels=max_pixels,
            report=_report_path(report, target.source, many, reports_taken), runtime=runtime, progress=progress,
        )

    def summarize(result: EnhanceFileResult) -> list[str]:
        r = result.result
        steps = ", ".join(s.stage for s in r.plan.steps if s.track != "reference") or "nothing to do"
        lines = [f"{result.input} → {result.output}  ({r.photo.width}×{r.photo.height}; {steps}; "
                 f"{result.seconds:.1f} s)"]
        if result.report is not None:
            lines.append(f"  report: {result.report}")
        return lines

    progress = TileProgress(enabled=not quiet and not json_lines and not dry_run)
    raise typer.Exit(run_file_jobs(plans, run_one, summarize, progress=progress, quiet=quiet, json_lines=json_lines))


def _dry_run(source: Path, target: Path, options: EnhanceOptions, max_pixels: int, runtime: Engine,
             json_lines: bool) -> None:
    from .. import api

    plan = api.plan(api.read(source, max_pixels=max_pixels), options, engine=runtime)
    if json_lines:
        print_json({"input": str(source), "output": str(target), "dry_run": True, **plan.to_dict()})
        return
    out_console.print(f"{source} → {target}  (dry run: nothing written)", markup=False)
    out_console.print("  " + plan.explain().replace("\n", "\n  "), markup=False)
    out_console.print()


def register(app: typer.Typer) -> None:
    app.command(no_args_is_help=True)(enhance)
