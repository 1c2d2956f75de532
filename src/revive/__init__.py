"""revive — local, private AI photo enhancement."""

from __future__ import annotations

from .api import (
    EnhanceFileResult,
    EnhanceOptions,
    Plan,
    UpscaleResult,
    enhance,
    enhance_file,
    plan,
    read,
    upscale,
    upscale_file,
    write,
)
from .errors import ReviveError
from .types import ImageMeta, Photo

__all__ = [
    "EnhanceFileResult", "EnhanceOptions", "ImageMeta", "Photo", "Plan", "ReviveError", "UpscaleResult", "enhance",
    "enhance_file", "plan", "read", "upscale", "upscale_file", "write",
]
__version__ = "0.1.0"
