"""Options that several commands share, declared once (with real metavars in --help)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import api

MAX_THREADS = 4 * (os.cpu_count() or 1)

# No help text on the argument: plain help would print its Python type; commands' docstrings describe IMAGE.
INPUTS = Annotated[list[Path], typer.Argument(metavar="IMAGE", show_default=False)]
OUTPUT = Annotated[Optional[str], typer.Option("-o", "--output", metavar="FILE|DIR", help="Output file, or folder for several inputs ('-' writes stdout).")]  # noqa: UP045
PRINT = Annotated[Optional[str], typer.Option("--print", metavar="WxH[cm|in][@DPI]", help="Pick the scale that fills this print, e.g. 30x40cm@300.")]  # noqa: UP045
TILE = Annotated[str, typer.Option(metavar="auto|PX", help="Tile size in pixels, or 'auto' (from the memory budget).")]
TILE_OVERLAP = Annotated[int, typer.Option(min=0, max=256, metavar="PX", help="Context pixels each tile borrows from its neighbours.")]
THREADS = Annotated[Optional[int], typer.Option(min=1, max=MAX_THREADS, metavar="N", help=f"CPU threads, 1 to {MAX_THREADS} (default: all cores).")]  # noqa: UP045
DEVICE = Annotated[str, typer.Option(metavar="auto|cpu|gpu", help="auto, cpu or gpu (or cuda:N / mps with torch models).")]
MEMORY = Annotated[Optional[str], typer.Option(metavar="SIZE", help="Memory budget, e.g. 4G (default: half of what is free).")]  # noqa: UP045
FORMAT = Annotated[Optional[str], typer.Option("--format", "-f", metavar="png|jpg|webp|tiff", help="Output format (default: the input's when writable, else PNG).")]  # noqa: UP045
QUALITY = Annotated[Optional[int], typer.Option(min=1, max=100, metavar="1-100", help="JPEG/WebP quality (default 95).")]  # noqa: UP045
OVERWRITE = Annotated[bool, typer.Option("--overwrite", metavar="", help="Replace existing outputs.")]
MAX_PIXELS = Annotated[int, typer.Option(min=1, metavar="N", help="Refuse inputs with more pixels (decompression bombs).")]
QUIET = Annotated[bool, typer.Option("--quiet", "-q", metavar="", help="No progress and no summary lines.")]
JSON = Annotated[bool, typer.Option("--json", metavar="", help="One JSON line per photo.")]


def stage_option(name: str, note: str = "") -> typer.models.OptionInfo:
    """A stage's knob in ``enhance`` (``--color``): metavar and help come from the stage's own
    ``StageOption``, so what --help advertises is what the library accepts (a test checks both ways)."""
    option = api.stages().options()[name]
    return typer.Option(f"--{name}", metavar=option.metavar, help=f"{option.help} {note}".strip())


def parse_print(value: str | None) -> api.PrintSize | None:
    return None if value is None else api.PrintSize.parse(value)


def parse_pairs(values: list[str]) -> dict[str, str]:
    """``--set OPTION=VALUE`` values as a mapping."""
    pairs = {}
    for value in values:
        name, sep, setting = value.partition("=")
        if not sep or not name.strip():
            raise api.InvalidParameter(f"--set takes OPTION=VALUE, got {value!r}")
        pairs[name.strip()] = setting.strip()
    return pairs


# --- diffusion (fill, generative upscaling) ---------------------------------------------------------
PROMPT = Annotated[str, typer.Option("--prompt", "-p", metavar="TEXT", help="What the picture shows or should show.")]
GEN_PROMPT = Annotated[str, typer.Option("--prompt", "-p", metavar="TEXT", help="Generative: what the photo shows (default: a generic photo prompt).")]
NEGATIVE_PROMPT = Annotated[str, typer.Option("--negative-prompt", "-n", metavar="TEXT", help="What to steer away from (needs --guidance above 1).")]
SEED = Annotated[Optional[int], typer.Option(min=0, metavar="N", help="Seed: the same seed gives the same pixels (default: a random one, recorded).")]  # noqa: UP045
STEPS = Annotated[int, typer.Option(min=1, max=500, metavar="N", help="Denoising steps.")]
GUIDANCE = Annotated[float, typer.Option(min=0.0, max=50.0, metavar="X", help="How closely to follow the prompt (classifier-free guidance).")]
CONFIG = Annotated[Optional[str], typer.Option("--config", metavar="FOLDER", help="For a single-file checkpoint: a local diffusers folder of the same architecture.")]  # noqa: UP045
CREATIVITY = Annotated[Optional[float], typer.Option(min=0.0, max=1.0, metavar="0-1", help="Generative: how far diffusion may move from the faithful upscale (default: the subject's preset).")]  # noqa: UP045
RESEMBLANCE = Annotated[Optional[float], typer.Option(min=0.0, max=1.0, metavar="0-1", help="Generative: how tightly the result is held to the faithful upscale (default: the preset).")]  # noqa: UP045
HDR = Annotated[Optional[float], typer.Option(min=0.0, max=1.0, metavar="0-1", help="Generative: local contrast and micro-detail (default: the preset).")]  # noqa: UP045
CONTROLNET = Annotated[Optional[str], typer.Option("--controlnet", metavar="FOLDER|NAME|none", help="Generative: a tile ControlNet (default: the store's controlnet-tile if present).")]  # noqa: UP045


def creative_settings(*, creativity: float | None, resemblance: float | None, hdr: float | None, prompt: str,
                      negative_prompt: str, seed: int | None, steps: int, guidance: float, model: str | None,
                      config: str | None, controlnet: str | None) -> api.CreativeSettings:
    return api.CreativeSettings(creativity=creativity, resemblance=resemblance, hdr=hdr, prompt=prompt,
                                negative_prompt=negative_prompt, seed=seed, steps=steps, guidance=guidance,
                                diffusion_model=model, config=config, controlnet=controlnet)
