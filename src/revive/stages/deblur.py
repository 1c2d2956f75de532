"""Deblur: camera shake and focus blur taken back out of the photo.

With a ``deblur`` model in the store (NAFNet, Restormer, KBNet… through spandrel) the model runs,
tiled. The embedded default needs nothing: the blur kernel is estimated blindly — a straight
motion from the cepstrum (:mod:`revive.analysis.motion`), a Gaussian or a lens's disc fitted to the
spectrum when the whole photo is out of focus (:mod:`revive.analysis.focus`), or a Gaussian of the
measured edge width when ``--deblur`` forces it on a soft photo — and divided out by a regularised
Wiener filter, X = H*·Y / (|H|² + K + λ|∇|²): K keeps the spectral zeros of a motion kernel from
blowing up (8-bit rounding alone is noise enough to ring there), λ damps the fine-scale noise. A
focus kernel has no spectral zeros (a Gaussian) or few (a disc) and is divided out with a smaller K.
Ringing is held back twice: the photo is mirrored at its borders before the FFT (no wrap-around
edge), and each result pixel is kept within the range of the blurred photo around it, widened by a
margin. On skimage photos (bench/deblur.py) motion of 7–21 px gains 2.0–4.3 dB PSNR and 0.05–0.15
SSIM; focus blur (Gaussian σ 1.5–3, disc radius 3–6) 0.8–4.0 dB and 0.03–0.12 SSIM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np

from ..analysis.motion import disc_kernel, gaussian_kernel, motion_kernel
from ..errors import InvalidParameter
from ..types import Photo
from .base import StageContext, StageInfo, StageOption
from .denoise import blend_pixels, check_strength, classical_step, cleanup_step, run_restoration_model
from .planning import PlanContext, Step, first_name

NOISE_TO_SIGNAL = 0.01  # K: what 8-bit rounding and mild sensor noise call for (bench: 0.003 rings, 0.01 gains most)
FOCUS_NOISE_TO_SIGNAL = 0.003  # K for focus kernels: +0.1–0.6 dB over 0.01 on Gaussian σ 1.5–3 and discs 3–6
SMOOTHNESS = 0.001  # λ on the Laplacian
RING_MARGIN = 0.08  # a result pixel may leave its neighbourhood's range by this share of that range
MAX_LENGTH = 60.0


@dataclass(frozen=True)
class DeblurParams:
    length: float = 0.0  # straight motion in pixels (0: none)
    angle: float = 0.0  # its direction in degrees, 0 = horizontal, counter-clockwise in image rows
    sigma: float = 0.0  # a Gaussian softness in pixels, deconvolved when there is no motion
    radius: float = 0.0  # a defocused lens's disc in pixels, deconvolved when there is no motion
    strength: float = 1.0
    model: str | None = None  # a "deblur" model from the store; None = the embedded deconvolution
    tile: int | None = None
    tile_overlap: int = 32

    def __post_init__(self) -> None:
        check_strength(self.strength)
        for name, top in (("length", MAX_LENGTH), ("sigma", 10.0), ("radius", 20.0)):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value <= top):
                raise InvalidParameter(f"deblur {name} must be between 0 and {top:g} pixels, got {value}")
        if not math.isfinite(self.angle):
            raise InvalidParameter(f"deblur angle must be a number of degrees, got {self.angle}")

    @property
    def method(self) -> str:
        if self.model is not None:
            return self.model
        if self.length > 0:
            return f"deconvolution of a {self.length:.0f} px motion at {self.angle:.0f}°"
        if self.radius >= 1:
            return f"deconvolution of a defocus disc of radius {self.radius:.2g} px"
        return f"deconvolution of a σ {self.sigma:.1f} px softness"

    def kernel(self) -> np.ndarray | None:
        if self.length >= 2:
            return motion_kernel(self.length, self.angle)
        if self.radius >= 1:
            return disc_kernel(self.radius)
        if self.sigma > 0.3:
            return gaussian_kernel(self.sigma)
        return None

    @property
    def noise_to_signal(self) -> float:
        return NOISE_TO_SIGNAL if self.length >= 2 else FOCUS_NOISE_TO_SIGNAL


class DeblurStage:
    name = "deblur"

    def __init__(self, params: DeblurParams) -> None:
        self.params = params

    def run(self, photo: Photo, context: StageContext) -> Photo:
        p = self.params
        if p.strength == 0.0:
            return photo
        if p.model is not None:
            restored = run_restoration_model(photo, p.model, p.tile, p.tile_overlap, context)
            return blend_pixels(photo, restored.pixels, p.strength)
        kernel = p.kernel()
        if kernel is None:
            return photo
        with classical_step(self.name, context):
            sharp = deconvolve(photo.pixels, kernel, k=p.noise_to_signal)
        return blend_pixels(photo, sharp, p.strength)


def _otf(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The kernel's transfer function on a grid of ``shape``, centred on pixel (0, 0)."""
    pad = np.zeros(shape, np.float64)
    kh, kw = kernel.shape
    pad[:kh, :kw] = kernel
    return np.fft.rfft2(np.roll(pad, (-(kh // 2), -(kw // 2)), axis=(0, 1)))


def deconvolve(pixels: np.ndarray, kernel: np.ndarray, k: float = NOISE_TO_SIGNAL,
               smoothness: float = SMOOTHNESS) -> np.ndarray:
    """Regularised Wiener deconvolution of HxWxC pixels by ``kernel``, with ringing held back."""
    h, w, channels = pixels.shape
    pad = 2 * max(kernel.shape)
    padded = cv2.copyMakeBorder(np.ascontiguousarray(pixels, dtype=np.float32), pad, pad, pad, pad, cv2.BORDER_REFLECT)
    if padded.ndim == 2:
        padded = padded[:, :, None]
    shape = padded.shape[:2]
    otf = _otf(kernel.astype(np.float64), shape)
    laplacian = _otf(np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], np.float64), shape)
    gain = np.conj(otf) / (np.abs(otf) ** 2 + k + smoothness * np.abs(laplacian) ** 2)
    out = np.empty_like(pixels, dtype=np.float32)
    for c in range(channels):
        x = np.fft.irfft2(np.fft.rfft2(padded[:, :, c]) * gain, s=shape)
        out[:, :, c] = x[pad : pad + h, pad : pad + w]
    # ringing control: stay near the range the blurred photo spans around each pixel
    size = (kernel.shape[1] | 1, kernel.shape[0] | 1)
    element = cv2.getStructuringElement(cv2.MORPH_RECT, size)
    lo = cv2.erode(pixels, element, borderType=cv2.BORDER_REFLECT).reshape(pixels.shape)
    hi = cv2.dilate(pixels, element, borderType=cv2.BORDER_REFLECT).reshape(pixels.shape)
    margin = RING_MARGIN * (hi - lo) + 0.5 / 255.0
    return np.clip(out, np.maximum(lo - margin, 0.0), np.minimum(hi + margin, 1.0)).astype(np.float32)


# --- planning -------------------------------------------------------------------------------------

DEBLUR_OPTION = StageOption("deblur", "Motion and focus blur removal: auto, off, or a strength 0..1.",
                            accepts=("auto", "off", "strength"))


JPEG_MOTION_CONFIDENCE = 40.0  # rocket at JPEG q20/q40 read as 9–10 px shake with confidence 24–31
FOCUS_STRENGTH = 1.0  # the autopilot's share of a focus deconvolution (bench/fidelity.py's blur1.5 holds at 1)


def plan_deblur(ctx: PlanContext) -> list[Step]:
    """Motion blur found → deblur the estimated shake; focus blur found (the whole photo soft, a Gaussian
    or a lens's disc fitting its spectrum) → deblur that kernel; a photo that is merely soft only when
    ``--deblur`` is given a strength (its kernel: the measured edge width). A store model replaces the
    deconvolution."""
    setting = ctx.setting(DEBLUR_OPTION.name)
    if setting == "off":
        return []
    d = ctx.diagnosis
    forced = float(setting) if isinstance(setting, float) else None
    model = first_name(ctx.capabilities.installed_for("deblur"))
    if ctx.plain:
        model = None
    tiling = ctx.options.tiling()
    blocky = d.jpeg.attention and forced is None and d.motion.confidence < JPEG_MOTION_CONFIDENCE
    if d.motion.attention and blocky:  # JPEG's 8×8 grid reads like shake in the cepstrum: ask for more
        ctx.notes.append(f"{d.motion.summary()}, but the photo is JPEG-damaged and the evidence is weak "
                         f"(confidence {d.motion.confidence:.0f} < {JPEG_MOTION_CONFIDENCE:.0f}); not deblurred "
                         "(--deblur STRENGTH forces it)")
    elif d.motion.attention:
        strength = 1.0 if forced is None else forced
        params = DeblurParams(length=min(MAX_LENGTH, d.motion.length_px), angle=d.motion.angle_deg, strength=strength,
                              model=model, **tiling)
        return [Step("deblur", params, f"{d.motion.summary()} (confidence {d.motion.confidence:.0f}) → "
                                       f"deblur with {params.method} at strength {strength:.2g}")]
    focus = d.focus
    if focus.attention and focus.sigma_px is not None:
        strength = FOCUS_STRENGTH if forced is None else forced
        disc = focus.kernel == "disc"
        params = DeblurParams(sigma=0.0 if disc else round(min(10.0, focus.sigma_px), 2),
                              radius=round(min(20.0, focus.radius_px), 2) if disc else 0.0,
                              strength=strength, model=model, **tiling)
        # like denoise: an upscale model that removes blur itself (Real-ESRGAN) gets the photo as it is
        return [cleanup_step(ctx, "deblur", params, f"{focus.summary()}, edges found over {focus.coverage:.0%} "
                                                    "of the frame", "blur")]
    blur = d.sharpness.blur_px
    if forced is not None and blur is not None and d.sharpness.attention:
        params = DeblurParams(sigma=round(min(10.0, blur), 2), strength=forced, model=model, **tiling)
        return [Step("deblur", params, f"--deblur {forced:g} on a soft photo (edge blur σ≈{blur:.1f} px) → "
                                       f"deblur with {params.method}")]
    if forced is not None:
        ctx.notes.append("--deblur: the photo is sharp (no motion blur, edges within "
                         f"{d.sharpness.summary()}); nothing to deblur")
    elif d.sharpness.attention:
        ctx.notes.append(f"{d.sharpness.summary()} but not out of focus all over ({focus.summary()}); "
                         "not deblurred (--deblur STRENGTH forces it)")
    return []


def classical_deblur(reference: Photo, result: Photo | None, params: DeblurParams, context: StageContext) -> Photo:
    return DeblurStage(replace(params, model=None)).run(reference, context)


def _has_model(params: Any) -> bool:
    return getattr(params, "model", None) is not None


STAGE = StageInfo(
    name="deblur", params_type=DeblurParams, build=DeblurStage, phase=13, option=DEBLUR_OPTION,
    summary="motion and focus blur removal: a store model, else deconvolution of the estimated kernel",
    runs_model=_has_model, counterpart=classical_deblur, plan=plan_deblur,
    describe_plain=lambda p: f"deblur with {replace(p, model=None).method}",
)
