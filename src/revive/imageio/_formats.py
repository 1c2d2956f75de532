"""Every image format revive knows, declared once: names, suffixes, and what it can read, write and carry.

The rest of imageio (and :mod:`revive.outputs`) reads these specs instead of asking "is it JPEG?":
what a write loses is the difference between the photo and the target format's spec.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from revive.errors import InvalidParameter

Metadata = Literal["exif", "icc", "dpi", "xmp"]


@dataclass(frozen=True)
class FormatSpec:
    """One file format. ``key`` is Pillow's format name; ``write`` is revive's short name if revive writes it."""

    key: str  # "PNG", "JPEG", "WEBP"… as Pillow and the sniffer call it
    pretty: str  # as users know it: "JPEG", "WebP", "HEIC"
    suffixes: tuple[str, ...]  # the first one is used for new outputs
    write: str | None = None  # "png", "jpg", "webp", "tiff"; None: read only
    carries: frozenset[Metadata] = frozenset()  # metadata a written file keeps
    depths: tuple[int, ...] = (8,)  # bits per sample it writes
    gray: bool = False  # writes one-channel gray (else gray is stored as RGB)
    alpha: bool = False  # writes an alpha channel (else composited over white)
    max_side: int | None = None  # the largest width or height the container allows
    max_dpi: float | None = None  # the largest resolution its field can hold
    max_segment: int | None = None  # the largest metadata block (EXIF, XMP) one segment holds, in bytes
    plugin: str | None = None  # what reading it needs beyond Pillow, if anything


_ALL: frozenset[Metadata] = frozenset({"exif", "icc", "dpi", "xmp"})

FORMATS: tuple[FormatSpec, ...] = (
    FormatSpec("PNG", "PNG", (".png",), "png", _ALL, (8, 16), gray=True, alpha=True),
    FormatSpec(
        "JPEG", "JPEG", (".jpg", ".jpeg", ".jpe", ".jfif"), "jpg", _ALL, gray=True,
        max_side=65_500, max_dpi=65_535, max_segment=65_533,
    ),  # fmt: skip
    FormatSpec("WEBP", "WebP", (".webp",), "webp", frozenset({"exif", "icc", "xmp"}), alpha=True, max_side=16_383),
    FormatSpec("TIFF", "TIFF", (".tiff", ".tif"), "tiff", _ALL, (8, 16), gray=True, alpha=True),
    FormatSpec("BMP", "BMP", (".bmp", ".dib")),
    FormatSpec("GIF", "GIF", (".gif",)),
    FormatSpec("HEIF", "HEIC", (".heic", ".heif", ".hif"), plugin="pillow-heif"),
    FormatSpec("AVIF", "AVIF", (".avif",), plugin="Pillow 11.3 or later with AVIF"),
)

BY_KEY: dict[str, FormatSpec] = {f.key: f for f in FORMATS}
BY_WRITE_NAME: dict[str, FormatSpec] = {f.write: f for f in FORMATS if f.write}
READ_FORMATS: tuple[str, ...] = tuple(f.key for f in FORMATS)
SUPPORTED_WRITE_FORMATS: tuple[str, ...] = tuple(BY_WRITE_NAME)
EXTENSIONS: dict[str, str] = {s: f.key for f in FORMATS for s in f.suffixes}
# what a user may type for a write format: "jpg", "jpeg", "JPEG", ".tif"…
_WRITE_ALIASES: dict[str, FormatSpec] = {
    **{s.lstrip("."): f for f in BY_WRITE_NAME.values() for s in f.suffixes},
    **BY_WRITE_NAME,
}


def pretty(key: str) -> str:
    """A format name as users know it: "JPEG", "PNG", "WebP", "HEIC"."""
    spec = BY_KEY.get(key)
    return spec.pretty if spec else key


def write_spec(fmt: str) -> FormatSpec:
    """The spec of a format revive writes, by any of its names ("jpg", "JPEG", ".tif"…)."""
    spec = _WRITE_ALIASES.get(fmt.lower().lstrip("."))
    if spec is None:
        raise InvalidParameter(f"cannot write format {fmt!r}: choose one of {', '.join(SUPPORTED_WRITE_FORMATS)}")
    return spec


def normalize_write_format(fmt: str) -> str:
    name = write_spec(fmt).write
    assert name is not None
    return name


def format_for_path(path: str | os.PathLike[str]) -> str:
    """The output format ("png", "jpg", "webp" or "tiff") that a path's extension asks for."""
    suffix = Path(path).suffix.lower()
    spec = _WRITE_ALIASES.get(suffix.lstrip(".")) if suffix else None
    if spec is None or spec.write is None:
        shown = f"extension {suffix!r}" if suffix else "no extension"
        raise InvalidParameter(
            f"{os.fspath(path)} has {shown}: name the output .png, .jpg, .webp or .tiff, or give the format explicitly"
        )
    return spec.write


def extension_format(path: Path) -> str | None:
    return EXTENSIONS.get(path.suffix.lower())
