"""A registry of model specs: data on an instance, filled explicitly, never by import side effects."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator

from ..errors import InvalidParameter, ModelNotFound
from .spec import ModelSpec, Purpose


class ModelRegistry:
    """``problems``: why some models could not be registered (a damaged manifest…); a failed lookup says them."""

    def __init__(self, specs: Iterable[ModelSpec] = (), *, problems: Iterable[str] = ()) -> None:
        self._specs: dict[str, ModelSpec] = {}
        self.problems = tuple(problems)
        self.add_all(specs)

    def add(self, spec: ModelSpec) -> None:
        if spec.name in self._specs:
            raise InvalidParameter(f"a model named {spec.name!r} is already registered; choose another name")
        self._specs[spec.name] = spec

    def add_all(self, specs: Iterable[ModelSpec]) -> None:
        specs = list(specs)
        names = [s.name for s in specs]
        clash = {n for n in names if names.count(n) > 1 or n in self._specs}
        if clash:  # refuse the whole batch so the registry is unchanged on failure
            raise InvalidParameter(f"model names already registered: {', '.join(sorted(clash))}")
        for spec in specs:
            self._specs[spec.name] = spec

    def get(self, name: str) -> ModelSpec:
        try:
            return self._specs[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._specs), n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            hidden = "".join(f" Some models could not be read: {p}" for p in self.problems)
            raise ModelNotFound(
                f"unknown model {name!r}.{hint} Run 'revive models list' to see the models revive knows.{hidden}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def by_purpose(self, purpose: Purpose) -> list[ModelSpec]:
        return [s for s in self._specs.values() if s.purpose == purpose]
