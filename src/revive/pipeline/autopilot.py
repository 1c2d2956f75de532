"""The autopilot's planner: from a diagnosis to an ordered plan of steps, as plain data.

A :class:`Plan` is a list of :class:`Step` (a stage name, its frozen params dataclass and the
reason it is there) plus notes for what was found but cannot be done. It is built without running
anything, so ``--dry-run`` shows exactly what ``enhance`` will do, and tests check plans without
models. Order: cleanup (deblock, then denoise: undo the camera's steps in reverse) → faces →
upscale → fidelity guard → colour and light. The guard comes right after the last model step: it
judges what the models did, and colour and light — deliberate, classical changes — then run once on
the guarded photo. (Run after them, it compared two tracks each stretched and white-balanced by
its own measurements: the differences grew with the contrast, and a retina photo's faithful
upscale was dropped as "contradicting the photo".)

Rules (each threshold is the diagnosis's own documented "needs attention" rule):

* JPEG damage → deblock at the estimated quality; noise → denoise with h from the measured σ.
  A "deblock"/"denoise" model installed in the store takes over from the classical filter. When
  the photo is upscaled by a model that removes that damage itself (Real-ESRGAN does), a filter in
  front of it would only cost detail: the classical step then cleans the guard's reference alone
  (``Step.track = "reference"``), so the blend adds no noise back.
* Faces → a face step when a face model *and* a face stage are available; otherwise a note.
* Size → upscale to a useful size: ×4 below 0.25 MP, ×3 below 0.5 MP, ×2 below 2 MP, none above
  (``--scale`` overrides; ``--scale 1`` means no model step). Illustrations get the anime model.
* Colour cast → white balance, restrained: down to a cast of about 8 (never more than 80 % of the
  way), keeping some of the light's mood — on a faded print, any cast above 8 down to about 3 (at
  most 90 %): there the cast is the dyes' ageing, and fading weakens what it measures. Not below
  0.04 MP, where a few coloured objects decide the estimate (a note says so). Under-exposure →
  exposure and contrast; a washed-out photo (no shadows) or a faded one (neither blacks nor
  whites) → contrast. Clipped highlights only get a note.
* Any model step → the fidelity guard at ``--strength``, before colour and light. At ``--strength
  0`` the model's share is nothing, so no model runs at all: its step becomes plain
  (``Step.track = "plain"``: the resample or the classical filter in its place) and the cleanup
  filters work on the photo itself.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from ..errors import InvalidParameter
from ..models import BUILTIN_MODELS, DEFAULT_ANIME_MODEL, DEFAULT_UPSCALE_MODEL, ModelSpec
from ..stages.color import ColorParams
from ..stages.deblock import DeblockParams
from ..stages.denoise import DenoiseParams
from ..stages.upscale import UpscaleParams, target_size
from .fidelity import FidelityParams

if TYPE_CHECKING:
    from ..runtime import ModelRuntime
    from .analysis import Diagnosis

Toggle = Literal["auto", "on", "off"]
Track = Literal["both", "reference", "plain"]

# Default upscale factor by input size (megapixels below the limit → factor).
DEFAULT_SCALES: tuple[tuple[float, int], ...] = ((0.25, 4), (0.5, 3), (2.0, 2))
TOLERATED_CAST = 8.0  # a restrained hand: white balance leaves this much of the light's mood (Lab chroma)
MAX_WHITE_BALANCE = 0.8
STRONG_CAST = 30.0  # tungsten light under a daylight setting reads ~40: a scene of one colour can read as much
AGED_TOLERATED_CAST = 3.0  # on a faded print the cast is the dyes' ageing: take it out nearly all the way
AGED_MAX_WHITE_BALANCE = 0.9
MIN_WHITE_BALANCE_MP = 0.04  # ~200×200: below, a few coloured objects sway the gray-edge estimate
EXPOSURE_STRENGTH = 0.8
UNDER_EXPOSED_CONTRAST = 0.5
WASHED_OUT_CONTRAST = 0.8
WASHED_OUT_SHADOW_L = 40.0
RESAVED_MARGIN = 15  # pixel estimates of a JPEG saved once scatter ±10 around its tables' quality
FORCED_MIN_SIGMA = 3.0  # --denoise N on a photo that measures cleaner still filters this much


@dataclass(frozen=True)
class EnhanceOptions:
    """What a user can override; "auto" everywhere lets the diagnosis decide."""

    scale: float | None = None  # None = from the photo's size; 1 = no upscaling
    model: str | None = None  # upscale model; None = photo or anime model by content
    faces: Toggle = "auto"
    denoise: Literal["auto", "off"] | float = "auto"  # a number 0..1 forces that strength (also for deblock)
    color: Literal["auto", "off"] = "auto"
    strength: float = 0.8  # fidelity guard: share of the model's result over a plain resample
    tile: int | None = None  # model steps' tile size; None = from free memory
    tile_overlap: int | None = None  # None = each stage's own default

    def __post_init__(self) -> None:
        if self.scale is not None and not (math.isfinite(self.scale) and 0 < self.scale <= 16):
            raise InvalidParameter(f"scale must be a number above 0 and at most 16, got {self.scale}")
        if self.faces not in ("auto", "on", "off"):
            raise InvalidParameter(f"faces must be auto, on or off, got {self.faces!r}")
        if self.color not in ("auto", "off"):
            raise InvalidParameter(f"color must be auto or off, got {self.color!r}")
        if isinstance(self.denoise, str):
            if self.denoise not in ("auto", "off"):
                raise InvalidParameter(f"denoise must be auto, off or a strength 0..1, got {self.denoise!r}")
        elif not (math.isfinite(self.denoise) and 0.0 <= self.denoise <= 1.0):
            raise InvalidParameter(f"denoise strength must be between 0 and 1, got {self.denoise}")
        if not (math.isfinite(self.strength) and 0.0 <= self.strength <= 1.0):
            raise InvalidParameter(f"strength must be between 0 and 1, got {self.strength}")

    @classmethod
    def parse_denoise(cls, value: str) -> Literal["auto", "off"] | float:
        """The CLI's ``--denoise`` text: auto, off or a number 0..1."""
        if value in ("auto", "off"):
            return value  # type: ignore[return-value]
        try:
            strength = float(value)
        except ValueError:
            raise InvalidParameter(f"--denoise takes auto, off or a strength 0..1, got {value!r}") from None
        if not (math.isfinite(strength) and 0.0 <= strength <= 1.0):
            raise InvalidParameter(f"--denoise strength must be between 0 and 1, got {value}")
        return strength


