"""Deblur on skimage photos blurred by known straight motions: PSNR and SSIM gained over the blurred input.

    PYTHONPATH=src python bench/deblur.py

Each photo is blurred with an anti-aliased line kernel, rounded to 8 bits, diagnosed, planned with
``enhance --scale 1`` and deblurred with the planned step (the embedded deconvolution, unless a
deblur model is installed). Sharp photos must get no deblur step.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from revive.analysis import diagnose
from revive.analysis.motion import motion_kernel
from revive.pipeline.autopilot import EnhanceOptions, plan_for
from revive.stages.base import StageContext
from revive.stages.deblur import DeblurStage
from revive.types import Photo

PHOTOS = ("astronaut", "coffee", "rocket", "chelsea")
MOTIONS = ((9, 0), (15, 30), (21, 45), (12, 90), (7, 120))


def blurred(img: np.ndarray, length: int, angle: int) -> np.ndarray:
    out = cv2.filter2D(img, -1, motion_kernel(length, angle), borderType=cv2.BORDER_REFLECT)
    return (np.round(out * 255) / 255).astype(np.float32)


def gains(img: np.ndarray, blur: np.ndarray, sharp: np.ndarray) -> tuple[float, float]:
    psnr = peak_signal_noise_ratio(img, sharp, data_range=1) - peak_signal_noise_ratio(img, blur, data_range=1)
    ssim = (structural_similarity(img, sharp, channel_axis=2, data_range=1)
            - structural_similarity(img, blur, channel_axis=2, data_range=1))
    return float(psnr), float(ssim)


def main() -> None:
    options = EnhanceOptions.make(scale=1)
    print(f"{'photo':<10}{'motion':>12}{'estimate':>14}{'ΔPSNR dB':>10}{'ΔSSIM':>8}{'s':>6}")
    worst = (np.inf, np.inf)
    for name in PHOTOS:
        img = (getattr(data, name)() / 255).astype(np.float32)
        sharp_plan = plan_for(diagnose(Photo(img)), options)
        assert "deblur" not in sharp_plan.stage_names, f"{name}: deblur planned for a sharp photo"
        for length, angle in MOTIONS:
            blur = blurred(img, length, angle)
            step = plan_for(diagnose(Photo(blur)), options).step("deblur")
            if step is None:
                print(f"{name:<10}{length:>6} px {angle:>3}°   NOT PLANNED")
                worst = (-np.inf, -np.inf)
                continue
            started = time.perf_counter()
            out = DeblurStage(step.params).run(Photo(blur), StageContext()).pixels
            seconds = time.perf_counter() - started
            dp, ds = gains(img, blur, out)
            worst = (min(worst[0], dp), min(worst[1], ds))
            estimate = f"{step.params.length:.1f} px {step.params.angle:.0f}°"
            print(f"{name:<10}{length:>6} px {angle:>3}°{estimate:>14}{dp:>10.2f}{ds:>8.3f}{seconds:>6.2f}")
    print(f"\nsharp photos: no deblur planned ({', '.join(PHOTOS)})")
    print(f"worst gain: {worst[0]:+.2f} dB PSNR, {worst[1]:+.3f} SSIM")


if __name__ == "__main__":
    main()
