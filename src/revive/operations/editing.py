"""The editing operations: erase, generative fill and face restoration."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InvalidParameter
from ..models import DEFAULT_UPSCALE_MODEL
from ..stages.base import StageContext
from ..stages.erase import EraseParams, erase_photo
from ..stages.faces import FaceParams, face_spec, restore_faces_in
from ..stages.fill import FillParams, fill
from ..stages.planning import MAX_SCALE
from ..stages.upscale import UpscaleParams, UpscaleStage
from ..types import ParamValue, Photo, StageRecord
from .base import Operation, OperationResult


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


def editing_operations() -> tuple[Operation, ...]:
    return (
        Operation("erase", EraseRequest, _run_erase, "remove what a mask marks", lambda request, context: "erased"),
        Operation("fill", FillRequest, _run_fill, "generate what a prompt describes where a mask marks",
                  lambda request, context: "filled"),
        Operation("faces", FacesRequest, _run_faces, "restore faces: align, restore, paste back, check identity",
                  _faces_tag),
    )
