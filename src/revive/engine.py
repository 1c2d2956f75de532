"""The engine: models by name (with a small cache), device and thread choice, and the memory budget.

One :class:`Engine` serves every front end (CLI, Python, server, batch). Nothing about loading is
module-global: two engines with different devices or budgets can live side by side. The plain
functions of :mod:`revive.api` use a default engine created on first use.
"""

from __future__ import annotations

import gc
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from .errors import ChecksumMismatch, InvalidParameter, ReviveError, UnsafeModel, UnsupportedModel
from .models import ImageModel, ModelRegistry, ModelSpec, ModelStore, default_registry
from .models.loaders import LoadOptions, get_loader
from .tiling import available_memory

# Leave room for the user's other programs: by default a run plans with this share of the memory
# that is free when it starts (a 1 MP → 16 MP upscale once took 6.8 GiB when tiles used all of it).
DEFAULT_MEMORY_SHARE = 0.5
MIN_MEMORY_BUDGET = 256 << 20
T = TypeVar("T")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_memory(text: str) -> int:
    """``4G``, ``512M``, ``2.5GiB`` or a number of bytes → bytes."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b)?\s*", text.lower())
    if match is None:
        raise InvalidParameter(f"memory takes a size like 4G, 512M or 2.5GiB, got {text!r}")
    value = float(match.group(1)) * _UNITS[match.group(2)]
    if value < MIN_MEMORY_BUDGET:
        raise InvalidParameter(f"a memory budget below {MIN_MEMORY_BUDGET >> 20} MiB cannot run a model, got {text!r}")
    return int(value)


def check_memory(memory: int | None) -> None:
    """Refuse a memory budget no model can run in (None: a share of what is free)."""
    if memory is not None and memory < MIN_MEMORY_BUDGET:
        raise InvalidParameter(f"a memory budget below {MIN_MEMORY_BUDGET >> 20} MiB cannot run a model")


class Engine:
    """Turns model names into loaded models (keeping the last few warm) under one memory budget.

    ``memory`` is the number of bytes a run may plan with (tiles are sized from it); None takes
    half of the memory free when a run starts.
    """

    def __init__(
        self,
        registry: ModelRegistry | None = None,
        store: ModelStore | None = None,
        options: LoadOptions | None = None,
        *,
        memory: int | None = None,
        cache_size: int = 2,
    ) -> None:
        self.store = store or ModelStore()
        self.registry = registry if registry is not None else default_registry(self.store)  # an empty one is falsy
        self.options = options or LoadOptions()
        check_memory(memory)
        self.memory = memory
        self._cache: OrderedDict[Hashable, Any] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        memory = "auto" if self.memory is None else f"{self.memory / (1 << 30):.1f} GiB"
        return f"Engine(device={self.options.device!r}, threads={self.options.threads}, memory={memory})"

    @property
    def memory_budget(self) -> int:
        """Bytes a run may use now: the given budget, or a share of what is free."""
        if self.memory is not None:
            return self.memory
        return max(MIN_MEMORY_BUDGET, int(available_memory() * DEFAULT_MEMORY_SHARE))

    @property
    def threads(self) -> int:
        return self.options.threads or os.cpu_count() or 1

    def load(self, name: str, options: LoadOptions | None = None) -> ImageModel:
        options = options or self.options
        key = (name, options)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            spec = self.registry.get(name)
            loader = get_loader(spec.runtime)  # a missing runtime first: no point pulling a model it cannot run
            paths = self.store.locate(spec)
            try:
                model = loader(spec, paths, options)
            except (UnsupportedModel, UnsafeModel) as err:
                self._raise_if_damaged(spec, err)
                raise
            self._remember(key, model)
            return model

    def keep(self, key: Hashable, build: Callable[[], T]) -> T:
        """Something costly to load that is not a registry model (a diffusion pipeline from a folder),
        built once and kept warm beside the models, under the same cache limit."""
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]  # type: ignore[no-any-return]
            value = build()
            self._remember(key, value)
            return value

    def _remember(self, key: Hashable, value: Any) -> None:
        self._cache[key] = value
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _raise_if_damaged(self, spec: ModelSpec, err: ReviveError) -> None:
        """A file that no longer matches its recorded sha256 explains a load failure better than the
        loader's own message; only checked after a failure, so a good load costs no hashing."""
        damaged = [p for r in self.store.verify([spec]) if r.status == "mismatch" for p in r.problems]
        if damaged:
            raise ChecksumMismatch(f"model {spec.name!r} is damaged ({damaged[0]}); {self.store.repair(spec)}") from err

    def clear(self) -> None:
        """Drop loaded models and give their memory back (GPU memory too)."""
        with self._lock:
            self._cache.clear()
        gc.collect()
        empty_cache = getattr(_torch_cuda(), "empty_cache", None)
        if empty_cache is not None:
            empty_cache()


def _torch_cuda() -> object | None:
    import sys

    torch = sys.modules.get("torch")  # only if something already imported it
    return getattr(torch, "cuda", None) if torch is not None else None
