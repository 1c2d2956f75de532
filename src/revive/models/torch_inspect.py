"""Read a PyTorch model file safely and say what it is (architecture, scale, purpose).

Nothing here runs code from a model file:

- TorchScript archives (a zip with ``constants.pkl`` or a ``code/`` folder) are refused before
  torch sees them: ``torch.load`` would hand them to ``torch.jit.load``, which runs their code.
- Pickles (``.pth .pt .ckpt .bin``) are read with the restricted unpickler of
  :mod:`revive.models.safe_pickle`, which only resolves the globals a weights file needs, the same
  ones torch's ``weights_only`` loader accepts (tensors, parameters, storages, dtypes, devices,
  plain containers, bytes), and checks every call's arguments, so nothing allocates by a size
  the file states; anything else, such as a ``__reduce__`` that calls ``os.system`` or a whole
  pickled ``nn.Module``, is refused before it is resolved, let alone called. Zip bombs and the
  pre-0.4 tar format are refused before torch reads them.
- ``.safetensors`` files hold only tensors.

The architecture is detected by spandrel from the weights' names and shapes. torch is imported
lazily, so the data tables below can be read without the ``torch`` extra.
"""

from __future__ import annotations

import functools
import tarfile
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import RuntimeUnavailable, UnsafeModel, UnsupportedModel
from .loaders import first_line
from .safe_pickle import Limits, Refused, RefusedGlobal, pickle_module
from .spec import Purpose

if TYPE_CHECKING:
    from spandrel import ArchRegistry, ModelDescriptor

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
DEFAULT_BYTES_PER_INPUT_PIXEL = 60_000

# Architectures of spandrel-extra-arches that revive has a stage for (inpainting). They join a copy
# of spandrel's registry, never spandrel's own (no import side effects on other users of spandrel).
# Architectures spandrel says run in bf16 but that cannot (both seen on an H200): LaMa's Fourier units
# call torch.fft, which has no bf16 kernels; MAT's mapping network makes float32 tensors of its own and
# multiplies them with bf16 weights. They run in float32 on GPUs.
NO_BFLOAT16_ARCHITECTURES = frozenset({"LaMa", "MAT"})
# Architectures whose published weights may not be used commercially: imported files are flagged so.
NON_COMMERCIAL_ARCHITECTURES: dict[str, str] = {"MAT": "CC BY-NC 4.0 (MAT's published weights)"}  # an unmeasured architecture: assume a heavy transformer


def bytes_per_input_pixel(architecture: str, scale: int, dtype_bytes: int = 4) -> int:
    """Working memory of one input pixel for ``architecture``, plus the float32 tile in and out."""
    base = BYTES_PER_INPUT_PIXEL.get(architecture, DEFAULT_BYTES_PER_INPUT_PIXEL)
    return base * dtype_bytes // 4 + 2 * 3 * 4 * (1 + scale * scale)


# Architectures revive takes from spandrel-extra-arches: the CodeFormer face restorer and the MAT inpainter.
# The package holds others whose purpose revive would misread ("Restoration" for colourisation).
EXTRA_ARCHITECTURES = ("CodeFormer", "MAT")


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

# Zip members torch writes are stored, not compressed; a little slack for archives that were repacked.
_MAX_INFLATION = 4


def _check_archive(path: Path) -> dict[str, int] | None:
    """For a zip-format file: refuse TorchScript and zip bombs; the size of each data record by key.

    None for the old (pre-1.6) pickle format. The pre-0.4 tar format is refused: torch reads its
    storage sizes from the file and allocates them before any check could run.
    """
    if tarfile.is_tarfile(path):
        raise UnsupportedModel(f"{path.name} is in PyTorch's pre-0.4 tar format, which revive does not read; "
                               "load and save it again with a recent torch")
    if not zipfile.is_zipfile(path):
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as err:
        raise UnsupportedModel(f"{path.name} is a damaged zip archive, not a PyTorch model ({err})") from None
    names = [m.filename for m in members]
    if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
        raise UnsafeModel(
            f"{path.name} is a TorchScript program, which runs its own code when loaded; revive only loads "
            "plain weights (a state_dict saved with torch.save, or .safetensors)"
        )
    declared = sum(m.file_size for m in members)
    if declared > _MAX_INFLATION * path.stat().st_size + (1 << 20) or any(
        m.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) for m in members
    ):
        raise UnsafeModel(f"{path.name} was refused: its members claim {declared} bytes, far more than the "
                          "archive can hold (a zip bomb?)")
    records = {}
    for m in members:
        root, _, rest = m.filename.partition("/")
        folder, _, key = rest.partition("/")
        if root and folder == "data" and key and "/" not in key:
            records[key] = m.file_size
    return records


def _load_pickle(path: Path) -> Any:
    import torch

    records = _check_archive(path)
    limits = Limits(file_size=path.stat().st_size, records=records)
    try:
        return torch.load(path, map_location="cpu", pickle_module=pickle_module(limits), weights_only=False)
    except RefusedGlobal as err:
        raise UnsafeModel(
            f"{path.name} was refused: it asks for the Python object {err.qualified}, which a weights file never "
            "needs and which could run code when loaded; only plain state_dicts are accepted"
        ) from None
    except Refused as err:
        raise UnsafeModel(f"{path.name} was refused: {err}; a weights file never does that") from None
    except ImportError as err:  # a dependency, not the file
        raise RuntimeUnavailable(f"{path.name}: not supported: needs {err.name or err} "
                                 "(pip install \"revive-photo[torch]\")") from None
    except Exception as err:  # a damaged or foreign file fails in many ways (even MemoryError on a bogus length)
        raise UnsupportedModel(f"{path.name} is not a readable PyTorch weights file ({first_line(err)})") from None


def _load_safetensors(path: Path) -> Any:
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except Exception as err:  # SafetensorError, OSError… for a damaged file
        raise UnsupportedModel(f"{path.name} is not a readable .safetensors file ({first_line(err)})") from None


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


@functools.cache
def architectures() -> ArchRegistry:
    """spandrel's architectures plus :data:`EXTRA_ARCHITECTURES` when spandrel-extra-arches is installed."""
    from spandrel import MAIN_REGISTRY, ArchRegistry

    registry = ArchRegistry()
    registry.add(*MAIN_REGISTRY)
    try:
        from spandrel_extra_arches import EXTRA_REGISTRY
    except ImportError:
        return registry
    registry.add(*(a for a in EXTRA_REGISTRY if a.architecture.id in EXTRA_ARCHITECTURES), ignore_duplicates=True)
    return registry


def load_descriptor(path: Path | str) -> ModelDescriptor:
    """Read ``path`` safely and build its spandrel model on the CPU, in float32, in eval mode."""
    from spandrel import UnsupportedModelError

    path = Path(path)
    state_dict = read_state_dict(path)
    _install_extra_architectures()
    try:
        with warnings.catch_warnings():  # spandrel's architectures warn about torch idioms, not about the file
            warnings.simplefilter("ignore", UserWarning)
            descriptor = architectures().load(state_dict)
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
        raise UnsupportedModel(f"{path.name}: the weights do not fit any known architecture ({first_line(err)})") from None
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
        "takes_mask": descriptor.purpose == "Inpainting",
        "non_commercial": descriptor.architecture.id in NON_COMMERCIAL_ARCHITECTURES,
        "license": NON_COMMERCIAL_ARCHITECTURES.get(descriptor.architecture.id),
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
