"""Where the time of face restoration goes, per face, on the CPU.

The phases of :func:`revive.stages.faces.restore_faces_in`, timed one by one on real photos
(skimage's astronaut, the committed Grace Hopper portraits and the three-face group the tests
compose): detect (YuNet on the whole photo, shared by its faces), align (the upright search —
YuNet on nine turned crops —, the alignment and the 512 px crop), restore (the model), check (the
identity check: YuNet twice on 512 px crops and SSIM, more when a face is softened) and paste
(colour match and the inverse warp under the mask). Models: a stand-in that returns its input
sharpened (no model cost: what revive itself costs), RestoreFormer with random weights at a
small width, and with ``--gfpgan`` the full-size GFPGAN architecture with random weights
(CodeFormer costs about twice GFPGAN). The last line compares the phases' sum with an end-to-end
run of the stage in the same process.

    python bench/faces.py [--repeat 3] [--gfpgan] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import group_photo_u8, photo_u8, portrait_u8  # noqa: E402

from revive.analysis.face_align import align_face, apply, match_low_frequency, paste_face, upright_alignment  # noqa: E402
from revive.analysis.face_detect import detect_faces  # noqa: E402
from revive.engine import Engine  # noqa: E402
from revive.models import ImageModel, ModelStore  # noqa: E402
from revive.models.importer import import_model  # noqa: E402
from revive.models.loaders import LoadOptions  # noqa: E402
from revive.stages.base import StageContext  # noqa: E402
from revive.stages.faces import FaceParams, restore_faces_in, run_face_model, settle_strength  # noqa: E402
from revive.testing import FakeEngine, FunctionModel  # noqa: E402
from revive.types import Photo  # noqa: E402

PHASES = ("detect", "align", "restore", "check", "paste")


def photos() -> dict[str, Photo]:
    raw = {"astronaut": photo_u8("astronaut"), "hopper.jpg": portrait_u8("hopper.jpg"),
           "grace_hopper.jpg": portrait_u8("grace_hopper.jpg"), "group (3 faces)": group_photo_u8()}
    return {k: Photo(v.astype(np.float32) / 255) for k, v in raw.items()}


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class Clock:
    """Seconds spent in each phase: ``with clock("align"): ...``."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(PHASES, 0.0)

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[phase] += time.perf_counter() - start


def phases(photo: Photo, model: ImageModel, params: FaceParams) -> tuple[dict[str, float], int]:
    """Seconds per phase for one photo (the stage's steps, one by one), and its number of faces."""
    clock = Clock()
    with clock("detect"):
        found = detect_faces(photo)
    pixels = photo.pixels.copy()
    for face in found:
        with clock("align"):
            m, marks = upright_alignment(photo.pixels, face)
            crop, inside = align_face(photo.pixels, m)
        with clock("restore"):
            drawn = run_face_model(model, crop, None)
        with clock("check"):
            strength, _, _ = settle_strength(crop, drawn, inside, apply(m, marks), params.strength)
        with clock("paste"):
            paste_face(pixels, match_low_frequency(drawn, crop, inside), m, strength or params.strength)
    return clock.seconds, len(found)


def bench(name: str, engine: Engine, model_name: str, repeat: int) -> None:
    model = engine.load(model_name)
    params = FaceParams(model=model_name)
    total: dict[str, float] = dict.fromkeys(PHASES, 0.0)
    faces = 0
    end_to_end = 0.0
    for photo in photos().values():
        best: dict[str, float] | None = None
        for _ in range(repeat):
            t, n = phases(photo, model, params)
            best = t if best is None or sum(t.values()) < sum(best.values()) else best
        assert best is not None
        for k in PHASES:
            total[k] += best[k]
        faces += n
        end_to_end += min(timed(lambda: restore_faces_in(photo, params, StageContext(engine=engine)))  # noqa: B023
                          for _ in range(repeat))
    per_face = {k: 1000 * v / faces for k, v in total.items()}
    whole = sum(per_face.values())
    cells = "  ".join(f"{k} {v:7.1f} ms ({v / whole:4.0%})" for k, v in per_face.items())
    print(f"{name:34s} {faces} faces  per face: {cells}  = {whole:7.1f} ms;"
          f" end to end {1000 * end_to_end / faces:7.1f} ms/face ({end_to_end / sum(total.values()):.2f}× the phases)")


def random_model(folder: Path, kind: str) -> Path:
    import torch

    torch.manual_seed(0)
    if kind == "gfpgan":
        from spandrel.architectures.GFPGAN import GFPGAN

        net: torch.nn.Module = GFPGAN(out_size=512, num_style_feat=512, channel_multiplier=2, decoder_load_path=None,
                                      fix_decoder=False, num_mlp=8, input_is_latent=True, different_w=True, narrow=1,
                                      sft_half=True)
    else:
        from spandrel.architectures.RestoreFormer import RestoreFormer

        net = RestoreFormer(ch=32, ch_mult=(1, 1, 1, 1, 1, 1), n_embed=64, embed_dim=32, z_channels=32, num_res_blocks=1)
    path = folder / f"{kind}.pth"
    torch.save(net.state_dict(), path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per photo; the fastest counts")
    parser.add_argument("--gfpgan", action="store_true", help="also the full-size GFPGAN architecture (slow)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    options = LoadOptions(device="cpu", threads=args.threads)
    stand_in = FunctionModel("stand-in", lambda c: np.clip(c + (c - cv2.GaussianBlur(c, (0, 0), 5.0)), 0, 1))
    bench("stand-in (revive's own cost)", FakeEngine(stand_in), "stand-in", args.repeat)
    with tempfile.TemporaryDirectory(prefix="revive-bench-") as folder:
        store = ModelStore(Path(folder) / "home")
        kinds = ["restoreformer", *(["gfpgan"] if args.gfpgan else [])]
        for kind in kinds:
            import_model(store, random_model(Path(folder), kind), f"bench-{kind}")
            engine = Engine(store=store, options=options)
            label = "RestoreFormer (small, random)" if kind == "restoreformer" else "GFPGAN (full size, random)"
            bench(label, engine, f"bench-{kind}", 1 if kind == "gfpgan" else args.repeat)


if __name__ == "__main__":
    main()
