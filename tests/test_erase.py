"""`revive erase` on real photos: the built-in fill beats a flat fill, the rest of the photo is untouched,
LaMa from the model store runs end to end, and bad masks get one clear line."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms
from typer.testing import CliRunner

from revive import Photo, api, imageio
from revive.cli import app
from revive.engine import Engine
from revive.masks import grow
from revive.models import ModelRegistry, ModelStore
from revive.stages.base import StageContext
from revive.stages.erase import EMBEDDED_ERASE_MODEL, choose_model
from revive.testing import fake_spec

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def ellipse(h: int, w: int, cy: int, cx: int, ry: int, rx: int) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def save_mask(path: Path, mask: np.ndarray) -> Path:
    Image.fromarray(mask.astype(np.uint8) * 255).save(path)
    return path


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty model store and a fresh default engine that reads it."""
    monkeypatch.setenv("REVIVE_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(api._defaults, "engine", None)
    return tmp_path / "home"


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea", "rocket"])
def test_built_in_fill_is_closer_to_the_hidden_pixels_than_a_flat_fill(name):
    from conftest import photo_u8

    image = photo_u8(name)
    h, w = image.shape[:2]
    errors, flat_errors = [], []
    for cy, cx, ry, rx in ((h // 3, w // 3, 9, 14), (h // 2, 2 * w // 3, 22, 12), (2 * h // 3, w // 2, 14, 30)):
        mask = ellipse(h, w, cy, cx, ry, rx)
        out = api.erase(image, mask, grow=0)
        assert out.dtype == np.uint8 and out.shape == image.shape
        truth = image[mask].astype(np.float64)
        errors.append(np.sqrt(np.mean((out[mask] - truth) ** 2)))
        ring = grow(mask, 4) & ~mask
        flat_errors.append(np.sqrt(np.mean((image[ring].mean(axis=0) - truth) ** 2)))
        assert np.array_equal(out[~mask], image[~mask])
    assert np.mean(errors) < 0.85 * np.mean(flat_errors), (errors, flat_errors)


def test_cli_erase_keeps_everything_outside_the_grown_mask_and_the_metadata(tmp_path, home, chelsea):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 160×120, shown 120×160: the mask is drawn on the upright photo
    exif[0x010F] = "Revive Test Camera"
    Image.fromarray(chelsea[100:220, 100:260]).save(tmp_path / "cat.png", icc_profile=icc, dpi=(300, 300),
                                                    exif=exif.tobytes())
    photo = imageio.read(tmp_path / "cat.png")
    assert (photo.width, photo.height) == (120, 160)
    mask = ellipse(160, 120, 60, 70, 15, 10)
    save_mask(tmp_path / "m.png", mask)
    result = invoke("erase", tmp_path / "cat.png", "--mask", tmp_path / "m.png", "-o", tmp_path / "out.png",
                    "--grow", "4", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["engine"] == EMBEDDED_ERASE_MODEL and summary["changed_pixels"] == int(grow(mask, 4).sum())
    out = imageio.read(tmp_path / "out.png")
    before, after = photo.to_array(np.uint8), out.to_array(np.uint8)
    outside = ~grow(mask, 4)
    assert np.array_equal(after[outside], before[outside])
    assert np.abs(after[mask].astype(int) - before[mask]).mean() > 5  # the eye is gone
    raw = Image.open(tmp_path / "out.png")
    assert raw.info.get("icc_profile") == icc and raw.getexif().get(0x010F) == "Revive Test Camera"
    record = imageio.read_record(tmp_path / "out.png")
    assert record is not None and record.operation == "erase"
    assert record.stages[0].params["engine"] == EMBEDDED_ERASE_MODEL and record.stages[0].params["mask"] == "m.png"
    assert not record.generative  # OpenCV's fill is interpolation, not a trained model's invention


def test_16bit_alpha_and_gray_photos_keep_their_kind_and_their_untouched_pixels(tmp_path, astronaut):
    deep = (astronaut[:64, :64].astype(np.uint16) * 257 + 3).astype(np.uint16)
    alpha = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    photo = Photo.from_array(np.dstack([deep, alpha]))
    mask = ellipse(64, 64, 30, 30, 8, 8)
    out = api.erase(photo, mask, grow=2)
    outside = ~grow(mask, 2)
    assert out.meta.bit_depth == 16 and np.array_equal(out.alpha, photo.alpha)
    assert np.array_equal(out.pixels[outside], photo.pixels[outside])
    gray = api.erase(astronaut[:64, :64, 0], mask, grow=2)
    assert gray.ndim == 2 and np.array_equal(gray[outside], astronaut[:64, :64, 0][outside])


def test_boxes_alone_erase_and_join_the_mask(tmp_path, home, coffee):
    Image.fromarray(coffee[:100, :150]).save(tmp_path / "c.png")
    result = invoke("erase", tmp_path / "c.png", "--box", "10,10,20,20", "--box", "100,60,30,20", "--grow", "0", "-q")
    assert result.exit_code == 0, result.output
    out = np.asarray(Image.open(tmp_path / "c_erased.png"))
    changed = np.any(out != coffee[:100, :150], axis=2)
    assert changed[10:30, 10:30].mean() > 0.5 and changed[60:80, 100:130].mean() > 0.5
    outside = np.ones_like(changed)
    outside[10:30, 10:30] = outside[60:80, 100:130] = False
    assert not changed[outside].any()


def one_error_line(result, *fragments: str, code: int = 2) -> None:
    assert result.exit_code == code, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("revive: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_bad_masks_are_one_clear_line_and_write_nothing(tmp_path, home, astronaut):
    Image.fromarray(astronaut[:60, :80]).save(tmp_path / "a.png")
    save_mask(tmp_path / "empty.png", np.zeros((60, 80), bool))
    save_mask(tmp_path / "all.png", np.ones((30, 40), bool))
    save_mask(tmp_path / "tall.png", np.eye(80, 60, dtype=bool))
    (tmp_path / "notes.png").write_text("not a picture at all")
    one_error_line(invoke("erase", tmp_path / "a.png"), "--mask", "--box")
    one_error_line(invoke("erase", tmp_path / "a.png", "--mask", tmp_path / "notes.png"), "cannot be read as an image")
    one_error_line(invoke("erase", tmp_path / "a.png", "--mask", tmp_path / "missing.png"), "missing.png")
    one_error_line(invoke("erase", tmp_path / "a.png", "--box", "1,2,3"), "x,y,width,height")
    # These are found per photo: one line each, exit 1, like any photo that fails.
    one_error_line(invoke("erase", tmp_path / "a.png", "--mask", tmp_path / "empty.png"), "empty", code=1)
    one_error_line(invoke("erase", tmp_path / "a.png", "--mask", tmp_path / "all.png"), "whole photo", code=1)
    one_error_line(invoke("erase", tmp_path / "a.png", "--mask", tmp_path / "tall.png"), "60×80 but the photo is 80×60",
                   code=1)
    one_error_line(invoke("erase", tmp_path / "a.png", "--box", "200,200,5,5"), "outside", code=1)
    one_error_line(invoke("erase", tmp_path / "a.png", "--box", "1,2,3,4", "--model", "realesrgan-x4plus"),
                   "an upscale model; erase needs an inpainting model", code=1)
    one_error_line(invoke("erase", tmp_path / "a.png", "--box", "1,2,3,4", "--model", "no-such-model"), "unknown model",
                   code=1)
    assert not (tmp_path / "a_erased.png").exists()


def test_requests_come_from_text_fields_and_masks_from_bytes(coffee):
    from revive.operations import request_from_fields

    with pytest.raises(api.InvalidParameter, match="takes a file"):  # text never names a path on this machine
        request_from_fields(api.EraseRequest, {"mask": "m.png"})
    request = request_from_fields(api.EraseRequest, {"boxes": "1,2,3,4; 5,6,7,8", "grow": "2"},
                                  files={"mask": b"png bytes"})
    assert request.params.mask == b"png bytes" and request.params.boxes == api.Boxes("1,2,3,4;5,6,7,8")
    fill = request_from_fields(api.FillRequest, {"prompt": "a cat", "seed": "3", "negative_prompt": "dog"})
    assert (fill.params.prompt, fill.params.seed, fill.params.guidance) == ("a cat", 3, 7.5)
    with pytest.raises(api.InvalidParameter, match="guidance above 1"):
        request_from_fields(api.FillRequest, {"prompt": "a cat", "guidance": "1", "negative_prompt": "dog"})
    mask = ellipse(64, 64, 30, 30, 6, 6)
    buffer = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8) * 255).save(buffer, format="PNG")
    done = api.process(coffee[:64, :64], api.EraseRequest(api.EraseParams(mask=buffer.getvalue(), grow=1)))
    out = done.result.photo.to_array(np.uint8)
    assert np.array_equal(out[~grow(mask, 1)], coffee[:64, :64][~grow(mask, 1)]) and done.result.stages[0].name == "erase"
    assert done.result.stages[0].params["mask"] == "bytes"


def test_erase_picks_lama_then_mat_then_the_built_in_fill(tmp_path):
    def engine(*archs: str) -> StageContext:
        specs = [replace(fake_spec(f"{a.lower()}-model", scale=1, purpose="inpaint"), architecture=a) for a in archs]
        specs.append(fake_spec("an-upscaler", scale=4))
        return StageContext(Engine(registry=ModelRegistry(specs), store=ModelStore(tmp_path)))

    assert choose_model(engine("MAT", "Other", "LaMa")) == "lama-model"
    assert choose_model(engine("Other", "MAT")) == "mat-model"
    assert choose_model(engine()) == EMBEDDED_ERASE_MODEL


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")  # spandrel's LaMa code
def test_lama_added_to_the_store_erases_end_to_end(tmp_path, home, astronaut):
    import torch
    from spandrel.architectures.LaMa import LaMa

    torch.manual_seed(0)
    torch.save(LaMa(in_nc=4, out_nc=3).state_dict(), tmp_path / "my-lama.pth")  # random weights, a user's file
    added = runner.invoke(app, ["models", "add", str(tmp_path / "my-lama.pth")])
    assert added.exit_code == 0, added.output
    listed = {m["name"]: m for m in json.loads(runner.invoke(app, ["models", "list", "--json"]).stdout)}
    assert listed["my-lama"]["purpose"] == "inpaint" and listed["my-lama"]["non_commercial"] is False

    Image.fromarray(astronaut[40:136, 180:276]).save(tmp_path / "face.png")
    mask = ellipse(96, 96, 50, 45, 10, 14)
    save_mask(tmp_path / "m.png", mask)
    result = invoke("erase", tmp_path / "face.png", "--mask", tmp_path / "m.png", "--grow", "3", "--json",
                    "--device", "cpu", "--threads", "1")  # small crops: one thread, no contention
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["engine"] == "my-lama"  # picked from the store
    out = np.asarray(Image.open(tmp_path / "face_erased.png"))
    before = astronaut[40:136, 180:276]
    outside = ~grow(mask, 3)
    assert np.array_equal(out[outside], before[outside])
    assert not np.array_equal(out[mask], before[mask])
    record = imageio.read_record(tmp_path / "face_erased.png")
    assert record is not None and record.generative and record.stages[0].model == "my-lama"
    assert record.stages[0].model_sha256 and len(record.stages[0].model_sha256) == 64


def test_mat_is_recognised_and_flagged_non_commercial():
    import torch
    from spandrel_extra_arches.architectures.MAT import MAT

    from revive.models.torch_inspect import architectures, describe

    torch.manual_seed(0)
    info = describe(architectures().load(MAT().state_dict()))
    assert (info["architecture"], info["purpose"], info["takes_mask"]) == ("MAT", "inpaint", True)
    assert info["non_commercial"] is True and "NC" in info["license"]
    assert info["size_requirements"] == {"minimum": 512, "multiple_of": 512, "square": True}


def _has_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@pytest.mark.gpu
@pytest.mark.skipif(not _has_cuda(), reason="needs a CUDA GPU: torch.cuda.is_available() is False")
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_lama_and_mat_erase_on_cuda(tmp_path, astronaut):
    import torch
    from spandrel.architectures.LaMa import LaMa
    from spandrel_extra_arches.architectures.MAT import MAT

    from revive.models.importer import import_model

    store = ModelStore(tmp_path / "store")
    torch.manual_seed(0)
    for name, module in (("gpu-lama", LaMa(in_nc=4, out_nc=3)), ("gpu-mat", MAT())):
        torch.save(module.state_dict(), tmp_path / f"{name}.pth")
        spec = import_model(store, tmp_path / f"{name}.pth", name)
        assert spec.purpose == "inpaint" and spec.non_commercial == (name == "gpu-mat")
    engine = Engine(store=store, options=api.LoadOptions(device="cuda"))
    image = astronaut[:300, :300]
    mask = ellipse(300, 300, 120, 150, 30, 20)
    outside = ~grow(mask, 3)
    for name in ("gpu-lama", "gpu-mat"):
        out = api.erase(image, mask, model=name, grow=3, engine=engine)
        assert np.array_equal(out[outside], image[outside]) and not np.array_equal(out[mask], image[mask])
        model = engine.load(name)
        # neither runs in fp16, nor in the bf16 spandrel declares (LaMa's FFTs, MAT's own float32 tensors)
        assert model.device.startswith("cuda") and model.dtype == torch.float32
