"""What the planner tells stage rules and gets back: options, capabilities, steps.

Each stage's planner rule (declared in its ``STAGE``) reads a :class:`PlanContext` — the diagnosis,
the user's options, what is installed, the steps planned so far — and returns its steps, each with
the reason it is there. :mod:`revive.pipeline.autopilot` calls the rules and orders the result.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import InvalidParameter
from ..models import BUILTIN_MODELS, ModelSpec
from .base import NAME_ONLY, Setting

if TYPE_CHECKING:
    from ..analysis import Diagnosis
    from ..engine import Engine

Track = Literal["both", "reference", "plain"]
# What the user wants from the upscaler: "faithful" (models trained on pixel losses; nothing the photo
# does not show), "balanced" (a restoration GAN where damage needs it), "sharp" (the GAN's texture),
# "creative" (the faithful upscale, then diffusion adds plausible detail: marked as generated).
Look = Literal["faithful", "balanced", "sharp", "creative"]
LOOKS: tuple[Look, ...] = ("faithful", "balanced", "sharp", "creative")
# The model's share over a plain resample by default: a faithful model is better than the resample
# everywhere it agrees with the photo (bench/fidelity.py: blending 20 % of the resample back cost
# 0.2–0.6 dB), and the guard's local check already holds it where it does not; a GAN's texture is
# tempered.
LOOK_STRENGTH: dict[str, float] = {"faithful": 1.0, "balanced": 0.8, "sharp": 0.8, "creative": 1.0}
MAX_STEPS = 500
MAX_SEED = 2**63 - 1
MAX_SCALE = 16.0
_PER_INCH = {"in": 1.0, "inch": 1.0, "cm": 1 / 2.54, "mm": 1 / 25.4}


@dataclass(frozen=True)
class PrintSize:
    """A print to fill: its sides in inches and the printer's resolution (``30x40cm@300``)."""

    width_in: float
    height_in: float
    dpi: float = 300.0

    def __post_init__(self) -> None:
        for value in (self.width_in, self.height_in, self.dpi):
            if not (math.isfinite(value) and value > 0):
                raise InvalidParameter(f"a print size needs positive sides and resolution, got {self}")

    @classmethod
    def parse(cls, text: str) -> PrintSize:
        """``30x40cm@300``, ``8x10in``, ``8x10@240`` (inches when no unit; 300 dpi when none)."""
        match = re.fullmatch(r"\s*([0-9.]+)\s*[x×]\s*([0-9.]+)\s*(cm|mm|in|inch)?\s*(?:@\s*([0-9.]+)\s*(?:dpi|ppi)?)?\s*",
                             text.lower())
        if match is None:
            raise InvalidParameter(f"--print takes a size like 30x40cm@300, 8x10in or 8x10@240, got {text!r}")
        try:
            w, h = float(match.group(1)), float(match.group(2))
            dpi = float(match.group(4)) if match.group(4) else 300.0
        except ValueError:
            raise InvalidParameter(f"--print takes a size like 30x40cm@300, got {text!r}") from None
        per_inch = _PER_INCH[match.group(3) or "in"]
        return cls(w * per_inch, h * per_inch, dpi)

    def scale_for(self, width: int, height: int) -> float:
        """The factor that fills the print with the photo, its long side along the print's long side."""
        long_px, short_px = sorted((self.width_in * self.dpi, self.height_in * self.dpi), reverse=True)
        photo_long, photo_short = max(width, height), min(width, height)
        return max(long_px / photo_long, short_px / photo_short)

    def __str__(self) -> str:
        return f"{self.width_in * 2.54:.1f}×{self.height_in * 2.54:.1f} cm at {self.dpi:g} dpi"


def check_unit(name: str, value: float | None) -> None:
    """A slider's value: 0..1 (None: not set)."""
    if value is not None and not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise InvalidParameter(f"{name} takes 0 to 1, got {value}")


def check_generation(steps: int, guidance: float, seed: int | None, negative_prompt: str,
                     usual_guidance: float = 5.0) -> None:
    """What every diffusion request must hold (fill, generative upscaling)."""
    if not 1 <= steps <= MAX_STEPS:
        raise InvalidParameter(f"steps takes 1 to {MAX_STEPS}, got {steps}")
    if not (math.isfinite(guidance) and 0.0 <= guidance <= 50.0):
        raise InvalidParameter(f"guidance takes 0 to 50, got {guidance}")
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise InvalidParameter(f"seed takes 0 to {MAX_SEED}, got {seed}")
    if negative_prompt.strip() and guidance <= 1.0:
        raise InvalidParameter(
            f"a negative prompt works only with guidance above 1 (got --guidance {guidance:g}, at which "
            "classifier-free guidance is off and the negative prompt would be silently ignored); raise --guidance "
            f"({usual_guidance:g} is usual) or drop --negative-prompt"
        )


