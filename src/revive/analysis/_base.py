"""What every measurement of a diagnosis shares: a flag with a documented rule, a summary, JSON."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar


def jsonable(value: Any) -> Any:
    """Plain JSON types: tuples to lists, numpy scalars to Python, non-finite floats to strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "to_dict"):
            return value.to_dict()
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class Measurement:
    """Base of the frozen report dataclasses in a :class:`~revive.analysis.Diagnosis`.

    Subclasses set ``label`` (for tables) and ``rule`` (the documented "needs attention"
    threshold, e.g. ``"sigma > 4"``), and implement ``attention``, ``summary`` and ``advice``.
    ``defect`` tells damage (noise, JPEG, blur, cast, exposure) from properties that still
    deserve attention (a small photo, an illustration, small faces).
    """

    label: ClassVar[str] = ""
    rule: ClassVar[str] = ""
    defect: ClassVar[bool] = True  # False for properties (size, content, faces) that guide the plan

    @property
    def attention(self) -> bool:
        raise NotImplementedError

    def summary(self) -> str:
        """The measurement in a few words, e.g. ``"σ≈18 (8-bit)"``."""
        raise NotImplementedError

    def advice(self) -> str:
        """Why it matters when flagged, e.g. ``"visible grain"``."""
        raise NotImplementedError

    def finding(self) -> str | None:
        """One short sentence when the measurement needs attention, else None."""
        return f"{self.summary()} — {self.advice()}" if self.attention else None

    def to_dict(self) -> dict[str, Any]:
        fields = {f.name: jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        return {**fields, "attention": self.attention, "defect": self.defect, "rule": self.rule,
                "summary": self.summary()}
