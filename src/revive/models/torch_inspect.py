"""Read a PyTorch model file safely and say what it is (architecture, scale, purpose).

Nothing here runs code from a model file:

- TorchScript archives (a zip with ``constants.pkl`` or a ``code/`` folder) are refused before
  torch sees them: ``torch.load`` would hand them to ``torch.jit.load``, which runs their code.
- Pickles (``.pth .pt .ckpt .bin``) are read with a restricted unpickler that only resolves the
  globals a weights file needs, the same ones torch's ``weights_only`` loader accepts (tensors,
  parameters, storages, dtypes, devices, plain containers, bytes); anything else, such as
  a ``__reduce__`` that calls ``os.system`` or a whole pickled ``nn.Module``, is refused before
  it is resolved, let alone called.
- ``.safetensors`` files hold only tensors.

The architecture is detected by spandrel from the weights' names and shapes. torch is imported
lazily, so the data tables below can be read without the ``torch`` extra.
"""

from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from ..errors import UnsafeModel, UnsupportedModel
from .spec import Purpose

if TYPE_CHECKING:
    from spandrel import ModelDescriptor

TORCH_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".safetensors")

# spandrel's purpose → revive's purpose.
PURPOSE_BY_SPANDREL: dict[str, Purpose] = {
    "SR": "upscale",
    "FaceSR": "restore-face",
    "Inpainting": "inpaint",
    "Restoration": "denoise",
}

# spandrel says only "Restoration" for ×1 models; what each architecture (by spandrel id) restores,
# where it is not denoising. None: revive has no stage for that task (dehazing, low light, deblurring).
RESTORATION_BY_ARCHITECTURE: dict[str, Purpose | None] = {
    "FBCNN": "deblock",
    "MixDehazeNet": None,
    "RetinexFormer": None,
    "HVICIDNet": None,
    "SAFMNBCIE": None,
    "FFTformer": None,
}

# Face restorers, by spandrel id: their networks take and give [-1, 1] and return a tuple whose first
# item is the face (spandrel's own call rescales for some and not for others, so revive calls the
# network). The value names the keyword of a fidelity knob, where the network has one.
FACE_FIDELITY_KEYWORD: dict[str, str | None] = {"GFPGAN": None, "RestoreFormer": None, "CodeFormer": "weight"}

# Peak working memory per input pixel of a tile, in bytes, at fp32 on the CPU, for each architecture
# (by spandrel id) in its usual configuration: peak RSS growth of one forward pass in a fresh
# process, ×1.25 (`python bench/runtimes.py --memory`; tiles of 64 px for the transformers, 512 for
# the face models, 128 otherwise). Half precision needs about half. The GPU check prints
# the measured CUDA figure for x4plus next to this estimate.
BYTES_PER_INPUT_PIXEL: dict[str, int] = {
    "ESRGAN": 17_500,  # 23 RRDB blocks, 64 features, ×4
    "Compact": 2_000,  # 32 convs, 64 features, ×4
    "SPAN": 8_500,
    "RealCUGAN": 12_000,
    "OmniSR": 13_000,
    "SwinIR": 14_500,  # classical SR, 180 dim, window 8
    "DAT": 12_500,  # full DAT (DAT-light needs less)
    "HAT": 53_500,
    "SCUNet": 7_000,
    "NAFNet": 1_200,
    "FBCNN": 4_000,
    "GFPGAN": 3_100,
    "RestoreFormer": 3_700,
    "CodeFormer": 3_700,
    "LaMa": 1_000,
}
DEFAULT_BYTES_PER_INPUT_PIXEL = 60_000  # an unmeasured architecture: assume a heavy transformer


def bytes_per_input_pixel(architecture: str, scale: int, dtype_bytes: int = 4) -> int:
    """Working memory of one input pixel for ``architecture``, plus the float32 tile in and out."""
    base = BYTES_PER_INPUT_PIXEL.get(architecture, DEFAULT_BYTES_PER_INPUT_PIXEL)
    return base * dtype_bytes // 4 + 2 * 3 * 4 * (1 + scale * scale)


