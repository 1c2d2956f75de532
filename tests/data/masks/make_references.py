"""Rebuild the reference masks in this folder from hand-drawn polygons (run from the repository root).

Each class of each photo is drawn as polygons (traced by eye on a gridded, enlarged view of the
photo). The polygon edge is then settled by OpenCV's GrabCut — a colour model and graph cut that
revive itself does not use — inside a band of ``BAND`` pixels around the drawn edge and inside
``uncertain`` polygons (a lattice tower, where sky shows through the struts). Everything further
inside the polygons is sure foreground, everything further outside sure background.

    PYTHONPATH=src python tests/data/masks/make_references.py
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
BAND = 5
SEE_THROUGH_DE = 10.0

Poly = list[tuple[int, int]]

PAGODA: Poly = [(195, 30), (213, 30), (212, 50), (218, 58), (222, 72), (250, 92), (290, 105), (318, 116), (322, 128),
                (300, 140), (298, 160), (325, 168), (332, 180), (322, 195), (322, 242), (350, 250), (352, 268),
                (345, 285), (345, 330), (372, 342), (372, 352), (330, 370), (300, 395), (300, 427), (275, 427),
                (230, 400), (205, 395), (200, 360), (150, 345), (80, 335), (78, 290), (64, 268), (68, 248),
                (100, 242), (100, 200), (86, 190), (84, 172), (118, 160), (118, 140), (96, 130), (95, 108),
                (130, 97), (160, 85), (185, 70), (190, 55)]

# photo → class → {"include": [polygons], "exclude": [polygons], "uncertain": [polygons]}
REFERENCES: dict[str, dict[str, dict[str, list[Poly]]]] = {
    "rocket": {
        "sky": {
            "include": [[(0, 0), (640, 0), (640, 372), (560, 368), (470, 370), (400, 372), (300, 368), (200, 366),
                         (120, 364), (0, 366)]],
            "exclude": [
                [(198, 121), (205, 121), (205, 188), (210, 427), (168, 427), (178, 188), (198, 188)],  # mast and tower, centre left
                [(310, 132), (322, 122), (334, 132), (340, 175), (342, 340), (362, 352), (362, 427), (284, 427),
                 (288, 350), (305, 338), (305, 175)],  # the rocket
                [(443, 120), (450, 120), (451, 188), (456, 188), (478, 427), (432, 427), (440, 188), (443, 188)],  # mast and tower, centre right
                [(45, 0), (92, 0), (86, 427), (0, 427), (0, 280)],  # left tower
                [(556, 0), (606, 0), (640, 290), (640, 427), (572, 427)],  # right tower
            ],
            "uncertain": [
                [(40, 0), (96, 0), (90, 368), (0, 368), (0, 270)],
                [(550, 0), (612, 0), (640, 280), (640, 368), (566, 368)],
                [(172, 180), (208, 180), (212, 368), (164, 368)],
                [(436, 180), (458, 180), (480, 368), (428, 368)],
            ],
        },
    },
    "china": {
        "sky": {
            "include": [[(0, 0), (640, 0), (640, 138), (612, 134), (590, 142), (572, 160), (560, 185), (550, 207),
                         (322, 208), (100, 205), (60, 204), (40, 199), (25, 189), (15, 175), (8, 160), (0, 148)]],
            "exclude": [PAGODA],
            "uncertain": [],
        },
        "water": {
            "include": [
                [(322, 218), (420, 222), (430, 226), (500, 228), (548, 226), (550, 250), (545, 268), (520, 282),
                 (470, 292), (430, 300), (395, 315), (375, 322), (345, 322), (345, 285), (352, 268), (350, 250),
                 (322, 242)],
                [(0, 268), (25, 264), (55, 266), (72, 272), (74, 318), (40, 322), (0, 320)],
            ],
            "exclude": [[(425, 222), (500, 224), (500, 240), (425, 240)]],  # the island
            "uncertain": [],
        },
        "foliage": {
            "include": [
                [(0, 148), (8, 160), (15, 175), (25, 189), (40, 199), (60, 205), (72, 215), (76, 240), (66, 258), (40, 264),
                 (0, 266)],
                [(0, 320), (40, 324), (76, 322), (80, 335), (150, 345), (200, 360), (205, 395), (230, 400), (275, 427),
                 (0, 427)],
                [(300, 427), (300, 395), (330, 370), (372, 352), (378, 324), (400, 312), (430, 302), (470, 294),
                 (520, 284), (546, 270), (552, 250), (548, 220), (555, 195), (565, 165), (585, 145), (605, 135),
                 (625, 138), (640, 140), (640, 427)],
            ],
            "exclude": [],
            "uncertain": [],
        },
    },
    "astronaut": {
        "skin": {
            "include": [[(190, 92), (200, 89), (215, 88), (235, 88), (252, 90), (260, 95), (263, 105), (265, 118),
                         (262, 132), (258, 148), (254, 160), (256, 170), (255, 178), (245, 182), (230, 186),
                         (215, 188), (203, 187), (196, 184), (190, 178), (188, 165), (184, 150), (180, 138),
                         (176, 130), (176, 118), (180, 108), (184, 98)]],
            "exclude": [[(203, 141), (225, 139), (248, 141), (244, 150), (225, 155), (206, 150)],  # teeth
                        [(190, 99), (200, 97), (212, 100), (203, 104), (192, 103)],  # eyes
                        [(237, 100), (247, 97), (258, 99), (250, 104), (240, 104)]],
            "uncertain": [],
        },
    },
    "grace_hopper": {
        "skin": {
            "include": [[(165, 150), (200, 143), (260, 140), (330, 143), (365, 150), (368, 175), (370, 200),
                         (368, 230), (362, 260), (352, 275), (345, 290), (335, 305), (325, 320), (330, 335),
                         (296, 395), (286, 416), (245, 416), (205, 340), (195, 318), (185, 300), (178, 280),
                         (168, 265), (160, 240), (157, 210), (158, 180)]],
            "exclude": [[(175, 172), (240, 170), (245, 186), (180, 188)],  # the glasses' top bars and brows
                        [(282, 172), (355, 168), (356, 184), (285, 188)]],
            "uncertain": [],
        },
    },
}

PHOTOS = {"rocket": "skimage:rocket", "astronaut": "skimage:astronaut", "china": "china.jpg",
          "grace_hopper": "grace_hopper.jpg"}


def load_photo(name: str) -> np.ndarray:
    """uint8 RGB pixels of a reference photo (skimage.data or a file in this folder)."""
    where = PHOTOS[name]
    if where.startswith("skimage:"):
        from skimage import data

        return np.ascontiguousarray(getattr(data, where.split(":", 1)[1])()[:, :, :3])
    from PIL import Image

    return np.asarray(Image.open(HERE / where).convert("RGB"))


def _fill(shape: tuple[int, int], polygons: list[Poly]) -> np.ndarray:
    out = np.zeros(shape, np.uint8)
    for poly in polygons:
        cv2.fillPoly(out, [np.array(poly, np.int32)], 1)
    return out.astype(bool)


def reference(rgb: np.ndarray, spec: dict[str, list[Poly]]) -> np.ndarray:
    shape = rgb.shape[:2]
    drawn = _fill(shape, spec["include"]) & ~_fill(shape, spec["exclude"])
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * BAND + 1, 2 * BAND + 1))
    sure_in = cv2.erode(drawn.astype(np.uint8), kernel).astype(bool)
    sure_out = cv2.erode((~drawn).astype(np.uint8), kernel).astype(bool)
    unsure = _fill(shape, spec["uncertain"])
    trimap = np.where(drawn, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    trimap[sure_in & ~unsure] = cv2.GC_FGD
    trimap[sure_out & ~unsure] = cv2.GC_BGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(np.ascontiguousarray(rgb[:, :, ::-1]), trimap, None, bgd, fgd, 8, cv2.GC_INIT_WITH_MASK)
    mask = np.isin(trimap, (cv2.GC_FGD, cv2.GC_PR_FGD))
    if unsure.any():
        mask[unsure] = _like_row(rgb, sure_in & ~unsure, unsure)[unsure]
    return mask


def _like_row(rgb: np.ndarray, sure: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Pixels within ΔE ``SEE_THROUGH_DE`` of the median colour of the sure foreground in their row (sky seen
    through a lattice), decided per pixel; rows with no sure foreground take the nearest row that has some."""
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    rows = [y for y in range(rgb.shape[0]) if sure[y].any()]
    out = np.zeros(where.shape, bool)
    for y in np.flatnonzero(where.any(axis=1)):
        ref_y = min(rows, key=lambda r: abs(r - y))
        ref = np.median(lab[ref_y][sure[ref_y]], axis=0)
        out[y] = np.linalg.norm(lab[y] - ref, axis=1) < SEE_THROUGH_DE
    return out


def main() -> None:
    from PIL import Image

    for photo, classes in REFERENCES.items():
        rgb = load_photo(photo)
        for name, spec in classes.items():
            mask = reference(rgb, spec)
            Image.fromarray(mask.astype(np.uint8) * 255).save(HERE / f"{photo}_{name}.png", optimize=True)


if __name__ == "__main__":
    main()
