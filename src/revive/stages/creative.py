"""Generative upscaling: diffusion adds plausible detail to the faithful upscale, under three sliders.

The step runs after the faithful upscale and its fidelity guard (``--look creative`` in enhance,
``revive upscale --creative``), on :class:`revive.models.refiner.Refiner` — Stable Diffusion img2img
over overlapping latent tiles, held by a tile ControlNet when one is installed. Its pixels are
invented, and the output's record says so, with the model, seed and sliders.

The sliders mean one thing each:

* **creativity** → the img2img denoising strength, ``MAX_STRENGTH × creativity``: the share of the
  noise schedule the picture is pushed back into. 0 returns the faithful upscale bit for bit.
* **resemblance** → how tightly the result is held to the faithful upscale: the ControlNet's weight
  (``MAX_CONTROL × resemblance``) and the *low-frequency lock* — everything coarser than a Gaussian
  of σ = ``factor × 4 × (1/8)^resemblance`` output pixels is taken from the faithful image (σ 4
  input pixels at 0, ½ an input pixel at 1), so colour and composition never move and, at full
  resemblance, the result downscales to the photo it came from.
* **hdr** → local contrast and micro-detail: the luminance's band-pass detail at two scales is
  amplified, each pixel's lift capped so nothing that was not clipped clips.

Faces are protected: generated detail is faded out over each detected face (feathered ellipse), so
faces stay as the faces stage restored them rather than being re-imagined.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..analysis.face_detect import detect_faces
from ..colorimetry import downscale
from ..errors import InvalidParameter
from ..types import Photo
from .base import StageContext, StageInfo, StageOption
from .planning import CreativeSettings, PlanContext, Step, check_generation, check_unit

if TYPE_CHECKING:
    from ..models.refiner import Refiner

MAX_STRENGTH = 0.8  # creativity 1 still starts from the faithful picture, not from noise
MAX_CONTROL = 1.0
LOCK_SIGMA_LOW, LOCK_SIGMA_HIGH = 4.0, 0.5  # input pixels, at resemblance 0 and 1
HDR_LOCAL_GAIN, HDR_MICRO_GAIN = 0.6, 0.8  # detail amplification at hdr 1
DEFAULT_PROMPT = "a detailed, sharp, high quality photograph"
DEFAULT_NEGATIVE = "blurry, low resolution, noise, jpeg artifacts, oversharpened, painting, cartoon, text, watermark"
WORTH_SAYING = 60.0  # seconds: runs expected to take longer are announced


@dataclass(frozen=True)
class Preset:
    """Slider values for a kind of subject, chosen from the diagnosis and shown in the plan."""

    subject: str
    creativity: float
    resemblance: float
    hdr: float


# Portraits: faces are restored by the faces stage, never re-imagined, and skin stays skin (0.2–0.4).
PORTRAIT = Preset("portrait", 0.3, 0.8, 0.2)
# Landscapes, foliage, textures: the subjects that gain most from invented micro-detail (0.5–0.7).
LANDSCAPE = Preset("landscape or texture", 0.6, 0.6, 0.4)
GENERAL = Preset("general photo", 0.45, 0.7, 0.3)


@dataclass(frozen=True)
class CreativeParams:
    """A resolved refinement: every slider set, the seed drawn. ``factor``: output pixels per input pixel
    of the photo the faithful upscale came from (sizes the low-frequency lock)."""

    creativity: float = GENERAL.creativity
    resemblance: float = GENERAL.resemblance
    hdr: float = GENERAL.hdr
    prompt: str = ""
    negative_prompt: str = ""
    seed: int | None = None
    steps: int = 20
    guidance: float = 5.0
    diffusion_model: str | None = None
    config: str | None = None
    controlnet: str | None = None
    factor: float = 1.0
    protect_faces: bool = True
    subject: str = GENERAL.subject

    def __post_init__(self) -> None:
        for name in ("creativity", "resemblance", "hdr"):
            check_unit(name, getattr(self, name))
        if not (math.isfinite(self.factor) and self.factor > 0):
            raise InvalidParameter(f"factor must be positive, got {self.factor}")
        check_generation(self.steps, self.guidance, self.seed, self.negative_prompt)

    @property
    def model(self) -> str:
        """The diffusion model's name, as the output's record gives it."""
        from ..models.refiner import DEFAULT_BASE_MODEL

        return Path(self.diffusion_model).name if self.diffusion_model else DEFAULT_BASE_MODEL

    @property
    def strength(self) -> float:
        return MAX_STRENGTH * self.creativity

    @property
    def lock_sigma(self) -> float:
        """The low-frequency lock's Gaussian σ in output pixels."""
        return self.factor * LOCK_SIGMA_LOW * (LOCK_SIGMA_HIGH / LOCK_SIGMA_LOW) ** self.resemblance

    @classmethod
    def resolve(cls, settings: CreativeSettings, preset: Preset, factor: float) -> CreativeParams:
        """The user's settings over the preset's sliders."""
        def pick(value: float | None, default: float) -> float:
            return default if value is None else value

        return cls(creativity=pick(settings.creativity, preset.creativity),
                   resemblance=pick(settings.resemblance, preset.resemblance), hdr=pick(settings.hdr, preset.hdr),
                   prompt=settings.prompt, negative_prompt=settings.negative_prompt, seed=settings.seed,
                   steps=settings.steps, guidance=settings.guidance, diffusion_model=settings.diffusion_model,
                   config=settings.config, controlnet=settings.controlnet, factor=factor, subject=preset.subject)


