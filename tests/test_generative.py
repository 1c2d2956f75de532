"""Generative upscaling (`upscale --creative`, `enhance --look creative`) with a tiny SD pipeline and tile
ControlNet built at test time from random components (tests/_diffusion.py), read back as a user's folders are.

Random weights invent garbage, which is what these tests need: any leak of invented pixels (a seam, a
face re-imagined, creativity 0 not being exact) shows as a large difference.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from _diffusion import tiny_base_pipeline, tiny_inpainting_pipeline
from conftest import portrait_u8
from PIL import Image
from typer.testing import CliRunner

from revive import api, imageio
from revive.cli import app
from revive.engine import Engine
from revive.imageops import resize
from revive.models.loaders import LoadOptions
from revive.models.refiner import Generation, load_refiner, seeded_noise, tile_starts
from revive.pipeline.metrics import psnr
from revive.pipeline.runner import enhance_photo
from revive.stages import StageRegistry, default_stages
from revive.stages.creative import face_protection, hdr_detail, lock_low_frequencies

runner = CliRunner()
ONE_THREAD = LoadOptions(threads=1)
STEPS = 5


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return tiny_base_pipeline(tmp_path_factory.mktemp("tiny-sd"))


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine(options=ONE_THREAD)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("REVIVE_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(api._defaults, "engine", None)
    return tmp_path / "home"


@pytest.fixture(scope="session")
def small_cat(chelsea) -> np.ndarray:
    """A 96 px crop of the cat (×2 → 192 px: two latent tiles a side with the tiny model's 128 px tiles)."""
    return np.ascontiguousarray(chelsea[40:232:2, 100:292:2])


def settings(tiny, **values) -> api.CreativeSettings:
    base, controlnet = tiny
    return api.CreativeSettings(**{"diffusion_model": str(base), "controlnet": str(controlnet), "steps": STEPS,
                                   "seed": 11, "hdr": 0.0, **values})


def creative(photo, tiny, engine, *, scale=2.0, **values) -> api.JobResult:
    request = api.CreativeRequest(scale=scale, generation=settings(tiny, **values))
    result = api.process(photo, request, engine=engine)
    assert result.ok, result.error
    return result


def pixels(result: api.JobResult) -> np.ndarray:
    assert result.result is not None and result.result.photo is not None
    return result.result.photo.pixels


def faithful(photo, engine, scale=2.0) -> np.ndarray:
    """What the creative operation starts from: the autopilot's faithful upscale (faces, upscale, guard)."""
    stages = default_stages()
    only = StageRegistry((stages.get("faces"), stages.get("upscale")))
    options = api.EnhanceOptions(scale=scale, look="faithful")
    return enhance_photo(api.Photo.from_array(photo),
                         options, api.StageContext(engine), stages=only).photo.pixels


# --- end to end ---------------------------------------------------------------------------------------

def test_upscale_creative_through_the_cli_writes_a_marked_generated_output(tiny, home, small_cat, tmp_path):
    src = tmp_path / "cat.png"
    Image.fromarray(small_cat).save(src)
    base, controlnet = tiny
    out = tmp_path / "cat_creative.png"
    result = runner.invoke(app, ["upscale", str(src), "--creative", "--model", str(base), "--controlnet", str(controlnet),
                                 "--scale", "2", "--creativity", "0.5", "--hdr", "0.3", "--seed", "42", "--steps",
                                 str(STEPS), "--prompt", "a cat", "--threads", "1", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["operation"] == "creative" and summary["seed"] == 42 and summary["generative"]
    with Image.open(out) as im:
        assert im.size == (192, 192)
    record = imageio.read_record(out)
    assert record is not None and record.operation == "creative" and record.generative
    step = next(s for s in record.stages if s.name == "creative")
    assert step.generative and step.model == base.name
    assert step.params["seed"] == 42 and step.params["creativity"] == 0.5 and step.params["hdr"] == 0.3
    assert step.params["prompt"] == "a cat" and step.params["resemblance"] is not None
    assert step.params["diffusion_model"] == base.name and step.params["controlnet"] == controlnet.name  # no paths
    assert [s.name for s in record.stages][:2] == ["upscale", "fidelity"]  # the faithful upscale came first
    assert any(n.startswith("detail generated on the CPU") for n in summary["notes"])


def test_enhance_look_creative_plans_and_runs_the_generative_step(tiny, home, small_cat, tmp_path):
    src = tmp_path / "cat.png"
    Image.fromarray(small_cat).save(src)
    base, controlnet = tiny
    common = ["--look", "creative", "--gen-model", str(base), "--controlnet", str(controlnet), "--scale", "2",
              "--steps", str(STEPS), "--seed", "3", "--threads", "1"]
    dry = runner.invoke(app, ["enhance", str(src), "--dry-run", *common])
    assert dry.exit_code == 0, dry.output
    assert "creative" in dry.stdout and "seed 3" in dry.stdout and "creativity" in dry.stdout
    out = tmp_path / "cat_enh.png"
    done = runner.invoke(app, ["enhance", str(src), "-o", str(out), *common])
    assert done.exit_code == 0, done.output
    record = imageio.read_record(out)
    assert record is not None and record.generative
    assert any(s.name == "creative" and s.params["seed"] == 3 for s in record.stages)


# --- determinism and exactness --------------------------------------------------------------------------

def test_same_seed_same_pixels_other_seed_other_pixels(tiny, engine, small_cat):
    a = pixels(creative(small_cat, tiny, engine, creativity=0.6, seed=5))
    b = pixels(creative(small_cat, tiny, engine, creativity=0.6, seed=5))
    c = pixels(creative(small_cat, tiny, engine, creativity=0.6, seed=6))
    assert np.array_equal(a, b)
    assert np.abs(a - c).mean() > 0.005


def test_creativity_zero_returns_the_faithful_upscale_and_records_nothing_generated(tiny, engine, small_cat):
    result = creative(small_cat, tiny, engine, creativity=0.0, hdr=0.0)
    assert np.array_equal(pixels(result), faithful(small_cat, engine))
    assert result.result is not None and not result.result.generative


def test_the_noise_is_the_seeds_not_the_tilings():
    """Each latent cell draws from (seed, row, column): a bigger picture extends the noise, never reshuffles it."""
    small = seeded_noise(9, 4, 40, 40, cell=16)
    large = seeded_noise(9, 4, 70, 90, cell=16)
    assert np.array_equal(large[:, :32, :32], small[:, :32, :32])
    assert not np.array_equal(seeded_noise(10, 4, 40, 40, cell=16), small)
    assert tile_starts(32, 16, 4) == [0, 8, 16] and tile_starts(10, 16, 4) == [0]


# --- no seams ---------------------------------------------------------------------------------------

def _column_steps(image: np.ndarray) -> np.ndarray:
    """Mean absolute difference between each column and the one before it."""
    return np.abs(np.diff(image, axis=1)).mean(axis=(0, 2))


def test_latent_tiles_leave_no_seam(tiny, chelsea):
    """The picture spans three latent tiles a side; along their borders the result steps no more than
    anywhere else. The same measure does see a seam where two generations are stitched."""
    base, controlnet = tiny
    refiner = load_refiner(base, None, controlnet, ONE_THREAD, None, 4 << 30)
    image = (chelsea[20:276, 150:406] / 255.0).astype(np.float32)  # 256 px: latent 32, tiles of 16 at 0, 8, 16
    generation = Generation("a cat", "", 21, STEPS, 0.6, 3.0, 0.5)
    out = refiner(image, generation)
    other = refiner(image, Generation("a cat", "", 22, STEPS, 0.6, 3.0, 0.5))
    steps = _column_steps(out)
    typical = np.percentile(steps, 95)
    borders = [8 * 8, 16 * 8, 24 * 8]  # tile starts and ends in pixels (latent × 8)
    for x in borders:
        assert steps[x - 1] <= typical, f"a seam at x={x}: {steps[x - 1]:.4f} > {typical:.4f}"
    stitched = np.concatenate([out[:, :128], other[:, 128:]], axis=1)
    assert _column_steps(stitched)[127] > np.percentile(_column_steps(stitched), 99)


# --- the sliders ----------------------------------------------------------------------------------

def test_more_creativity_moves_further_from_the_faithful_upscale(tiny, engine, small_cat):
    reference = faithful(small_cat, engine)
    distances = [psnr(pixels(creative(small_cat, tiny, engine, creativity=c, resemblance=0.5)), reference)
                 for c in (0.25, 0.5, 0.9)]
    assert distances[0] > distances[1] > distances[2], distances


def test_resemblance_holds_the_result_to_the_photo(tiny, engine, small_cat):
    """Downscale consistency (the result area-downscaled vs the photo) rises with resemblance."""
    loose = pixels(creative(small_cat, tiny, engine, creativity=0.7, resemblance=0.0))
    tight = pixels(creative(small_cat, tiny, engine, creativity=0.7, resemblance=1.0))
    photo = (small_cat / 255.0).astype(np.float32)
    loose_db, tight_db = (psnr(resize(x, 96, 96), photo) for x in (loose, tight))
    assert tight_db > loose_db + 3, (loose_db, tight_db)


def test_the_low_frequency_lock_keeps_colour_and_composition(coffee):
    faithful_px = (coffee[:128, :128] / 255.0).astype(np.float32)
    rng = np.random.default_rng(0)
    invented = np.clip(faithful_px * 0.6 + 0.3 + rng.normal(0, 0.05, faithful_px.shape), 0, 1).astype(np.float32)
    locked = lock_low_frequencies(invented, faithful_px, 4.0)
    import cv2

    def low(x):
        return cv2.GaussianBlur(x, (0, 0), 8.0)

    assert np.abs(low(locked) - low(faithful_px)).mean() < 0.01 < np.abs(low(invented) - low(faithful_px)).mean()


def test_hdr_lifts_local_contrast_without_clipping_anything_new(astronaut):
    photo = (astronaut[::2, ::2] / 255.0).astype(np.float32)
    import cv2

    def band_energy(x):
        luma = x.mean(axis=2)
        return float(np.abs(luma - cv2.GaussianBlur(luma, (0, 0), 4.0)).mean())

    lifted = hdr_detail(photo, 1.0, 2.0)
    assert band_energy(lifted) > 1.2 * band_energy(photo)
    clipped_before = (photo <= 0) | (photo >= 1)
    clipped_after = (lifted <= 0) | (lifted >= 1)
    assert not (clipped_after & ~clipped_before).any()
    assert np.array_equal(hdr_detail(photo, 0.0, 2.0), photo)


# --- faces ------------------------------------------------------------------------------------------

def test_faces_are_protected_not_reimagined(tiny, engine):
    portrait = portrait_u8("grace_hopper.jpg")
    small = np.ascontiguousarray(portrait[::2, ::2])  # 256×300: one face
    photo = (small / 255.0).astype(np.float32)
    mask = face_protection(photo)
    assert mask.max() > 0.99 and 0.05 < mask.mean() < 0.6
    out = pixels(creative(small, tiny, engine, scale=1.0, creativity=0.8, resemblance=0.0))
    change = np.abs(out - photo).mean(axis=2)
    face, background = change[mask > 0.99], change[mask < 0.01]
    assert face.mean() < 0.2 * background.mean(), (face.mean(), background.mean())


# --- models, plans and forms ------------------------------------------------------------------------

def test_without_weights_the_message_says_what_to_get_and_where(home, small_cat, tmp_path):
    src = tmp_path / "cat.png"
    Image.fromarray(small_cat).save(src)
    result = runner.invoke(app, ["upscale", str(src), "--creative", "-o", str(tmp_path / "o.png")])
    assert result.exit_code != 0
    message = " ".join(result.stderr.split())
    assert "never downloads" in message and str(home / "models" / "stable-diffusion") in message
    assert "controlnet-tile" in message and "--model FOLDER" in message
    assert not (tmp_path / "o.png").exists()


def test_generative_options_without_creative_are_refused_not_ignored(small_cat, tmp_path):
    src = tmp_path / "cat.png"
    Image.fromarray(small_cat).save(src)
    result = runner.invoke(app, ["upscale", str(src), "--creativity", "0.5", "-o", str(tmp_path / "o.png")])
    assert result.exit_code == 2 and "--creativity needs --creative" in " ".join(result.stderr.split())
    assert not (tmp_path / "o.png").exists()


def test_the_default_models_are_folders_in_the_store(tiny, home, small_cat):
    engine = Engine(options=ONE_THREAD)  # its store is in this test's home
    base, controlnet = tiny
    shutil.copytree(base, home / "models" / "stable-diffusion")
    shutil.copytree(controlnet, home / "models" / "controlnet-tile")
    out = api.creative_upscale(small_cat, scale=2, creativity=0.5, hdr=0.0, seed=4, steps=STEPS, engine=engine)
    plain = api.creative_upscale(small_cat, scale=2, creativity=0.5, hdr=0.0, seed=4, steps=STEPS, controlnet="none",
                                 engine=engine)
    assert out.shape == (192, 192, 3)
    assert np.abs(out.astype(int) - plain).mean() > 0.5  # the store's ControlNet was used by default


def test_an_inpainting_model_is_refused_with_what_to_use(tmp_path, small_cat, engine):
    inpainting = tiny_inpainting_pipeline(tmp_path)
    request = api.CreativeRequest(scale=2, generation=api.CreativeSettings(diffusion_model=str(inpainting), seed=1))
    with pytest.raises(api.ReviveError, match="inpainting .* base Stable Diffusion"):
        api.process(small_cat, request, engine=engine)


def test_a_form_can_name_a_model_in_the_store_but_never_a_path():
    good = api.request_from_fields(api.CreativeRequest, {"diffusion_model": "my-sd", "creativity": "0.4"})
    assert good.generation.diffusion_model == "my-sd" and good.generation.creativity == 0.4
    for field, value in (("diffusion_model", "/etc"), ("controlnet", "../x"), ("config", "~/sd")):
        with pytest.raises(api.InvalidParameter, match="not a path"):
            api.request_from_fields(api.CreativeRequest, {field: value})
    with pytest.raises(api.InvalidParameter, match="not a path"):
        api.request_from_fields(api.FillRequest, {"prompt": "x", "model": "/home/someone/sd"})


def test_presets_follow_the_subject_and_the_user_overrides_them(coffee):
    portrait = api.plan(portrait_u8("grace_hopper.jpg"), api.EnhanceOptions(look="creative"))
    step = portrait.step("creative")
    assert step is not None and step.params.subject == "portrait" and 0.2 <= step.params.creativity <= 0.4
    assert "faces kept as restored" in step.reason
    china = np.asarray(Image.open(Path(__file__).parent / "data" / "masks" / "china.jpg").convert("RGB"))
    landscape = api.plan(china, api.EnhanceOptions(look="creative")).step("creative")
    assert landscape is not None and 0.5 <= landscape.params.creativity <= 0.7
    chosen = api.EnhanceOptions(look="creative", generation=api.CreativeSettings(creativity=0.9, hdr=0.1))
    over = api.plan(coffee, chosen).step("creative")
    assert over is not None and over.params.creativity == 0.9 and over.params.hdr == 0.1
    assert api.plan(coffee, api.EnhanceOptions()).step("creative") is None  # never without being asked


def test_progress_counts_model_calls_and_the_refiner_is_kept_warm(tiny, small_cat):
    engine = Engine(options=ONE_THREAD)
    events: list[api.JobEvent] = []
    request = api.CreativeRequest(scale=2, generation=settings(tiny, creativity=0.5))
    first = api.process(small_cat, request, engine=engine, on_event=events.append)
    calls = [(e.done, e.of) for e in events if e.kind == "progress" and e.phase == "generating detail"]
    total = calls[-1][1]
    assert calls == [(i, total) for i in range(1, total + 1)]
    # 192 px → latent 24 → tiles at 0 and 8 each side; creativity 0.5 × 0.8 of 5 steps = 2 steps
    assert total == 4 * 2
    cached = len(engine._cache)
    second = api.process(small_cat, request, engine=engine)
    assert len(engine._cache) == cached
    assert np.array_equal(pixels(first), pixels(second))


# --- CUDA (run on a lent GPU; skipped elsewhere) -----------------------------------------------------

def _has_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@pytest.mark.gpu
@pytest.mark.skipif(not _has_cuda(), reason="needs a CUDA GPU: torch.cuda.is_available() is False")
@pytest.mark.parametrize("offload", ["none", "model", "sequential"])
def test_creative_on_cuda_runs_in_half_precision_within_any_memory_plan(tiny, small_cat, monkeypatch, offload):
    import torch

    from revive.models import diffusion, refiner

    monkeypatch.setattr(diffusion, "plan_memory", lambda *args: diffusion.MemoryPlan(
        attention_slicing=offload != "none", offload=offload))  # type: ignore[arg-type]
    engine = Engine(options=LoadOptions(device="cuda"))
    # scale 1: generation alone (the faithful upscale's ncnn models are tested elsewhere)
    first = pixels(creative(small_cat, tiny, engine, scale=1.0, creativity=0.6))
    second = pixels(creative(small_cat, tiny, engine, scale=1.0, creativity=0.6))
    loaded = next(v for v in engine._cache.values() if isinstance(v, refiner.Refiner))
    assert loaded.dtype == torch.float16 and loaded.device.startswith("cuda") and loaded.plan.offload == offload
    assert np.isfinite(first).all() and np.array_equal(first, second)  # same seed, same pixels on the GPU too
    on_cpu = pixels(creative(small_cat, tiny, Engine(options=ONE_THREAD), scale=1.0, creativity=0.6))
    assert psnr(first, on_cpu) > 25  # the seed's noise is drawn on the CPU: the same picture in fp16


# --- Content Credentials (C2PA) ---------------------------------------------------------------------

def _manifest(path: Path) -> dict:
    import c2pa

    with open(path, "rb") as f, c2pa.Reader("image/png", f) as reader:
        return json.loads(reader.json())


def test_generated_outputs_carry_a_signed_c2pa_manifest_and_others_none(tiny, home, small_cat, tmp_path):
    pytest.importorskip("c2pa", reason="c2pa-python comes with the gen extra")
    src = tmp_path / "cat.png"
    Image.fromarray(small_cat).save(src)
    base, controlnet = tiny
    out = tmp_path / "gen.png"
    result = runner.invoke(app, ["upscale", str(src), "--creative", "--model", str(base), "--controlnet", str(controlnet),
                                 "--scale", "2", "--seed", "8", "--steps", str(STEPS), "--threads", "1", "-o", str(out)])
    assert result.exit_code == 0, result.output
    store = _manifest(out)
    assert store["validation_state"] == "Valid"  # signed and intact; the local identity is (rightly) untrusted
    assert {s["code"] for s in store.get("validation_status", [])} <= {"signingCredential.untrusted"}
    manifest = store["manifests"][store["active_manifest"]]
    labels = {a["label"]: a["data"] for a in manifest["assertions"]}
    action = next(iter(labels[k] for k in labels if k.startswith("c2pa.actions")))["actions"][0]
    assert action["digitalSourceType"].endswith("compositeWithTrainedAlgorithmicMedia")
    stages = labels["org.revive-photo.processing"]["stages"]
    creative_stage = next(s for s in stages if s["name"] == "creative")
    assert creative_stage["generative"] and creative_stage["params"]["seed"] == 8
    key = home / "c2pa" / "key.pem"
    assert key.is_file() and key.stat().st_mode & 0o077 == 0  # the local signing key is its owner's only
    # a byte changed in the picture's data (the PNG kept valid) breaks the manifest's hash
    tampered = tmp_path / "tampered.png"
    tampered.write_bytes(_flip_idat_byte(out.read_bytes()))
    checked = _manifest(tampered)
    assert checked["validation_state"] != "Valid"
    assert any("mismatch" in s["code"] for s in checked["validation_results"]["activeManifest"]["failure"])
    plain = tmp_path / "plain.png"
    assert runner.invoke(app, ["upscale", str(src), "--scale", "2", "-o", str(plain)]).exit_code == 0
    import c2pa

    with pytest.raises(c2pa.C2paError):  # nothing generated: no manifest
        _manifest(plain)


def _flip_idat_byte(png: bytes) -> bytes:
    """The PNG with one byte of its first IDAT chunk changed and the chunk's CRC fixed."""
    import struct
    import zlib

    at = 8
    while at < len(png):
        length, kind = struct.unpack(">I4s", png[at:at + 8])
        if kind == b"IDAT":
            data = bytearray(png[at + 8:at + 8 + length])
            data[length // 2] ^= 0xFF
            crc = struct.pack(">I", zlib.crc32(kind + bytes(data)))
            return png[:at + 8] + bytes(data) + crc + png[at + 12 + length:]
        at += 12 + length
    raise AssertionError("no IDAT chunk")
