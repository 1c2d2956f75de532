"""Reading and writing images without losing pixels or metadata.

This package is the only place in revive that knows Pillow, OpenCV's BGR order, bit depths and
metadata containers. Everything else sees :class:`~revive.types.Photo`.

* :func:`read` sniffs the format from the content (PNG, JPEG, WebP, TIFF, BMP, GIF; HEIC with
  ``pillow-heif``, AVIF with a Pillow that has it), checks the pixel count on the header before
  decoding, turns the pixels upright (EXIF orientation) and keeps EXIF, ICC, DPI, bit depth and
  JPEG quantization tables in :class:`~revive.types.ImageMeta`. 16-bit PNG and TIFF stay 16-bit.
  Only regular files are opened (a FIFO, a device or /dev/zero is refused before any read), and
  the libraries' warnings become ``photo.meta.notes`` instead of lines on stderr.
* :func:`write` stores PNG, JPEG, WebP or TIFF atomically, carries ICC and DPI as they are and
  EXIF with orientation 1 and the new pixel size; it never overwrites an input. Every output
  records in XMP what revive did (a :class:`~revive.types.ProcessingRecord`), merged into the
  source's own XMP; :func:`read_record` reads it back.
  :func:`write_notes` says beforehand what a format will lose (alpha in JPEG, 16 bits in WebP…).
* :func:`write_bytes` / :func:`write_text` write any other file (reports) through the same
  atomic, no-clobber helper.
* :data:`FORMATS` declares every format once: suffixes, read/write, metadata carried, depths.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from revive.errors import InvalidParameter
from revive.types import ImageMeta, Photo, ProcessingRecord

from ._atomic import fit_name, write_bytes, write_text
from ._formats import FORMATS, SUPPORTED_WRITE_FORMATS, FormatSpec, format_for_path
from ._meta import (
    apply_orientation,
    checked_dpi,
    exif_for_output,
    exif_from_tiff,
    icc_color_space,
    orientation_of,
    parse_exif,
    with_exif_prefix,
)
from ._pil import pil_samples, to_pil_image
from ._read import DEFAULT_MAX_PIXELS, read, read_xmp
from ._source import spooled
from ._write import write, write_notes
from ._xmp import GENERATIVE_SOURCE_TYPE, parse_record

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "FORMATS",
    "GENERATIVE_SOURCE_TYPE",
    "SUPPORTED_WRITE_FORMATS",
    "FormatSpec",
    "fit_name",
    "format_for_path",
    "from_pil",
    "read",
    "read_record",
    "read_xmp",
    "spooled",
    "to_pil",
    "write",
    "write_bytes",
    "write_notes",
    "write_text",
]


def read_record(path: str | os.PathLike[str]) -> ProcessingRecord | None:
    """What revive recorded in an output's XMP (None for a file revive did not write); pixels are not decoded."""
    return parse_record(read_xmp(path))


def to_pil(photo: Photo) -> Image.Image:
    """A Pillow image (L, LA, RGB, RGBA; I;16 for 16-bit gray) with ICC, DPI and upright EXIF in ``info``.

    Pillow has no 16-bit colour or gray+alpha mode, so those come back as 8 bits.
    """
    if photo.meta.bit_depth > 8 and photo.is_gray and photo.alpha is None:
        img = Image.fromarray(np.ascontiguousarray(photo.to_array(np.uint16)))  # uint16 HxW → I;16
    else:
        img = to_pil_image(photo.to_array(np.uint8))
    meta = photo.meta
    if meta.icc_profile and icc_color_space(meta.icc_profile) in (None, "GRAY" if photo.is_gray else "RGB"):
        img.info["icc_profile"] = meta.icc_profile
    if meta.dpi:
        img.info["dpi"] = meta.dpi
    exif = exif_for_output(meta.exif, photo.width, photo.height)
    if exif is not None:
        img.info["exif"] = exif.tobytes()
    return img


def from_pil(img: Image.Image) -> Photo:
    """A Photo from a Pillow image, turned upright if its EXIF orientation says so (as :func:`read` does)."""
    if not isinstance(img, Image.Image):
        raise InvalidParameter(f"from_pil needs a PIL.Image.Image, got {type(img).__name__}")
    samples = pil_samples(img)
    dpi, dpi_notes = checked_dpi(img.info.get("dpi"))
    if img.format == "TIFF":  # Pillow has turned a TIFF upright on load and dropped its orientation tag
        raw = exif_from_tiff(img.getexif())
    else:
        raw = with_exif_prefix(img.info.get("exif"))
    quant = getattr(img, "quantization", None) if img.format == "JPEG" else None
    meta = ImageMeta(
        bit_depth=samples.bit_depth,
        icc_profile=samples.icc,
        exif=raw,
        dpi=dpi,
        source_format=img.format,
        notes=(*samples.notes, *dpi_notes),
        jpeg_quantization=tuple(tuple(int(v) for v in quant[k]) for k in sorted(quant)) if quant else None,
    )
    return Photo.from_array(apply_orientation(samples.array, orientation_of(parse_exif(raw))), meta, clip_floats=True)
