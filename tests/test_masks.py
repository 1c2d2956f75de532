"""Subject masks on real photos against hand-traced references; segmentation models from the store;
`revive masks` and the regions measurement of `diagnose`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from revive import api
from revive.analysis import diagnose
from revive.analysis.face_detect import detect_faces
from revive.analysis.guided import guided_filter
from revive.analysis.masks import CLASSES, estimate_masks, iou
from revive.cli import app
from revive.engine import Engine
from revive.errors import InvalidParameter, UnsupportedModel
from revive.models import ModelStore
from revive.models.importer import import_model
from revive.models.segmentation import ADE20K, parse_classes
from revive.types import Photo

DATA = Path(__file__).parent / "data" / "masks"
sys.path.insert(0, str(DATA))
from make_references import REFERENCES, load_photo  # noqa: E402

CASES = [(photo, name) for photo, classes in REFERENCES.items() for name in classes if name in ("sky", "skin")]


def f32(u8: np.ndarray) -> np.ndarray:
    return (u8 / 255.0).astype(np.float32)


@pytest.fixture(scope="module")
def embedded() -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for photo in {p for p, _ in CASES}:
        pixels = f32(load_photo(photo))
        out[photo] = dict(estimate_masks(pixels, detect_faces(pixels)).masks)
    return out


@pytest.mark.parametrize(("photo", "name"), CASES)
def test_sky_and_skin_masks_match_the_hand_traced_references(photo, name, embedded):
    reference = np.asarray(Image.open(DATA / f"{photo}_{name}.png")) > 127
    assert iou(embedded[photo][name], reference) >= 0.8


def test_masks_are_soft_and_exactly_zero_where_the_class_is_absent(embedded):
    sky = embedded["rocket"]["sky"]
    assert sky.dtype == np.float32 and sky.min() == 0.0 and sky.max() == 1.0
    assert 0 < np.count_nonzero((sky > 0) & (sky < 1)) < 0.35 * sky.size  # soft along edges and in the lattices
    assert np.count_nonzero(embedded["astronaut"]["sky"]) == 0  # a studio wall is not sky


@pytest.mark.parametrize("name", ["coffee", "chelsea"])
def test_photos_without_sky_or_people_get_no_sky_or_skin(name):
    from conftest import photo_u8

    masks = estimate_masks(f32(photo_u8(name)))
    assert np.mean(masks["sky"] > 0.5) < 0.01 and np.count_nonzero(masks["skin"]) == 0


def test_a_gray_photo_and_a_tiny_one_still_get_masks(astronaut):
    gray = f32(astronaut)[:, :, :1]
    assert set(estimate_masks(gray).masks) == set(CLASSES)
    tiny = estimate_masks(f32(astronaut[:20, :20]))
    assert tiny["sky"].shape == (20, 20)


def test_unknown_class_is_refused():
    with pytest.raises(InvalidParameter, match="no mask class 'grass'"):
        estimate_masks(np.zeros((32, 32, 3), np.float32), classes=("grass",))


def test_guided_filter_snaps_a_blurred_edge_to_the_photos_edge():
    guide = np.zeros((64, 64), np.float32)
    guide[:, 32:] = 1.0
    coarse = np.clip((np.arange(64, dtype=np.float32) - 20) / 24, 0, 1)[None, :].repeat(64, 0)
    q = guided_filter(guide, coarse, radius=10, eps=1e-4, work_side=None)
    assert q[:, 32].mean() - q[:, 30].mean() > 0.35  # the coarse ramp rose 0.08 there: the step moved to the edge
    assert abs(q[:, 34].mean() - q[:, 32].mean()) < 0.05 and abs(q[:, 30].mean() - q[:, 28].mean()) < 0.05


def test_diagnose_reports_region_shares(astronaut, tmp_path):
    d = diagnose(Photo(f32(astronaut)))
    data = json.loads(json.dumps(d.to_dict(), allow_nan=False))
    assert set(data["regions"]["shares"]) == set(CLASSES)
    assert data["regions"]["shares"]["skin"] > 0.01 and data["regions"]["shares"]["sky"] == 0.0
    china = diagnose(api.read(DATA / "china.jpg"))
    assert china.regions.share("sky") > 0.25 and china.regions.share("foliage") > 0.2
    assert "sky" in china.regions.summary()


# --- segmentation models from the store -------------------------------------------------------------

def tiny_segformer(path: Path, classes: int = 150) -> Path:
    """An ONNX 'segmentation model': a 1×1 convolution scoring ImageNet-normalised colour (blue → ADE20K sky,
    green → tree) followed by a 4× average pool, as SegFormer returns logits at a quarter of the size."""
    import onnx
    from onnx import TensorProto, helper

    weight = np.zeros((classes, 3, 1, 1), np.float32)
    weight[ADE20K["sky"][0], :, 0, 0] = (-4.0, -1.0, 6.0)
    weight[ADE20K["foliage"][0], :, 0, 0] = (-3.0, 6.0, -4.0)
    bias = np.full(classes, -20.0, np.float32)
    bias[[ADE20K["sky"][0], ADE20K["foliage"][0]]] = 0.0
    bias[0] = 5.0  # "wall": everything that is neither
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "w", "b"], ["scores"]),
         helper.make_node("AveragePool", ["scores"], ["logits"], kernel_shape=[4, 4], strides=[4, 4])],
        "tiny_segformer",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, None, None])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, classes, None, None])],
        [helper.make_tensor("w", TensorProto.FLOAT, weight.shape, weight.ravel()),
         helper.make_tensor("b", TensorProto.FLOAT, bias.shape, bias)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def test_a_segmentation_model_from_the_store_gives_the_masks(tmp_path):
    pytest.importorskip("onnxruntime")
    store = ModelStore(tmp_path / "home")
    spec = import_model(store, tiny_segformer(tmp_path / "segformer.onnx"), "tiny-seg", scale=1, purpose="segmentation")
    assert spec.purpose == "segmentation"
    pixels = np.zeros((64, 96, 3), np.float32)
    pixels[:32] = (0.2, 0.4, 0.9)  # a blue sky over
    pixels[32:] = (0.2, 0.6, 0.1)  # green grass
    masks = api.masks(pixels, model="tiny-seg", engine=Engine(store=store))
    assert masks.source == "tiny-seg"
    assert masks["sky"][:28].min() > 0.9 and masks["sky"][36:].max() == 0.0
    assert masks["foliage"][36:].min() > 0.9 and masks["foliage"][:28].max() == 0.0
    assert masks.notes == () and masks["water"].max() == 0.0  # ADE20K maps water; none scored here


def test_class_mapping_option_and_presets():
    assert parse_classes("sky=2; foliage=4,9", 150) == {"sky": (2,), "foliage": (4, 9)}
    with pytest.raises(UnsupportedModel, match="outside 0..18"):
        parse_classes("sky=40", 19)
    with pytest.raises(UnsupportedModel, match="classes"):
        parse_classes("grass=3", 19)


# --- the CLI -----------------------------------------------------------------------------------------

def test_revive_masks_writes_one_png_per_class(tmp_path, astronaut):
    source = tmp_path / "astro.png"
    Image.fromarray(astronaut).save(source)
    result = CliRunner().invoke(app, ["masks", str(source), "-o", str(tmp_path / "out"), "--classes", "skin,sky"])
    assert result.exit_code == 0, result.output
    skin = np.asarray(Image.open(tmp_path / "out" / "astro_skin.png"))
    assert skin.shape == astronaut.shape[:2] and skin.max() == 255 and 0.01 < np.mean(skin > 127) < 0.1
    assert (tmp_path / "out" / "astro_sky.png").is_file() and not (tmp_path / "out" / "astro_water.png").exists()
    again = CliRunner().invoke(app, ["masks", str(source), "-o", str(tmp_path / "out"), "--classes", "skin"])
    assert again.exit_code == 1 and "exists" in again.output  # never written over without --overwrite


def test_masks_are_deterministic(astronaut):
    pixels = f32(astronaut)
    faces = detect_faces(pixels)
    first, second = estimate_masks(pixels, faces), estimate_masks(pixels, faces)
    assert all(np.array_equal(first[c], second[c]) for c in CLASSES)