@dataclass(frozen=True)
class CreativeSettings:
    """Generative upscaling as a user sets it (``upscale --creative``, ``enhance --look creative``).

    The sliders (0..1) mean one thing each: ``creativity`` how far diffusion may move from the faithful
    upscale, ``resemblance`` how tightly it is held to it, ``hdr`` local contrast and micro-detail.
    None: the preset for the photo's subject (see the creative stage). ``seed`` None: one is drawn and
    recorded. ``diffusion_model``: a diffusers folder, a checkpoint (with ``config``) or a store folder
    name; ``controlnet``: a tile ControlNet folder, "none", or None for the store's if there is one.
    """

    creativity: float | None = field(default=None, metadata={
        "help": "How far diffusion may move from the faithful upscale (empty: the subject's preset)", "range": (0.0, 1.0)})
    hdr: float | None = field(default=None, metadata={
        "help": "Local contrast and micro-detail (empty: the subject's preset)", "range": (0.0, 1.0)})
    resemblance: float | None = field(default=None, metadata={
        "help": "How tightly the result is held to the faithful upscale (empty: the preset)", "range": (0.0, 1.0)})
    prompt: str = field(default="", metadata={"help": "What the photo shows (empty: a generic photo prompt)"})
    negative_prompt: str = field(default="", metadata={"help": "What to steer away from"})
    seed: int | None = field(default=None, metadata={"help": "Same seed, same pixels (empty: a random one, recorded)"})
    steps: int = field(default=20, metadata={"advanced": True, "help": "Denoising steps of the full schedule",
                                             "range": (1, MAX_STEPS)})
    guidance: float = field(default=5.0, metadata={"advanced": True, "help": "How closely to follow the prompt",
                                                   "range": (0.0, 50.0)})
    diffusion_model: str | None = field(default=None, metadata={
        **NAME_ONLY, "help": "Stable Diffusion folder name in the store (empty: stable-diffusion)"})
    config: str | None = field(default=None, metadata={**NAME_ONLY, "help": "For a single-file checkpoint: its config folder"})
    controlnet: str | None = field(default=None, metadata={
        **NAME_ONLY, "help": "Tile ControlNet folder name in the store, or none (empty: controlnet-tile if present)"})

    def __post_init__(self) -> None:
        for name in ("creativity", "hdr", "resemblance"):
            check_unit(name, getattr(self, name))
        check_generation(self.steps, self.guidance, self.seed, self.negative_prompt)


