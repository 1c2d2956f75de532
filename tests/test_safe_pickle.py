"""Hand-built pickles that ask the loader to allocate by a size they state, or to run anything.

Each is refused before the allocation or call, with a sentence naming what it asked for; a
control built the same way but honest loads, so each refusal is the check's doing and not a
broken file. `revive models add` turns every one into one line, exit 1, nothing stored.
"""

from __future__ import annotations

import array
import io
import pickle
import struct
import tarfile
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
from _hostile import one_line, revive, tree

from revive.errors import UnsafeModel, UnsupportedModel

torch = pytest.importorskip("torch")
pytest.importorskip("spandrel")
np = pytest.importorskip("numpy")

from revive.models.torch_inspect import read_state_dict  # noqa: E402

HUGE = 10**10  # 40 GB of float32, 10 GB of bytes: a test machine would notice


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REVIVE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


class Call:
    """Pickles as ``func(*args)``, then (with ``state``) a BUILD of that state onto the result."""

    def __init__(self, func: Any, *args: Any, state: Any = None) -> None:
        self.func, self.args, self.state = func, args, state

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.func, self.args) if self.state is None else (self.func, self.args, self.state)


class _Storage:
    """Stands for a storage in a hand-built pickle; the pickler writes a persistent id for it."""


STORAGE = _Storage()


def _pickle_with_storage(obj: Any, pid: tuple[Any, ...]) -> bytes:
    class Pickler(pickle.Pickler):
        def persistent_id(self, o: Any) -> Any:
            return pid if o is STORAGE else None

    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def tensor(size: tuple[int, ...] = (4,), stride: tuple[int, ...] = (1,), offset: int = 0, hooks: Any = None) -> Call:
    return Call(torch._utils._rebuild_tensor_v2, STORAGE, offset, size, stride, False, hooks or OrderedDict())


def zip_file(path: Path, obj: Any, numel: int = 4, record: bytes = bytes(16)) -> Path:
    """torch.save's zip layout, its data.pkl written by hand: one float32 storage, key "0"."""
    data = _pickle_with_storage(obj, ("storage", torch.FloatStorage, "0", "cpu", numel))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, payload in (("data.pkl", data), ("byteorder", b"little"), ("data/0", record), ("version", b"3\n")):
            z.writestr(f"archive/{name}", payload)
    return path


def legacy_file(path: Path, obj: Any, numel: int = 4) -> Path:
    """torch's pre-1.6 format, by hand: magic, version, system info, the pickle, its storage keys, the data."""
    data = _pickle_with_storage(obj, ("storage", torch.FloatStorage, "0", "cpu", numel, None))
    with open(path, "wb") as f:
        for part in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
            pickle.dump(part, f, protocol=2)
        f.write(data)
        pickle.dump(["0"], f, protocol=2)
        f.write(struct.pack("<q", 4) + bytes(16))
    return path


def plain(path: Path, obj: Any, protocol: int = 2) -> Path:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


# --- controls: honest files built the same ways load --------------------------------------------


@pytest.mark.parametrize("build", [zip_file, legacy_file], ids=["zip", "legacy"])
def test_the_hand_built_formats_load_when_honest(build: Any, tmp_path: Path) -> None:
    state = read_state_dict(build(tmp_path / "w.pth", {"w": tensor((2, 2), (2, 1))}))
    assert state["w"].shape == (2, 2) and float(state["w"].abs().sum()) == 0.0


@pytest.mark.parametrize("kwargs", [{}, {"_use_new_zipfile_serialization": False}, {"pickle_protocol": 4}],
                         ids=["zip", "legacy", "protocol-4"])
def test_real_weights_load(kwargs: dict[str, Any], tmp_path: Path) -> None:
    from spandrel.architectures.Compact import Compact

    net = Compact(num_feat=8, num_conv=2, upscale=2)
    net.register_buffer("scale_buf", torch.ones(3)[::2])  # a view with an offset and stride into a storage
    torch.save(net.state_dict(), tmp_path / "net.pth", **kwargs)
    state = read_state_dict(tmp_path / "net.pth")
    assert torch.equal(state["scale_buf"], torch.ones(2))
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())


