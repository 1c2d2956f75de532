"""Operations: what a front end can ask of revive, each as a typed request and one function.

Every operation (upscale, enhance, diagnose, faces, erase, fill…) is an :class:`Operation`: a name,
a frozen request dataclass validated once in ``__post_init__``, and ``run(photo, request, context)``
returning an :class:`OperationResult`. The job runner (:mod:`revive.jobs`), the CLI, the server and
batch all look operations up here by name, so an operation added to :func:`default_operations`
reaches every front end without changes to them.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .analysis import diagnose
from .errors import InvalidParameter
from .models import DEFAULT_UPSCALE_MODEL
from .pipeline.autopilot import EnhanceOptions, check_settings
from .pipeline.runner import EnhanceResult, enhance_photo
from .stages import StageRegistry, default_stages
from .stages.base import StageContext
from .stages.faces import FaceParams, face_spec, restore_faces_in
from .stages.planning import MAX_SCALE, PrintSize
from .stages.upscale import UpscaleParams, UpscaleStage
from .types import ParamValue, Photo, StageRecord


@dataclass(frozen=True)
class OperationResult:
    """An operation's output photo (None for operations that only measure) and what explains it."""

    photo: Photo | None
    stages: tuple[StageRecord, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)  # JSON-ready, for --json, reports and the API
    notes: tuple[str, ...] = ()
    extra: Any = None  # the operation's own rich result (an EnhanceResult, a Diagnosis…)

    @property
    def generative(self) -> bool:
        return any(s.generative for s in self.stages)


@dataclass(frozen=True)
class Operation:
    name: str
    request_type: type
    run: Callable[[Photo, Any, StageContext], OperationResult]
    summary: str
    output_tag: Callable[[Any, StageContext], str]  # file-name suffix: "x4", "enhanced", "faces"…
    produces_image: bool = True


class OperationRegistry:
    def __init__(self, operations: tuple[Operation, ...] = ()) -> None:
        self._by_name: dict[str, Operation] = {}
        for op in operations:
            self.add(op)

    def add(self, op: Operation) -> None:
        if op.name in self._by_name:
            raise InvalidParameter(f"an operation named {op.name!r} is already registered")
        self._by_name[op.name] = op

    def get(self, name: str) -> Operation:
        try:
            return self._by_name[name]
        except KeyError:
            raise InvalidParameter(f"no operation named {name!r}; known: {', '.join(sorted(self._by_name))}") from None

    def for_request(self, request: Any) -> Operation:
        op = next((o for o in self._by_name.values() if type(request) is o.request_type), None)
        if op is None:
            raise InvalidParameter(f"no operation takes a {type(request).__name__}")
        return op

    def __iter__(self) -> Iterator[Operation]:
        return iter(self._by_name.values())

    def names(self) -> list[str]:
        return list(self._by_name)


# --- building requests from text (form fields, batch options) ---------------------------------------

def request_from_fields(request_type: type, fields: Mapping[str, str], stages: StageRegistry | None = None) -> Any:
    """A request from text values by its dataclass field types (server forms, batch options).

    Nested dataclass fields (``UpscaleRequest.params``) are filled from the same flat mapping; an
    unknown name is refused, so a typo never silently falls back to a default.
    """
    used: set[str] = set()
    request = _build(request_type, fields, used, stages or default_stages())
    unknown = set(fields) - used
    if unknown:
        raise InvalidParameter(f"unknown option{'s' if len(unknown) > 1 else ''} for {request_type.__name__}: "
                               f"{', '.join(sorted(unknown))}")
    return request


def _build(cls: type, fields: Mapping[str, str], used: set[str], stages: StageRegistry) -> Any:
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            values[f.name] = _build(hint, fields, used, stages)  # type: ignore[arg-type]
        elif f.name in fields:
            used.add(f.name)
            values[f.name] = _convert(f.name, fields[f.name], hint)
    if cls is EnhanceRequest:  # stage settings are open-ended: every registered stage option
        options = stages.options()
        settings = {k: options[k].parse(v) for k, v in fields.items() if k in options}
        used.update(settings)
        values["options"] = dataclasses.replace(values["options"], settings=tuple(settings.items()))
    return cls(**values)


def _convert(name: str, text: str, hint: Any) -> Any:
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union else (hint,)
    if type(None) in options and text.strip().lower() in ("", "none", "auto"):
        return None
    for option in options:
        if option is type(None):
            continue
        try:
            if option is bool:
                lowered = text.strip().lower()
                if lowered in ("1", "true", "yes", "on"):
                    return True
                if lowered in ("0", "false", "no", "off"):
                    return False
                raise ValueError(text)
            if option is float:
                value = float(text)
                if not math.isfinite(value):
                    raise ValueError(text)
                return value
            if option is int:
                return int(text)
            if typing.get_origin(option) is typing.Literal:
                if text in typing.get_args(option):
                    return text
                raise ValueError(text)
            if option is str:
                return text
            if isinstance(option, type) and hasattr(option, "parse"):
                return option.parse(text)
        except ValueError:
            continue
    raise InvalidParameter(f"{name}: cannot use {text!r} here")


