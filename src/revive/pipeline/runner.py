"""Runs a plan: each step's stage on the photo, with events, timings, cancellation and the guard.

Stages are found in a :class:`StageRegistry` by their params type (data on an instance, filled
explicitly — no if-chains, no import scanning); a new stage plugs in with one ``add`` call.

The runner carries two tracks (see :mod:`.fidelity`): the *result*, which every step transforms,
and the *reference*, which gets the faithful counterpart of each step — the very same stage for
classical steps (while no model has run the two are one object and each stage runs once), a plain
resample for upscaling, the classical filter for a model denoiser, nothing for face restoration.
The guard step then holds the result to the reference and joins the tracks again, so the
classical steps after it (colour and light) run once. A "plain" step (``--strength 0``, where
the model's share would be zero) runs only that counterpart, on both tracks: the model is not run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from ..errors import Cancelled, InvalidParameter
from ..imageops import resize, resize_alpha
from ..models.loaders import LoadOptions
from ..stages.base import Stage, StageContext
from ..stages.color import ColorParams, ColorStage
from ..stages.deblock import DeblockParams, DeblockStage
from ..stages.denoise import DenoiseParams, DenoiseStage
from ..stages.upscale import UpscaleParams, UpscaleStage, target_size
from ..types import Photo
from .analysis import Diagnosis, diagnose
from .autopilot import Capabilities, EnhanceOptions, Plan, plan_for
from .fidelity import FidelityParams, FidelityReport, consistency, guard, see_through


@dataclass
class Tracks:
    """The photo being enhanced, its faithful reference, and the input both started from."""

    input: Photo
    result: Photo
    reference: Photo
    fidelity: FidelityReport | None = None
    notes: list[str] = field(default_factory=list)


StageFactory = Callable[[Any, LoadOptions | None], Stage]
# (reference photo, the model's result or None for a plain step, params, context, load options)
#   → the reference after this step
Counterpart = Callable[[Photo, Photo | None, Any, StageContext, LoadOptions | None], Photo]


class Entry(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def params_type(self) -> type: ...

    def apply(self, tracks: Tracks, params: Any, context: StageContext, load: LoadOptions | None, *,
              plain: bool = False) -> Tracks: ...


@dataclass(frozen=True)
class StageEntry:
    """A stage in the registry: how to build it, and what the reference track gets instead.

    ``is_model(params)`` says whether this step runs a model (then ``counterpart`` gives the
    reference its plain version); classical steps run on both tracks. ``plain=True`` runs only the
    counterpart of a model step, on both tracks.
    """

    name: str
    params_type: type
    factory: StageFactory
    is_model: Callable[[Any], bool] = lambda params: False
    counterpart: Counterpart | None = None

    def apply(self, tracks: Tracks, params: Any, context: StageContext, load: LoadOptions | None, *,
              plain: bool = False) -> Tracks:
        model = self.is_model(params)
        if model and self.counterpart is None:
            raise InvalidParameter(f"stage {self.name!r} runs a model but has no plain counterpart")
        if plain and model and self.counterpart is not None:
            reference = self.counterpart(tracks.reference, None, params, context, load)
            return replace(tracks, result=reference, reference=reference)
        stage = self.factory(params, load)
        shared = tracks.reference is tracks.result
        result = stage.run(tracks.result, context)
        quiet = replace(context, progress=None)
        if model and self.counterpart is not None:
            reference = self.counterpart(tracks.reference, result, params, quiet, load)
        else:
            reference = result if shared else stage.run(tracks.reference, quiet)
        return replace(tracks, result=result, reference=reference)


@dataclass(frozen=True)
class GuardEntry:
    """The fidelity guard: holds the result to the reference (see :mod:`.fidelity`)."""

    name: str = "fidelity"
    params_type: type = FidelityParams

    def apply(self, tracks: Tracks, params: Any, context: StageContext, load: LoadOptions | None, *,
              plain: bool = False) -> Tracks:
        if tracks.reference is tracks.result:
            return tracks
        size = (tracks.input.width, tracks.input.height)
        photo, report = guard(tracks.result, tracks.reference, params, size)
        notes = [*tracks.notes] + ([] if report.action == "kept" else [f"fidelity guard: {report.message}"])
        # guarded: the tracks are one again, so the classical steps after it (colour) run once
        return replace(tracks, result=photo, reference=photo, fidelity=report, notes=notes)


class StageRegistry:
    """Params type → entry. ``add`` refuses duplicates and leaves the registry unchanged on failure."""

    def __init__(self, entries: tuple[Entry, ...] = ()) -> None:
        self._by_type: dict[type, Entry] = {}
        for entry in entries:
            self.add(entry)

    def add(self, entry: Entry) -> None:
        if entry.params_type in self._by_type or entry.name in self.names():
            raise InvalidParameter(f"a stage named {entry.name!r} (or for {entry.params_type.__name__}) is already registered")
        self._by_type[entry.params_type] = entry

    def names(self) -> dict[str, type]:
        """Registered stage names → params types (what the planner may plan)."""
        return {e.name: t for t, e in self._by_type.items()}

    def entry_for(self, params: Any) -> Entry:
        try:
            return self._by_type[type(params)]
        except KeyError:
            raise InvalidParameter(f"no stage is registered for {type(params).__name__}") from None


def _resample_like(reference: Photo, result: Photo | None, params: Any, context: StageContext,
                   load: LoadOptions | None) -> Photo:
    """The plain counterpart of upscaling: a high-quality resample to the result's size (or the step's)."""
    if result is not None:
        width, height = result.width, result.height
    else:
        scale = params.scale if params.scale is not None else float(context.runtime.registry.get(params.model).scale)
        width, height = target_size(reference.width, reference.height, scale)
    pixels = resize(reference.pixels, width, height)
    alpha = None if reference.alpha is None else resize_alpha(reference.alpha, width, height)
    return reference.evolve(pixels=pixels, alpha=alpha)


def _classical_denoise(reference: Photo, result: Photo | None, params: Any, context: StageContext,
                       load: LoadOptions | None) -> Photo:
    return DenoiseStage(replace(params, model=None)).run(reference, context)


def _classical_deblock(reference: Photo, result: Photo | None, params: Any, context: StageContext,
                       load: LoadOptions | None) -> Photo:
    return DeblockStage(replace(params, model=None)).run(reference, context)


def _has_model(params: Any) -> bool:
    return getattr(params, "model", None) is not None


def default_stages() -> StageRegistry:
    """The stages of this version, registered explicitly."""
    return StageRegistry((
        StageEntry("deblock", DeblockParams, DeblockStage, _has_model, _classical_deblock),
        StageEntry("denoise", DenoiseParams, DenoiseStage, _has_model, _classical_denoise),
        StageEntry("upscale", UpscaleParams, UpscaleStage, lambda p: True, _resample_like),
        StageEntry("color", ColorParams, ColorStage),
        GuardEntry(),
    ))


@dataclass(frozen=True)
class StageEvent:
    kind: Literal["start", "done"]
    index: int  # 1-based
    total: int
    stage: str
    seconds: float | None = None  # with "done"


EventFn = Callable[[StageEvent], None]


@dataclass(frozen=True)
class StageTiming:
    stage: str
    seconds: float


@dataclass(frozen=True)
class EnhanceResult:
    """The enhanced photo and everything that explains it."""

    photo: Photo
    diagnosis: Diagnosis | None
    plan: Plan
    timings: tuple[StageTiming, ...]
    fidelity: FidelityReport | None
    notes: tuple[str, ...]
    psnr_vs_input: float | None = None  # the final result area-downscaled to the input size, vs the input
    ssim_vs_input: float | None = None

    @property
    def seconds(self) -> float:
        return sum(t.seconds for t in self.timings)

    def to_dict(self) -> dict[str, Any]:
        def num(v: float | None) -> float | str | None:  # NaN: not measurable (under 11 px for SSIM)
            return None if v is None or v != v else (round(v, 4) if v != float("inf") else "inf")

        return {
            "diagnosis": None if self.diagnosis is None else self.diagnosis.to_dict(),
            "plan": {k: v for k, v in self.plan.to_dict().items() if k != "diagnosis"},
            "timings": [{"stage": t.stage, "seconds": round(t.seconds, 3)} for t in self.timings],
            "seconds": round(self.seconds, 3),
            "fidelity": None if self.fidelity is None else self.fidelity.to_dict(),
            "psnr_vs_input": num(self.psnr_vs_input), "ssim_vs_input": num(self.ssim_vs_input),
            "notes": list(self.notes),
        }


def run_plan(
    photo: Photo,
    plan: Plan,
    context: StageContext,
    *,
    stages: StageRegistry | None = None,
    load: LoadOptions | None = None,
    on_event: EventFn | None = None,
    diagnosis_seconds: float | None = None,
) -> EnhanceResult:
    """Run every step of ``plan`` on ``photo``; stages check ``context.cancel`` between tiles."""
    registry = stages or default_stages()
    entries = [registry.entry_for(step.params) for step in plan.steps]  # fail before any slow work
    tracks = Tracks(input=photo, result=photo, reference=photo)
    timings: list[StageTiming] = []
    if diagnosis_seconds is not None:
        timings.append(StageTiming("diagnose", diagnosis_seconds))
    total = len(plan.steps)
    for index, (step, entry) in enumerate(zip(plan.steps, entries, strict=True), 1):
        if context.cancel is not None and context.cancel():
            raise Cancelled(f"cancelled before {step.stage}")
        if on_event is not None:
            on_event(StageEvent("start", index, total, step.stage))
        started = time.perf_counter()
        if step.track == "reference":  # the step shapes the guard's reference only
            side = entry.apply(Tracks(tracks.input, tracks.reference, tracks.reference), step.params, context, load)
            tracks = replace(tracks, reference=side.result)
        else:
            tracks = entry.apply(tracks, step.params, context, load, plain=step.track == "plain")
        seconds = time.perf_counter() - started
        timings.append(StageTiming(step.stage, seconds))
        if on_event is not None:
            on_event(StageEvent("done", index, total, step.stage, seconds))
    result = tracks.result
    p = s = None
    if result is not photo:
        size = (photo.width, photo.height)
        small, original = resize(result.pixels, *size), photo.pixels
        if photo.alpha is not None:  # only what shows counts
            original = see_through(original, small, photo.alpha)
        p, s = consistency(small, original, size)
    return EnhanceResult(result, plan.diagnosis, plan, tuple(timings), tracks.fidelity,
                         (*plan.notes, *tracks.notes), p, s)


def enhance_photo(
    photo: Photo,
    options: EnhanceOptions | None = None,
    context: StageContext | None = None,
    *,
    stages: StageRegistry | None = None,
    load: LoadOptions | None = None,
    on_event: EventFn | None = None,
) -> EnhanceResult:
    """Diagnose, plan and run: the autopilot on one photo."""
    context = context or StageContext()
    registry = stages or default_stages()
    started = time.perf_counter()
    plan = make_plan(photo, options or EnhanceOptions(), context, registry)
    return run_plan(photo, plan, context, stages=registry, load=load, on_event=on_event,
                    diagnosis_seconds=time.perf_counter() - started)


def make_plan(photo: Photo, options: EnhanceOptions, context: StageContext,
              stages: StageRegistry | Mapping[str, type] | None = None) -> Plan:
    """Diagnose ``photo`` and plan for it with what the context's runtime has installed."""
    registry = stages or default_stages()
    names = registry.names() if isinstance(registry, StageRegistry) else dict(registry)
    capabilities = Capabilities.from_runtime(context.runtime, names)
    return plan_for(diagnose(photo), options, capabilities)