@dataclass(frozen=True)
class Capabilities:
    """What the planner may use: models installed now, models known, stages registered (name → params type).

    The default is the built-in catalog with only its embedded models installed.
    """

    installed: tuple[ModelSpec, ...] = tuple(s for s in BUILTIN_MODELS if s.embedded)
    known: tuple[ModelSpec, ...] = BUILTIN_MODELS
    stages: Mapping[str, type] = field(default_factory=dict)

    def installed_for(self, purpose: str) -> list[ModelSpec]:
        return [s for s in self.installed if s.purpose == purpose]

    def known_for(self, purpose: str) -> list[ModelSpec]:
        return [s for s in self.known if s.purpose == purpose]

    def spec(self, name: str) -> ModelSpec | None:
        return next((s for s in (*self.installed, *self.known) if s.name == name), None)

    @classmethod
    def from_runtime(cls, runtime: ModelRuntime, stages: Mapping[str, type]) -> Capabilities:
        known = tuple(runtime.registry)
        installed = tuple(s for s in known if s.embedded or _is_available(runtime, s))
        return cls(installed=installed, known=known, stages=dict(stages))


def _is_available(runtime: ModelRuntime, spec: ModelSpec) -> bool:
    try:
        return bool(runtime.store.is_available(spec))
    except Exception:  # a broken store entry must not break planning; the model just isn't offered
        return False