@dataclass(frozen=True)
class EnhanceOptions:
    """What a user can override; "auto" everywhere lets the diagnosis decide.

    ``settings`` holds each stage option by name (``denoise``, ``faces``, ``color`` and whatever
    stages are registered): "auto", "on", "off" or a strength 0..1. Build it with :meth:`make`,
    which sorts keyword arguments into fields and stage settings.
    """

    # metadata: what a form shows (see revive.operations.FieldInfo)
    scale: float | None = field(default=None, metadata={  # None = from the photo's size; 1 = no upscaling
        "help": "Upscale factor (empty: from the photo's size; 1: no upscaling)", "range": (0.0, MAX_SCALE)})
    model: str | None = field(default=None, metadata={  # upscale model; None = chosen by content
        "model": "upscale", "help": "Upscale model (auto: chosen by content)"})
    strength: float | None = field(default=None, metadata={  # the model's share over a plain resample; None = the look's
        "help": "Share of the models' result over a plain resample", "range": (0.0, 1.0)})
    tile: int | None = field(default=None, metadata={  # model steps' tile size; None = from the memory budget
        "advanced": True, "help": "Tile size in pixels (empty: from memory)"})
    tile_overlap: int | None = field(default=None, metadata={  # None = each stage's own default
        "advanced": True, "help": "Context pixels around each tile"})
    print_size: PrintSize | None = field(default=None, metadata={  # with no scale: the factor that fills this print
        "advanced": True, "help": "Print to fill, e.g. 30x40cm@300 (with no scale)"})
    color_reference: Path | None = field(default=None, metadata={  # a photo whose colours the color-transfer stage matches
        "advanced": True, "help": "A reference photo whose colours to match"})
    look: Look = field(default="faithful", metadata={  # how the upscale model is chosen and how strictly the guard holds it
        "help": "faithful, balanced, sharp or creative (generated detail, marked as such)"})
    # used by --look creative; not named "creative", which is the creative stage's setting (--set creative=0.5)
    generation: CreativeSettings = CreativeSettings()
    settings: tuple[tuple[str, Setting], ...] = ()

    def __post_init__(self) -> None:
        if self.look not in LOOKS:
            raise InvalidParameter(f"look must be one of {', '.join(LOOKS)}, got {self.look!r}")
        if self.scale is not None and not (math.isfinite(self.scale) and 0 < self.scale <= MAX_SCALE):
            raise InvalidParameter(f"scale must be a number above 0 and at most {MAX_SCALE:g}, got {self.scale}")
        if self.strength is not None and not (math.isfinite(self.strength) and 0.0 <= self.strength <= 1.0):
            raise InvalidParameter(f"strength must be between 0 and 1, got {self.strength}")
        if self.tile is not None and self.tile < 8:
            raise InvalidParameter(f"tile must be at least 8 pixels, got {self.tile}")
        if self.tile_overlap is not None and not 0 <= self.tile_overlap <= 256:
            raise InvalidParameter(f"tile overlap must be between 0 and 256 pixels, got {self.tile_overlap}")

    @classmethod
    def make(cls, **values: Any) -> EnhanceOptions:
        """Fields by name; any other keyword is a stage setting (``denoise=0.5``, ``faces="off"``)."""
        names = {f for f in cls.__dataclass_fields__ if f != "settings"}
        fields = {k: v for k, v in values.items() if k in names}
        settings = tuple((k, v) for k, v in values.items() if k not in names and v is not None)
        return cls(**fields, settings=settings)

    def setting(self, name: str) -> Setting:
        return dict(self.settings).get(name, "auto")

    @property
    def guard_strength(self) -> float:
        """``strength``, or the look's default when none was given."""
        return self.strength if self.strength is not None else LOOK_STRENGTH[self.look]

    @property
    def base_look(self) -> Look:
        """The look the upscale and its guard follow: creative starts from the faithful upscale."""
        return "faithful" if self.look == "creative" else self.look

    def with_settings(self, values: Mapping[str, Setting]) -> EnhanceOptions:
        from dataclasses import replace

        return replace(self, settings=tuple({**dict(self.settings), **values}.items()))

    def tiling(self) -> dict[str, Any]:
        """The tile keywords a model step takes from these options (only those given)."""
        given = {"tile": self.tile, "tile_overlap": self.tile_overlap}
        return {k: v for k, v in given.items() if v is not None}


@dataclass(frozen=True)
class Capabilities:
    """What the planner may use: models installed now and models known.

    The default is the built-in catalog with only its embedded models installed.
    """

    installed: tuple[ModelSpec, ...] = tuple(s for s in BUILTIN_MODELS if s.embedded)
    known: tuple[ModelSpec, ...] = BUILTIN_MODELS

    def installed_for(self, purpose: str) -> list[ModelSpec]:
        return [s for s in self.installed if s.purpose == purpose]

    def known_for(self, purpose: str) -> list[ModelSpec]:
        return [s for s in self.known if s.purpose == purpose]

    def spec(self, name: str) -> ModelSpec | None:
        return next((s for s in (*self.installed, *self.known) if s.name == name), None)

    @classmethod
    def from_engine(cls, engine: Engine) -> Capabilities:
        known = tuple(engine.registry)
        installed = tuple(s for s in known if s.embedded or _is_available(engine, s))
        return cls(installed=installed, known=known)


def _is_available(engine: Engine, spec: ModelSpec) -> bool:
    try:
        return bool(engine.store.is_available(spec))
    except Exception:  # a broken store entry must not break planning; the model just isn't offered
        return False


def first_name(specs: Iterable[ModelSpec]) -> str | None:
    return next((s.name for s in specs), None)


@dataclass(frozen=True)
class Step:
    stage: str  # the stage's registered name
    params: Any  # its frozen params dataclass
    reason: str  # why, in one line a person can read
    track: Track = "both"  # "reference": only the guard's reference gets it; "plain": its plain counterpart, no model

    def to_dict(self) -> dict[str, Any]:
        params = asdict(self.params) if is_dataclass(self.params) and not isinstance(self.params, type) else dict(self.params)
        return {"stage": self.stage, "params": params, "reason": self.reason, "track": self.track}


@dataclass
class PlanContext:
    """What a stage's planner rule reads; ``notes`` collects what was found but will not be done."""

    diagnosis: Diagnosis
    options: EnhanceOptions
    capabilities: Capabilities
    steps: list[Step] = field(default_factory=list)  # planned so far (plan_first stages come first)
    notes: list[str] = field(default_factory=list)

    def setting(self, name: str) -> Setting:
        return self.options.setting(name)

    def planned(self, stage: str) -> Step | None:
        return next((s for s in self.steps if s.stage == stage), None)

    @property
    def plain(self) -> bool:
        """--strength 0: the model's share would be nothing, so no model runs."""
        return self.options.guard_strength == 0.0
