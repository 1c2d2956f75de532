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
import os
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Literal

import numpy as np

from .analysis import diagnose
from .errors import InvalidParameter
from .models import DEFAULT_UPSCALE_MODEL
from .pipeline.autopilot import EnhanceOptions, check_settings
from .pipeline.estimate import announce_estimate
from .pipeline.runner import EnhanceResult, enhance_photo
from .stages import StageRegistry, default_stages
from .stages.base import StageContext
from .stages.color_transfer import ColorTransferParams, ColorTransferStage
from .stages.creative import draw_seed
from .stages.erase import EraseParams, erase_photo
from .stages.faces import FaceParams, face_spec, restore_faces_in
from .stages.fill import FillParams, fill
from .stages.planning import MAX_SCALE, CreativeSettings, PrintSize, Step
from .stages.relight import RelightParams, RelightStage
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

def request_from_fields(request_type: type, fields: Mapping[str, str], stages: StageRegistry | None = None, *,
                        files: Mapping[str, Any] | None = None) -> Any:
    """A request from text values by its dataclass field types (server forms, batch options).

    Nested dataclass fields (``UpscaleRequest.params``) are filled from the same flat mapping; an
    unknown name is refused, so a typo never silently falls back to a default. Fields that take a
    file (a path, a Photo, an array, bytes) are never set from text — a form field must not name a
    path on the machine that runs revive — only from ``files``: values the caller has already made
    (an uploaded mask decoded to a Photo, a private temporary file).
    """
    used: set[str] = set()
    request = _build(request_type, fields, dict(files or {}), used, stages or default_stages())
    unknown = (set(fields) | set(files or {})) - used
    if unknown:
        raise InvalidParameter(f"unknown option{'s' if len(unknown) > 1 else ''} for {request_type.__name__}: "
                               f"{', '.join(sorted(unknown))}")
    return request


def _build(cls: type, fields: Mapping[str, str], files: Mapping[str, Any], used: set[str],
           stages: StageRegistry) -> Any:
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint) and not _takes_file(hint):
            values[f.name] = _build(hint, fields, files, used, stages)  # type: ignore[arg-type]
        elif _takes_file(hint):
            if f.name in fields:
                raise InvalidParameter(f"{f.name} takes a file: send it as a file, not as text (a request never "
                                       "names a path on this machine)")
            if f.name in files:
                used.add(f.name)
                values[f.name] = files[f.name]
        elif f.name in fields:
            used.add(f.name)
            if f.metadata.get("name_only"):
                _check_name(f.name, fields[f.name])
            values[f.name] = _convert(f.name, fields[f.name], hint)
        if f.name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise InvalidParameter(f"{cls.__name__} needs {f.name}")
    if cls is EnhanceRequest:  # stage settings are open-ended: every registered stage option
        options = stages.options()
        settings = {k: options[k].parse(v) for k, v in fields.items() if k in options}
        used.update(settings)
        values["options"] = dataclasses.replace(values["options"], settings=tuple(settings.items()))
    return cls(**values)


def _check_name(field_name: str, text: str) -> None:
    """A model named in text is a name in the store: a path would let a form load any file on this machine."""
    value = text.strip()
    if "/" in value or "\\" in value or value.startswith(("~", ".")) or PurePath(value).is_absolute():
        raise InvalidParameter(f"{field_name} takes the name of a folder in the model store, not a path "
                               f"(got {text!r}); put the model in the store's models folder and name it")


def _options_of(hint: Any) -> tuple[Any, ...]:
    union = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
    return typing.get_args(hint) if union else (hint,)


_FILE_KINDS: tuple[tuple[type, Literal["path", "photo", "array", "bytes"]], ...] = (
    (PurePath, "path"), (os.PathLike, "path"), (Photo, "photo"), (np.ndarray, "array"), (bytes, "bytes"))


def _takes_file(hint: Any) -> bool:
    """A path, an image or raw bytes: what only a file can give."""
    return any(isinstance(o, type) and issubclass(o, t) for o in _options_of(hint) for t, _ in _FILE_KINDS)


def _convert(name: str, text: str, hint: Any) -> Any:
    options = _options_of(hint)
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


# --- describing requests to a form (the server's page builds its controls from this) ---------------

FieldKind = Literal["number", "integer", "boolean", "choice", "setting", "text", "file"]


