"""Runs a plan: each step's stage on the photo, with events, timings, cancellation and the guard.

Stages are found in a :class:`~revive.stages.StageRegistry` by name (data on an instance, filled
explicitly — no if-chains, no import scanning); what each step needs — its model flag and plain
counterpart — comes from the stage's own :class:`~revive.stages.base.StageInfo`.

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
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ..analysis import Diagnosis, diagnose
from ..errors import Cancelled, InvalidParameter
from ..stages import StageRegistry, default_stages
from ..stages.base import StageContext, StageInfo
from ..types import Photo
from .autopilot import Capabilities, EnhanceOptions, Plan, plan_for
from .fidelity import FidelityParams, FidelityReport, guard, versus_input


@dataclass
class Tracks:
    """The photo being enhanced, its faithful reference, and the input both started from."""

    input: Photo
    result: Photo
    reference: Photo
    fidelity: FidelityReport | None = None
    notes: list[str] = field(default_factory=list)


def apply_stage(info: StageInfo, tracks: Tracks, params: Any, context: StageContext, *, plain: bool = False) -> Tracks:
    """Run one step on both tracks: a model step's reference gets the stage's plain counterpart,
    a classical step runs on both (once, while the tracks are one); ``plain`` runs only the
    counterpart, on both tracks."""
    model = info.runs_model(params)
    if model and info.counterpart is None:
        raise InvalidParameter(f"stage {info.name!r} runs a model but declares no plain counterpart")
    if plain and model and info.counterpart is not None:
        reference = info.counterpart(tracks.reference, None, params, context)
        return replace(tracks, result=reference, reference=reference)
    stage = info.build(params)
    shared = tracks.reference is tracks.result
    result = stage.run(tracks.result, context)
    quiet = context.quiet()
    if model and info.counterpart is not None:
        reference = info.counterpart(tracks.reference, result, params, quiet)
    else:
        reference = result if shared else stage.run(tracks.reference, quiet)
    return replace(tracks, result=result, reference=reference)


def apply_guard(tracks: Tracks, params: FidelityParams) -> Tracks:
    """The fidelity guard holds the result to the reference (see :mod:`.fidelity`) and joins the tracks."""
    if tracks.reference is tracks.result:
        return tracks
    size = (tracks.input.width, tracks.input.height)
    photo, report = guard(tracks.result, tracks.reference, params, size)
    notes = [*tracks.notes] + ([] if report.action == "kept" else [f"fidelity guard: {report.message}"])
    # guarded: the tracks are one again, so the classical steps after it (colour) run once
    return replace(tracks, result=photo, reference=photo, fidelity=report, notes=notes)


def _apply(step_stage: str, tracks: Tracks, params: Any, context: StageContext, stages: StageRegistry, *,
           plain: bool = False) -> Tracks:
    if isinstance(params, FidelityParams):
        return apply_guard(tracks, params)
    return apply_stage(stages.get(step_stage), tracks, params, context, plain=plain)


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
    on_event: EventFn | None = None,
    diagnosis_seconds: float | None = None,
) -> EnhanceResult:
    """Run every step of ``plan`` on ``photo``; stages check ``context.cancel`` between tiles."""
    registry = stages if stages is not None else default_stages()
    for step in plan.steps:  # fail before any slow work
        if not isinstance(step.params, FidelityParams):
            registry.get(step.stage)
    tracks = Tracks(input=photo, result=photo, reference=photo)
    noted = len(context.notes)  # the stages' own notes from here on join the result's
    timings: list[StageTiming] = []
    if diagnosis_seconds is not None:
        timings.append(StageTiming("diagnose", diagnosis_seconds))
    total = len(plan.steps)
    for index, step in enumerate(plan.steps, 1):
        if context.cancel is not None and context.cancel():
            raise Cancelled(f"cancelled before {step.stage}")
        context.say(step.stage)
        if on_event is not None:
            on_event(StageEvent("start", index, total, step.stage))
        started = time.perf_counter()
        if step.track == "reference":  # the step shapes the guard's reference only
            side = _apply(step.stage, Tracks(tracks.input, tracks.reference, tracks.reference), step.params,
                          context, registry)
            tracks = replace(tracks, reference=side.result)
        else:
            tracks = _apply(step.stage, tracks, step.params, context, registry, plain=step.track == "plain")
        seconds = time.perf_counter() - started
        timings.append(StageTiming(step.stage, seconds))
        if on_event is not None:
            on_event(StageEvent("done", index, total, step.stage, seconds))
    result = tracks.result
    p, s = versus_input(photo, result) if result is not photo else (None, None)
    return EnhanceResult(result, plan.diagnosis, plan, tuple(timings), tracks.fidelity,
                         (*plan.notes, *context.notes[noted:], *tracks.notes), p, s)


def enhance_photo(
    photo: Photo,
    options: EnhanceOptions | None = None,
    context: StageContext | None = None,
    *,
    stages: StageRegistry | None = None,
    on_event: EventFn | None = None,
) -> EnhanceResult:
    """Diagnose, plan and run: the autopilot on one photo."""
    context = context or StageContext()
    registry = stages if stages is not None else default_stages()
    started = time.perf_counter()
    context.say("diagnosing")
    plan = make_plan(photo, options or EnhanceOptions(), context, registry)
    if context.expect is not None:
        from .estimate import announce_estimate

        announce_estimate(plan.steps, photo, context, registry)
    return run_plan(photo, plan, context, stages=registry, on_event=on_event,
                    diagnosis_seconds=time.perf_counter() - started)


def make_plan(photo: Photo, options: EnhanceOptions, context: StageContext,
              stages: StageRegistry | None = None) -> Plan:
    """Diagnose ``photo`` and plan for it with what the context's engine has installed."""
    return plan_for(diagnose(photo), options, Capabilities.from_engine(context.engine), stages)
