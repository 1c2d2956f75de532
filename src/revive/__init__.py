"""revive — local, private AI photo enhancement."""

from __future__ import annotations

from ._version import __version__
from .api import (
    Comparison,
    Diagnosis,
    Engine,
    EnhanceOptions,
    EnhanceRequest,
    EraseParams,
    EraseRequest,
    FacesRequest,
    FillParams,
    FillRequest,
    JobResult,
    Plan,
    UpscaleParams,
    UpscaleRequest,
    compare,
    default_engine,
    diagnose,
    enhance,
    erase,
    fill,
    plan,
    process,
    read,
    restore_faces,
    upscale,
    write,
)
from .errors import ReviveError
from .types import ImageMeta, Photo

__all__ = [
    "Comparison", "Diagnosis", "Engine", "EnhanceOptions", "EnhanceRequest", "FacesRequest", "ImageMeta", "JobResult",
    "Photo", "Plan",
    "ReviveError", "UpscaleParams", "UpscaleRequest", "__version__", "compare", "default_engine", "diagnose", "enhance",
    "plan", "process", "read", "restore_faces", "upscale", "write", "FacesRequest",
    "EraseParams", "EraseRequest", "FillParams", "FillRequest", "erase", "fill",
]