@dataclass(frozen=True)
class FieldInfo:
    """One option of a request as a form shows it, read from the request dataclass (never written by hand).

    Dataclass field ``metadata`` may add ``help``, ``range`` (low, high), ``model`` (the purpose of the
    models it names: a picker) and ``advanced`` (tucked away by default).
    """

    name: str
    kind: FieldKind
    default: Any = None  # JSON-ready; None = automatic
    optional: bool = False  # "auto" / empty is allowed
    choices: tuple[str, ...] = ()  # choice and setting kinds
    strength: bool = False  # a setting that also takes a strength 0..1
    help: str = ""
    range: tuple[float, float] | None = None
    model: str | None = None
    advanced: bool = False
    file: Literal["path", "photo", "array", "bytes"] | None = None  # what a file kind's upload becomes

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def describe_request(request_type: type, stages: StageRegistry | None = None) -> tuple[FieldInfo, ...]:
    """The fields :func:`request_from_fields` takes for ``request_type``, flattened the same way."""
    out: list[FieldInfo] = []
    _describe(request_type, out)
    if request_type is EnhanceRequest:
        for option in (stages or default_stages()).options().values():
            choices = tuple(a for a in option.accepts if a != "strength")
            out.append(FieldInfo(option.name, "setting", "auto", choices=choices, help=option.help,
                                 strength="strength" in option.accepts, range=(0.0, 1.0)))
    return tuple(out)


def _describe(cls: type, out: list[FieldInfo]) -> None:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint) and not _takes_file(hint):
            _describe(hint, out)  # type: ignore[arg-type]
            continue
        if f.name == "settings" and cls is EnhanceOptions:
            continue  # described by the stage options
        options = [o for o in _options_of(hint) if o is not type(None)]
        default = (f.default if f.default is not dataclasses.MISSING else
                   f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        kind: FieldKind = "text"
        choices: tuple[str, ...] = ()
        file = next((k for t, k in _FILE_KINDS if any(isinstance(o, type) and issubclass(o, t) for o in options)), None)
        if file is not None:
            kind, default = "file", None
        elif options and typing.get_origin(options[0]) is typing.Literal:
            kind, choices = "choice", tuple(str(c) for c in typing.get_args(options[0]))
        elif options and options[0] in _KINDS:
            kind = _KINDS[options[0]]
        meta = f.metadata
        out.append(FieldInfo(
            f.name, kind, default if isinstance(default, (bool, int, float, str)) or default is None else str(default),
            optional=len(options) < len(_options_of(hint)) or kind == "file" and f.default is not dataclasses.MISSING,
            choices=choices, help=meta.get("help", ""), range=meta.get("range"), model=meta.get("model"),
            advanced=bool(meta.get("advanced", False)), file=file))


_KINDS: dict[Any, FieldKind] = {bool: "boolean", int: "integer", float: "number", str: "text"}


# --- the built-in operations -----------------------------------------------------------------------

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


@dataclass(frozen=True)
class EraseRequest:
    """Remove what a mask (a path, bytes or an array; white = remove) and/or boxes mark; fill from the surroundings."""

    params: EraseParams = EraseParams()


@dataclass(frozen=True)
class FillRequest:
    """Replace what a mask and/or boxes mark with what the prompt describes (Stable Diffusion inpainting)."""

    params: FillParams = FillParams()


def _mask_params(params: EraseParams | FillParams) -> dict[str, ParamValue]:
    """How the mask was given, for the record (a file's name, never the pixels)."""
    mask = params.mask
    given = None if mask is None else mask if isinstance(mask, str) else getattr(mask, "name", None) or type(mask).__name__
    return {"mask": None if given is None else str(given).rsplit("/", 1)[-1], "boxes": str(params.boxes) or None,
            "grow": params.grow, "context": params.context}


def _run_erase(photo: Photo, request: EraseRequest, context: StageContext) -> OperationResult:
    done = erase_photo(photo, request.params, context)
    model = done.model if done.generative else None  # OpenCV's fill is no model: named in the params
    record = StageRecord("erase", model, params={"engine": done.model, **_mask_params(request.params)},
                         generative=done.generative)
    details = {"engine": done.model, "changed_pixels": done.changed_pixels, "crops": done.crops}
    return OperationResult(done.photo, (record,), details)


def _run_fill(photo: Photo, request: FillRequest, context: StageContext) -> OperationResult:
    p = request.params
    done = fill(photo, p, context)
    settings: dict[str, ParamValue] = {"prompt": p.prompt, "negative_prompt": p.negative_prompt or None,
                                       "seed": done.seed, "steps": p.steps, "guidance": p.guidance}
    record = StageRecord("fill", done.model, params={**settings, **_mask_params(p)}, generative=True)
    details = {**settings, "model": done.model, "device": done.device, "crops": done.crops, "memory": done.memory,
               "generative": True}
    return OperationResult(done.photo, (record,), details, done.notes)


def scalar_params(params: Mapping[str, Any]) -> dict[str, ParamValue]:
    """Params as the XMP record stores them: scalars as they are, anything else as text, and a file or
    folder on this machine by its name only (an output travels; the layout of its maker's disk does not)."""
    def value(v: Any) -> ParamValue:
        if isinstance(v, str) and os.path.isabs(os.path.expanduser(v)) and os.path.exists(os.path.expanduser(v)):
            return PurePath(v).name
        return v if v is None or isinstance(v, (str, int, float, bool)) else str(v)

    return {k: value(v) for k, v in params.items()}


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
        Operation("creative", CreativeRequest, _creative_with(stages),
                  "generative upscaling: the faithful upscale, then diffusion adds plausible detail",
                  lambda request, context: "creative"),
        Operation("diagnose", DiagnoseRequest, _run_diagnose, "measure what is wrong with a photo",
                  lambda request, context: "diagnosis", produces_image=False),
        *_region_operations(),
        Operation("erase", EraseRequest, _run_erase, "remove what a mask marks", lambda request, context: "erased"),
        Operation("fill", FillRequest, _run_fill, "generate what a prompt describes where a mask marks",
                  lambda request, context: "filled"),
        Operation("faces", FacesRequest, _run_faces, "restore faces: align, restore, paste back, check identity",
                  _faces_tag),
    ))


