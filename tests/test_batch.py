"""Batch (issue 14): a folder of real photos with a corrupt file, an empty file and a non-image among
them, run locally (in process and with worker processes) and on a local Ray with 2 CPUs — the
same outputs; killed with SIGKILL mid-run and rerun — every output once, whole, as a clean run's."""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from conftest import photo_u8
from PIL import Image
from typer.testing import CliRunner

from revive import api
from revive.cli import app

REPO = Path(__file__).resolve().parents[1]
MODEL = "realesr-animevideov3-x2"  # embedded ncnn model: a real network, fast on tiny crops
REQUEST = api.UpscaleRequest(api.UpscaleParams(model=MODEL))
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "cat")
BAD = {"broken.jpg": "corrupt", "empty.png": "empty", "notes.png": "not an image"}
runner = CliRunner()


def make_folder(root: Path, side: int = 48, copies: int = 1) -> Path:
    """Crops of real photos (PNG at the top, JPEG in a subfolder), plus the bad files and a text file."""
    folder = root / "in"
    (folder / "sub").mkdir(parents=True)
    for n in range(copies):
        for i, name in enumerate(PHOTOS):
            img = photo_u8(name)
            y, x = 40 + 17 * i + 5 * n, 60 + 11 * i + 7 * n
            crop = img[y:y + side, x:x + side + 8]
            Image.fromarray(crop).save(folder / f"{name}{n or ''}.png")
            Image.fromarray(crop[::-1]).save(folder / "sub" / f"{name}{n or ''}.jpg", quality=92)
    (folder / "broken.jpg").write_bytes((folder / "sub" / "coffee.jpg").read_bytes()[:400])
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.png").write_text("a shopping list, not a photo\n")
    (folder / "readme.txt").write_text("not an image by name: never listed")
    return folder


def outputs(out: Path) -> dict[str, Path]:
    """The output images by relative name (the batch's own state and reports left out)."""
    return {p.relative_to(out).as_posix(): p for p in sorted(out.rglob("*"))
            if p.is_file() and ".revive-batch" not in p.parts and not p.name.startswith(("revive-batch.", "."))}


_TIMES = re.compile(rb"<revive:(Started|Finished)>[^<]*</revive:(?:Started|Finished)>")


def canonical(path: Path) -> list[bytes] | bytes:
    """The file's bytes with the XMP record's two timestamps blanked (they say when, so two runs differ
    there); a PNG as its chunks without CRCs, since the CRC covers those timestamps."""
    data = path.read_bytes()
    if not data.startswith(b"\x89PNG"):
        return _TIMES.sub(rb"<revive:\1/>", data)
    chunks, pos = [], 8
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        crc = int.from_bytes(data[pos + 8 + length:pos + 12 + length], "big")
        assert crc == zlib.crc32(kind + body), f"{path}: damaged {kind!r} chunk"
        chunks.append(kind + _TIMES.sub(rb"<revive:\1/>", body))
        pos += 12 + length
    return chunks


def assert_same_outputs(a: Path, b: Path) -> None:
    left, right = outputs(a), outputs(b)
    assert sorted(left) == sorted(right)
    for name in left:
        assert canonical(left[name]) == canonical(right[name]), name
        with Image.open(left[name]) as im:
            im.load()


def journal(out: Path) -> list[dict]:
    path = out / ".revive-batch" / "journal.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return make_folder(tmp_path_factory.mktemp("batch"))


@pytest.fixture(scope="module")
def clean_run(photos, tmp_path_factory) -> tuple[Path, api.BatchSummary]:
    out = tmp_path_factory.mktemp("clean") / "out"
    summary = api.run_batch(photos, out, REQUEST, api.BatchOptions(recursive=True))
    return out, summary


