"""Metadata that travels with the pixels: EXIF (orientation, pixel sizes), ICC colour space, DPI."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PIL import Image, TiffImagePlugin

ORIENTATION = 0x0112
EXIF_IFD = 0x8769
GPS_IFD = 0x8825
INTEROP_IFD = 0xA005
PIXEL_X, PIXEL_Y = 0xA002, 0xA003
EXIF_PREFIX = b"Exif\x00\x00"

# IFD0 tags that describe the photo rather than the file layout; only these move between containers.
DESCRIPTIVE_TAGS = (0x010E, 0x010F, 0x0110, ORIENTATION, 0x0131, 0x0132, 0x013B, 0x013C, 0x8298)


def with_exif_prefix(raw: bytes | None) -> bytes | None:
    """EXIF as revive keeps it: the APP1 form, starting with "Exif\\0\\0" (PNG's eXIf chunk lacks it)."""
    if not raw:
        return None
    return raw if raw.startswith(EXIF_PREFIX) else EXIF_PREFIX + raw


def parse_exif(raw: bytes | None) -> Image.Exif | None:
    """A Pillow Exif object from a raw block (with or without the "Exif\\0\\0" prefix), None if unusable."""
    if not raw:
        return None
    exif = Image.Exif()
    try:
        exif.load(raw)
        exif.get_ifd(EXIF_IFD)  # parses the sub-IFD now, so a broken one fails here
    except Exception:
        return None
    return exif


def orientation_of(exif: Image.Exif | None) -> int:
    value = exif.get(ORIENTATION, 1) if exif is not None else 1
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1


def apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels (HxW or HxWxC) into the upright image the EXIF orientation describes."""
    ops = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: a.swapaxes(0, 1)[:, ::-1],
        7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
        8: lambda a: a.swapaxes(0, 1)[::-1],
    }
    return np.ascontiguousarray(ops[orientation](arr))


def exif_from_tiff(exif: Image.Exif) -> bytes | None:
    """A TIFF's photo-describing tags (IFD0 subset, Exif and GPS IFDs) as a standalone EXIF block."""
    out = Image.Exif()
    for tag in DESCRIPTIVE_TAGS:
        if tag in exif:
            out[tag] = exif[tag]
    if str(out.get(0x010E, "")).lstrip().startswith(("{", "<", "ImageJ=")):
        del out[0x010E]  # tifffile/ImageJ/OME layout metadata, not a description of the photo
    for tag in (EXIF_IFD, GPS_IFD):
        sub = _sub_ifd(exif, tag)
        if sub:
            out[tag] = sub
    if not len(out):
        return None
    try:
        return out.tobytes()
    except Exception:
        return None


def exif_for_output(raw: bytes | None, width: int, height: int) -> Image.Exif | None:
    """The EXIF to write: orientation reset to 1 (pixels are upright) and pixel sizes updated."""
    exif = parse_exif(raw)
    if exif is None:
        return None
    if ORIENTATION in exif:
        exif[ORIENTATION] = 1
    if EXIF_IFD in exif:
        sub = exif.get_ifd(EXIF_IFD)
        if PIXEL_X in sub or PIXEL_Y in sub:
            sub[PIXEL_X], sub[PIXEL_Y] = width, height
    try:
        exif.tobytes()
    except Exception:
        return None
    return exif


def tiff_extra_ifd(exif: Image.Exif) -> TiffImagePlugin.ImageFileDirectory_v2:
    """The descriptive IFD0 tags and Exif/GPS sub-IFDs of ``exif``, as a little-endian TIFF directory."""
    ifd = TiffImagePlugin.ImageFileDirectory_v2(ifh=b"II*\x00\x08\x00\x00\x00")
    for tag in DESCRIPTIVE_TAGS:
        if tag in exif:
            ifd[tag] = exif[tag]
    for tag in (EXIF_IFD, GPS_IFD):
        sub = _sub_ifd(exif, tag)
        if sub:
            ifd[tag] = sub
    return ifd


def _sub_ifd(exif: Image.Exif, tag: int) -> dict[int, Any]:
    """A sub-IFD as a dict, its Interop pointer replaced by the Interop tags (an offset would dangle)."""
    if tag not in exif:
        return {}
    try:
        sub: dict[int, Any] = dict(exif.get_ifd(tag))
        if INTEROP_IFD in sub:
            interop = exif.get_ifd(INTEROP_IFD)
            if interop:
                sub[INTEROP_IFD] = dict(interop)
            else:
                del sub[INTEROP_IFD]
    except Exception:
        return {}
    return sub


def valid_icc(icc: bytes | None) -> bool:
    """Whether ``icc`` looks like an ICC profile: its size field matches and it carries the "acsp" signature."""
    if not icc or len(icc) < 128:
        return False
    return int.from_bytes(icc[:4], "big") <= len(icc) and icc[36:40] == b"acsp"


def icc_color_space(icc: bytes | None) -> str | None:
    """The data colour space an ICC profile describes: "RGB", "GRAY", "CMYK", "Lab"… (None if unreadable)."""
    if not icc or len(icc) < 20:
        return None
    return icc[16:20].decode("ascii", "replace").strip() or None


DPI_RANGE = (1.0, 1_000_000.0)  # from a fax to a microscope; anything else is a broken field


def clean_dpi(value: object) -> tuple[float, float] | None:
    """A resolution worth keeping (finite, 1 to 1 000 000 dpi), snapped to whole numbers; None otherwise."""
    try:
        x, y = (float(v) for v in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError, OverflowError):
        return None
    low, high = DPI_RANGE
    if not (low <= x <= high and low <= y <= high):  # also false for NaN
        return None
    # PNG and BMP store whole pixels per metre: 72 dpi comes back as 72.009 and 300 as 299.9994, so
    # snap what is within half a pixel per metre (0.0127 dpi) of a whole number
    return (_snap(x), _snap(y))


def checked_icc(icc: bytes | None) -> tuple[bytes | None, list[str]]:
    """The profile if it is one; a damaged one is dropped with a note (writing it would pass the damage on)."""
    if not icc or valid_icc(icc):
        return icc or None, []
    return None, ["the embedded colour profile (ICC) is damaged: left out, colours read as sRGB"]


def checked_dpi(value: object) -> tuple[tuple[float, float] | None, list[str]]:
    """:func:`clean_dpi`, with a note when the file had a resolution field that is not a real value."""
    if value is None:
        return None, []
    dpi = clean_dpi(value)
    if dpi is not None:
        return dpi, []
    try:
        numbers = [float(v) for v in value]  # type: ignore[attr-defined]
    except (TypeError, ValueError, OverflowError):
        numbers = [math.nan]
    if not all(math.isfinite(v) for v in numbers):
        return None, ["resolution field (DPI) is unreadable or not a number: left out"]
    shown = " x ".join(f"{v:g}" for v in numbers)
    return None, [f"resolution field ({shown} dpi) is not a real resolution: left out"]


def _snap(v: float) -> float:
    return float(round(v)) if abs(v - round(v)) <= 0.0128 else v


def jpeg_dpi(info: dict[str, Any], exif: Image.Exif | None) -> tuple[float, float] | None:
    """JPEG DPI as stored (JFIF density, else EXIF resolution), never Pillow's invented 72; may be absurd."""
    unit, density = info.get("jfif_unit"), info.get("jfif_density")
    try:
        if unit in (1, 2) and density:
            scale = 2.54 if unit == 2 else 1.0
            return (density[0] * scale, density[1] * scale)
        if exif is not None and 0x011A in exif and 0x011B in exif:
            scale = 2.54 if exif.get(0x0128, 2) == 3 else 1.0
            return (float(exif[0x011A]) * scale, float(exif[0x011B]) * scale)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError, IndexError):
        return (math.nan, math.nan)  # a field that is there but unreadable: noted as such
    return None