# --- the built-in operations -----------------------------------------------------------------------

@dataclass(frozen=True)
class UpscaleRequest:
    """Plain super-resolution with one model to any scale."""

    params: UpscaleParams = UpscaleParams()
    print_size: PrintSize | None = None  # with no scale in params: the factor that fills this print


@dataclass(frozen=True)
class EnhanceRequest:
    """The autopilot: diagnose, plan, run, guard."""

    options: EnhanceOptions = EnhanceOptions()


def _run_upscale(photo: Photo, request: UpscaleRequest, context: StageContext) -> OperationResult:
    params = request.params
    if params.scale is None and request.print_size is not None:
        factor = min(MAX_SCALE, request.print_size.scale_for(photo.width, photo.height))
        params = dataclasses.replace(params, scale=round(factor, 3))
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
        result: EnhanceResult = enhance_photo(photo, check_settings(request.options, stages), context, stages=stages)
        details = {"steps": [s.stage for s in result.plan.steps], **result.to_dict()}
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
        generative = info is not None and info.generative and step.track != "plain"
        records.append(StageRecord(step.stage, model, params=scalar_params(step.to_dict()["params"]),
                                   generative=generative))
    return tuple(records)


@dataclass(frozen=True)
class DiagnoseRequest:
    """Measure noise, JPEG damage, blur, colour cast, exposure, content type and faces; write nothing."""


def _run_diagnose(photo: Photo, request: DiagnoseRequest, context: StageContext) -> OperationResult:
    diagnosis = diagnose(photo)
    return OperationResult(None, details=diagnosis.to_dict(), extra=diagnosis)


def scalar_params(params: Mapping[str, Any]) -> dict[str, ParamValue]:
    """Params as the XMP record stores them: scalars as they are, anything else as text."""
    return {k: v if v is None or isinstance(v, (str, int, float, bool)) else str(v) for k, v in params.items()}


@dataclass(frozen=True)
class FacesRequest:
    """Restore the faces of a photo; with ``upscale`` above 1, into a copy enlarged by the upscale model."""

    params: FaceParams = FaceParams()
    upscale: float = 1.0  # the picture's factor; faces are restored from the input's pixels and pasted in
    upscale_model: str = DEFAULT_UPSCALE_MODEL

    def __post_init__(self) -> None:
        if not (math.isfinite(self.upscale) and 1.0 <= self.upscale <= MAX_SCALE):
            raise InvalidParameter(f"upscale must be between 1 and {MAX_SCALE:g}, got {self.upscale}")


def _run_faces(photo: Photo, request: FacesRequest, context: StageContext) -> OperationResult:
    spec = face_spec(request.params.model, context.engine)  # a wrong kind of model fails before any upscaling
    background, records = None, []
    if request.upscale != 1.0:
        upscale = UpscaleParams(model=request.upscale_model, scale=request.upscale)
        background = UpscaleStage(upscale).run(photo, context)
        records.append(StageRecord("upscale", upscale.model, params={"scale": request.upscale}))
    result = restore_faces_in(photo, request.params, context, target=background)
    if result.restored:
        params: dict[str, ParamValue] = {"strength": request.params.strength, "fidelity": request.params.fidelity,
                                         "faces": len(result.restored)}
        if spec.non_commercial:  # the output says under which terms its faces were made
            params.update(weights_license=spec.license, non_commercial=True)
        records.append(StageRecord("faces", spec.name, params=params, generative=True))
    details = {"model": spec.name, "upscale": request.upscale, **result.to_dict()}
    return OperationResult(result.photo, tuple(records), details, result.notes, result)


def _faces_tag(request: FacesRequest, context: StageContext) -> str:
    return "faces" if request.upscale == 1.0 else f"faces-x{request.upscale:g}"


def default_operations(stages: StageRegistry | None = None) -> OperationRegistry:
    """The operations of this version, registered explicitly; ``enhance`` plans with ``stages``."""
    stages = stages if stages is not None else default_stages()
    return OperationRegistry((
        Operation("upscale", UpscaleRequest, _run_upscale, "super-resolution with one model",
                  _upscale_tag),
        Operation("enhance", EnhanceRequest, _enhance_with(stages), "the autopilot: diagnose, plan, run, guard",
                  lambda request, context: "enhanced"),
        Operation("diagnose", DiagnoseRequest, _run_diagnose, "measure what is wrong with a photo",
                  lambda request, context: "diagnosis", produces_image=False),
        Operation("faces", FacesRequest, _run_faces, "restore faces: align, restore, paste back, check identity",
                  _faces_tag),
    ))