def test_bad_files_fail_alone_and_outputs_mirror_the_input_tree(photos, clean_run):
    out, summary = clean_run
    assert summary.total == 2 * len(PHOTOS) + len(BAD)
    assert sorted(summary.done) == sorted([f"{n}.png" for n in PHOTOS] + [f"sub/{n}.jpg" for n in PHOTOS])
    reasons = dict(summary.failed)
    assert sorted(reasons) == sorted(BAD)
    for name, word in BAD.items():
        assert word in reasons[name], reasons[name]
    assert sorted(outputs(out)) == sorted([f"{n}_x2.png" for n in PHOTOS] + [f"sub/{n}_x2.jpg" for n in PHOTOS])
    with Image.open(out / "sub" / "coffee_x2.jpg") as im, Image.open(photos / "sub" / "coffee.jpg") as src:
        assert im.size == (2 * src.width, 2 * src.height)
    assert not summary.ok and summary.to_dict()["failed"] == len(BAD)


def test_the_report_shows_every_photo_with_thumbnails_timings_and_fidelity(clean_run):
    out, summary = clean_run
    report = json.loads((out / "revive-batch.json").read_text())
    items = {i["name"]: i for i in report["items"]}
    assert report["done"] == len(summary.done) and report["failed"] == len(BAD)
    good = items["coffee.png"]
    assert good["status"] == "done" and good["output"] == "coffee_x2.png" and good["seconds"] > 0
    assert 25 < good["psnr"] < 60 and 0.5 < good["ssim"] <= 1.0  # a faithful x2: close to the input when shrunk
    assert items["empty.png"]["status"] == "failed" and "empty" in items["empty.png"]["error"]
    page = (out / "revive-batch.html").read_text()
    assert page.count("data:image/jpeg;base64,") == 2 * len(summary.done)  # before and after for each
    assert "http://" not in page and "https://" not in page  # self-contained
    assert "broken.jpg" in page and "coffee_x2.png" in page


def test_a_rerun_skips_what_is_done_and_redoes_what_changed(photos, clean_run, tmp_path):
    out = tmp_path / "out"
    first = api.run_batch(photos, out, REQUEST, api.BatchOptions(recursive=True))
    assert len(first.done) == 2 * len(PHOTOS)
    again = api.run_batch(photos, out, REQUEST, api.BatchOptions(recursive=True))
    assert again.done == [] and len(again.skipped) == 2 * len(PHOTOS) and len(again.failed) == len(BAD)

    changed = tmp_path / "in"
    changed.mkdir()
    for p in photos.glob("*.png"):
        (changed / p.name).write_bytes(p.read_bytes())
    out2 = tmp_path / "out2"
    api.run_batch(changed, out2, REQUEST)
    os.utime(changed / "coffee.png", ns=(1, 1))  # touched, same content: still done
    Image.fromarray(photo_u8("coffee")[:40, :40]).save(changed / "chelsea.png")  # new content: redone
    (out2 / "rocket_x2.png").unlink()  # output deleted: made again
    third = api.run_batch(changed, out2, REQUEST)
    assert sorted(third.done) == ["chelsea.png", "rocket.png"]
    with Image.open(out2 / "chelsea_x2.png") as im:
        assert im.size == (80, 80)
    scaled = api.run_batch(changed, out2, api.UpscaleRequest(api.UpscaleParams(model=MODEL, scale=3)))
    assert len(scaled.done) == len(PHOTOS)  # new settings: everything again
    with Image.open(out2 / "coffee_x3.png") as im:
        assert im.size[0] == 3 * 56


def test_a_file_in_the_way_is_kept_unless_overwrite(photos, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "coffee.png").write_bytes((photos / "coffee.png").read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    (out / "coffee_x2.png").write_bytes(b"the user's own file")
    summary = api.run_batch(folder, out, REQUEST)
    assert "already exists" in summary.failed[0][1] and (out / "coffee_x2.png").read_bytes() == b"the user's own file"
    summary = api.run_batch(folder, out, REQUEST, api.BatchOptions(overwrite=True))
    assert summary.done == ["coffee.png"] and Image.open(out / "coffee_x2.png").size == (112, 96)


def test_one_batch_per_output_folder_and_a_dead_holder_is_detected(photos, tmp_path):
    out = tmp_path / "out"
    lock = out / ".revive-batch" / "lock"
    lock.parent.mkdir(parents=True)
    import socket

    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "since": "now"}))
    with pytest.raises(api.ReviveError, match=f"process {os.getpid()}"):
        api.run_batch(photos, out, REQUEST)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": gone.pid, "since": "then"}))
    summary = api.run_batch(photos, out, REQUEST)
    assert len(summary.done) == len(PHOTOS) and not lock.exists()