@dataclass(frozen=True)
class Step:
    stage: str  # the stage's registered name
    params: Any  # its frozen params dataclass
    reason: str  # why, in one line a person can read
    track: Track = "both"  # "reference": only the guard's reference gets it; "plain": its plain counterpart, no model

    def to_dict(self) -> dict[str, Any]:
        params = asdict(self.params) if is_dataclass(self.params) and not isinstance(self.params, type) else dict(self.params)
        return {"stage": self.stage, "params": params, "reason": self.reason, "track": self.track}


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    notes: tuple[str, ...]
    input_size: tuple[int, int]  # width, height
    output_size: tuple[int, int]
    diagnosis: Diagnosis | None = field(default=None, compare=False, repr=False)

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(s.stage for s in self.steps)

    def step(self, stage: str) -> Step | None:
        return next((s for s in self.steps if s.stage == stage), None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "input_size": list(self.input_size), "output_size": list(self.output_size),
            "steps": [s.to_dict() for s in self.steps], "notes": list(self.notes),
        }
        if self.diagnosis is not None:
            out["diagnosis"] = self.diagnosis.to_dict()
        return out

    def explain(self) -> str:
        (w, h), (ow, oh) = self.input_size, self.output_size
        lines = [f"{w}×{h} → {ow}×{oh}"]
        if self.diagnosis is not None:
            findings = self.diagnosis.findings()
            lines.append("findings:" + ("" if findings else " none"))
            lines.extend(f"  - {f}" for f in findings)
        if not self.steps:
            lines.append("plan: nothing to do — the photo is left as it is")
        else:
            lines.append("plan:")
            width = max(len(s.stage) for s in self.steps)
            lines.extend(f"  {i}. {s.stage:<{width}}  {s.reason}" for i, s in enumerate(self.steps, 1))
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def default_scale(megapixels: float) -> int:
    return next((factor for limit, factor in DEFAULT_SCALES if megapixels < limit), 1)


def auto_denoise_strength(sigma: float) -> float:
    """Gentler on light grain (some of it reads as texture), full on strong noise."""
    return round(min(1.0, max(0.5, 0.5 + (sigma - 4.0) / 16.0)), 2)


def plan_for(
    diagnosis: Diagnosis,
    options: EnhanceOptions = EnhanceOptions(),
    capabilities: Capabilities | None = None,
) -> Plan:
    """The plan for one photo. Pure: the same diagnosis, options and capabilities give the same plan."""
    caps = capabilities or Capabilities()
    notes: list[str] = []
    upscale, scale = _upscale_step(diagnosis, options, caps, notes)
    plain = options.strength == 0.0  # the model's share would be nothing: do not run it
    restored_by_model = restores(caps.spec(upscale[0].params.model)) if upscale and not plain else frozenset()
    steps = _cleanup_steps(diagnosis, options, caps, restored_by_model)
    if options.denoise == "off":
        _note_model_cleans_anyway(diagnosis, restored_by_model, upscale, notes)
    steps += _face_steps(diagnosis, options, caps, notes)
    steps += upscale
    if plain:
        steps = [_plain(s) if _is_model_step(s) else s for s in steps]
    elif any(_is_model_step(s) for s in steps):
        steps.append(Step("fidelity", FidelityParams(strength=options.strength), _guard_reason(options.strength)))
    steps += _color_steps(diagnosis, options, notes)
    w, h = diagnosis.resolution.width, diagnosis.resolution.height
    return Plan(tuple(steps), tuple(notes), (w, h), target_size(w, h, scale), diagnosis)


def restores(spec: ModelSpec | None) -> frozenset[str]:
    """Damage a model removes on its own while it works ("noise", "jpeg", "blur"), as declared.

    Declared by the catalog as a spec option ``restores`` (comma-separated).
    """
    if spec is None:
        return frozenset()
    declared = spec.option("restores", "") or ""
    return frozenset(p.strip() for p in declared.split(",") if p.strip())


def _plain(step: Step) -> Step:
    """The step without its model (--strength 0): what it does instead, said in its reason."""
    why = step.reason.split(" → ")[0]
    p = step.params
    if isinstance(p, UpscaleParams):
        how = f"upscale ×{p.scale:g} by a plain high-quality resample"
    else:
        how = f"{step.stage} with {type(p)(**{**asdict(p), 'model': None}).method} at strength {p.strength:.2g}"
    return replace(step, track="plain", reason=f"{why} → {how} (--strength 0: {p.model} is not run)")


def _is_model_step(step: Step) -> bool:
    return isinstance(step.params, UpscaleParams) or getattr(step.params, "model", None) is not None


def _guard_reason(strength: float) -> str:
    return (f"blend {strength:.0%} model over a plain resample; keep the original's low-frequency colour; "
            "check consistency with the input")


