"""Image stages, one per module, each declaring itself in a ``STAGE`` :class:`~.base.StageInfo`.

:func:`default_stages` lists them: adding a stage is one module plus one line there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..errors import InvalidParameter
from .base import StageInfo, StageOption


class StageRegistry:
    """Stage declarations by name and params type. ``add`` refuses duplicates and leaves the registry
    unchanged on failure; two stages may share an option only if they declare it identically."""

    def __init__(self, stages: tuple[StageInfo, ...] = ()) -> None:
        self._by_name: dict[str, StageInfo] = {}
        for info in stages:
            self.add(info)

    def add(self, info: StageInfo) -> None:
        if info.name in self._by_name or any(s.params_type is info.params_type for s in self._by_name.values()):
            raise InvalidParameter(f"a stage named {info.name!r} (or for {info.params_type.__name__}) is already registered")
        option = info.option
        if option is not None and self.options().get(option.name, option) != option:
            raise InvalidParameter(f"stage {info.name!r} declares option --{option.name} differently from another stage")
        self._by_name[info.name] = info

    def __iter__(self) -> Iterator[StageInfo]:
        """In plan order (by phase)."""
        return iter(sorted(self._by_name.values(), key=lambda s: s.phase))

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def get(self, name: str) -> StageInfo:
        try:
            return self._by_name[name]
        except KeyError:
            raise InvalidParameter(f"no stage named {name!r}; known: {', '.join(sorted(self._by_name))}") from None

    def for_params(self, params: Any) -> StageInfo:
        info = next((s for s in self._by_name.values() if type(params) is s.params_type), None)
        if info is None:
            raise InvalidParameter(f"no stage is registered for {type(params).__name__}")
        return info

    def options(self) -> dict[str, StageOption]:
        """The user-facing options of all stages, by name."""
        return {s.option.name: s.option for s in self._by_name.values() if s.option is not None}

    def copy(self) -> StageRegistry:
        return StageRegistry(tuple(self._by_name.values()))


def default_stages() -> StageRegistry:
    """The stages of this version, registered explicitly (no import scanning)."""
    from . import (
        color,
        color_transfer,
        creative,
        deblock,
        deblur,
        denoise,
        erase,
        faces,
        fill,
        foliage,
        relight,
        skin,
        sky,
        upscale,
    )

    return StageRegistry((deblock.STAGE, denoise.STAGE, faces.STAGE, upscale.STAGE, color.STAGE,
                          deblur.STAGE, sky.STAGE, skin.STAGE, foliage.STAGE, color_transfer.STAGE, relight.STAGE,
                          erase.STAGE, fill.STAGE, creative.STAGE))


__all__ = ["StageInfo", "StageOption", "StageRegistry", "default_stages"]
