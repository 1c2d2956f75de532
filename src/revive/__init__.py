"""revive — local, private AI photo enhancement."""

from __future__ import annotations

from .api import UpscaleResult, read, upscale, upscale_file, write
from .errors import ReviveError
from .types import ImageMeta, Photo

__all__ = ["ImageMeta", "Photo", "ReviveError", "UpscaleResult", "read", "upscale", "upscale_file", "write"]
__version__ = "0.1.0"