def _cleanup_steps(d: Diagnosis, options: EnhanceOptions, caps: Capabilities, restored: frozenset[str]) -> list[Step]:
    """Deblock, then denoise. Where the upscale model removes that damage itself (and does it better
    than a filter in front of it, which costs detail), the filter only cleans the guard's reference."""
    if options.denoise == "off":
        return []
    forced = None if options.denoise == "auto" else float(options.denoise)
    steps: list[Step] = []
    jpeg = d.jpeg
    if jpeg.attention and jpeg.quality is not None:
        model = _first_name(caps.installed_for("deblock"))
        strength = 1.0 if forced is None else forced
        quality, why = int(jpeg.quality), f"JPEG quality≈{jpeg.quality}"
        if jpeg.source == "tables" and jpeg.pixel_quality < quality - RESAVED_MARGIN:  # the blocks are older, worse
            quality, why = jpeg.pixel_quality, f"{why}, with blocks like quality≈{jpeg.pixel_quality} (saved before)"
        params = DeblockParams(quality=quality, strength=strength, model=model, **_tiling(options))
        steps.append(_cleanup_step("deblock", params, why, "jpeg", restored, model))
    sigma = float(d.noise.sigma)
    if d.noise.attention or forced is not None:
        model = _first_name(caps.installed_for("denoise"))
        strength = auto_denoise_strength(sigma) if forced is None else forced
        why = f"noise σ≈{sigma:.0f}" if d.noise.attention else f"--denoise {forced:g} (noise σ≈{sigma:.1f})"
        denoise = DenoiseParams(sigma=round(max(sigma, FORCED_MIN_SIGMA), 2), strength=strength, model=model,
                                **_tiling(options))
        steps.append(_cleanup_step("denoise", denoise, why, "noise", restored, model))
    return steps


def _note_model_cleans_anyway(d: Diagnosis, restored: frozenset[str], upscale: list[Step], notes: list[str]) -> None:
    """--denoise off turns the filters off, not what the upscale model does on its own: say so."""
    found = [what for damage, what, flagged in (("noise", "grain", d.noise.attention),
                                               ("jpeg", "JPEG artefacts", d.jpeg.attention)) if flagged and damage in restored]
    if found and upscale:
        notes.append(f"--denoise off: {upscale[0].params.model} still smooths {' and '.join(found)} on its own; "
                     "lower --strength to keep more of the original")


def _cleanup_step(stage: str, params: Any, why: str, damage: str, restored: frozenset[str],
                  model: str | None) -> Step:
    how = f"{stage} with {params.method} at strength {params.strength:.2g}"
    if model is None and damage in restored:
        return Step(stage, params, f"{why} → the upscale model removes it itself; {how} for the guard's reference",
                    track="reference")
    return Step(stage, params, f"{why} → {how}")


def _tiling(options: EnhanceOptions) -> dict[str, Any]:
    given = {"tile": options.tile, "tile_overlap": options.tile_overlap}
    return {k: v for k, v in given.items() if v is not None}


def _first_name(specs: Iterable[ModelSpec]) -> str | None:
    return next((s.name for s in specs), None)


def _face_steps(d: Diagnosis, options: EnhanceOptions, caps: Capabilities, notes: list[str]) -> list[Step]:
    count = d.faces.count
    if options.faces == "off" or (count == 0 and options.faces == "auto"):
        return []
    found = f"{count} face{'s' if count != 1 else ''} found" if count else "no faces detected"
    model = _first_name(caps.installed_for("restore-face"))
    params_type = caps.stages.get("faces")
    if model is not None and params_type is not None:
        params = params_type(model=model, strength=options.strength)
        return [Step("faces", params, f"{found} → restore faces with {model}")]
    if model is None:
        known = caps.known_for("restore-face")
        hint = (f"`revive models pull {known[0].name}` to restore faces" if known
                else "face restoration comes with a later version")
        notes.append(f"{found}; no face model installed — {hint}")
    else:
        notes.append(f"{found}; {model} is installed but this version has no face restoration stage")
    return []