def test_worker_processes_give_the_same_outputs(photos, clean_run, tmp_path):
    out = tmp_path / "out"
    summary = api.run_batch(photos, out, REQUEST, api.BatchOptions(recursive=True, workers=2))
    assert len(summary.done) == 2 * len(PHOTOS) and sorted(dict(summary.failed)) == sorted(BAD)
    workers = {e["worker"] for e in journal(out) if e["event"] == "done"}
    assert len(workers) == 2  # two processes, each with its own engine
    assert_same_outputs(clean_run[0], out)


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] not in "ZX"


def children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat(int(stat.parent.name))
        if fields is not None and int(fields[1]) == pid and fields[0] not in "ZX":
            found.append(int(stat.parent.name))
    return found


def test_a_worker_process_that_dies_costs_its_photos_a_retry(photos, clean_run, tmp_path):
    killed: list[int] = []
    retried: list[str] = []

    def kill_a_worker(event: api.BatchEvent) -> None:
        if event.kind == "retry":
            retried.append(event.name)
        if event.kind == "done" and not killed:
            pool = [p for p in children(os.getpid()) if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
            killed.append(pool[0])
            os.kill(pool[0], signal.SIGKILL)

    out = tmp_path / "out"
    summary = api.run_batch(photos, out, REQUEST, api.BatchOptions(recursive=True, workers=2), on_event=kill_a_worker)
    assert killed and retried
    assert len(summary.done) == 2 * len(PHOTOS) and sorted(dict(summary.failed)) == sorted(BAD)
    assert_same_outputs(clean_run[0], out)


@pytest.fixture(scope="module")
def local_ray():
    try:
        import ray
    except ImportError:
        pytest.fail('the Ray engine needs Ray: pip install ".[ray]" (.ci/run installs it)')
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


def test_ray_gives_the_same_outputs_as_the_local_engine(photos, clean_run, tmp_path, local_ray):
    out = tmp_path / "out"
    summary = api.run_batch(photos, out, REQUEST, api.BatchOptions(recursive=True, engine="ray", workers=2))
    assert len(summary.done) == 2 * len(PHOTOS) and sorted(dict(summary.failed)) == sorted(BAD)
    assert_same_outputs(clean_run[0], out)
    report = json.loads((out / "revive-batch.json").read_text())
    assert report["engine"] == "ray" and len({i["worker"] for i in report["items"] if "worker" in i}) == 2


def test_ray_retries_a_lost_worker_not_a_bad_photo(photos, clean_run, tmp_path, local_ray):
    out = tmp_path / "out"
    killed: list[int] = []

    def kill_an_actor(event: api.BatchEvent) -> None:
        if event.kind == "done" and not killed:  # the actor that just finished a photo has its next one
            pid = int(next(e["worker"] for e in journal(out) if e["event"] == "done").rsplit(":", 1)[1])
            killed.append(pid)
            os.kill(pid, signal.SIGKILL)

    summary = api.run_batch(photos, out, REQUEST, api.BatchOptions(recursive=True, engine="ray", workers=2),
                            on_event=kill_an_actor)
    assert killed and len(summary.done) == 2 * len(PHOTOS) and sorted(dict(summary.failed)) == sorted(BAD)
    workers = {e["worker"] for e in journal(out) if e["event"] == "done"}
    assert len(workers) >= 3, workers  # the killed actor's photos were finished by its restarted self
    assert_same_outputs(clean_run[0], out)


def _batch_process(folder: Path, out: Path, workers: int, stderr: int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen([sys.executable, "-m", "revive.cli", "batch", str(folder), str(out), "-r", "-q",
                             "--op", "upscale", "--model", MODEL, "--workers", str(workers)], env=env,
                            stderr=stderr)


def _kill_after(proc: subprocess.Popen[bytes], out: Path, done: int, how: int = signal.SIGKILL) -> int:
    """Signal the batch once the journal holds ``done`` finished photos; returns how many it held."""
    path = out / ".revive-batch" / "journal.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists() and path.read_bytes().count(b'"event": "done"') >= done:
            break
        time.sleep(0.005)
    pool = children(proc.pid)
    proc.send_signal(how)
    proc.wait(timeout=60)
    assert proc.returncode in (-signal.SIGKILL, 128 + signal.SIGTERM), "the batch ended before it could be killed"
    deadline = time.monotonic() + 10
    while any(alive(p) for p in pool):
        assert time.monotonic() < deadline, "worker processes outlived the killed batch"
        time.sleep(0.05)
    return path.read_bytes().count(b'"event": "done"')


def test_killed_with_sigkill_mid_run_a_rerun_finishes_as_a_clean_run(tmp_path):
    folder = make_folder(tmp_path, side=80, copies=2)
    clean = tmp_path / "clean"
    total = api.run_batch(folder, clean, REQUEST, api.BatchOptions(recursive=True))
    good = len(total.done)
    out = tmp_path / "out"
    # killed twice: with two worker processes (they die with it), then alone
    held = [_kill_after(_batch_process(folder, out, workers), out, done) for workers, done in ((2, 2), (1, 12))]
    assert held[0] < held[1] < good, held
    rerun = subprocess.run([sys.executable, "-m", "revive.cli", "batch", str(folder), str(out), "-r", "--json",
                            "--op", "upscale", "--model", MODEL], env={**os.environ, "PYTHONPATH": str(REPO / "src")},
                           capture_output=True, timeout=120)
    summary = json.loads(rerun.stdout)
    assert rerun.returncode == 1 and summary["failed"] == len(BAD)
    assert summary["skipped"] + summary["done"] == good and summary["skipped"] >= held[1]
    assert_same_outputs(clean, out)
    done = [e["name"] for e in journal(out) if e["event"] == "done"]
    assert len(done) == len(set(done)) == good  # each photo finished exactly once
    assert not [p for p in out.rglob("*") if p.name.endswith((".tmp", ".part"))]
    assert not (out / ".revive-batch" / "lock").exists()


def test_sigterm_stops_cleanly_with_a_report_of_what_was_done(tmp_path):
    folder = make_folder(tmp_path, side=96, copies=2)
    out = tmp_path / "out"
    proc = _batch_process(folder, out, 1, stderr=subprocess.PIPE)
    held = _kill_after(proc, out, 3, signal.SIGTERM)
    assert proc.returncode == 128 + signal.SIGTERM and b"revive: cancelled" in proc.stderr.read()
    report = json.loads((out / "revive-batch.json").read_text())
    statuses = [i["status"] for i in report["items"]]
    assert statuses.count("done") == held and "not run" in statuses
    assert not (out / ".revive-batch" / "lock").exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    rest = api.run_batch(folder, out, REQUEST, api.BatchOptions(recursive=True))
    assert len(rest.skipped) == held and len(rest.skipped) + len(rest.done) == 4 * len(PHOTOS)


def test_what_a_kill_can_leave_behind_is_cleaned_up_by_the_rerun(photos, clean_run, tmp_path):
    """The states a kill can leave, made on purpose: an output in place whose journal line was never
    written, a temporary file of a write cut short, a torn last journal line, a dead holder's lock."""
    import socket

    out = tmp_path / "out"
    api.run_batch(photos, out, REQUEST)
    path = out / ".revive-batch" / "journal.jsonl"
    lines = [ln for ln in path.read_text().splitlines() if not ('"done"' in ln and '"coffee.png"' in ln)]
    path.write_text("\n".join(lines) + '\n{"event": "done", "name": "rock')
    (out / ".rocket_x2.png.k3j4h5g6.tmp").write_bytes(b"\x89PNG half")
    (out / ".revive-batch.html.a1b2c3d4.tmp").write_text("<html>half")
    (out / ".revive-batch" / "thumbs" / ".0123-after.jpg.zz_9yy8x.tmp").write_bytes(b"\xff\xd8")
    (out / ".notes.txt.12345678.tmp").write_text("not ours: no output of this batch is called notes.txt")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (out / ".revive-batch" / "lock").write_text(json.dumps({"host": socket.gethostname(), "pid": gone.pid}))
    summary = api.run_batch(photos, out, REQUEST)
    assert summary.done == ["coffee.png"] and len(summary.skipped) == len(PHOTOS) - 1
    left = [p.name for p in out.rglob("*.tmp")]
    assert left == [".notes.txt.12345678.tmp"] and not (out / ".revive-batch" / "lock").exists()
    for name, image in outputs(out).items():
        assert canonical(image) == canonical(clean_run[0] / name), name


def test_every_operation_runs_in_batch_from_text_options(photos, tmp_path):
    result = runner.invoke(app, ["batch", str(photos), str(tmp_path / "d"), "--op", "diagnose", "--json"])
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert result.exit_code == 1 and summary["done"] == len(PHOTOS) and summary["failed"] == len(BAD)
    report = json.loads((tmp_path / "d" / "revive-batch.json").read_text())
    noise = [i["details"]["noise"] for i in report["items"] if i["status"] == "done"]
    assert len(noise) == len(PHOTOS) and all(isinstance(n, dict) for n in noise)
    assert outputs(tmp_path / "d") == {}  # diagnose writes no images

    result = runner.invoke(app, ["batch", str(photos), str(tmp_path / "u"), "--op", "upscale", "--model", MODEL,
                                 "--set", "scale=1.5", "--set", "tile_overlap=8", "-q"])
    assert result.exit_code == 1
    with Image.open(tmp_path / "u" / "coffee_x1.5.png") as im:
        assert im.size == (84, 72)
    result = runner.invoke(app, ["batch", str(photos), str(tmp_path / "x"), "--op", "upscale", "--strength", "0.5"])
    assert result.exit_code == 2 and "unknown option for UpscaleRequest: strength" in result.stderr
    result = runner.invoke(app, ["batch", str(photos), str(tmp_path / "x"), "--op", "paint"])
    assert result.exit_code == 2 and "no operation named 'paint'" in result.stderr


def test_batch_modules_import_only_what_is_below_them():
    problems = []
    for path in (REPO / "src" / "revive" / "batch").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 2 and node.module in ("api", "cli"):
                problems.append(f"{path.name}: from ..{node.module}")
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("ray"):
                assert path.name == "ray_engine.py", f"{path.name} imports Ray"
            if isinstance(node, ast.Import) and any(a.name == "ray" for a in node.names):
                assert path.name == "ray_engine.py", f"{path.name} imports Ray"
    assert not problems, problems


@pytest.mark.parametrize("options, reason", [
    ({"device": " "}, "device must be a name like auto, cpu or gpu"),
    ({"threads": 0}, "threads must be a whole number"),
    ({"threads": 10**6}, "threads must be a whole number"),
    ({"memory": 1 << 20}, "a memory budget below 256 MiB"),
])
def test_engine_options_a_worker_would_refuse_are_refused_before_the_batch(photos, tmp_path, options, reason):
    """Refused inside a pool worker they read as "a worker process died" for every photo: refused up front."""
    with pytest.raises(api.InvalidParameter, match=reason):
        api.run_batch(photos, tmp_path / "out", REQUEST, api.BatchOptions(workers=2, **options))
    assert not (tmp_path / "out").exists()


def test_the_cli_says_why_a_worker_option_is_refused_and_writes_nothing(photos, tmp_path):
    result = runner.invoke(app, ["batch", str(photos), str(tmp_path / "cli"), "--op", "upscale", "--workers", "2",
                                 "--device", " "])
    assert result.exit_code == 2 and "device must be a name like auto, cpu or gpu" in result.stderr
    assert "worker process died" not in result.output and not (tmp_path / "cli").exists()
