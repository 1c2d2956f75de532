"""revive — local, private AI photo enhancement."""

from __future__ import annotations

from .api import (
    Comparison,
    Diagnosis,
    EnhanceFileResult,
    EnhanceOptions,
    Plan,
    UpscaleResult,
    compare,
    diagnose,
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
    "Comparison", "Diagnosis", "EnhanceFileResult", "EnhanceOptions", "ImageMeta", "Photo", "Plan", "ReviveError",
    "UpscaleResult", "compare", "diagnose", "enhance", "enhance_file", "plan", "read", "upscale", "upscale_file",
    "write",
]
__version__ = "0.1.0"
