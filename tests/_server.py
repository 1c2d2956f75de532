"""What the server tests share: a fast engine, test operations (a masked one, one with a path field), a running
server on 127.0.0.1, and image bytes."""

from __future__ import annotations

import io
import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from revive import api
from revive.server import ServerSettings, create_app, running
from revive.testing import FakeEngine, NearestModel


def png_bytes(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header claiming a huge size, with a few bytes of data (a decompression bomb's shape)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


# --- test operations: how a later operation (erase, fill…) reaches the server without changes to it ---------

@dataclass(frozen=True)
class PaintOutRequest:
    """Fills the masked pixels (white in the mask) with the mean colour of the others: a stand-in for erase."""

    mask: api.Photo
    darken: float = 0.0


def _paint_out(photo: api.Photo, request: PaintOutRequest, context: api.StageContext) -> api.OperationResult:
    mask = request.mask.pixels.mean(axis=2) > 0.5
    if mask.shape != photo.pixels.shape[:2]:
        raise api.InvalidParameter(f"the mask is {mask.shape[1]}×{mask.shape[0]}, the photo {photo.width}×{photo.height}")
    if not mask.any():
        raise api.InvalidParameter("the mask is empty: paint over what to remove")
    pixels = photo.pixels.copy()
    pixels[mask] = pixels[~mask].mean(axis=0) * (1 - request.darken)
    out = api.Photo(pixels, photo.alpha, photo.meta)
    return api.OperationResult(out, (api.StageRecord("paint-out"),), {"masked": int(mask.sum())})


@dataclass(frozen=True)
class ReadPathRequest:
    """Reports the size of a file it is given: a request with a path-typed field."""

    source: Path | None = None


def _read_path(photo: api.Photo, request: ReadPathRequest, context: api.StageContext) -> api.OperationResult:
    size = request.source.stat().st_size if request.source is not None else -1
    return api.OperationResult(photo, (), {"bytes": size})


def server_operations() -> api.OperationRegistry:
    ops = api.default_operations(api.stages())
    ops.add(api.Operation("paint-out", PaintOutRequest, _paint_out, "fill a painted area with the mean colour",
                          lambda request, context: "painted"))
    ops.add(api.Operation("read-path", ReadPathRequest, _read_path, "measure a file", lambda request, context: "read"))
    return ops


class GatedModel(NearestModel):
    """Nearest ×4 that waits for ``gate`` before each tile (to hold the worker busy)."""

    def __init__(self, name: str) -> None:
        super().__init__(4, name)
        self.gate = threading.Event()
        self.entered = threading.Event()

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        self.entered.set()
        assert self.gate.wait(30), "the test never opened the gate"
        return super().__call__(tile)


def fake_engine(*extra: NearestModel) -> FakeEngine:
    return FakeEngine(NearestModel(4, api.DEFAULT_UPSCALE_MODEL), NearestModel(4, "realesrgan-x4plus-anime"), *extra)


@contextmanager
def serving(engine: api.Engine | None = None, operations: api.OperationRegistry | None = None,
            **settings: object) -> Iterator[tuple[str, object]]:
    """A server on 127.0.0.1 (a free port) in a thread; yields its URL and the app; stops by itself."""
    app = create_app(ServerSettings(port=0, **settings), engine or fake_engine(), operations or server_operations())  # type: ignore[arg-type]
    with running(app) as url:
        yield url, app


@contextmanager
def serving_in_child(limit_s: float = 300, **settings: object) -> Iterator[tuple[str, int]]:
    """The fake-engine server in a child process (its memory measured alone); yields its URL and pid.
    It stops when this block ends (its stdin closes) or after ``limit_s`` seconds, whichever comes first."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"), str(Path(__file__).parent)])}
    child = subprocess.Popen([sys.executable, __file__, json.dumps(settings), str(limit_s)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), f"the server did not start: {url!r}"
        yield url, child.pid
    finally:
        assert child.stdin is not None
        child.stdin.close()
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


if __name__ == "__main__":  # the child of serving_in_child
    import json
    import sys

    with serving(**json.loads(sys.argv[1])) as (address, _):
        print(address, flush=True)
        done = threading.Event()
        threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
        done.wait(float(sys.argv[2]))
