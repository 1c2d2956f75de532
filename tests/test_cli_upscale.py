"""`revive upscale` end to end: parity with bare ncnn, metadata, alpha, gray, 16-bit, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms
from typer.testing import CliRunner

from revive import Photo, api, imageio
from revive.cli import app
from revive.models import default_registry
from revive.models.store import ModelStore

runner = CliRunner()
FAST = ["--model", "realesr-animevideov3-x2"]  # a small real model where the model itself is not the point


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    return float(10 * np.log10(peak**2 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


def bare_ncnn_x4plus(image_u8: np.ndarray) -> np.ndarray:
    import ncnn

    param, weights = ModelStore().locate(default_registry().get("realesrgan-x4plus"))
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.load_param(str(param))
    net.load_model(str(weights))
    chw = np.ascontiguousarray((image_u8 / 255.0).astype(np.float32).transpose(2, 0, 1))
    extractor = net.create_extractor()
    extractor.input("data", ncnn.Mat(chw))
    _, out = extractor.extract("output")
    return np.clip(np.array(out).transpose(1, 2, 0), 0, 1) * 255.0


def test_parity_with_a_direct_ncnn_run(tmp_path, astronaut):
    crop = astronaut[20:68, 180:228]
    Image.fromarray(crop).save(tmp_path / "in.png")
    result = invoke("upscale", tmp_path / "in.png", "-o", tmp_path / "out.png", "--quiet")
    assert result.exit_code == 0, result.output
    ours = np.asarray(Image.open(tmp_path / "out.png"))
    assert ours.shape == (192, 192, 3)
    assert psnr(ours, bare_ncnn_x4plus(crop)) >= 45


def test_tiled_cli_run_matches_whole_image(tmp_path, astronaut):
    crop = astronaut[20:116, 180:276]  # 96 px: --tile 24 (¼ side) with the default overlap gives 2×2 tiles
    Image.fromarray(crop).save(tmp_path / "in.png")
    assert invoke("upscale", tmp_path / "in.png", "-o", tmp_path / "whole.png", "-q").exit_code == 0
    assert invoke("upscale", tmp_path / "in.png", "-o", tmp_path / "tiled.png", "--tile", "24", "-q").exit_code == 0
    whole, tiled = (np.asarray(Image.open(tmp_path / n)) for n in ("whole.png", "tiled.png"))
    assert not np.array_equal(whole, tiled)  # really tiled
    assert psnr(whole, tiled) >= 45


def test_json_summary_and_scale(tmp_path, coffee):
    Image.fromarray(coffee[:30, :40]).save(tmp_path / "c.jpg", quality=95)
    result = invoke("upscale", tmp_path / "c.jpg", "--scale", "3", "--json", *FAST)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["output_size"] == [120, 90] and summary["input_size"] == [40, 30]
    assert summary["model"] == "realesr-animevideov3-x2" and summary["scale"] == 3
    assert Path(summary["output"]) == tmp_path / "c_x3.jpg" and summary["seconds"] > 0
    assert Image.open(summary["output"]).size == (120, 90)


def test_metadata_survives(tmp_path, chelsea):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90° clockwise on display
    exif[0x010F] = "Revive Test Camera"
    Image.fromarray(chelsea[:24, :32]).save(tmp_path / "cat.jpg", quality=95, icc_profile=icc, dpi=(300, 300),
                                            exif=exif.tobytes())
    assert invoke("upscale", tmp_path / "cat.jpg", "-o", tmp_path / "cat.png", "-q", *FAST).exit_code == 0
    out = Image.open(tmp_path / "cat.png")
    assert out.size == (48, 64)  # orientation applied: 32×24 displayed as 24×32, then ×2
    assert out.info.get("icc_profile") == icc
    assert tuple(round(v) for v in out.info["dpi"]) == (300, 300)
    out_exif = out.getexif()
    assert out_exif.get(0x0112, 1) == 1 and out_exif.get(0x010F) == "Revive Test Camera"


def test_alpha_gray_and_16bit_round_trips(tmp_path, astronaut):
    rgba = np.dstack([astronaut[:20, :20], np.linspace(0, 255, 400).reshape(20, 20).astype(np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    Image.fromarray(astronaut[:20, :20, 1]).save(tmp_path / "g.png")
    deep = (astronaut[:20, :20].astype(np.uint16) * 257 + 3).astype(np.uint16)
    imageio.write(Photo.from_array(deep), tmp_path / "d.png")
    result = invoke("upscale", tmp_path / "a.png", tmp_path / "g.png", tmp_path / "d.png", "-o", tmp_path / "out",
                    "-q", *FAST)
    assert result.exit_code == 0, result.output
    a = imageio.read(tmp_path / "out" / "a_x2.png")
    assert a.alpha is not None and a.alpha.shape == (40, 40)
    g = imageio.read(tmp_path / "out" / "g_x2.png")
    assert g.is_gray
    d = imageio.read(tmp_path / "out" / "d_x2.png")
    assert d.meta.bit_depth == 16
    levels = np.unique(np.round(d.pixels * 65535).astype(np.int64) % 257)
    assert len(levels) > 50  # values between the 8-bit steps: no 8-bit detour


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("empty.png", b"", "empty"),
        ("text.jpg", b"hello, this is not a photo\n" * 10, "not an image"),
        ("truncated.jpg", None, "truncated"),
        ("pdf.png", b"%PDF-1.7\n" + b"0" * 200, "PDF"),
    ],
)
def test_bad_inputs_get_one_clear_line_and_no_output(tmp_path, astronaut, name, content, message):
    path = tmp_path / name
    if content is None:
        Image.fromarray(astronaut[:64, :64]).save(path, quality=90)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.write_bytes(content)
    result = invoke("upscale", path, "-o", tmp_path / "out.png", *FAST)
    assert result.exit_code == 1
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"revive: error: {path}: ") and message in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "out.png").exists()
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no partial or temporary files


def test_bomb_is_refused_and_limit_can_be_raised(tmp_path, astronaut):
    Image.fromarray(astronaut[:40, :50]).save(tmp_path / "big.png")
    result = invoke("upscale", tmp_path / "big.png", "--max-pixels", "1000", *FAST)
    assert result.exit_code == 1 and "--max-pixels" in result.stderr
    assert invoke("upscale", tmp_path / "big.png", "--max-pixels", "2000", "-q", *FAST).exit_code == 0


def test_several_files_one_bad_the_rest_still_run(tmp_path, astronaut, coffee):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(astronaut[:16, :16]).save(src / "a.png")
    Image.fromarray(coffee[:16, :16]).save(src / "a.jpg")  # same stem: names must not collide
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    (src / "notes.txt").write_text("ignored: not an image extension")
    result = invoke("upscale", src, "-o", tmp_path / "out", "--json", *FAST)
    assert result.exit_code == 1
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(Path(r["output"]).name for r in rows if "output" in r) == ["a_x2.jpg", "a_x2.png"]
    assert [Path(r["input"]).name for r in rows if "error" in r] == ["broken.png"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_x2.jpg", "a_x2.png"]


def test_collisions_within_one_job_get_distinct_names(tmp_path, astronaut):
    Image.fromarray(astronaut[:16, :16]).save(tmp_path / "a.png")
    Image.fromarray(astronaut[16:32, :16]).save(tmp_path / "a.jpg")
    result = invoke("upscale", tmp_path / "a.png", tmp_path / "a.jpg", "-o", tmp_path / "o", "-f", "png", "-q", *FAST)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["a_x2-1.png", "a_x2.png"]


def test_existing_output_and_the_input_are_protected(tmp_path, astronaut):
    Image.fromarray(astronaut[:16, :16]).save(tmp_path / "a.png")
    (tmp_path / "out.png").write_bytes(b"keep me")
    result = invoke("upscale", tmp_path / "a.png", "-o", tmp_path / "out.png", *FAST)
    assert result.exit_code == 1 and "--overwrite" in result.stderr
    assert (tmp_path / "out.png").read_bytes() == b"keep me"
    assert invoke("upscale", tmp_path / "a.png", "-o", tmp_path / "out.png", "--overwrite", "-q", *FAST).exit_code == 0
    assert Image.open(tmp_path / "out.png").size == (32, 32)
    before = (tmp_path / "a.png").read_bytes()
    result = invoke("upscale", tmp_path / "a.png", "-o", tmp_path / "a.png", "--overwrite", *FAST)
    assert result.exit_code == 1 and "input" in result.stderr
    assert (tmp_path / "a.png").read_bytes() == before


def test_unwritable_output_folder(tmp_path, astronaut):
    Image.fromarray(astronaut[:16, :16]).save(tmp_path / "a.png")
    (tmp_path / "file").write_text("a file, not a folder")
    result = invoke("upscale", tmp_path / "a.png", "-o", tmp_path / "file" / "out.png", *FAST)
    assert result.exit_code == 1 and "revive: error:" in result.stderr


@pytest.mark.parametrize("args", [["--tile", "huge"], ["--scale", "-2"], ["--format", "gif"], ["--model", "nope"],
                                  ["--device", "quantum"]])
def test_usage_errors(tmp_path, astronaut, args):
    Image.fromarray(astronaut[:16, :16]).save(tmp_path / "a.png")
    result = invoke("upscale", tmp_path / "a.png", *args)
    assert result.exit_code in (1, 2) and "Traceback" not in result.output
    assert result.exit_code == (1 if args[0] in ("--model", "--device") else 2)


def test_progress_shows_each_phase_tiles_and_eta_on_a_terminal(monkeypatch):
    import io

    from rich.console import Console

    from revive.cli import common

    screen = io.StringIO()
    monkeypatch.setattr(common, "err_console", Console(file=screen, force_terminal=True, width=120))
    display = common.EventDisplay(enabled=True)
    display(api.JobEvent("phase", 1, 2, "photo.jpg", phase="reading"))
    assert display._progress is not None  # shown from the first moment, before any tile
    for done in range(1, 5):
        display(api.JobEvent("progress", 1, 2, "photo.jpg", phase="upscale", done=done, of=4, eta=8.0 - 2 * done))
    display.close()
    text = screen.getvalue()
    assert "[1/2] photo.jpg · upscale" in text and "4/4 tiles" in text and "ETA" in text
    quiet = common.EventDisplay(enabled=False)
    quiet(api.JobEvent("phase", 1, 1, "photo.jpg", phase="reading"))
    assert quiet._progress is None


def test_folders_take_every_readable_extension(tmp_path, astronaut):
    from revive.outputs import expand_inputs

    for name in ("a.PNG", "b.gif", "c.jfif", "d.jpe", "e.dib", "notes.txt", ".hidden.png"):
        (tmp_path / name).write_bytes(b"")
    files, many = expand_inputs([tmp_path])
    assert many and [p.name for p in files] == ["a.PNG", "b.gif", "c.jfif", "d.jpe", "e.dib"]


def test_nested_folders_mirror_under_the_output_folder(tmp_path):
    from revive.outputs import expand_inputs, plan_outputs

    scans = tmp_path / "scans"
    for rel in ("a.jpg", "2019/b.png", "2019/summer/c.tif", "2020/a.jpg", ".trash/x.png", "out/old_x4.png"):
        (scans / rel).parent.mkdir(parents=True, exist_ok=True)
        (scans / rel).write_bytes(b"")
    (scans / "2020" / "loop").symlink_to(scans)  # a link back up the tree is not followed twice
    flat, _ = expand_inputs([scans])
    assert [p.name for p in flat] == ["a.jpg"]  # not recursive unless asked
    files, _ = expand_inputs([scans], recursive=True, exclude=scans / "out")
    rel = [p.relative_to(scans).as_posix() for p in files]
    assert rel == ["a.jpg", "2019/b.png", "2019/summer/c.tif", "2020/a.jpg"]
    plans = plan_outputs(files, tmp_path / "up", output_is_dir=True, format=None, tag="x4", roots=[scans])
    assert [p.target.relative_to(tmp_path / "up").as_posix() for p in plans] == [
        "a_x4.jpg", "2019/b_x4.png", "2019/summer/c_x4.tiff", "2020/a_x4.jpg"]
    beside = plan_outputs(files, None, output_is_dir=True, format="png", tag="x4", roots=[scans])
    assert [p.target for p in beside] == [f.with_name(f"{f.stem}_x4.png") for f in files]


def test_a_bad_device_is_one_line_not_one_per_file(tmp_path, astronaut):
    for name in ("a.png", "b.png"):
        Image.fromarray(astronaut[:16, :16]).save(tmp_path / name)
    result = invoke("upscale", tmp_path / "a.png", tmp_path / "b.png", "-o", tmp_path / "out", "--device", "cuda",
                    *FAST)
    assert result.exit_code == 1
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "use --device cpu or gpu" in lines[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("when", ["tiles", "writing"])
def test_ctrl_c_leaves_no_output_and_no_temporary_file(tmp_path, astronaut, monkeypatch, when):
    import os

    from revive import api
    from revive.stages.upscale import UpscaleParams

    Image.fromarray(astronaut[:40, :40]).save(tmp_path / "in.png")

    def progress(stage: str, done: int, total: int) -> None:
        if when == "tiles" and done == 1:
            raise KeyboardInterrupt

    def fsync(fd: int) -> None:
        raise KeyboardInterrupt

    if when == "writing":
        monkeypatch.setattr(os, "fsync", fsync)
    request = api.UpscaleRequest(UpscaleParams(model="realesr-animevideov3-x2", tile=16))

    def on_event(event: api.JobEvent) -> None:
        if event.kind == "progress":
            progress(event.phase, event.done, event.of)

    with pytest.raises(KeyboardInterrupt):
        api.process(tmp_path / "in.png", request, tmp_path / "out" / "in_x2.png", on_event=on_event)
    leftovers = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert leftovers in (["in.png"], ["in.png", "out"])  # no output, no .in_x2.png.*.tmp


def test_output_folder_with_trailing_slash_and_nested_inputs(tmp_path, astronaut):
    Image.fromarray(astronaut[:16, :16]).save(tmp_path / "a.png")
    result = invoke("upscale", tmp_path / "a.png", "-o", f"{tmp_path / 'new'}/", "-q", *FAST)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "new" / "a_x2.png").is_file()
    scans = tmp_path / "scans"
    (scans / "2019").mkdir(parents=True)
    Image.fromarray(astronaut[:16, :16]).save(scans / "top.png")
    Image.fromarray(astronaut[16:32, :16]).save(scans / "2019" / "b.png")
    result = invoke("upscale", scans, "-o", tmp_path / "out", "-q", *FAST)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "top_x2.png").is_file() and (tmp_path / "out" / "2019" / "b_x2.png").is_file()


def test_ctrl_c_says_cancelled_and_exits_130(monkeypatch, capsys):
    import importlib

    app_module = importlib.import_module("revive.cli.app")

    def interrupted():
        raise KeyboardInterrupt

    def leave(code: int) -> None:  # main() leaves with os._exit: never run it for real inside pytest
        raise SystemExit(code)

    monkeypatch.setattr(app_module, "app", interrupted)
    monkeypatch.setattr(app_module.os, "_exit", leave)
    with pytest.raises(SystemExit) as exit_info:
        app_module.main()
    assert exit_info.value.code == 130
    assert "revive: cancelled" in capsys.readouterr().err


def test_rerunning_a_folder_in_place_does_not_process_its_own_outputs(tmp_path, astronaut):
    Image.fromarray(astronaut[:16, :16]).save(tmp_path / "a.png")
    assert invoke("upscale", tmp_path, "-q", *FAST).exit_code == 0
    assert invoke("upscale", tmp_path, "-q", "--overwrite", *FAST).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a_x2.png"]
    # named explicitly, an output is an input like any other
    assert invoke("upscale", tmp_path / "a_x2.png", "-q", *FAST).exit_code == 0
    assert (tmp_path / "a_x2_x2.png").is_file()


def test_error_lines_keep_brackets_and_never_crash_on_markup(tmp_path):
    weird = tmp_path / "scan[b]1 [/].png"
    result = invoke("upscale", weird, *FAST)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "scan[b]1 [/].png" in result.stderr
