"""`revive faces`: restore the faces in photos (detect, align, restore, paste back, check identity)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .. import api
from .common import make_engine, prepare, run_command, summary_line
from .options import DEVICE, FORMAT, INPUTS, JSON, MAX_PIXELS, MEMORY, OUTPUT, OVERWRITE, QUALITY, QUIET, THREADS


def faces(
    inputs: INPUTS,
    output: OUTPUT = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", metavar="NAME", help=f"Face model (default {api.DEFAULT_FACE_MODEL}; see 'revive models list').")] = None,  # noqa: UP045
    strength: Annotated[float, typer.Option(min=0.0, max=1.0, metavar="0-1", help="Share of the restored face over the original.")] = 0.75,
    fidelity: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, metavar="0-1", help="CodeFormer only: 0 = most detail, 1 = most like the input.")] = None,  # noqa: UP045
    min_size: Annotated[int, typer.Option("--min-size", min=1, max=4096, metavar="PX", help="Skip faces smaller than this.")] = 16,
    upscale: Annotated[float, typer.Option(min=1.0, max=16.0, metavar="FACTOR", help="Enlarge the picture with the upscale model and paste the faces into it.")] = 1.0,
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
    """Restore faces: each is aligned, restored at 512 px, matched to the original's colour, checked
    against the original (a face that may have changed is softened and flagged) and pasted back.

    IMAGE... are image files or folders (searched recursively).

    Use '-' as the input to read stdin and '-o -' to write stdout (with --format).
    """

    def build() -> tuple[api.Engine, list[api.Job], api.OutputOptions]:
        engine = make_engine(device, threads, memory)
        params = api.FaceParams(model=model or api.DEFAULT_FACE_MODEL, strength=strength, fidelity=fidelity,
                                min_size=min_size)
        request = api.FacesRequest(params, upscale=upscale)
        api.face_model(params.model, engine)  # unknown, wrong kind or not downloaded: one line now, not one per file
        jobs = api.file_jobs([str(p) for p in inputs], output, request, engine=engine, operations=api.operations(),
                             format=format)
        return engine, jobs, api.OutputOptions(quality=quality, overwrite=overwrite, max_pixels=max_pixels)

    engine, jobs, options = prepare(build)

    def summarize(result: api.JobResult) -> list[str]:
        details = result.result.details if result.result else {}
        restored = [f for f in details.get("faces", []) if f["strength"] > 0]
        flagged = [f for f in details.get("faces", []) if f.get("identity", {}).get("flagged")]
        skipped = details.get("skipped", [])
        what = f"{len(restored)} face{'s' if len(restored) != 1 else ''} restored"
        what += f", {len(flagged)} flagged" if flagged else ""
        what += f", {len(skipped)} skipped" if skipped else ""
        lines = [summary_line(result, what)]
        lines += [f"  skipped face at {tuple(f['box'])}: {f['reason']}" for f in skipped]
        return lines

    raise typer.Exit(run_command(jobs, engine, output=options, quiet=quiet, json_lines=json_lines, summarize=summarize))


def register(app: typer.Typer) -> None:
    app.command(no_args_is_help=True)(faces)