def draw_seed(settings: CreativeSettings) -> CreativeSettings:
    """The settings with a seed: the user's, or a random one (recorded in the output, so it can be repeated)."""
    return settings if settings.seed is not None else replace(settings, seed=secrets.randbelow(2**32))


# --- the pixels --------------------------------------------------------------------------------------

def lock_low_frequencies(result: np.ndarray, faithful: np.ndarray, sigma: float) -> np.ndarray:
    """``result``'s detail finer than ``sigma`` on ``faithful``'s coarser content (colour, tone, composition)."""
    if sigma <= 0:
        return faithful.copy()

    def low(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT)

    return np.asarray(result - low(result) + low(faithful), dtype=np.float32)


def hdr_detail(pixels: np.ndarray, amount: float, factor: float) -> np.ndarray:
    """Local contrast (band-pass at ~4 input pixels) and micro-detail (~1 output pixel) lifted by ``amount``,
    on luminance with colour ratios kept; a pixel's lift never takes it past 0 or 1."""
    if amount <= 0:
        return pixels
    luma = pixels @ np.array([0.2126, 0.7152, 0.0722], np.float32) if pixels.shape[2] == 3 else pixels[:, :, 0]
    luma = np.ascontiguousarray(luma, dtype=np.float32)

    def blur(x: np.ndarray, sigma: float) -> np.ndarray:
        return cv2.GaussianBlur(x, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT)

    fine = blur(luma, 0.8)
    local = blur(luma, max(1.5, 4.0 * factor))
    lift = amount * (HDR_MICRO_GAIN * (luma - fine) + HDR_LOCAL_GAIN * (fine - local))
    # headroom: a lift may use 90 % of the way to black or white, so nothing unclipped clips
    lift = np.clip(lift, -0.9 * luma, 0.9 * (1.0 - luma))
    if pixels.shape[2] == 1:
        return np.asarray(pixels + lift[:, :, None], dtype=np.float32)
    # the same absolute lift on every channel would shift hue in dark colours: move towards white or black
    up = lift[:, :, None] / np.maximum(1.0 - luma[:, :, None], 1e-4)
    down = lift[:, :, None] / np.maximum(luma[:, :, None], 1e-4)
    out = np.where(lift[:, :, None] >= 0, pixels + up * (1.0 - pixels), pixels + down * pixels)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def face_protection(pixels: np.ndarray) -> np.ndarray:
    """1 over each detected face (a feathered ellipse a little larger than its box), 0 elsewhere."""
    h, w = pixels.shape[:2]
    small = downscale(pixels, 1024)
    f = small.shape[1] / w
    mask = np.zeros((h, w), np.float32)
    for face in detect_faces(small):
        x, y, bw, bh = (v / f for v in face.box)
        ellipse = np.zeros((h, w), np.float32)
        cv2.ellipse(ellipse, (round(x + bw / 2), round(y + bh / 2)), (max(1, round(0.65 * bw)), max(1, round(0.8 * bh))),
                    0, 0, 360, 1.0, -1)
        feathered = cv2.GaussianBlur(ellipse, (0, 0), sigmaX=max(1.0, 0.15 * min(bw, bh)), borderType=cv2.BORDER_REFLECT)
        mask = np.maximum(mask, feathered)
    return np.clip(mask, 0.0, 1.0)


