"""The fidelity guard: the model may add detail, never change what the photo shows.

It compares the model's result with a *reference*: the same photo taken through the same plan with
every model step replaced by its plain counterpart (upscaling by a Lanczos resample, a model
denoiser by non-local means, face restoration by nothing), while classical cleanup steps (deblock,
denoise) run on both; colour and light run after the guard, once. The reference is what a careful
person would get by hand; against it:

1. Colour-shift correction: the reference's low-frequency colour (CIE Lab, a Gaussian of ~1/16
   of the image) replaces the result's, so the model cannot shift hues or brightness in the large.
2. Strength blend: result·s + reference·(1−s), s = ``--strength`` (0.8 by default), so skin and
   foliage keep some of their natural texture instead of the model's plastic one.
3. Consistency check: result and reference are area-downscaled to the input size and compared
   (PSNR and SSIM, BasicSR conventions). A raw model result below ``drop_psnr``/``drop_ssim``
   has failed and is dropped (result = reference). Otherwise the blend must reach
   ``min_psnr``/``min_ssim``; below, it is softened step by step (×0.7), and dropped if that
   would go under ``min_strength``. Real-ESRGAN on real photos measures 23–35 dB / SSIM 0.82–0.96
   raw against a cleaned reference; an unrelated image 8–22 dB / 0.3–0.62.

Why the reference and not the raw input: Real-ESRGAN removes noise and JPEG blocks on its own, so a
faithful result of a noisy photo *should* differ from the noisy input by the noise; the cleaned
reference is what it should agree with. With no cleanup step the reference at input size is the
input itself (up to resampling), so the check is the plain one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import cv2
import numpy as np

from ..errors import InvalidParameter
from ..imageops import resize
from ..types import Photo
from .metrics import psnr, ssim

GuardAction = Literal["kept", "softened", "dropped"]
_COLOR_SIDE = 64  # the low-frequency colour is computed on a copy this large (long side)
_COLOR_SIGMA = _COLOR_SIDE / 32  # a Gaussian of σ = 1/32 of the side: structures of ~1/16 of the image
_SOFTEN = 0.7  # each softening step keeps this share of the strength


@dataclass(frozen=True)
class FidelityParams:
    strength: float = 0.8  # share of the model's result in the final blend
    color: bool = True  # transfer the reference's low-frequency colour onto the result
    min_psnr: float = 22.0  # what the delivered blend must reach (dB, and SSIM 0..1) at the input size
    min_ssim: float = 0.80
    drop_psnr: float = 18.0  # a raw model result below either of these has failed: drop it, do not blend
    drop_ssim: float = 0.65
    min_strength: float = 0.3  # softening below this drops the model steps instead

    def __post_init__(self) -> None:
        for name in ("strength", "min_ssim", "drop_ssim", "min_strength"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise InvalidParameter(f"fidelity {name} must be between 0 and 1, got {value}")


@dataclass(frozen=True)
class FidelityReport:
    """What the guard did, with the numbers behind it."""

    action: GuardAction
    strength_requested: float
    strength_used: float
    color_shift: float  # mean low-frequency colour correction applied, ΔE (CIE76) units
    psnr: float  # consistency of the final result with the reference at the input size
    ssim: float  # NaN where the input is under 11 px on a side (SSIM's window): PSNR alone decides
    psnr_unguarded: float  # the same for the model's raw result (after colour correction)
    ssim_unguarded: float
    min_psnr: float
    min_ssim: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, float):
                out[key] = round(value, 4) if math.isfinite(value) else (None if math.isnan(value) else str(value))
        return out


def low_frequency_color_shift(result: np.ndarray, reference: np.ndarray,
                              weight: np.ndarray | None = None) -> np.ndarray:
    """Lab (or gray) correction, at ``result``'s size, that gives it the reference's low-frequency colour.

    ``weight`` (HxW, 0..1: alpha) limits the estimate to visible pixels (a normalised convolution), so
    whatever colour hides under transparent pixels never tints the visible ones near an edge.
    """
    h, w = result.shape[:2]
    f = _COLOR_SIDE / max(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))

    def shrink(v: np.ndarray) -> np.ndarray:
        out = cv2.resize(np.ascontiguousarray(v, dtype=np.float32), size, interpolation=cv2.INTER_AREA)
        return out.reshape(size[1], size[0], -1)

    wt = None
    if weight is None:
        small = [shrink(v) for v in (result, reference)]
    else:  # average visible colour only (premultiplied, then divided)
        wt, a = shrink(weight), weight.reshape(h, w, 1)
        small = [shrink(v * a) / np.maximum(wt, 1e-6) for v in (result, reference)]
    if result.shape[2] == 3:
        small = [cv2.cvtColor(np.clip(v, 0.0, 1.0), cv2.COLOR_RGB2Lab) for v in small]
    diff = small[1] - small[0]
    if wt is None:
        diff = cv2.GaussianBlur(diff, (0, 0), _COLOR_SIGMA, borderType=cv2.BORDER_REFLECT)
    else:
        num = cv2.GaussianBlur(diff * wt, (0, 0), _COLOR_SIGMA, borderType=cv2.BORDER_REFLECT)
        den = cv2.GaussianBlur(wt, (0, 0), _COLOR_SIGMA, borderType=cv2.BORDER_REFLECT)
        diff = num.reshape(diff.shape) / np.maximum(den.reshape(wt.shape), 1e-3)
    full = cv2.resize(diff, (w, h), interpolation=cv2.INTER_LINEAR)
    return full[:, :, None] if full.ndim == 2 else full


def transfer_low_frequency_color(result: np.ndarray, reference: np.ndarray,
                                 weight: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """``result`` with the reference's low-frequency colour, and the mean size of the correction (ΔE).

    With ``weight`` (alpha) only visible pixels shape the correction and count in its mean.
    """
    if reference.shape[:2] != result.shape[:2]:
        reference = resize(reference, result.shape[1], result.shape[0])
    shift = low_frequency_color_shift(result, reference, weight)
    if np.abs(shift).max() < 0.01:  # nothing to correct (0.01 L*/a*/b* units): not even a Lab round trip
        return result, 0.0
    size = np.abs(shift[:, :, 0]) * 100.0 if result.shape[2] == 1 else np.sqrt((shift**2).sum(axis=2))
    mean = float(size.mean()) if weight is None else float((size * weight).sum() / max(float(weight.sum()), 1e-6))
    if result.shape[2] == 1:
        return np.clip(result + shift, 0.0, 1.0).astype(np.float32), mean
    lab = cv2.cvtColor(np.ascontiguousarray(result, dtype=np.float32), cv2.COLOR_RGB2Lab)
    out = cv2.cvtColor(lab + shift, cv2.COLOR_Lab2RGB)
    return np.clip(out, 0.0, 1.0).astype(np.float32), mean


def strength_blend(result: np.ndarray, reference: np.ndarray, strength: float) -> np.ndarray:
    """result·s + reference·(1−s)."""
    if strength >= 1.0:
        return result
    return np.clip(reference + strength * (result - reference), 0.0, 1.0).astype(np.float32)


def consistency(result: np.ndarray, reference: np.ndarray, size: tuple[int, int]) -> tuple[float, float]:
    """PSNR and SSIM of ``result`` against ``reference``, both area-resampled to ``size`` (width, height).

    SSIM is NaN (unknown) below 11 px on a side, where its 11×11 window does not fit.
    """
    a, b = resize(result, *size), resize(reference, *size)
    quality_ssim = ssim(a, b) if min(size) >= 11 else (1.0 if np.array_equal(a, b) else math.nan)
    return psnr(a, b), quality_ssim


def _below(value: float, limit: float) -> bool:
    """``value < limit``; an unknown (NaN) value is never below."""
    return value < limit


def guard(result: Photo, reference: Photo, params: FidelityParams, input_size: tuple[int, int]) -> tuple[Photo, FidelityReport]:
    """Apply colour correction, strength blend and the consistency check; see the module docstring."""
    if reference.pixels.shape[:2] != result.pixels.shape[:2]:
        reference = reference.evolve(pixels=resize(reference.pixels, result.width, result.height))
    pixels, ref = result.pixels, reference.pixels
    if ref.shape[2] != pixels.shape[2]:
        ref = np.repeat(ref, 3, axis=2) if ref.shape[2] == 1 else ref.mean(axis=2, keepdims=True, dtype=np.float32)
    weight = _visibility(result)
    shift = 0.0
    if params.color:
        pixels, shift = transfer_low_frequency_color(pixels, ref, weight)
    small_result, small_ref = resize(pixels, *input_size), resize(ref, *input_size)
    if weight is not None:  # what hides under transparent pixels is nobody's business: judge what shows
        small_ref = see_through(small_ref, small_result, resize(weight, *input_size))
    raw_psnr, raw_ssim = consistency(small_result, small_ref, input_size)

    def passes(s: float) -> tuple[bool, float, float]:
        p, q = consistency(strength_blend(small_result, small_ref, s), small_ref, input_size)
        return not (_below(p, params.min_psnr) or _below(q, params.min_ssim)), p, q

    strength = params.strength
    if _below(raw_psnr, params.drop_psnr) or _below(raw_ssim, params.drop_ssim):  # failed: no blend can save it
        strength = 0.0
    ok, p, q = passes(strength)
    action: GuardAction = "kept" if strength > 0.0 or params.strength == 0.0 else "dropped"
    while not ok and strength > 0.0:
        strength = strength * _SOFTEN
        if strength < params.min_strength:
            strength, action = 0.0, "dropped"
            ok, p, q = passes(0.0)
            break
        action = "softened"
        ok, p, q = passes(strength)
    final = strength_blend(pixels, ref, strength)
    message = _message(action, params, strength, raw_psnr, raw_ssim, shift)
    report = FidelityReport(action, params.strength, round(strength, 3), round(shift, 3), p, q, raw_psnr, raw_ssim,
                            params.min_psnr, params.min_ssim, message)
    return result.evolve(pixels=final), report


def _visibility(photo: Photo) -> np.ndarray | None:
    """The photo's alpha as a weight (HxW, 0..1), or None when every pixel shows."""
    if photo.alpha is None or float(photo.alpha.min()) >= 1.0:
        return None
    return np.clip(photo.alpha, 0.0, 1.0).astype(np.float32)


