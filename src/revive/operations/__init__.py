"""Operations: what a front end can ask of revive, each as a typed request and one function.

Every operation (upscale, enhance, diagnose, faces, erase, fill…) is an :class:`Operation`: a name,
a frozen request dataclass validated once in ``__post_init__``, and ``run(photo, request, context)``
returning an :class:`OperationResult`. The job runner (:mod:`revive.jobs`), the CLI, the server and
batch all look operations up here by name, so an operation added to :func:`default_operations`
reaches every front end without changes to them.
"""


from __future__ import annotations

from ..stages import StageRegistry, default_stages
from .base import Operation, OperationRegistry, OperationResult, scalar_params
from .editing import EraseRequest, FacesRequest, FillRequest, editing_operations
from .fields import FieldInfo, FieldKind, describe_request, request_from_fields
from .regions import ColorTransferRequest, MasksRequest, RelightRequest, region_operations
from .upscaling import (
    CREATIVE_STAGES,
    CreativeRequest,
    DiagnoseRequest,
    EnhanceRequest,
    UpscaleRequest,
    enhance_records,
    upscaling_operations,
)


def default_operations(stages: StageRegistry | None = None) -> OperationRegistry:
    """The operations of this version, registered explicitly (each module lists its own); ``enhance`` and
    ``creative`` plan with ``stages``."""
    stages = stages if stages is not None else default_stages()
    return OperationRegistry((*upscaling_operations(stages), *region_operations(), *editing_operations()))


__all__ = [
    "CREATIVE_STAGES", "ColorTransferRequest", "CreativeRequest", "DiagnoseRequest", "EnhanceRequest", "EraseRequest",
    "FacesRequest", "FieldInfo", "FieldKind", "FillRequest", "MasksRequest", "Operation", "OperationRegistry",
    "OperationResult", "RelightRequest", "UpscaleRequest", "default_operations", "describe_request", "enhance_records",
    "request_from_fields", "scalar_params",
]
