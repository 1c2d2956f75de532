"""The regional operations: subject masks, relight and colour transfer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidParameter
from ..stages.base import StageContext
from ..stages.color_transfer import ColorTransferParams, ColorTransferStage
from ..stages.relight import RelightParams, RelightStage
from ..types import ParamValue, Photo, StageRecord
from .base import Operation, OperationResult


@dataclass(frozen=True)
class MasksRequest:
    """Soft masks of sky, skin, foliage, water and the subject; written as 8-bit PNGs when ``folder`` is given."""

    folder: str | None = None  # <folder>/<input stem>_<class>.png
    classes: str = "sky,skin,foliage,water,subject"
    model: str | None = None  # a segmentation model from the store; None = the embedded estimate
    overwrite: bool = False

    def class_names(self) -> tuple[str, ...]:
        from ..analysis.masks import CLASSES

        names = tuple(c.strip() for c in self.classes.split(",") if c.strip())
        unknown = [c for c in names if c not in CLASSES]
        if unknown or not names:
            raise InvalidParameter(f"--classes takes some of {', '.join(CLASSES)}; got {self.classes!r}")
        return names

    def __post_init__(self) -> None:
        self.class_names()


def _run_masks(photo: Photo, request: MasksRequest, context: StageContext) -> OperationResult:
    from ..imageio import write
    from ..stages.regional import subject_masks

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


def region_operations() -> tuple[Operation, ...]:
    return (
        Operation("masks", MasksRequest, _run_masks, "soft masks of sky, skin, foliage, water and the subject",
                  lambda request, context: "masks", produces_image=False),
        Operation("relight", RelightRequest, _run_relight, "a soft directional key and fill light on the subject",
                  lambda request, context: "relit"),
        Operation("color-transfer", ColorTransferRequest, _run_color_transfer,
                  "the colours of a reference photo", lambda request, context: "matched"),
    )
