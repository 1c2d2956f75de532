"""Deblur on skimage photos blurred by known kernels: PSNR and SSIM gained over the blurred input.

    PYTHONPATH=src python bench/deblur.py [--only motion|focus]

Each photo is blurred with a known kernel — an anti-aliased straight motion (camera shake), a
Gaussian or a uniform disc (focus blur) — rounded to 8 bits, diagnosed, planned with
``enhance --scale 1`` and deblurred with the planned step (the embedded deconvolution, unless a
deblur model is installed). Sharp photos must get no deblur step. The "estimate" column is what
the diagnosis read: the shake's length and angle, or the focus kernel and its size.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from revive.analysis import diagnose
from revive.analysis.motion import disc_kernel, gaussian_kernel, motion_kernel
from revive.pipeline.autopilot import EnhanceOptions, plan_for
from revive.stages.base import StageContext
from revive.stages.deblur import DeblurParams, DeblurStage
from revive.types import Photo

PHOTOS = ("astronaut", "coffee", "rocket", "chelsea")
MOTIONS = ((9, 0), (15, 30), (21, 45), (12, 90), (7, 120))
FOCUS = (("gaussian", 1.5), ("gaussian", 2.0), ("gaussian", 3.0), ("disc", 3.0), ("disc", 4.0), ("disc", 6.0))


def blurred(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    out = cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT)
    return (np.round(np.clip(out, 0, 1) * 255) / 255).astype(np.float32)


def gains(img: np.ndarray, blur: np.ndarray, sharp: np.ndarray) -> tuple[float, float]:
    psnr = peak_signal_noise_ratio(img, sharp, data_range=1) - peak_signal_noise_ratio(img, blur, data_range=1)
    ssim = (structural_similarity(img, sharp, channel_axis=2, data_range=1)
            - structural_similarity(img, blur, channel_axis=2, data_range=1))
    return float(psnr), float(ssim)


def estimate(p: DeblurParams) -> str:
    if p.length > 0:
        return f"{p.length:.1f} px {p.angle:.0f}°"
    return f"disc r {p.radius:.2f}" if p.radius > 0 else f"gauss σ {p.sigma:.2f}"


def cases(only: str | None) -> list[tuple[str, str, np.ndarray]]:
    out = []
    if only in (None, "motion"):
        out += [("motion", f"{length:>3} px {angle:>3}°", motion_kernel(length, angle)) for length, angle in MOTIONS]
    if only in (None, "focus"):
        out += [(kind, f"{'gauss σ' if kind == 'gaussian' else 'disc r'} {size:g}",
                 gaussian_kernel(size) if kind == "gaussian" else disc_kernel(size)) for kind, size in FOCUS]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("motion", "focus"))
    args = parser.parse_args()
    options = EnhanceOptions.make(scale=1)
    print(f"{'photo':<10}{'blur':>14}{'estimate':>16}{'ΔPSNR dB':>10}{'ΔSSIM':>8}{'s':>6}")
    worst: dict[str, tuple[float, float]] = {}
    missed: list[str] = []
    for name in PHOTOS:
        img = (getattr(data, name)() / 255).astype(np.float32)
        sharp_plan = plan_for(diagnose(Photo(img)), options)
        assert "deblur" not in sharp_plan.stage_names, f"{name}: deblur planned for a sharp photo"
        for family, label, kernel in cases(args.only):
            group = "motion" if family == "motion" else "focus"
            blur = blurred(img, kernel)
            step = plan_for(diagnose(Photo(blur)), options).step("deblur")
            if step is None:
                print(f"{name:<10}{label:>14}   NOT PLANNED")
                missed.append(f"{name} {label.strip()}")
                continue
            started = time.perf_counter()
            out = DeblurStage(step.params).run(Photo(blur), StageContext()).pixels
            seconds = time.perf_counter() - started
            dp, ds = gains(img, blur, out)
            low = worst.get(group, (np.inf, np.inf))
            worst[group] = (min(low[0], dp), min(low[1], ds))
            print(f"{name:<10}{label:>14}{estimate(step.params):>16}{dp:>10.2f}{ds:>8.3f}{seconds:>6.2f}")
    print(f"\nsharp photos: no deblur planned ({', '.join(PHOTOS)})")
    for group, (dp, ds) in worst.items():
        print(f"worst {group} gain where planned: {dp:+.2f} dB PSNR, {ds:+.3f} SSIM")
    print(f"not planned: {', '.join(missed) if missed else 'none'}")


if __name__ == "__main__":
    main()