# --- constructors that allocate by a size the file states ---------------------------------------


def _zeros_array() -> Any:
    return np.zeros(3)


@pytest.mark.parametrize(("obj", "says"), [
    (Call(bytearray, HUGE), "asks bytearray for 10000000000: only bytes are accepted, never a size"),
    (Call(bytes, HUGE), "bytes"),
    (Call(array.array, "d", b""), "array.array"),
    (Call(np.zeros, (HUGE,)), "numpy"),
    (np.zeros(3), "numpy"),  # numpy's own reduce: _reconstruct, an allocator by shape
    (Call(np.empty, HUGE), "numpy"),
    # torch's functions pickle as getattr(torch._C._VariableFunctions, "zeros"): refused at getattr
    (Call(torch.zeros, HUGE), "builtins.getattr"),
    (Call(torch.empty, HUGE), "builtins.getattr"),
    (Call(torch.full, (HUGE,), 1.0), "builtins.getattr"),
    (Call(torch.Tensor, HUGE), "torch.Tensor((10000000000,)), which allocates by a size the file states"),
    (Call(torch.nn.Parameter, HUGE), "not a tensor"),
    (Call(torch._tensor._rebuild_from_type_v2, torch.Tensor, torch.Tensor, (HUGE,), {}), "other than a tensor rebuilder"),
    (Call(torch.Tensor, state=(None, 0, (HUGE,), (1,))), "sets the state of a Tensor"),
    (Call(OrderedDict, HUGE), "container constructor"),
    (Call(torch.Size, [HUGE, "x"]), "torch.Size"),
    (Call(__import__("_codecs").encode, "x", "zlib_codec"), "latin-1"),
], ids=["bytearray", "bytes", "array", "numpy-zeros", "numpy-array", "numpy-empty", "torch-zeros", "torch-empty",
        "torch-full", "torch-Tensor", "Parameter", "from-type", "tensor-setstate", "OrderedDict", "Size", "codecs"])
def test_a_constructor_that_allocates_by_size_is_refused(obj: Any, says: str, tmp_path: Path) -> None:
    path = plain(tmp_path / "evil.pth", {"w": obj})
    with pytest.raises(UnsafeModel) as info:
        read_state_dict(path)
    assert "evil.pth was refused" in str(info.value) and says in str(info.value), str(info.value)


@pytest.mark.parametrize("qualified", ["torch.zeros", "torch.empty", "torch.ones", "numpy.empty", "builtins.bytes",
                                       "torch.nn.modules.conv.Conv2d", "os.system"])
def test_allocators_named_directly_are_refused_before_import(qualified: str, tmp_path: Path) -> None:
    """protocol 4, by hand: STACK_GLOBAL module name, then name(10**10)."""
    module, _, name = qualified.rpartition(".")
    text = lambda t: b"\x8c" + bytes([len(t)]) + t.encode()  # noqa: E731 - SHORT_BINUNICODE
    data = b"\x80\x04" + text(module) + text(name) + b"\x93\x8a\x05" + HUGE.to_bytes(5, "little") + b"\x85R."
    (tmp_path / "evil.pth").write_bytes(data)
    with pytest.raises(UnsafeModel, match=f"asks for the Python object {qualified}, which a weights file never needs"):
        read_state_dict(tmp_path / "evil.pth")


