"""`revive upscale`: super-resolution of files and folders."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ..errors import ReviveError
from .common import TileProgress, fail, parse_tile, plan_file_jobs, run_file_jobs

if TYPE_CHECKING:
    from ..api import UpscaleResult
    from ..outputs import OutputPlan


def upscale(
    inputs: Annotated[list[Path], typer.Argument(help="Image files or folders.", show_default=False)],
    output: Annotated[Optional[str], typer.Option("-o", "--output", help="Output file, or folder for several inputs.")] = None,  # noqa: UP045
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model name (see 'revive models list').")] = None,  # noqa: UP045
    scale: Annotated[Optional[float], typer.Option("--scale", "-s", help="Any positive factor; default: the model's own.")] = None,  # noqa: UP045
    tile: Annotated[str, typer.Option(help="Tile size in pixels, or 'auto' (from free memory).")] = "auto",
    tile_overlap: Annotated[int, typer.Option(min=0, max=256, help="Context pixels each tile borrows from its neighbours.")] = 32,
    threads: Annotated[Optional[int], typer.Option(min=1, help="CPU threads (default: all cores).")] = None,  # noqa: UP045
    device: Annotated[str, typer.Option(help="auto, cpu or gpu (or cuda:N / mps with torch models).")] = "auto",
    format: Annotated[Optional[str], typer.Option("--format", "-f", help="png, jpg, webp or tiff.")] = None,  # noqa: UP045
    quality: Annotated[Optional[int], typer.Option(min=1, max=100, help="JPEG/WebP quality (default 95).")] = None,  # noqa: UP045
    overwrite: Annotated[bool, typer.Option(help="Replace existing outputs.")] = False,
    max_pixels: Annotated[int, typer.Option(min=1, help="Refuse inputs with more pixels (decompression bombs).")] = 100_000_000,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no summary lines.")] = False,
    json_lines: Annotated[bool, typer.Option("--json", help="One JSON summary line per output.")] = False,
) -> None:
    """Upscale photos with a super-resolution model (default: the embedded Real-ESRGAN x4plus)."""
    from .. import api
    from ..models import DEFAULT_UPSCALE_MODEL
    from ..models.loaders import LoadOptions
    from ..outputs import suffix_tag
    from ..stages.upscale import UpscaleParams

    load = LoadOptions(device=device, threads=threads)
    try:
        params = UpscaleParams(model=model or DEFAULT_UPSCALE_MODEL, scale=scale, tile=parse_tile(tile),
                               tile_overlap=tile_overlap)
        runtime = api.default_engine()
        spec = runtime.registry.get(params.model)
        plans, _ = plan_file_jobs(inputs, output, format, suffix_tag(params.scale, spec.scale))
        runtime.load(params.model, load)  # a missing model or device is one error line, not one per file
    except ReviveError as err:
        raise fail(err) from err

    def run_one(plan: OutputPlan) -> UpscaleResult:
        return api.upscale_file(
            plan.source, plan.target, params=params, load=load, format=plan.format, quality=quality,
            overwrite=overwrite, max_pixels=max_pixels, runtime=runtime, progress=progress,
        )

    def summarize(result: UpscaleResult) -> list[str]:
        w, h = result.output_size
        return [f"{result.input} → {result.output}  ({w}×{h}, {result.seconds:.1f} s)"]

    progress = TileProgress(enabled=not quiet and not json_lines)
    raise typer.Exit(run_file_jobs(plans, run_one, summarize, progress=progress, quiet=quiet, json_lines=json_lines))


def register(app: typer.Typer) -> None:
    app.command(no_args_is_help=True)(upscale)
