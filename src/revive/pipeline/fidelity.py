"""The fidelity guard: the model may add detail, never change what the photo shows.

It compares the model's result with a *reference*: the same photo taken through the same plan with
every model step replaced by its plain counterpart (upscaling by a Lanczos resample, a model
denoiser by non-local means, face restoration by nothing), while classical cleanup steps (deblock,
denoise) run on both; colour and light run after the guard, once. The reference is what a careful
person would get by hand; against it:

1. Colour-shift correction: the reference's low-frequency colour (CIE Lab, a Gaussian of ~1/16
   of the image) replaces the result's, so the model cannot shift hues or brightness in the large.
2. Local check (:mod:`.local_guard`): result and reference are area-downscaled to the input's size
   and compared in windows of ``window`` input pixels. Where a window differs by more than
   ``tolerance`` (RMS, 8-bit units; half of it on faces) the model's share falls, to nothing at
   twice the tolerance, through a feathered map — an invented ring in an iris goes, the sharpened
   fur around it stays.
3. Strength blend: result·s·map + reference·(1−s·map), s = ``--strength``.
4. Back-projection (``back_projection`` rounds, when the planner asks for it): the blend is
   corrected until its downscale matches the reference's.
5. Consistency check, as a last resort for results that are wrong everywhere: a raw model result
   below ``drop_psnr``/``drop_ssim`` against the reference (at the input size) is dropped
   (result = reference); a blend still below ``min_psnr``/``min_ssim`` is softened as a whole (×0.7
   a step), and dropped under ``min_strength``. Real-ESRGAN on real photos measures 23–35 dB /
   SSIM 0.82–0.96 raw against a cleaned reference; an unrelated image 8–22 dB / 0.3–0.62.

Why the reference and not the raw input: Real-ESRGAN removes noise and JPEG blocks on its own, so a
faithful result of a noisy photo *should* differ from the noisy input by the noise; the cleaned
reference is what it should agree with. With no cleanup step the reference at input size is the
input itself (up to resampling), so the check is the plain one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import cv2
import numpy as np

from ..errors import InvalidParameter
from ..imageops import back_project, resize
from ..types import Photo
from .local_guard import Box, LocalCheck, local_strength
from .metrics import psnr, ssim

if TYPE_CHECKING:
    from ..analysis import Diagnosis
    from ..stages.planning import EnhanceOptions

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
    window: int = 16  # side of the local check's windows, in input pixels
    tolerance: float = 6.0  # RMS difference (8-bit) a window may show before the model's share falls
    faces: tuple[Box, ...] = ()  # x, y, w, h in input pixels: half the tolerance there
    smooth: float = 0.0  # Gaussian σ (input px) applied to the difference before the local check: grain
    back_projection: int = 0  # rounds of correction toward the reference's downscale

    def __post_init__(self) -> None:
        for name in ("strength", "min_ssim", "drop_ssim", "min_strength"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise InvalidParameter(f"fidelity {name} must be between 0 and 1, got {value}")
        if self.window < 2 or not (math.isfinite(self.tolerance) and self.tolerance > 0):
            raise InvalidParameter(f"fidelity window must be at least 2 px and tolerance above 0, got "
                                   f"{self.window} and {self.tolerance}")
        if not 0 <= self.back_projection <= 20:
            raise InvalidParameter(f"back_projection takes 0 to 20 rounds, got {self.back_projection}")


# How far a window may differ from the reference (RMS, 8-bit units) before the model's share falls,
# by look; noise and JPEG damage add to it, since model and classical filter clean them differently.
LOOK_TOLERANCE = {"faithful": 4.0, "balanced": 6.0, "sharp": 9.0}
NOISE_TOLERANCE = 0.25  # per unit of measured noise σ, after the difference is smoothed by NOISE_SMOOTH
NOISE_SMOOTH = 1.0
JPEG_TOLERANCE = 4.0  # at full JPEG damage (quality ≤ 12)
BACK_PROJECTION = {"faithful": 3, "balanced": 0, "sharp": 0}


def guard_params(diagnosis: Diagnosis, options: EnhanceOptions, *, cleaned: bool = False) -> FidelityParams:
    """The guard for this photo and look: its tolerance, the faces to hold closer, back-projection (only
    when nothing was ``cleaned`` first: then the reference's small version is the photo itself; after a
    classical filter it is the filter's, and the model cleans better — toward it, JPEG lost 0.4 dB).

    On a noisy photo the whole-picture gates measure grain, not fidelity (a model that removed more
    noise than the filter scores SSIM 0.78 against it at σ 25): SSIM is left to the local check and
    PSNR is asked only what the noise allows."""
    noise = diagnosis.noise.sigma if diagnosis.noise.attention else 0.0
    jpeg = diagnosis.jpeg.damage if diagnosis.jpeg.attention else 0.0
    tolerance = LOOK_TOLERANCE[options.base_look] + NOISE_TOLERANCE * noise + JPEG_TOLERANCE * jpeg
    params = FidelityParams(strength=options.guard_strength, tolerance=round(tolerance, 2),
                            faces=tuple(f.box for f in diagnosis.faces.faces), smooth=NOISE_SMOOTH if noise else 0.0,
                            back_projection=0 if cleaned else BACK_PROJECTION[options.base_look])
    if not noise:
        return params
    floor = 20.0 * math.log10(255.0 / noise)  # the PSNR of the noise itself
    return replace(params, min_ssim=0.0, drop_ssim=0.0, min_psnr=min(22.0, floor), drop_psnr=min(18.0, floor - 4.0))


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
    softened_share: float = 0.0  # share of the picture where the local check lowered the model's share
    softened_regions: tuple[Box, ...] = ()  # the largest such places, x, y, w, h in input pixels
    worst_window_psnr: float = math.inf  # the worst window, model vs reference at the input size (dB)
    worst_window_psnr_guarded: float = math.inf  # the same after the guard
    # the local strength map at the input's size (1 = the model's full share); drawn in the HTML report
    strength_map: np.ndarray | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("strength_map")
        out["softened_regions"] = [list(b) for b in self.softened_regions]
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
    """Colour correction, local check, strength blend, back-projection and the consistency check;
    see the module docstring."""
    if reference.pixels.shape[:2] != result.pixels.shape[:2]:
        reference = reference.evolve(pixels=resize(reference.pixels, result.width, result.height))
    pixels, ref = result.pixels, reference.pixels
    if ref.shape[2] != pixels.shape[2]:
        ref = np.repeat(ref, 3, axis=2) if ref.shape[2] == 1 else ref.mean(axis=2, keepdims=True, dtype=np.float32)
    weight = _visibility(result)
    shift = 0.0
    if params.color:
        pixels, shift = transfer_low_frequency_color(pixels, ref, weight)
    small_weight = None if weight is None else resize(weight, *input_size)
    small_result, small_ref = resize(pixels, *input_size), resize(ref, *input_size)
    if small_weight is not None:  # what hides under transparent pixels is nobody's business: judge what shows
        small_ref = see_through(small_ref, small_result, small_weight)
    raw_psnr, raw_ssim = consistency(small_result, small_ref, input_size)
    check = local_strength(small_result, small_ref, window=params.window, tolerance=params.tolerance,
                           faces=params.faces, weight=small_weight, smooth=params.smooth)
    local = resize(check.strength, pixels.shape[1], pixels.shape[0]).reshape(*pixels.shape[:2], 1)
    local_result = ref + local * (pixels - ref)  # the model's share where it agrees with the photo
    small_local = resize(local_result, *input_size)

    def passes(s: float) -> tuple[bool, float, float]:
        p, q = consistency(strength_blend(small_local, small_ref, s), small_ref, input_size)
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
    final = strength_blend(local_result, ref, strength)
    if params.back_projection and strength > 0.0:
        final = back_project(final, small_ref, params.back_projection)
        p, q = consistency(resize(final, *input_size), small_ref, input_size)
    share = check.softened_share if strength > 0.0 else 1.0
    if action == "kept" and share > 0.0:
        action = "softened"
    guarded = local_strength(resize(final, *input_size), small_ref, window=params.window,
                             tolerance=params.tolerance, weight=small_weight, smooth=params.smooth)
    message = _message(action, params, strength, raw_psnr, raw_ssim, shift, check if strength > 0.0 else None)
    report = FidelityReport(action, params.strength, round(strength, 3), round(shift, 3), p, q, raw_psnr, raw_ssim,
                            params.min_psnr, params.min_ssim, message, round(share, 4),
                            tuple(check.regions()) if strength > 0.0 else (), check.worst_psnr, guarded.worst_psnr,
                            check.strength * strength)
    return result.evolve(pixels=np.ascontiguousarray(final, dtype=np.float32)), report


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
             shift: float, check: LocalCheck | None) -> str:
    known = "n/a (under 11 px)" if math.isnan(raw_ssim) else f"{raw_ssim:.3f}"
    numbers = f"model result vs reference: PSNR {raw_psnr:.1f} dB, SSIM {known}"
    colour = f"; low-frequency colour corrected by ΔE {shift:.1f}" if params.color else ""
    local = ""
    if check is not None and check.softened_share > 0.0:
        where = ", ".join(f"{w}×{h} px at ({x}, {y})" for x, y, w, h in check.regions(2))
        local = (f"; the model's share lowered on {check.softened_share:.0%} of the picture where it disagreed "
                 f"with the photo (worst window {check.worst_psnr:.1f} dB: {where})")
    if action == "kept":
        return f"consistent ({numbers}); blended at strength {used:.2f}{colour}"
    if action == "softened" and used == params.strength:
        return f"softened locally ({numbers}); blended at strength {used:.2f}{local}{colour}"
    limits = f"below PSNR {params.min_psnr:g} dB / SSIM {params.min_ssim:g}"
    if action == "softened":
        return f"softened from {params.strength:.2f} to {used:.2f} ({numbers}, {limits}){local}{colour}"
    if _below(raw_psnr, params.drop_psnr) or _below(raw_ssim, params.drop_ssim):
        return (f"model steps dropped: the model's result contradicts the photo ({numbers}, below PSNR "
                f"{params.drop_psnr:g} dB / SSIM {params.drop_ssim:g}); the plain version is kept")
    return f"model steps dropped: even at strength {params.min_strength:.2f} the result is inconsistent ({numbers}, {limits})"