def versus_input(photo: Photo, result: Photo) -> tuple[float, float]:
    """PSNR and SSIM of ``result`` area-downscaled to ``photo``'s size against ``photo`` (where it shows)."""
    size = (photo.width, photo.height)
    small, original = resize(result.pixels, *size), photo.pixels
    if photo.alpha is not None:  # only what shows counts
        original = see_through(original, small, photo.alpha)
    return consistency(small, original, size)


def see_through(reference: np.ndarray, other: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``reference`` where it shows, ``other`` where it is transparent, so only visible differences count."""
    a = alpha.reshape(*alpha.shape[:2], 1)
    return (reference * a + other * (1.0 - a)).astype(np.float32)


def _message(action: GuardAction, params: FidelityParams, used: float, raw_psnr: float, raw_ssim: float,
             shift: float) -> str:
    known = "n/a (under 11 px)" if math.isnan(raw_ssim) else f"{raw_ssim:.3f}"
    numbers = f"model result vs reference: PSNR {raw_psnr:.1f} dB, SSIM {known}"
    colour = f"; low-frequency colour corrected by ΔE {shift:.1f}" if params.color else ""
    if action == "kept":
        return f"consistent ({numbers}); blended at strength {used:.2f}{colour}"
    limits = f"below PSNR {params.min_psnr:g} dB / SSIM {params.min_ssim:g}"
    if action == "softened":
        return f"softened from {params.strength:.2f} to {used:.2f} ({numbers}, {limits}){colour}"
    if _below(raw_psnr, params.drop_psnr) or _below(raw_ssim, params.drop_ssim):
        return (f"model steps dropped: the model's result contradicts the photo ({numbers}, below PSNR "
                f"{params.drop_psnr:g} dB / SSIM {params.drop_ssim:g}); the plain version is kept")
    return f"model steps dropped: even at strength {params.min_strength:.2f} the result is inconsistent ({numbers}, {limits})"