def refine(photo: Photo, params: CreativeParams, context: StageContext) -> Photo:
    """``photo`` (a faithful upscale) with generated detail, as ``params`` sets it."""
    from ..models.refiner import Generation

    seed = params.seed if params.seed is not None else secrets.randbelow(2**32)
    faithful = photo.rgb() if not photo.is_gray else np.repeat(photo.pixels, 3, axis=2)
    if params.creativity == 0:  # nothing to generate: no model is loaded
        return _as_photo(photo, hdr_detail(faithful, params.hdr, params.factor))
    refiner = load(params, context)
    generation = Generation(params.prompt or DEFAULT_PROMPT,
                            params.negative_prompt or (DEFAULT_NEGATIVE if params.guidance > 1 else ""),
                            seed, params.steps, params.strength, params.guidance, MAX_CONTROL * params.resemblance)
    calls = refiner.model_calls(photo.height, photo.width, generation)
    context.say(f"generating detail: {calls} model calls at {refiner.native} px tiles on {refiner.device}")
    started = time.perf_counter()
    generated = refiner(faithful, generation, on_step=_progress(context), cancel=context.cancel)
    result = hdr_detail(lock_low_frequencies(generated, faithful, params.lock_sigma), params.hdr, params.factor)
    protected = 0.0
    if params.protect_faces:
        mask = face_protection(faithful)[:, :, None]
        protected = float(mask.mean())
        result = result * (1.0 - mask) + faithful * mask
    seconds = time.perf_counter() - started
    if refiner.torch_device.type == "cpu":
        context.note(f"detail generated on the CPU: {calls} model calls took {seconds:.0f} s; a CUDA GPU takes seconds")
    if not refiner.plan.fits:
        context.note(f"the diffusion model needs more memory than the budget; it ran anyway ({refiner.plan.describe()})")
    if protected:
        context.note(f"faces kept as the faithful upscale had them ({protected:.0%} of the picture), not re-imagined")
    return _as_photo(photo, result)


def _as_photo(photo: Photo, rgb: np.ndarray) -> Photo:
    pixels = np.clip(rgb, 0.0, 1.0).astype(np.float32)
    if photo.is_gray:
        pixels = pixels.mean(axis=2, keepdims=True, dtype=np.float32)
    return photo.evolve(pixels=np.ascontiguousarray(pixels))


def _progress(context: StageContext) -> Callable[[int, int], None]:
    """Per-call progress, and once the first call is timed, an estimate when the run will be long."""
    report = context.tile_progress("generating detail")
    started = time.perf_counter()

    def on_step(done: int, total: int) -> None:
        if done == 1 and context.expect is not None:
            seconds = (time.perf_counter() - started) * total
            if seconds > WORTH_SAYING:
                context.expect(seconds)
        if report is not None:
            report(done, total)

    return on_step


