"""One loader per runtime, looked up in a registry (no if-chains over runtime names).

Runtimes are imported lazily: the core install only has ncnn; torch and onnxruntime come with
the ``revive-photo[torch]`` and ``revive-photo[onnx]`` extras.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import RuntimeUnavailable, UnsupportedModel
from .spec import ImageModel, ModelSpec

DeviceRequest = Literal["auto", "cpu", "gpu"]


@dataclass(frozen=True)
class LoadOptions:
    device: DeviceRequest | str = "auto"  # "auto", "cpu", "gpu", or a runtime-specific name like "cuda:1"
    threads: int | None = None  # CPU threads; None = all cores
    half: bool | None = None  # fp16/bf16 on GPU; None = where the architecture supports it


Loader = Callable[[ModelSpec, list[Path], LoadOptions], ImageModel]

# runtime name → ("module", "function", "extra to install"), resolved on first use.
_LOADERS: dict[str, tuple[str, str, str]] = {
    "ncnn": ("revive.models.ncnn_runtime", "load", "revive-photo"),
    "torch": ("revive.models.torch_runtime", "load", "revive-photo[torch]"),
    "onnx": ("revive.models.onnx_runtime", "load", "revive-photo[onnx]"),
}


def register_loader(runtime: str, module: str, function: str, extra: str) -> None:
    if runtime in _LOADERS:
        raise ValueError(f"a loader for runtime {runtime!r} is already registered")
    _LOADERS[runtime] = (module, function, extra)


def get_loader(runtime: str) -> Loader:
    try:
        module_name, function, extra = _LOADERS[runtime]
    except KeyError:
        raise UnsupportedModel(f"no runtime named {runtime!r}; known: {', '.join(sorted(_LOADERS))}") from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise RuntimeUnavailable(
            f"the {runtime} runtime is not installed ({err.name or err}); install it with: pip install \"{extra}\""
        ) from err
    loader: Loader = getattr(module, function)
    return loader
