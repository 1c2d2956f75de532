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