@pytest.mark.parametrize(("view", "says"), [
    ({"size": (10**6, 10**6), "stride": (10**6, 1)}, "a tensor of 1000000000000 elements over a storage of 4"),
    ({"size": (HUGE,), "stride": (0,)}, "a tensor of 10000000000 elements over a storage of 4"),  # broadcast
    ({"size": (2,), "stride": (1,), "offset": 3}, "a tensor of 2 elements over a storage of 4"),
    ({"size": (-4,), "stride": (1,)}, "a tensor's size is -4"),
    ({"size": (4,), "stride": (1,), "offset": -1}, "a tensor's offset is -1"),
    ({"size": (1,) * 40, "stride": (1,) * 40}, "at most 16 numbers"),
    ({"hooks": OrderedDict(a=1)}, "backward hooks"),
], ids=["absurd-size", "zero-stride", "past-the-end", "negative-size", "negative-offset", "too-many-dims", "hooks"])
@pytest.mark.parametrize("build", [zip_file, legacy_file], ids=["zip", "legacy"])
def test_a_tensor_larger_than_its_storage_is_refused(build: Any, view: dict[str, Any], says: str, tmp_path: Path) -> None:
    with pytest.raises(UnsafeModel, match="refused") as info:
        read_state_dict(build(tmp_path / "evil.pth", {"w": tensor(**view)}))
    assert says in str(info.value), str(info.value)


def test_a_storage_larger_than_its_record_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafeModel, match="a storage claims 40000000000 bytes but its data record holds 16"):
        read_state_dict(zip_file(tmp_path / "evil.pth", {"w": tensor()}, numel=HUGE))
    with pytest.raises(UnsafeModel, match="its storages claim 40000000000 bytes, more than the"):
        read_state_dict(legacy_file(tmp_path / "old.pth", {"w": tensor()}, numel=HUGE))  # torch allocates first


def test_pickle_lengths_and_memo_indexes_cannot_allocate(tmp_path: Path) -> None:
    # FRAME of a terabyte, BINBYTES8 of a petabyte: reads are bounded by what the file holds
    frame = b"\x80\x04\x95" + struct.pack("<Q", 1 << 40) + b"}."
    (tmp_path / "frame.pth").write_bytes(frame)
    with pytest.raises(UnsafeModel, match="asks to read 1099511627776 bytes where the file has"):
        read_state_dict(tmp_path / "frame.pth")
    (tmp_path / "bytes.pth").write_bytes(b"\x80\x04\x8e" + struct.pack("<Q", 1 << 50) + b".")
    with pytest.raises(UnsafeModel, match="asks to read 1125899906842624 bytes"):
        read_state_dict(tmp_path / "bytes.pth")
    # LONG_BINPUT at index 2^31-1: C pickle sizes its memo array by the index (16 GiB); here it is a dict
    (tmp_path / "memo.pth").write_bytes(b"\x80\x02]r\xff\xff\xff\x7f.")
    with pytest.raises(UnsupportedModel, match="Invalid magic number"):
        read_state_dict(tmp_path / "memo.pth")


def test_old_and_archive_formats_that_allocate_before_reading_are_refused(tmp_path: Path) -> None:
    with tarfile.open(tmp_path / "ancient.pth", "w") as tar:
        info = tarfile.TarInfo("storages")
        info.size = 8
        tar.addfile(info, io.BytesIO(struct.pack("<q", HUGE)))
    with pytest.raises(UnsupportedModel, match="pre-0.4 tar format"):
        read_state_dict(tmp_path / "ancient.pth")
    with zipfile.ZipFile(tmp_path / "bomb.pth", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", bytes(64 << 20))  # 64 MiB of zeros in a few KB
    with pytest.raises(UnsafeModel, match="zip bomb"):
        read_state_dict(tmp_path / "bomb.pth")


@pytest.mark.parametrize("obj", [
    Call(bytearray, HUGE),
    Call(torch.Tensor, HUGE),
    tensor((10**6, 10**6), (10**6, 1)),
], ids=["bytearray", "Tensor", "rebuild"])
def test_revive_models_add_refuses_in_one_line(obj: Any, tmp_path: Path) -> None:
    path = zip_file(tmp_path / "evil.pth", {"w": obj})
    before = tree(tmp_path)
    one_line(revive("models", "add", str(path), "--scale", "2"), "evil.pth was refused")
    assert tree(tmp_path) == before
