"""Model specs, the built-in catalog, the registry, the store and the runtime loaders."""

from __future__ import annotations

from .catalog import BUILTIN_MODELS, DEFAULT_ANIME_MODEL, DEFAULT_FACE_MODEL, DEFAULT_UPSCALE_MODEL
from .registry import ModelRegistry
from .spec import FaceRestorer, ImageModel, ModelFile, ModelSource, ModelSpec
from .store import ModelStore

__all__ = [
    "BUILTIN_MODELS",
    "DEFAULT_ANIME_MODEL",
    "DEFAULT_FACE_MODEL",
    "DEFAULT_UPSCALE_MODEL",
    "FaceRestorer",
    "ImageModel",
    "ModelFile",
    "ModelRegistry",
    "ModelSource",
    "ModelSpec",
    "ModelStore",
    "default_registry",
]


def default_registry(store: ModelStore | None = None) -> ModelRegistry:
    """The catalog plus the models the user imported into the store (those this version can read;
    ``registry.problems`` says what could not be read)."""
    return (store or ModelStore()).registry()