# Architectures revive takes from spandrel-extra-arches (the optional "codeformer" extra): only the face
# restorer. The package holds others whose purpose revive would misread ("Restoration" for colourisation).
EXTRA_ARCHITECTURES = ("CodeFormer",)


def _install_extra_architectures() -> None:
    """Register EXTRA_ARCHITECTURES with spandrel once, when spandrel-extra-arches is installed."""
    try:
        with warnings.catch_warnings():  # one of its architectures uses torch.jit.script, which torch 2.14 deprecates
            warnings.simplefilter("ignore", FutureWarning)
            from spandrel_extra_arches import EXTRA_REGISTRY
    except ImportError:
        return
    from spandrel import MAIN_REGISTRY

    wanted = [EXTRA_REGISTRY[a] for a in EXTRA_ARCHITECTURES if a in EXTRA_REGISTRY and a not in MAIN_REGISTRY]
    if wanted:
        MAIN_REGISTRY.add(*wanted, ignore_duplicates=True)


# --- reading the file -----------------------------------------------------------------------------

# The only globals a weights pickle needs: the ones torch's own ``weights_only`` loader accepts (tensors,
# parameters, tensors carrying attributes, dtypes, devices, sizes, plain containers and bytes), each of
# which builds data and runs nothing else. Storage classes (torch.FloatStorage…) never reach this:
# torch.load's own unpickler wrapper resolves them first.
_DTYPES = (
    "float32", "float16", "bfloat16", "float64", "complex64", "complex128", "int64", "int32", "int16", "int8",
    "uint8", "uint16", "uint32", "uint64", "bool", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
)
_SAFE_GLOBALS = frozenset(
    {
        ("collections", "OrderedDict"),
        ("collections", "Counter"),
        ("typing", "OrderedDict"),
        ("builtins", "set"),
        ("builtins", "bytearray"),
        ("builtins", "complex"),
        ("_codecs", "encode"),  # how protocol-2 pickles spell bytes
        *(("torch._utils", f) for f in ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3",
                                        "_rebuild_parameter", "_rebuild_parameter_with_state")),
        ("torch._tensor", "_rebuild_from_type_v2"),  # a tensor with Python attributes
        ("torch", "Tensor"),
        ("torch.nn.parameter", "Parameter"),
        ("torch", "Size"),
        ("torch", "device"),
        *(("torch", dtype) for dtype in _DTYPES),
    }
)


class _RefusedGlobal(pickle.UnpicklingError):
    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.qualified = f"{module}.{name}"


class _WeightsUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _SAFE_GLOBALS:
            raise _RefusedGlobal(module, name)  # refused before the global is even imported
        return super().find_class(module, name)


_WEIGHTS_PICKLE = SimpleNamespace(
    Unpickler=_WeightsUnpickler,
    __name__="pickle",
    load=lambda *args, **kwargs: _WeightsUnpickler(*args, **kwargs).load(),
)


def _refuse_torchscript(path: Path) -> None:
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as err:
        raise UnsupportedModel(f"{path.name} is a damaged zip archive, not a PyTorch model ({err})") from None
    if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
        raise UnsafeModel(
            f"{path.name} is a TorchScript program, which runs its own code when loaded; revive only loads "
            "plain weights (a state_dict saved with torch.save, or .safetensors)"
        )


def _load_pickle(path: Path) -> Any:
    import torch

    _refuse_torchscript(path)
    try:
        return torch.load(path, map_location="cpu", pickle_module=_WEIGHTS_PICKLE, weights_only=False)
    except _RefusedGlobal as err:
        raise UnsafeModel(
            f"{path.name} was refused: it asks for the Python object {err.qualified}, which a weights file never "
            "needs and which could run code when loaded; only plain state_dicts are accepted"
        ) from None
    except Exception as err:  # a damaged or foreign file fails in many ways (even MemoryError on a bogus length)
        raise UnsupportedModel(f"{path.name} is not a readable PyTorch weights file ({_short(err)})") from None


def _load_safetensors(path: Path) -> Any:
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except Exception as err:  # SafetensorError, OSError… for a damaged file
        raise UnsupportedModel(f"{path.name} is not a readable .safetensors file ({_short(err)})") from None


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__