def _upscale_step(d: Diagnosis, options: EnhanceOptions, caps: Capabilities,
                  notes: list[str]) -> tuple[list[Step], float]:
    mp = float(d.resolution.megapixels)
    if options.scale is not None:
        scale, why = float(options.scale), f"--scale {options.scale:g}"
    else:
        scale = float(default_scale(mp))
        size = f"{mp:.2f} MP" if mp >= 0.01 else f"{d.resolution.width}×{d.resolution.height} px"
        why = f"{size} is small" if scale > 1 else ""
    soft = d.sharpness.attention and d.sharpness.blur_px is not None
    if scale == 1.0:
        if soft and options.scale is None:
            notes.append(f"the photo is soft (edge blur σ≈{d.sharpness.blur_px:.1f} px) but already {mp:.1f} MP; "
                         "pass --scale 2 to let the model restore detail while upscaling")
        if options.model is not None:
            notes.append(f"--model {options.model} is not used: no upscaling at {mp:.1f} MP (pass --scale)")
        return [], 1.0
    illustration = d.content.kind == "illustration"
    model = options.model or (DEFAULT_ANIME_MODEL if illustration else DEFAULT_UPSCALE_MODEL)
    kind = "anime/illustration model" if illustration and options.model is None else (
        "your choice" if options.model else "photo model")
    extra = f"; soft (edge blur σ≈{d.sharpness.blur_px:.1f} px), the model restores detail" if soft else ""
    params = UpscaleParams(model=model, scale=scale, **_tiling(options))
    return [Step("upscale", params, f"{why} → upscale ×{scale:g} with {model} ({kind}){extra}")], scale


def _color_steps(d: Diagnosis, options: EnhanceOptions, notes: list[str]) -> list[Step]:
    if options.color == "off":
        return []
    cast, exposure = d.color_cast, d.exposure
    aged = exposure.verdict == "faded"  # a faded print's cast is its dyes' ageing, not the light's mood
    tolerated, most = (AGED_TOLERATED_CAST, AGED_MAX_WHITE_BALANCE) if aged else (TOLERATED_CAST, MAX_WHITE_BALANCE)
    needed = cast.attention or (aged and cast.strength > TOLERATED_CAST)  # fading also weakens the cast it shows
    wb = round(min(most, 1.0 - tolerated / cast.strength), 2) if needed else 0.0
    if wb > 0 and d.resolution.megapixels < MIN_WHITE_BALANCE_MP:
        notes.append(f"a {cast.direction} cast was measured (strength {cast.strength:.0f}), but the photo is too small "
                     "to tell a cast from coloured objects; white balance left alone")
        wb = 0.0
    expo = contrast = 0.0
    reasons: list[str] = []
    if wb > 0:
        why = "the print's ageing, not the light" if aged else "keeping some of the light's mood"
        reasons.append(f"{cast.direction} cast (strength {cast.strength:.0f}) → white balance at {wb:.0%} "
                       f"(to about {cast.strength * (1 - wb):.0f}, {why})")
        if cast.strength > STRONG_CAST and not aged:
            notes.append(f"the {cast.direction} cast is as strong as tungsten light (strength {cast.strength:.0f}); "
                         "if that colour is the subject's (a sunset, a close-up of one colour), pass --color off")
    if exposure.verdict == "under":
        expo, contrast = EXPOSURE_STRENGTH, UNDER_EXPOSED_CONTRAST
        reasons.append(f"under-exposed (mean L* {exposure.mean_lightness:.0f}, brightest 1 % at "
                       f"L* {exposure.highlights_l99:.0f}) → brighten and add contrast")
    elif exposure.verdict == "over":
        if exposure.shadows_l1 > WASHED_OUT_SHADOW_L:
            contrast = WASHED_OUT_CONTRAST
            reasons.append(f"washed out (darkest 1 % at L* {exposure.shadows_l1:.0f}) → stretch contrast")
        if exposure.clipped_highlights > 0.0:
            notes.append(f"{exposure.clipped_highlights:.1%} of the photo is clipped white; "
                         "detail lost there cannot be recovered")
    elif exposure.verdict == "faded":
        contrast = WASHED_OUT_CONTRAST
        reasons.append(f"faded (tones span only L* {exposure.shadows_l1:.0f}–{exposure.highlights_l99:.0f}) "
                       "→ stretch contrast")
    if not reasons:
        return []
    params = ColorParams(white_balance=wb, exposure=expo, contrast=contrast)
    return [Step("color", params, "; ".join(reasons))]
