"""What an operation is: a name, a request type and one function; their registry; their result."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from ..errors import InvalidParameter
from ..stages.base import StageContext
from ..types import ParamValue, Photo, StageRecord


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


def scalar_params(params: Mapping[str, Any]) -> dict[str, ParamValue]:
    """Params as the XMP record stores them: scalars as they are, anything else as text, and a file or
    folder on this machine by its name only (an output travels; the layout of its maker's disk does not)."""
    def value(v: Any) -> ParamValue:
        if isinstance(v, str) and os.path.isabs(os.path.expanduser(v)) and os.path.exists(os.path.expanduser(v)):
            return PurePath(v).name
        return v if v is None or isinstance(v, (str, int, float, bool)) else str(v)

    return {k: value(v) for k, v in params.items()}
