"""IoU of revive's embedded subject masks against the hand-drawn references in tests/data/masks.

    PYTHONPATH=src python bench/masks.py [--save DIR]

Prints IoU per photo and class (masks thresholded at 0.5), the mean per class, and on photos that
hold none of a class (coffee, chelsea) the share of the frame wrongly given to it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "data" / "masks"))

from make_references import REFERENCES, load_photo  # noqa: E402

from revive.analysis.face_detect import detect_faces  # noqa: E402
from revive.analysis.masks import CLASSES, estimate_masks, iou  # noqa: E402

NEGATIVES = ("coffee", "chelsea")


def masks_of(rgb_u8: np.ndarray) -> tuple[dict[str, np.ndarray], float]:
    pixels = (rgb_u8 / 255.0).astype(np.float32)
    started = time.perf_counter()
    result = estimate_masks(pixels, detect_faces(pixels))
    return dict(result.masks), time.perf_counter() - started


def scores() -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], float], dict[str, float]]:
    """(IoU by (photo, class), false share by (negative photo, class), seconds by photo)."""
    ious, false, seconds = {}, {}, {}
    for photo, classes in REFERENCES.items():
        masks, seconds[photo] = masks_of(load_photo(photo))
        for name in classes:
            reference = np.asarray(Image.open(REPO / "tests" / "data" / "masks" / f"{photo}_{name}.png")) > 127
            ious[(photo, name)] = iou(masks[name], reference)
    from skimage import data

    for photo in NEGATIVES:
        masks, seconds[photo] = masks_of(np.ascontiguousarray(getattr(data, photo)()[:, :, :3]))
        for name in ("sky", "skin", "water"):
            false[(photo, name)] = float(np.mean(masks[name] > 0.5))
    return ious, false, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--save", type=Path, help="write each photo's masks here as PNG")
    args = parser.parse_args()
    ious, false, seconds = scores()
    print(f"{'photo':<14}{'class':<9}{'IoU':>6}")
    for (photo, name), value in ious.items():
        print(f"{photo:<14}{name:<9}{value:>6.3f}")
    print()
    for name in CLASSES:
        values = [v for (p, c), v in ious.items() if c == name]
        if values:
            print(f"mean IoU {name:<8} {np.mean(values):.3f}  (min {min(values):.3f}, {len(values)} photo(s))")
    print()
    for (photo, name), value in false.items():
        print(f"{photo:<8} has no {name}: {value:.1%} of the frame called {name}")
    print()
    print("seconds per photo: " + ", ".join(f"{p} {s:.2f}" for p, s in seconds.items()))
    if args.save is not None:
        args.save.mkdir(parents=True, exist_ok=True)
        for photo in REFERENCES:
            masks, _ = masks_of(load_photo(photo))
            for name, mask in masks.items():
                Image.fromarray(np.round(mask * 255).astype(np.uint8)).save(args.save / f"{photo}_{name}.png")


if __name__ == "__main__":
    main()
