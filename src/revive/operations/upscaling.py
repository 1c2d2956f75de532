"""The upscaling operations: plain super-resolution, the autopilot, generative upscaling, and the diagnosis."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from ..analysis import diagnose
from ..pipeline.autopilot import EnhanceOptions, check_settings
from ..pipeline.estimate import announce_estimate
from ..pipeline.runner import EnhanceResult, enhance_photo
from ..stages import StageRegistry
from ..stages.base import StageContext
from ..stages.creative import draw_seed
from ..stages.planning import MAX_SCALE, CreativeSettings, PrintSize, Step
from ..stages.upscale import UpscaleParams, UpscaleStage
from ..types import Photo, StageRecord
from .base import Operation, OperationResult, scalar_params


@dataclass(frozen=True)
class UpscaleRequest:
    """Plain super-resolution with one model to any scale."""

    params: UpscaleParams = UpscaleParams()
    print_size: PrintSize | None = field(default=None, metadata={  # with no scale in params: the factor that fills this print
        "advanced": True, "help": "Print to fill, e.g. 30x40cm@300 (with no scale)"})


@dataclass(frozen=True)
class EnhanceRequest:
    """The autopilot: diagnose, plan, run, guard."""

    options: EnhanceOptions = EnhanceOptions()


def _run_upscale(photo: Photo, request: UpscaleRequest, context: StageContext) -> OperationResult:
    params = request.params
    if params.scale is None and request.print_size is not None:
        factor = min(MAX_SCALE, request.print_size.scale_for(photo.width, photo.height))
        params = dataclasses.replace(params, scale=round(factor, 3))
    announce_estimate([Step("upscale", params, "")], photo, context)
    result = UpscaleStage(params).run(photo, context)
    spec = context.engine.registry.get(params.model)
    scale = params.scale if params.scale is not None else float(spec.scale)
    record = StageRecord("upscale", params.model, params={"scale": scale, "tile_overlap": params.tile_overlap})
    return OperationResult(result, (record,), {"model": params.model, "scale": scale})


def _upscale_tag(request: UpscaleRequest, context: StageContext) -> str:
    native = context.engine.registry.get(request.params.model).scale
    scale = request.params.scale
    if scale is None and request.print_size is not None:
        return "print"
    return f"x{native}" if scale is None or scale == native else f"x{scale:g}"


def _enhance_with(stages: StageRegistry) -> Callable[[Photo, EnhanceRequest, StageContext], OperationResult]:
    def run(photo: Photo, request: EnhanceRequest, context: StageContext) -> OperationResult:
        # a seed drawn now is in the plan, so the record holds the one that made the pixels
        options = dataclasses.replace(request.options, generation=draw_seed(request.options.generation))
        result: EnhanceResult = enhance_photo(photo, check_settings(options, stages), context, stages=stages)
        details = {"steps": [s.stage for s in result.plan.steps], **result.to_dict()}
        return OperationResult(result.photo, enhance_records(result, stages), details, result.notes, result)

    return run


@dataclass(frozen=True)
class CreativeRequest:
    """Generative upscaling: the autopilot's faithful upscale, then diffusion adds plausible detail
    (creativity, resemblance and HDR sliders; seeded; the output is marked as generated)."""

    scale: float | None = field(default=None, metadata={
        "help": "Upscale factor (empty: from the photo's size; 1: refine at this size)", "range": (0.0, MAX_SCALE)})
    print_size: PrintSize | None = field(default=None, metadata={
        "advanced": True, "help": "Print to fill, e.g. 30x40cm@300 (with no scale)"})
    upscaler: str | None = field(default=None, metadata={
        "model": "upscale", "advanced": True, "help": "Model of the faithful upscale (empty: the autopilot's choice)"})
    generation: CreativeSettings = CreativeSettings()

    def options(self) -> EnhanceOptions:
        """The autopilot's options for this request (``--look creative``, the seed drawn)."""
        return EnhanceOptions(scale=self.scale, model=self.upscaler, print_size=self.print_size, look="creative",
                              generation=draw_seed(self.generation))


# faces restored (when a face model is installed) and protected, the faithful upscale, its guard (added by the
# planner), then generation
CREATIVE_STAGES = ("faces", "upscale", "creative")


def _creative_with(stages: StageRegistry) -> Callable[[Photo, CreativeRequest, StageContext], OperationResult]:
    only = StageRegistry(tuple(stages.get(name) for name in CREATIVE_STAGES))

    def run(photo: Photo, request: CreativeRequest, context: StageContext) -> OperationResult:
        result = enhance_photo(photo, request.options(), context, stages=only)
        step = result.plan.step("creative")
        params = step.params if step is not None else None
        details = {"steps": [s.stage for s in result.plan.steps], **result.to_dict(), "generative": True,
                   "seed": getattr(params, "seed", None), "model": getattr(params, "model", None)}
        return OperationResult(result.photo, enhance_records(result, stages), details, result.notes, result)

    return run


def enhance_records(result: EnhanceResult, stages: StageRegistry) -> tuple[StageRecord, ...]:
    """The plan's steps as the output's record (the guard too: its strength is the model's share)."""
    records = []
    for step in result.plan.steps:
        if step.track == "reference":
            continue
        info = stages.get(step.stage) if step.stage in stages else None
        model = getattr(step.params, "model", None) if step.track != "plain" else None
        # a generative stage generates only when it runs its model (creativity 0 does not)
        generative = info is not None and info.generative and step.track != "plain" and info.runs_model(step.params)
        records.append(StageRecord(step.stage, model, params=scalar_params(step.to_dict()["params"]),
                                   generative=generative))
    return tuple(records)


@dataclass(frozen=True)
class DiagnoseRequest:
    """Measure noise, JPEG damage, blur, colour cast, exposure, content type and faces; write nothing."""


def _run_diagnose(photo: Photo, request: DiagnoseRequest, context: StageContext) -> OperationResult:
    diagnosis = diagnose(photo)
    return OperationResult(None, details=diagnosis.to_dict(), extra=diagnosis)


def upscaling_operations(stages: StageRegistry) -> tuple[Operation, ...]:
    return (
        Operation("upscale", UpscaleRequest, _run_upscale, "super-resolution with one model", _upscale_tag),
        Operation("enhance", EnhanceRequest, _enhance_with(stages), "the autopilot: diagnose, plan, run, guard",
                  lambda request, context: "enhanced"),
        Operation("creative", CreativeRequest, _creative_with(stages),
                  "generative upscaling: the faithful upscale, then diffusion adds plausible detail",
                  lambda request, context: "creative"),
        Operation("diagnose", DiagnoseRequest, _run_diagnose, "measure what is wrong with a photo",
                  lambda request, context: "diagnosis", produces_image=False),
    )
