"""`revive diagnose` and `revive compare` through Typer's CliRunner, on real photos written to disk."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from revive.cli.app import app
from revive.pipeline.metrics import psnr, ssim

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def files(tmp_path: Path, astronaut: np.ndarray) -> dict[str, Path]:
    ref = np.ascontiguousarray(astronaut[:256, 128:384])
    rng = np.random.default_rng(0)
    noisy = np.clip(np.round(ref + rng.normal(0, 15, ref.shape)), 0, 255).astype(np.uint8)
    paths = {name: tmp_path / name for name in ("ref.png", "noisy.png", "q20.jpg", "half.png", "odd.png")}
    Image.fromarray(ref).save(paths["ref.png"])
    Image.fromarray(noisy).save(paths["noisy.png"])
    Image.fromarray(ref).save(paths["q20.jpg"], quality=20)
    Image.fromarray(ref[::2, ::2]).save(paths["half.png"])
    Image.fromarray(ref[:200, :150]).save(paths["odd.png"])
    return paths


def test_diagnose_table_and_findings(files: dict[str, Path]) -> None:
    result = runner.invoke(app, ["diagnose", str(files["noisy.png"]), str(files["ref.png"])])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.count("needs attention") >= 2  # noise of noisy.png, resolution of both
    assert "noise σ≈" in out and "strong grain, denoise first" in out
    assert str(files["ref.png"]) in out and "1 face" in out


def test_diagnose_json_one_object_per_image(files: dict[str, Path]) -> None:
    result = runner.invoke(app, ["diagnose", "--json", str(files["q20.jpg"]), str(files["noisy.png"])])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(d["input"]).name for d in lines] == ["q20.jpg", "noisy.png"]
    jpeg = lines[0]["jpeg"]
    assert jpeg["source"] == "tables" and jpeg["quality"] == 20 and jpeg["attention"]
    assert lines[1]["noise"]["sigma"] == pytest.approx(15, rel=0.25)
    assert "noise" in lines[1]["defects"]


def test_diagnose_missing_file_is_one_red_line_and_exit_1(files: dict[str, Path], tmp_path: Path) -> None:
    missing = tmp_path / "missing.png"
    result = runner.invoke(app, ["diagnose", str(missing), str(files["ref.png"])])
    assert result.exit_code == 1
    assert result.stderr.strip().startswith(f"revive: error: {missing}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "resolution" in result.stdout  # the other file was still diagnosed


def test_compare_identical_prints_inf(files: dict[str, Path]) -> None:
    result = runner.invoke(app, ["compare", str(files["ref.png"]), str(files["ref.png"])])
    assert result.exit_code == 0, result.output
    assert "PSNR inf dB" in result.stdout and "SSIM 1.0000" in result.stdout
    result = runner.invoke(app, ["compare", "--json", str(files["ref.png"]), str(files["ref.png"])])
    data = json.loads(result.stdout)
    assert data["psnr"] == "inf" and data["ssim"] == 1.0


def test_compare_y_and_crop_match_the_library(files: dict[str, Path]) -> None:
    result = runner.invoke(app, ["compare", "--json", "--y", "--crop", "4", str(files["ref.png"]), str(files["q20.jpg"])])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    a = np.asarray(Image.open(files["ref.png"]))
    b = np.asarray(Image.open(files["q20.jpg"]).convert("RGB"))
    assert data["psnr"] == pytest.approx(psnr(a, b, y_channel=True, crop_border=4), abs=1e-9)
    assert data["ssim"] == pytest.approx(ssim(a, b, y_channel=True, crop_border=4), abs=1e-9)
    assert data["y_channel"] is True and data["crop_border"] == 4 and data["resized_from"] is None


def test_compare_sizes_differ_exits_1(files: dict[str, Path]) -> None:
    result = runner.invoke(app, ["compare", str(files["ref.png"]), str(files["odd.png"])])
    assert result.exit_code == 1
    assert "revive: error:" in result.stderr and "sizes differ" in result.stderr
    assert "256×256" in result.stderr and "150×200" in result.stderr


def test_compare_integer_multiple_is_resized_with_a_note(files: dict[str, Path]) -> None:
    result = runner.invoke(app, ["compare", str(files["ref.png"]), str(files["half.png"])])
    assert result.exit_code == 0, result.output
    assert "resized B to A with INTER_AREA" in result.stderr
    assert "PSNR" in result.stdout


def test_compare_strip_is_written(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "strip.png"
    args = ["compare", str(files["ref.png"]), str(files["q20.jpg"]), "--strip", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    with Image.open(out) as im:
        assert im.size == (256 + 8 + 256, 256)
    again = runner.invoke(app, args)  # never overwrites without --overwrite
    assert again.exit_code == 1 and "revive: error:" in again.stderr
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0


def test_compare_of_images_too_small_for_ssim_still_gives_psnr(files: dict[str, Path], tmp_path: Path) -> None:
    """An 8×8 crop (or a 1-px strip): SSIM's 11×11 window does not fit, so it is n/a — PSNR still counts."""
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    ref = np.asarray(Image.open(files["ref.png"]))
    Image.fromarray(ref[:8, :8]).save(a)
    Image.fromarray(np.clip(ref[:8, :8].astype(int) + 3, 0, 255).astype(np.uint8)).save(b)
    result = runner.invoke(app, ["compare", str(a), str(b)])
    assert result.exit_code == 0, result.output
    assert "SSIM n/a" in result.stdout and "PSNR 38." in result.stdout
    line = json.loads(runner.invoke(app, ["compare", str(a), str(b), "--json"]).stdout)
    assert line["ssim"] is None and line["psnr"] == pytest.approx(psnr(ref[:8, :8], np.asarray(Image.open(b))))


def test_diagnose_a_folder_measures_its_images(files: dict[str, Path], tmp_path: Path) -> None:
    result = runner.invoke(app, ["diagnose", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    names = [Path(json.loads(line)["input"]).name for line in result.stdout.splitlines() if line.strip()]
    assert names == sorted(p.name for p in files.values())
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["diagnose", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "no image files" in result.stderr  # as for upscale and enhance
