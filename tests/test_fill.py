"""`revive fill` with a tiny Stable Diffusion inpainting pipeline built here from random components.

The pipeline is written to a temporary folder by the test session (tests/_diffusion.py) and read
back through the same path a user's folder takes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _diffusion import tiny_inpainting_pipeline
from PIL import Image
from typer.testing import CliRunner

from revive import api, imageio
from revive.cli import app
from revive.engine import Engine
from revive.masks import default_grow, grow
from revive.models import diffusion
from revive.models.diffusion import MemoryPlan, plan_memory
from revive.models.loaders import LoadOptions

runner = CliRunner()
GiB = 1 << 30
# One CPU thread: models this small gain nothing from more, and on a busy machine two threads contend (20× slower).
THREADS = ("--threads", "1")
ONE_THREAD = LoadOptions(threads=1)


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_inpainting_pipeline(tmp_path_factory.mktemp("tiny-sd-inpaint"))


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("REVIVE_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(api._defaults, "engine", None)
    return tmp_path / "home"


def disc(h: int, w: int, cy: int, cx: int, r: int) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


@pytest.fixture
def scene(tmp_path, chelsea):
    Image.fromarray(chelsea[60:156, 120:216]).save(tmp_path / "cat.png")
    mask = disc(96, 96, 45, 50, 12)
    Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "m.png")
    return tmp_path / "cat.png", tmp_path / "m.png", mask


def fill_cli(pipeline: Path, image: Path, mask: Path, out: Path, *extra: object):
    return runner.invoke(app, ["fill", str(image), "--mask", str(mask), "--model", str(pipeline), "-o", str(out),
                               "--steps", "3", "--grow", "3", "--json", *THREADS, *map(str, extra)])


def test_fill_through_the_cli_generates_only_inside_the_mask_and_says_so(tiny_pipeline, home, scene, tmp_path):
    image, mask_file, mask = scene
    result = fill_cli(tiny_pipeline, image, mask_file, tmp_path / "a.png", "--prompt", "a red ball", "--seed", "7")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["seed"] == 7 and summary["steps"] == 3 and summary["device"] == "cpu" and summary["generative"]
    before, after = np.asarray(Image.open(image)), np.asarray(Image.open(tmp_path / "a.png"))
    outside = ~grow(mask, 3)
    assert np.array_equal(after[outside], before[outside])
    assert np.abs(after[mask].astype(int) - before[mask]).mean() > 5
    record = imageio.read_record(tmp_path / "a.png")
    assert record is not None and record.generative and record.operation == "fill"
    params = record.stages[0].params
    assert params["prompt"] == "a red ball" and params["seed"] == 7 and record.stages[0].model == "pipeline"


def test_same_seed_same_result_and_the_negative_prompt_is_used(tiny_pipeline, home, scene, tmp_path):
    image, mask_file, _ = scene
    runs = {
        "a": ("--seed", "3", "--negative-prompt", "blurry"),
        "b": ("--seed", "3", "--negative-prompt", "blurry"),
        "c": ("--seed", "4", "--negative-prompt", "blurry"),
        "d": ("--seed", "3", "--negative-prompt", "sharp stripes"),
    }
    pixels = {}
    for name, extra in runs.items():
        result = fill_cli(tiny_pipeline, image, mask_file, tmp_path / f"{name}.png", "--prompt", "grass", *extra)
        assert result.exit_code == 0, result.output
        pixels[name] = np.asarray(Image.open(tmp_path / f"{name}.png"))
    assert np.array_equal(pixels["a"], pixels["b"])
    assert not np.array_equal(pixels["a"], pixels["c"])
    assert not np.array_equal(pixels["a"], pixels["d"])  # a different negative prompt reaches the model


def test_a_negative_prompt_without_guidance_is_refused_not_ignored(tiny_pipeline, home, scene, tmp_path):
    image, mask_file, _ = scene
    result = fill_cli(tiny_pipeline, image, mask_file, tmp_path / "x.png", "--prompt", "grass",
                      "--negative-prompt", "blur", "--guidance", "1")
    assert result.exit_code == 2 and "guidance above 1" in result.stderr and "silently ignored" in result.stderr
    assert not (tmp_path / "x.png").exists()
    ok = fill_cli(tiny_pipeline, image, mask_file, tmp_path / "y.png", "--prompt", "grass", "--guidance", "1")
    assert ok.exit_code == 0, ok.output  # guidance 1 without a negative prompt is a valid choice


def test_without_weights_the_error_says_how_to_get_them(home, scene, tmp_path):
    image, mask_file, _ = scene
    result = runner.invoke(app, ["fill", str(image), "--mask", str(mask_file), "--prompt", "grass"])
    assert result.exit_code == 1
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "never downloads" in lines[0] and str(home / "models" / "sd-inpainting") in lines[0]
    assert "--model" in lines[0] and "--config" in lines[0]
    checkpoint = tmp_path / "model.safetensors"
    checkpoint.write_bytes(b"\0" * 16)
    single = runner.invoke(app, ["fill", str(image), "--mask", str(mask_file), "--prompt", "x", "--model", str(checkpoint)])
    assert single.exit_code == 2 and "--config FOLDER" in single.stderr
    no_folder = runner.invoke(app, ["fill", str(image), "--mask", str(mask_file), "--prompt", "x", "--model",
                                    str(checkpoint), "--config", str(tmp_path)])
    assert no_folder.exit_code == 2 and "no model_index.json" in no_folder.stderr


def test_the_default_model_is_a_folder_in_the_store(tiny_pipeline, home, scene):
    import shutil

    image, _, mask = scene
    shutil.copytree(tiny_pipeline, home / "models" / "sd-inpainting")
    out = api.fill(np.asarray(Image.open(image)), mask, prompt="a stone", seed=1, steps=2,
                   engine=Engine(options=ONE_THREAD))
    assert out.shape == (96, 96, 3) and not np.array_equal(out[mask], np.asarray(Image.open(image))[mask])


def test_progress_is_reported_by_denoising_step_and_the_pipeline_is_kept_warm(tiny_pipeline, scene):
    image, _, mask = scene
    engine = Engine(options=ONE_THREAD, memory=1 * GiB)
    events: list[api.JobEvent] = []
    request = api.FillRequest(api.FillParams(prompt="moss", mask=mask, seed=5, steps=4, model=str(tiny_pipeline)))
    first = api.process(image, request, engine=engine, on_event=events.append)
    steps = [(e.done, e.of) for e in events if e.kind == "progress" and e.phase == "denoising"]
    assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert any(e.kind == "phase" and e.phase and e.phase.startswith("denoising: 4 steps at 64×64 on cpu") for e in events)
    assert first.result is not None and first.result.stages[0].generative and first.result.generative
    cached = len(engine._cache)
    second = api.process(image, request, engine=engine)
    assert len(engine._cache) == cached  # the same pipeline object served the second run
    assert np.array_equal(first.result.photo.pixels, second.result.photo.pixels)


def test_memory_savings_change_nothing_but_memory(tiny_pipeline, scene, monkeypatch):
    image, _, mask = scene
    photo = np.asarray(Image.open(image))
    plain = api.fill(photo, mask, prompt="sand", seed=2, steps=2, model=str(tiny_pipeline), engine=Engine(options=ONE_THREAD))
    monkeypatch.setattr(diffusion, "plan_memory", lambda *args: MemoryPlan(attention_slicing=True))
    sliced = api.fill(photo, mask, prompt="sand", seed=2, steps=2, model=str(tiny_pipeline), engine=Engine(options=ONE_THREAD))
    assert np.abs(sliced.astype(int) - plain).max() <= 1  # the same attention, computed in slices


def test_memory_plan_follows_the_budget():
    weights, unet, px, mp4 = 2 * GiB, int(1.6 * GiB), 512 * 512, 1024 * 1024
    assert plan_memory(24 * GiB, weights, unet, px, 2, "cuda") == MemoryPlan()
    big = plan_memory(int(4.2 * GiB), weights, unet, mp4, 2, "cuda")  # a 1024 px image: the VAE decodes in tiles
    assert big.vae_tiling and not big.attention_slicing and big.offload == "none"
    assert plan_memory(int(2.5 * GiB), weights, unet, px, 2, "cuda").offload == "model"  # the UNet alone fits
    assert plan_memory(1 * GiB, weights, unet, px, 2, "cuda").offload == "sequential"
    unfused = plan_memory(int(3.1 * GiB), weights, unet, px, 2, "cuda", fused_attention=False)
    assert unfused.attention_slicing and unfused.offload == "none"  # slicing only helps without fused attention
    cpu = plan_memory(1 * GiB, 2 * weights, 2 * unet, px, 4, "cpu")  # the CPU has nowhere to offload to
    assert cpu.offload == "none" and not cpu.fits
    assert "VAE tiling" in big.describe() and MemoryPlan().describe() == "no memory savings needed"


def _has_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


cuda = pytest.mark.skipif(not _has_cuda(), reason="needs a CUDA GPU: torch.cuda.is_available() is False")


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("offload", ["none", "model", "sequential"])
def test_fill_on_cuda_runs_in_half_precision_within_any_memory_plan(tiny_pipeline, scene, monkeypatch, offload):
    import torch

    image, _, mask = scene
    photo = np.asarray(Image.open(image))
    monkeypatch.setattr(diffusion, "plan_memory", lambda *args: MemoryPlan(attention_slicing=offload != "none",
                                                                             offload=offload))  # type: ignore[arg-type]
    engine = Engine(options=LoadOptions(device="cuda"))
    request = api.FillRequest(api.FillParams(prompt="moss", mask=mask, seed=9, steps=3, model=str(tiny_pipeline)))
    first = api.process(photo, request, engine=engine).result
    second = api.process(photo, request, engine=engine).result
    inpainter = next(v for v in engine._cache.values() if isinstance(v, diffusion.Inpainter))
    assert inpainter.dtype == torch.float16 and inpainter.device.startswith("cuda")
    assert first.details["device"].startswith("cuda") and first.details["memory"] == inpainter.plan.describe()
    assert np.array_equal(first.photo.pixels, second.photo.pixels)  # same seed, same result on the GPU too
    outside = ~grow(mask, default_grow(96, 96))
    after = first.photo.to_array(np.uint8)
    assert np.array_equal(after[outside], photo[outside])