def _paths(params: CreativeParams, context: StageContext) -> tuple[Path, Path | None, Path | None]:
    from ..models.diffusion import check_source, find_named, locate
    from ..models.refiner import BASE_WEIGHTS, DEFAULT_CONTROLNET

    models_dir = context.engine.store.models_dir
    base = locate(params.diffusion_model, models_dir, BASE_WEIGHTS)
    config = None if params.config is None else Path(params.config).expanduser()
    check_source(base, config)
    if params.controlnet is not None and params.controlnet.lower() == "none":
        controlnet = None
    elif params.controlnet is None:
        default = models_dir / DEFAULT_CONTROLNET
        controlnet = default if (default / "config.json").is_file() else None
    else:
        controlnet = find_named(params.controlnet, models_dir)
        if controlnet is None:
            raise InvalidParameter(f"no ControlNet at {params.controlnet!r} (not a path, nor a folder in {models_dir})")
    return base, config, controlnet


def check_ready(params: CreativeParams, context: StageContext) -> None:
    """The weights are there and the extra is installed: said before any slow work."""
    from ..models.diffusion import import_diffusers
    from ..models.refiner import COMMAND

    _paths(params, context)
    import_diffusers(COMMAND)


def load(params: CreativeParams, context: StageContext) -> Refiner:
    from ..models.refiner import load_refiner

    engine = context.engine
    base, config, controlnet = _paths(params, context)
    key = ("refiner", str(base.resolve()), str(config), str(controlnet), engine.options, engine.memory)
    context.say(f"loading {base.name}" + (f" with {controlnet.name}" if controlnet else ""))
    return engine.keep(key, lambda: load_refiner(base, config, controlnet, engine.options, engine.memory,
                                                 engine.memory_budget))


class CreativeStage:
    name = "creative"

    def __init__(self, params: CreativeParams) -> None:
        self.params = params

    def run(self, photo: Photo, context: StageContext) -> Photo:
        return refine(photo, self.params, context)


# --- in the autopilot -----------------------------------------------------------------------------

CREATIVE_OPTION = StageOption("creative", "Generative detail (--look creative): auto, on, off, or a creativity 0..1.",
                              ("auto", "on", "off", "strength"))


def preset_for(ctx: PlanContext) -> Preset:
    """The subject's preset: faces make a portrait; sky and foliage over a third of the frame a landscape."""
    d = ctx.diagnosis
    if d.faces.count:
        return PORTRAIT
    if d.regions.share("sky") + d.regions.share("foliage") + d.regions.share("water") >= 1 / 3:
        return LANDSCAPE
    return GENERAL


def plan_creative(ctx: PlanContext) -> list[Step]:
    """Refine with diffusion when the look is creative (or ``--creative on``/a creativity); never otherwise."""
    setting = ctx.setting("creative")
    wanted = setting not in ("auto", "off") or (setting == "auto" and ctx.options.look == "creative")
    if not wanted:
        return []
    settings = ctx.options.generation
    if isinstance(setting, float):
        settings = replace(settings, creativity=setting)
    preset = preset_for(ctx)
    upscale = ctx.planned("upscale")
    factor = float(upscale.params.scale) if upscale is not None and upscale.params.scale else 1.0
    params = CreativeParams.resolve(settings, preset, factor)
    seed = "drawn at run time" if params.seed is None else params.seed
    faces = "; faces kept as restored, not re-imagined" if preset is PORTRAIT else ""
    reason = (f"--look creative, {preset.subject} preset → generate detail: creativity {params.creativity:g}, "
              f"resemblance {params.resemblance:g}, HDR {params.hdr:g}, seed {seed}{faces}")
    return [Step("creative", params, reason)]


def keep_result(reference: Photo, result: Photo | None, params: CreativeParams, context: StageContext) -> Photo:
    """The guard's reference after this step: the step's own result (nothing guards it afterwards, it locks itself),
    or, without the model (--strength 0), the photo unchanged."""
    return result if result is not None else reference


STAGE = StageInfo(
    name="creative", params_type=CreativeParams, build=CreativeStage, phase=45, option=CREATIVE_OPTION,
    summary="generative upscaling: diffusion adds plausible detail to the faithful upscale (marked as generated)",
    runs_model=lambda params: params.creativity > 0, counterpart=keep_result, plan=plan_creative,
    describe_plain=lambda params: "no generated detail", generative=True,
)

__all__ = ["CreativeParams", "Preset", "draw_seed", "plan_creative", "refine"]
