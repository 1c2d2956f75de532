"""The protocol every stage follows, and what a stage gets from the pipeline that runs it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..runtime import ModelRuntime
from ..tiling import CancelFn
from ..types import Photo

# (stage name, tiles done, tiles total)
StageProgressFn = Callable[[str, int, int], None]


@dataclass
class StageContext:
    """Shared services for stages: models by name, progress and cancellation."""

    runtime: ModelRuntime = field(default_factory=ModelRuntime)
    progress: StageProgressFn | None = None
    cancel: CancelFn | None = None

    def tile_progress(self, stage: str) -> Callable[[int, int], None] | None:
        report = self.progress
        if report is None:
            return None
        return lambda done, total: report(stage, done, total)


@runtime_checkable
class Stage(Protocol):
    """A step of the pipeline. Holds its parameters, never weights; returns a new Photo."""

    name: str

    def run(self, photo: Photo, context: StageContext) -> Photo: ...
