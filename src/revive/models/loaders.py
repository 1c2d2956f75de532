"""The runtime table: every runtime revive can run models with, in ONE place.

A row says which module loads its models, which packages it needs, what to ``pip install`` for
them, and which model files it reads. The store checks imported specs against it, the importer
names its suffixes, and :func:`get_loader` turns a row into a loader. Runtimes are imported
lazily: the core install only has ncnn; torch and onnxruntime come with the
``revive-photo[torch]`` and ``revive-photo[onnx]`` extras.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import InvalidParameter, RuntimeUnavailable, UnsupportedModel
from .spec import ImageModel, ModelSpec

DeviceRequest = Literal["auto", "cpu", "gpu"]
THREADS_PER_CORE = 4  # more threads than this only adds contention


def max_threads() -> int:
    return THREADS_PER_CORE * (os.cpu_count() or 1)


@dataclass(frozen=True)
class LoadOptions:
    device: DeviceRequest | str = "auto"  # "auto", "cpu", "gpu", or a runtime-specific name like "cuda:1"
    threads: int | None = None  # CPU threads; None = all cores
    half: bool | None = None  # fp16/bf16 on GPU; None = where the architecture supports it

    def __post_init__(self) -> None:
        if not isinstance(self.device, str) or not self.device.strip():
            raise InvalidParameter(f"device must be a name like auto, cpu or gpu, got {self.device!r}")
        if self.threads is not None:
            limit = max_threads()
            if isinstance(self.threads, bool) or not isinstance(self.threads, int) or not 1 <= self.threads <= limit:
                raise InvalidParameter(
                    f"threads must be a whole number from 1 to {limit} ({THREADS_PER_CORE} × the "
                    f"{os.cpu_count() or 1} CPU cores here), got {self.threads!r}"
                )
        if self.half is not None and not isinstance(self.half, bool):
            raise InvalidParameter(f"half must be True, False or None, got {self.half!r}")


Loader = Callable[[ModelSpec, list[Path], LoadOptions], ImageModel]


@dataclass(frozen=True)
class Runtime:
    """One runtime: ``module.loader(spec, paths, options)`` loads its models.

    ``packages`` are the importable packages it needs (checked before ``module`` is imported, so a
    missing one is "not supported: needs X", never a traceback); ``extra`` is what to install for
    them; ``suffixes`` are the model files it reads, the first being the file a spec names first.
    """

    name: str
    module: str
    loader: str
    extra: str
    packages: tuple[str, ...]
    suffixes: tuple[str, ...]


class RuntimeTable:
    """Runtimes by name. Adding a name twice is refused and leaves the table unchanged."""

    def __init__(self, runtimes: Iterable[Runtime] = ()) -> None:
        self._by_name: dict[str, Runtime] = {}
        for runtime in runtimes:
            self.add(runtime)

    def add(self, runtime: Runtime) -> None:
        if runtime.name in self._by_name:
            raise InvalidParameter(f"a runtime named {runtime.name!r} is already registered")
        self._by_name[runtime.name] = runtime

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Runtime]:
        return iter(self._by_name.values())

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def get(self, name: str) -> Runtime:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnsupportedModel(f"no runtime named {name!r}; known: {', '.join(self._by_name)}") from None

    def loader(self, name: str) -> Loader:
        runtime = self.get(name)
        missing = missing_package(runtime.packages)
        if missing is not None:
            raise not_supported(f"{name} models", missing, runtime.extra)
        try:
            module = importlib.import_module(runtime.module)
        except ImportError as err:  # a package present but broken, or one it imports that is not
            raise not_supported(f"{name} models", err.name or str(err), runtime.extra) from err
        loader: Loader = getattr(module, runtime.loader)
        return loader


def missing_package(packages: Iterable[str]) -> str | None:
    """The first of ``packages`` that cannot be imported here, or None."""
    for package in packages:
        try:
            if importlib.util.find_spec(package) is None:
                return package
        except (ImportError, ValueError):  # a parent package missing, or a module set to None in sys.modules
            return package
    return None


def first_line(err: BaseException, limit: int = 200) -> str:
    """The first line of a runtime's error message, for a one-line refusal."""
    lines = str(err).strip().splitlines()
    return lines[0][:limit] if lines else type(err).__name__


def not_supported(what: str, package: str, extra: str) -> RuntimeUnavailable:
    """The one wording for a missing dependency (never "corrupt": the file may be fine)."""
    return RuntimeUnavailable(f"{what}: not supported: needs {package} (pip install \"{extra}\")")


RUNTIMES = RuntimeTable(
    [
        Runtime("ncnn", "revive.models.ncnn_runtime", "load", "revive-photo", ("ncnn",), (".param", ".bin")),
        Runtime("torch", "revive.models.torch_runtime", "load", "revive-photo[torch]",
                ("torch", "spandrel", "safetensors"), (".pth", ".pt", ".ckpt", ".bin", ".safetensors")),
        Runtime("onnx", "revive.models.onnx_runtime", "load", "revive-photo[onnx]", ("onnxruntime",), (".onnx",)),
    ]
)


def get_loader(runtime: str) -> Loader:
    return RUNTIMES.loader(runtime)
