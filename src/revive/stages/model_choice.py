"""Which upscale model, and how far: the upscale planner rule's choices, from declared measurements.

Each photo model in the catalog declares how it was trained (``training``: "fidelity" for pixel
losses — it sharpens what is there; "gan" for adversarial losses — it draws texture) and what it
gains over bicubic resampling, in dB of PSNR, on each class of damage (``gain_clean``,
``gain_jpeg``, ``gain_noise``, ``gain_heavy_noise``: means over the photos of bench/fidelity.py at
×2, run as the planner runs them). The diagnosis names the class; the look says which models may
compete. Measured so: waifu2x (noise level 0 on clean photos, 3 on damage) beats DAT-light and
Real-ESRGAN on every class by PSNR, so the faithful look never picks a GAN here:

* ``faithful`` (the default): fidelity models; a GAN only where it beats the best of them by
  ``GAN_MARGIN_DB`` on that damage (heavy noise, if anywhere);
* ``balanced``: the best fidelity model on clean photos, the GAN on damage (it loses PSNR to the
  fidelity path but wins SSIM on noise and JPEG: σ 25, 0.77 against bicubic's 0.54 on 6 photos);
* ``sharp``: the GAN.

A model that declares no gain for a class does not compete for it (an imported model is used when
the user names it). Among equals the catalog's order decides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..models import DEFAULT_ANIME_MODEL, DEFAULT_UPSCALE_MODEL, ModelSpec

if TYPE_CHECKING:
    from ..analysis import Diagnosis
    from .planning import PlanContext

DamageClass = Literal["clean", "jpeg", "noise", "heavy_noise"]
HEAVY_NOISE_SIGMA = 20.0  # 8-bit σ: where grain hides detail and a restoration model may be worth its texture
GAN_MARGIN_DB = 1.0  # faithful: a GAN must beat the best fidelity model by this much on the damage
TARGET_LONG_SIDE = 2048  # the default aims at a long side of at least this many pixels
ENOUGH_LONG_SIDE = 1536  # ... and leaves photos at least this long alone (×2 would overshoot)
MAX_AUTO_FACTOR = 8  # the default never goes further than ×8 (a plan with --scale may)


@dataclass(frozen=True)
class Choice:
    model: str
    why: str  # in a few words, for the step's reason


def damage_class(d: Diagnosis) -> DamageClass:
    """The damage the upscale model meets: noise outranks JPEG (the noise-trained choice cleans both)."""
    if d.noise.attention:
        return "heavy_noise" if d.noise.sigma > HEAVY_NOISE_SIGMA else "noise"
    return "jpeg" if d.jpeg.attention else "clean"


def declared_gain(spec: ModelSpec, damage: DamageClass) -> float | None:
    value = spec.option(f"gain_{damage}")
    return float(value) if value is not None else None


def training(spec: ModelSpec) -> str:
    return spec.option("training", "") or ""


def _best(specs: list[ModelSpec], damage: DamageClass) -> tuple[ModelSpec, float] | None:
    scored = [(s, g) for s in specs if (g := declared_gain(s, damage)) is not None]
    return max(scored, key=lambda sg: sg[1], default=None)


_WHAT = {"clean": "clean photo", "jpeg": "JPEG damage", "noise": "noise", "heavy_noise": "heavy noise"}


def choose_upscale_model(ctx: PlanContext) -> Choice:
    """The upscale model for this photo, look and installation (see the module docstring)."""
    options, d = ctx.options, ctx.diagnosis
    if options.model is not None:
        return Choice(options.model, "your choice")
    if d.content.kind == "illustration":
        return Choice(DEFAULT_ANIME_MODEL, "anime/illustration model")
    photo = [s for s in ctx.capabilities.installed_for("upscale") if s.content in ("photo", "general")]
    fidelity = [s for s in photo if training(s) == "fidelity"]
    gans = [s for s in photo if training(s) == "gan"]
    damage = damage_class(d)
    best_fidelity, best_gan = _best(fidelity, damage), _best(gans, damage)
    what = _WHAT[damage]
    if options.base_look == "sharp" and gans:
        return Choice((best_gan[0] if best_gan else gans[0]).name, "--look sharp: a restoration GAN, detail drawn in")
    if options.base_look == "balanced" and damage != "clean" and gans:
        return Choice((best_gan[0] if best_gan else gans[0]).name, f"{what}: a restoration GAN removes it (--look balanced)")
    if best_fidelity is not None:
        if best_gan is not None and best_gan[1] >= best_fidelity[1] + GAN_MARGIN_DB:
            return Choice(best_gan[0].name, f"{what}: the restoration GAN measures {best_gan[1]:+.1f} dB over bicubic, "
                                            f"{best_fidelity[0].name} {best_fidelity[1]:+.1f}")
        trained = f"{what}: faithful, trained on pixel losses" + (
            f"; cleans {what} itself" if damage != "clean" else "")
        return Choice(best_fidelity[0].name, trained)
    if best_gan is not None:
        return Choice(best_gan[0].name, f"{what}: no faithful model for it is installed")
    return Choice(DEFAULT_UPSCALE_MODEL, "photo model")


def default_factor(width: int, height: int, native: int) -> int:
    """The factor toward a long side of ``TARGET_LONG_SIDE``, a power of the model's native scale so
    no resampling is needed (at most ``MAX_AUTO_FACTOR``); 1 when the photo is long enough."""
    long_side = max(width, height)
    if long_side >= ENOUGH_LONG_SIDE:
        return 1
    native = max(2, native)
    passes = max(1, math.ceil(math.log(TARGET_LONG_SIDE / long_side) / math.log(native) - 1e-9))
    while passes > 1 and native**passes > MAX_AUTO_FACTOR:
        passes -= 1
    return int(native**passes)