# --- regions: subject masks, relight, colour transfer ----------------------------------------------

@dataclass(frozen=True)
class MasksRequest:
    """Soft masks of sky, skin, foliage, water and the subject; written as 8-bit PNGs when ``folder`` is given."""

    folder: str | None = None  # <folder>/<input stem>_<class>.png
    classes: str = "sky,skin,foliage,water,subject"
    model: str | None = None  # a segmentation model from the store; None = the embedded estimate
    overwrite: bool = False

    def class_names(self) -> tuple[str, ...]:
        from .analysis.masks import CLASSES

        names = tuple(c.strip() for c in self.classes.split(",") if c.strip())
        unknown = [c for c in names if c not in CLASSES]
        if unknown or not names:
            raise InvalidParameter(f"--classes takes some of {', '.join(CLASSES)}; got {self.classes!r}")
        return names

    def __post_init__(self) -> None:
        self.class_names()


def _run_masks(photo: Photo, request: MasksRequest, context: StageContext) -> OperationResult:
    from .imageio import write
    from .stages.regional import subject_masks

    context.say("finding regions")
    masks = subject_masks(photo, request.class_names(), context, request.model)
    written = []
    if request.folder is not None:
        from pathlib import Path

        stem = photo.meta.source_path.stem if photo.meta.source_path is not None else "photo"
        folder = Path(request.folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, mask in masks.masks.items():
            gray = Photo(np.ascontiguousarray(mask[:, :, None], dtype=np.float32))
            written.append(str(write(gray, folder / f"{stem}_{name}.png", overwrite=request.overwrite)))
    details = {"shares": masks.shares(), "source": masks.source, "masks": written}
    record = StageRecord("masks", request.model, params={"classes": ",".join(masks.masks)})
    return OperationResult(None, (record,), details, masks.notes, masks)


@dataclass(frozen=True)
class RelightRequest:
    """A soft key (and fill) light on the subject, from the left, right, top, bottom or a point."""

    params: RelightParams = RelightParams()


def _run_relight(photo: Photo, request: RelightRequest, context: StageContext) -> OperationResult:
    from dataclasses import asdict

    result = RelightStage(request.params).run(photo, context)
    params = {k: v for k, v in asdict(request.params).items() if k != "model"}
    return OperationResult(result, (StageRecord("relight", request.params.model, params=params),), params)


@dataclass(frozen=True)
class ColorTransferRequest:
    """The colours of a reference photo, matched in Lab (scikit-image), blended at ``strength``."""

    params: ColorTransferParams


def _run_color_transfer(photo: Photo, request: ColorTransferRequest, context: StageContext) -> OperationResult:
    result = ColorTransferStage(request.params).run(photo, context)
    params: dict[str, ParamValue] = {"reference": request.params.reference.name,  # not the folder: it is private
                                     "strength": request.params.strength}
    return OperationResult(result, (StageRecord("color-transfer", None, params=params),), params)


def _region_operations() -> tuple[Operation, ...]:
    return (
        Operation("masks", MasksRequest, _run_masks, "soft masks of sky, skin, foliage, water and the subject",
                  lambda request, context: "masks", produces_image=False),
        Operation("relight", RelightRequest, _run_relight, "a soft directional key and fill light on the subject",
                  lambda request, context: "relit"),
        Operation("color-transfer", ColorTransferRequest, _run_color_transfer,
                  "the colours of a reference photo", lambda request, context: "matched"),
    )
