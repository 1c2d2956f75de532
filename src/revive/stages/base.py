"""What every stage is and declares, and what it gets from the pipeline that runs it.

A stage module holds a params dataclass, a class with ``run(photo, context)``, and one
:class:`StageInfo` named ``STAGE`` that describes it: its name, the option a user sets it with,
whether a step runs a model, its plain counterpart (what the guard's reference gets instead), and
its planner rule. :mod:`revive.stages` lists the modules' ``STAGE`` in one registry; adding a stage
is one module plus one line there — the runner, planner, API and CLI read the declarations.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from ..engine import Engine
from ..errors import InvalidParameter
from ..models import ImageModel
from ..tiling import CancelFn
from ..types import Photo

if TYPE_CHECKING:
    from .planning import PlanContext, Step

# Field metadata for an option that may name a file or folder on the CLI but only a name in the store when it
# comes as text from a form or a batch file (see revive.operations.request_from_fields).
NAME_ONLY = {"name_only": True, "advanced": True}

# (stage name, tiles done, tiles total)
StageProgressFn = Callable[[str, int, int], None]


@dataclass
class StageContext:
    """Shared services for stages: the engine (models, device, memory), progress and cancellation."""

    engine: Engine = field(default_factory=Engine)
    progress: StageProgressFn | None = None
    cancel: CancelFn | None = None
    announce: Callable[[str], None] | None = None  # a phase begins ("loading realesrgan-x4plus", "diagnosing")
    expect: Callable[[float], None] | None = None  # the run is expected to take this many seconds
    notes: list[str] = field(default_factory=list)  # what a stage found worth telling the user (see note())

    def say(self, phase: str) -> None:
        if self.announce is not None:
            self.announce(phase)

    def note(self, text: str) -> None:
        """Tell the user something about this run (it joins the result's notes: "generated on the CPU …")."""
        self.notes.append(text)

    def load_model(self, name: str) -> ImageModel:
        """A model by name, loaded with the engine's device and threads."""
        self.say(f"loading {name}")
        return self.engine.load(name)

    def tile_progress(self, stage: str) -> Callable[[int, int], None] | None:
        report = self.progress
        if report is None:
            return None
        return lambda done, total: report(stage, done, total)

    def quiet(self) -> StageContext:
        """The same context without progress (for work done on the side, like the guard's reference)."""
        return StageContext(self.engine, None, self.cancel)


@runtime_checkable
class Stage(Protocol):
    """A step of the pipeline. Holds its parameters, never weights; returns a new Photo."""

    name: str

    def run(self, photo: Photo, context: StageContext) -> Photo: ...


# A user's setting for a stage option: "auto" (the diagnosis decides), "on", "off" or a strength 0..1.
Setting = Literal["auto", "on", "off"] | float
SettingKind = Literal["auto", "on", "off", "strength"]


@dataclass(frozen=True)
class StageOption:
    """The knob a user turns for a stage in ``enhance`` (``--denoise 0.5``, ``--set faces=off``)."""

    name: str
    help: str
    accepts: tuple[SettingKind, ...] = ("auto", "off")

    @property
    def metavar(self) -> str:
        """What a front end shows for it, from what it accepts: ``auto|on|off|0-1``."""
        return "|".join("0-1" if a == "strength" else a for a in self.accepts)

    def parse(self, value: str | float) -> Setting:
        """Text or a number → a valid setting, or an error that lists what it takes."""
        text = str(value).strip().lower()
        if text in self.accepts and text != "strength":
            return text  # type: ignore[return-value]
        if "strength" in self.accepts:
            try:
                number = float(text)
            except ValueError:
                number = math.nan
            if math.isfinite(number) and 0.0 <= number <= 1.0:
                return number
        takes = ", ".join("a strength 0..1" if a == "strength" else a for a in self.accepts)
        raise InvalidParameter(f"--{self.name} takes {takes}; got {value!r}")


# (reference photo, the model's result or None for a plain step, params, context) → the reference after this step
Counterpart = Callable[[Photo, "Photo | None", Any, StageContext], Photo]
PlannerRule = Callable[["PlanContext"], "list[Step]"]


def never(params: Any) -> bool:
    return False


@dataclass(frozen=True)
class StageInfo:
    """A stage's self-description, read by the registry, planner, runner and front ends.

    ``phase`` orders steps in a plan (cleanup 10, faces 20, upscale 30, the fidelity guard 40, colour
    and light 50); ``plan_first`` stages are planned before the others (the upscale decision, which
    cleanup rules read from ``PlanContext.steps``). ``runs_model(params)`` says whether a step runs a
    model; then ``counterpart`` gives the guard's reference the faithful version of that step.
    ``describe_plain(params)`` says what the step does instead at ``--strength 0``.
    """

    name: str
    params_type: type
    build: Callable[[Any], Stage]
    summary: str
    phase: int
    option: StageOption | None = None
    runs_model: Callable[[Any], bool] = never
    counterpart: Counterpart | None = None
    plan: PlannerRule | None = None
    plan_first: bool = False
    describe_plain: Callable[[Any], str] | None = None
    generative: bool = False  # its pixels are invented, not recovered: recorded in the output's XMP
    # wall seconds per megapixel of its input for the classical path (bench/model_cost.py, 2 threads):
    # what the time estimate adds for the step besides any model it runs
    seconds_per_mp: float = 0.0
