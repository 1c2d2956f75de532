"""Loading models by name with a small cache, and choosing devices and threads."""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict

from .errors import ChecksumMismatch, ReviveError, UnsafeModel, UnsupportedModel
from .models import ImageModel, ModelRegistry, ModelSpec, ModelStore, default_registry
from .models.loaders import LoadOptions, get_loader


class ModelRuntime:
    """Turns model names into loaded models; keeps the last few warm."""

    def __init__(
        self,
        registry: ModelRegistry | None = None,
        store: ModelStore | None = None,
        options: LoadOptions | None = None,
        cache_size: int = 2,
    ) -> None:
        self.store = store or ModelStore()
        self.registry = registry if registry is not None else default_registry(self.store)  # an empty one is falsy
        self.options = options or LoadOptions()
        self._cache: OrderedDict[tuple[str, LoadOptions], ImageModel] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

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
            self._cache[key] = model
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            return model

    def _raise_if_damaged(self, spec: ModelSpec, err: ReviveError) -> None:
        """A file that no longer matches its recorded sha256 explains a load failure better than the
        loader's own message; only checked after a failure, so a good load costs no hashing."""
        damaged = [p for r in self.store.verify([spec]) if r.status == "mismatch" for p in r.problems]
        if damaged:
            raise ChecksumMismatch(f"model {spec.name!r} is damaged ({damaged[0]}); {self.store.repair(spec)}") from err

    def clear(self) -> None:
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