def read_state_dict(path: Path | str) -> dict[str, Any]:
    """The weights in ``path`` as a canonical spandrel state dict, read without running any code."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TORCH_SUFFIXES:
        raise UnsupportedModel(f"{path.name}: PyTorch models are {', '.join(TORCH_SUFFIXES)} files")
    if not path.is_file():
        raise UnsupportedModel(f"{path} is not a file")
    raw = _load_safetensors(path) if suffix == ".safetensors" else _load_pickle(path)
    if not isinstance(raw, dict):
        raise UnsupportedModel(f"{path.name} holds a {type(raw).__name__}, not a dictionary of weights")
    from spandrel import canonicalize_state_dict

    return canonicalize_state_dict(raw)


def load_descriptor(path: Path | str) -> ModelDescriptor:
    """Read ``path`` safely and build its spandrel model on the CPU, in float32, in eval mode."""
    from spandrel import MAIN_REGISTRY, UnsupportedModelError

    path = Path(path)
    state_dict = read_state_dict(path)
    _install_extra_architectures()
    try:
        with warnings.catch_warnings():  # spandrel's architectures warn about torch idioms, not about the file
            warnings.simplefilter("ignore", UserWarning)
            descriptor = MAIN_REGISTRY.load(state_dict)
    except UnsupportedModelError:
        import importlib.util

        import spandrel

        extra = "" if importlib.util.find_spec("spandrel_extra_arches") else (
            "; CodeFormer face models need pip install 'revive-photo[codeformer]'")
        raise UnsupportedModel(
            f"{path.name}: spandrel {spandrel.__version__} does not recognise this model's architecture, so revive "
            f"cannot run it (see https://github.com/chaiNNer-org/spandrel for the supported ones){extra}"
        ) from None
    except (KeyError, RuntimeError, ValueError, IndexError, AssertionError, TypeError) as err:
        # detection matched but the weights do not fit the architecture: damaged or an unknown variant
        raise UnsupportedModel(f"{path.name}: the weights do not fit any known architecture ({_short(err)})") from None
    descriptor.model.eval()
    return descriptor


# --- describing it --------------------------------------------------------------------------------


def purpose_of(descriptor: ModelDescriptor) -> Purpose | None:
    if descriptor.purpose == "Restoration":
        arch = descriptor.architecture.id
        if arch in RESTORATION_BY_ARCHITECTURE:
            return RESTORATION_BY_ARCHITECTURE[arch]
    return PURPOSE_BY_SPANDREL.get(descriptor.purpose)


def describe(descriptor: ModelDescriptor) -> dict[str, Any]:
    req = descriptor.size_requirements
    return {
        "architecture": descriptor.architecture.id,
        "architecture_name": descriptor.architecture.name,
        "scale": descriptor.scale,
        "purpose": purpose_of(descriptor),
        "spandrel_purpose": descriptor.purpose,
        "supports_half": descriptor.supports_half,
        "supports_bfloat16": descriptor.supports_bfloat16,
        "input_channels": descriptor.input_channels,
        "output_channels": descriptor.output_channels,
        "size_requirements": {"minimum": req.minimum, "multiple_of": req.multiple_of, "square": req.square},
        "tiling": descriptor.tiling.name.lower(),
        "tags": list(descriptor.tags),
    }


def inspect_torch_file(path: Path | str) -> dict[str, Any]:
    """What a PyTorch model file is, read without running any of its code.

    Keys: ``architecture`` (spandrel's architecture id, e.g. "DAT", "Compact"), ``architecture_name``
    (its display name, e.g. "RealESRGAN Compact"), ``scale``, ``purpose`` (a revive purpose, or None
    when revive has no stage for it), ``spandrel_purpose``, ``supports_half``,
    ``supports_bfloat16``, ``input_channels``, ``output_channels``, ``size_requirements``
    (``minimum``, ``multiple_of``, ``square``), ``tiling`` ("supported", "discouraged",
    "internal") and ``tags``.

    Raises :class:`UnsafeModel` for TorchScript or a pickle that needs more than weights, and
    :class:`UnsupportedModel` for anything spandrel does not know or a damaged file.
    """
    return describe(load_descriptor(path))
