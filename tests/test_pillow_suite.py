"""Pillow's own test images against revive.imageio: about a thousand files, many of them fuzzer finds.

Every file either reads and writes back after a 4x nearest-neighbour enlargement, or is refused
with one ReviveError whose message starts with the file's path and gives the reason. Never any
other exception, never a hang (a watchdog ends the run if one file takes too long), and not one
byte on stderr (fd 2 is captured around the loop).

The images come from the sdist of the installed Pillow, which .ci/run downloads:
    pip download --no-deps --no-binary :all: pillow==<installed version> -d .cache/sdists
"""

from __future__ import annotations

import faulthandler
import os
import sys
import tarfile
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import PIL
import pytest
from PIL import Image

from revive import imageio
from revive.errors import ReviveError
from revive.types import Photo

REPO = Path(__file__).resolve().parents[1]
SDIST_CACHE = Path(os.environ.get("REVIVE_TEST_SDISTS", REPO / ".cache" / "sdists"))
MAX_PIXELS = 1_000_000  # the 4x enlargement of the largest accepted file is then 16 MP
HANG_SECONDS = 60  # the watchdog's limit for one file (reading, enlarging and writing it)
SLOW_SECONDS = 10  # a file that takes this long is a failure, though not a hang
WRITABLE = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "TIFF": "tiff"}


@pytest.fixture(scope="session")
def pillow_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tests/images of the installed Pillow's sdist, extracted once per session."""
    version = PIL.__version__
    found = [p for p in SDIST_CACHE.glob("*.tar.gz") if p.name.lower() == f"pillow-{version}.tar.gz"]
    if not found:
        pytest.fail(
            f"{SDIST_CACHE / f'pillow-{version}.tar.gz'} is missing: run "
            f"'pip download --no-deps --no-binary :all: pillow=={version} -d {SDIST_CACHE}' (.ci/run does this)"
        )
    out = tmp_path_factory.mktemp("pillow-sdist")
    with tarfile.open(found[0]) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and "/Tests/images/" in m.name]
        tar.extractall(out, members=members, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    [root] = list(out.glob("*/Tests/images"))
    return root


def enlarge(photo: Photo) -> Photo:
    def x4(a: np.ndarray) -> np.ndarray:
        return np.repeat(np.repeat(a, 4, axis=0), 4, axis=1)

    return Photo(x4(photo.pixels), None if photo.alpha is None else x4(photo.alpha), photo.meta)


def test_every_pillow_test_image_reads_and_writes_or_is_refused_in_one_line(
    pillow_images: Path, tmp_path: Path
) -> None:
    files = sorted(p for p in pillow_images.rglob("*") if p.is_file())
    assert len(files) > 500, f"only {len(files)} files in {pillow_images}"
    outcomes: Counter[str] = Counter()
    problems: list[str] = []
    with tempfile.TemporaryFile() as captured, warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")  # Python-level warnings count as stderr too
        sys.stderr.flush()
        saved = os.dup(2)
        watchdog = os.fdopen(os.dup(saved), "w")
        os.dup2(captured.fileno(), 2)
        try:
            for i, path in enumerate(files):
                faulthandler.dump_traceback_later(HANG_SECONDS, exit=True, file=watchdog)  # a hang ends the run
                started = time.perf_counter()
                outcomes[_one(path, tmp_path / str(i), problems)] += 1
                if (took := time.perf_counter() - started) > SLOW_SECONDS:
                    problems.append(f"{path}: took {took:.1f} s")
        finally:
            faulthandler.cancel_dump_traceback_later()
            os.dup2(saved, 2)
            os.close(saved)
            watchdog.close()
        captured.seek(0)
        stderr = captured.read().decode("utf-8", "replace")
    assert not problems, "\n".join(problems[:40])
    assert stderr == "", f"stderr was not silent:\n{stderr[:3000]}"
    assert [str(w.message) for w in warned] == []
    # the readable part of the suite really is read: PNG, JPEG, TIFF, WebP, BMP and GIF make up most of it
    assert outcomes["written"] > 600 and outcomes["refused"] > 250, outcomes


def _one(path: Path, out: Path, problems: list[str]) -> str:
    try:
        photo = imageio.read(path, max_pixels=MAX_PIXELS)
    except ReviveError as e:
        message = str(e)
        if not message.startswith(str(path)) or "\n" in message or len(message) <= len(str(path)) + 10:
            problems.append(f"{path}: unclear refusal: {message!r}")
        return "refused"
    except BaseException as e:  # noqa: BLE001 - the point is to name any escape
        problems.append(f"{path}: read raised {type(e).__name__}: {e}")
        return "escaped"
    try:
        big = enlarge(photo)
        fmt = WRITABLE.get(photo.meta.source_format or "", "png")
        written = imageio.write(big, out.with_suffix(f".{fmt}"))
        with Image.open(written) as im:  # the header is enough: decoding 16x the pixels again costs seconds
            if im.size != (4 * photo.width, 4 * photo.height):
                problems.append(f"{path}: wrote {im.size} for a {photo.width}x{photo.height} photo")
    except BaseException as e:  # noqa: BLE001
        problems.append(f"{path}: writing it back raised {type(e).__name__}: {e}")
        return "escaped"
    return "written"
