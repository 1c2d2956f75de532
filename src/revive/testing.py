"""Fakes for tests and examples: models that need no weights, and an engine that serves them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .engine import Engine
from .models import ModelRegistry, ModelSpec
from .models.loaders import LoadOptions
from .models.spec import ExtraInput, ImageModel, Tiling


def fake_spec(name: str = "nearest-x4", scale: int = 4, purpose: str = "upscale",
              options: tuple[tuple[str, str], ...] = ()) -> ModelSpec:
    return ModelSpec(name=name, purpose=purpose, runtime="ncnn", architecture="fake", scale=scale,  # type: ignore[arg-type]
                     files=(), license="MIT", description="test fake", options=options)


class NearestModel:
    """×scale nearest-neighbour 'super-resolution': exact, instant, and easy to reason about.

    Its capabilities are declared like a real model's; tests set them (``multiple_of``,
    ``tiling``…) to see that stages read them.
    """

    input_channels = 3
    output_channels = 3
    supports_half = False
    multiple_of = 1
    min_size = 1
    tiling: Tiling = "supported"
    extra_inputs: tuple[ExtraInput, ...] = ()
    memory_budget: int | None = None

    def __init__(self, scale: int = 4, name: str | None = None, options: tuple[tuple[str, str], ...] = ()) -> None:
        self.scale = scale
        self.spec = fake_spec(name or f"nearest-x{scale}", scale, options=options)
        self.device = "cpu"
        self.calls: list[tuple[int, int]] = []

    def bytes_per_input_pixel(self) -> int:
        return 64 * self.scale * self.scale

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        self.calls.append(tile.shape[:2])
        return np.repeat(np.repeat(tile, self.scale, axis=0), self.scale, axis=1)


class FakeEngine(Engine):
    """An Engine over given model objects; nothing is read from disk."""

    def __init__(self, *models: ImageModel) -> None:
        super().__init__(registry=ModelRegistry(m.spec for m in models))
        self.models = {m.spec.name: m for m in models}

    def load(self, name: str, options: LoadOptions | None = None) -> ImageModel:
        self.registry.get(name)  # same error for unknown names as the real runtime
        return self.models[name]


class FunctionModel:
    """A ×1 model that applies ``fn`` to what it is given: a face restorer that sharpens, mirrors,
    shifts or returns its input, for tests and benchmarks of everything around the model."""

    def __init__(self, name: str, fn: Callable[[np.ndarray], np.ndarray], purpose: str = "restore-face") -> None:
        self.scale = 1
        self.spec = fake_spec(name, 1, purpose)
        self.device = "cpu"
        self.fn = fn
        self.calls = 0

    def bytes_per_input_pixel(self) -> int:
        return 64

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        self.calls += 1
        return np.ascontiguousarray(self.fn(tile), dtype=np.float32)
