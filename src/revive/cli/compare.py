"""`revive compare`: PSNR and SSIM of B against reference A (BasicSR conventions), and a strip."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import api
from .common import EXIT_FAILED, EXIT_OK, error_line, note_line, out_console, print_json


def compare(
    a: Annotated[Path, typer.Argument(help="Reference image.", show_default=False)],
    b: Annotated[Path, typer.Argument(help="Image to score against A.", show_default=False)],
    y: Annotated[bool, typer.Option("--y", metavar="", help="Compare luma only (Y of BT.601 YCbCr), as SR papers do.")] = False,
    crop: Annotated[int, typer.Option("--crop", min=0, metavar="PX", help="Pixels cut from every border first (SR papers: the scale).")] = 0,
    json_lines: Annotated[bool, typer.Option("--json", metavar="", help="One JSON object on stdout.")] = False,
    strip: Annotated[Optional[Path], typer.Option("--strip", help="Also write A and B side by side to this image.")] = None,  # noqa: UP045
    overwrite: Annotated[bool, typer.Option(metavar="", help="Replace an existing --strip file.")] = False,
) -> None:
    """PSNR (dB) and SSIM of B against A. Sizes must match, or differ by an integer factor."""
    subject: Path = a
    try:
        photo_a = api.read(a)
        subject = b
        photo_b = api.read(b)
        result = api.compare(photo_a, photo_b, crop_border=crop, y_channel=y)
        if result.resized_from is not None:
            (bw, bh), (aw, ah) = result.resized_from, result.size
            note_line(f"{b} is {bw}×{bh} and {a} is {aw}×{ah}: resized B to A with INTER_AREA")
        if strip is not None:
            subject = strip
            api.write(api.side_by_side(photo_a, photo_b, (a.name, b.name)), strip, overwrite=overwrite,
                          protect=(a, b))
    except api.ReviveError as err:
        error_line(str(err), subject)
        if json_lines:
            print_json({"a": str(a), "b": str(b), "error": str(err)})
        raise typer.Exit(EXIT_FAILED) from err
    if json_lines:
        print_json({"a": str(a), "b": str(b), **result.to_dict(), **({"strip": str(strip)} if strip else {})})
    else:
        value = "inf" if math.isinf(result.psnr) else f"{result.psnr:.4f}"
        what = "Y" if y else "RGB"
        quality = "n/a (under 11×11 px)" if math.isnan(result.ssim) else f"{result.ssim:.4f}"
        out_console.print(f"PSNR {value} dB   SSIM {quality}   ({what}, crop {crop})")
        if strip is not None:
            out_console.print(f"strip → {strip}")
    raise typer.Exit(EXIT_OK)


def register(app: typer.Typer) -> None:
    app.command(no_args_is_help=True)(compare)
