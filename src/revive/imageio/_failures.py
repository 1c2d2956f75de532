"""Turning a decoder's exception into one honest sentence.

"corrupt" is said only of files that are damaged; a file that is fine but needs something this
installation lacks is "not supported: <exactly what>", with the way out.
"""

from __future__ import annotations

import re

from revive.errors import ImageReadError

from ._formats import pretty
from ._pil import PillowRefused
from ._tiff import TiffCodecMissing

_REEXPORT = "re-export or re-download it"
_CONVERT = "convert it to PNG or TIFF with another program"


def describe_failure(fmt: str, e: BaseException, *, truncated: bool) -> tuple[type[ImageReadError], str]:
    """The error class and message (without the path) for a file of format ``fmt`` that failed with ``e``."""
    text = str(e)
    name = pretty(fmt)
    if isinstance(e, TiffCodecMissing):
        return ImageReadError, f"not supported: {text}"
    if truncated or getattr(e, "truncated", False) or re.search(r"truncat|ends early|failed to read", text, re.I):
        return ImageReadError, f"file is truncated or corrupt ({name} data ends early): {_REEXPORT}"
    if m := re.search(r"cannot handle (\d+)-bit layers", text):
        return ImageReadError, (
            f"not supported: {m[1]}-bit JPEG (Pillow's libjpeg reads 8-bit JPEG only): {_CONVERT}"
        )
    if m := re.search(r"cannot handle (\d+)-layer images", text):
        return ImageReadError, f"not supported: JPEG with {m[1]} colour components: {_CONVERT}"
    if m := re.search(r"decoder (\S+) not available", text):
        return ImageReadError, f"not supported: {name} needing the {m[1]} decoder, which this Pillow lacks: {_CONVERT}"
    if m := re.match(r"unsupported\s+(.*)", text, re.I | re.S):
        what = m[1].rstrip(".")
        what = what if what.upper().startswith(fmt) or what.startswith(name) else f"{name} {what}"
        return ImageReadError, f"not supported: {what}: {_CONVERT}"
    if "MAX_TEXT_CHUNK" in text or "MAX_TEXT_MEMORY" in text:
        return ImageReadError, (
            f"refused: a text chunk of this {name} inflates to more than Pillow allows "
            "(a guard against decompression bombs)"
        )
    if isinstance(e, PillowRefused):
        return ImageReadError, f"file is corrupt: its {name} header cannot be parsed ({_reason(e)}): {_REEXPORT}"
    return ImageReadError, f"file is corrupt: its {name} data cannot be decoded ({_reason(e)}): {_REEXPORT}"


def _reason(e: BaseException) -> str:
    text = " ".join(str(e).split())
    if not text or text.lstrip("-").isdigit():  # "0", "-2": a code, not a reason
        return type(e).__name__ + (f" {text}" if text else "")
    return text[:200]
