"""Run any spandrel architecture on PyTorch: CUDA, Apple MPS or the CPU.

Files are read by :mod:`revive.models.torch_inspect`, which never runs code from them. What a
model can do (half precision, size requirements, tiling advice, purpose) comes from spandrel's
descriptor, never from its name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InvalidParameter, OutOfMemory, RuntimeUnavailable, UnsupportedModel
from .loaders import LoadOptions
from .spec import ExtraInput, ModelSpec, Tiling
from .torch_inspect import (
    FACE_FIDELITY_KEYWORD,
    NO_BFLOAT16_ARCHITECTURES,
    bytes_per_input_pixel,
    load_descriptor,
    purpose_of,
)

_DTYPE_BYTES = {torch.float32: 4, torch.float16: 2, torch.bfloat16: 2}
_TILING: dict[str, Tiling] = {"supported": "supported", "discouraged": "discouraged", "internal": "internal"}
# What an allocator says when it ran out (CPU, MPS, cuBLAS and cuDNN raise a plain RuntimeError).
_OOM_MESSAGES = ("out of memory", "can't allocate memory", "not enough memory", "failed to allocate", "alloc_failed")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(request: str) -> torch.device:
    """'auto' → CUDA, then Apple MPS, then CPU; 'gpu' → the same but never the CPU."""
    r = request.strip().lower()
    if r == "cpu":
        return torch.device("cpu")
    if r in ("auto", "gpu"):
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        if r == "auto":
            return torch.device("cpu")
        raise RuntimeUnavailable("no CUDA or Apple MPS GPU is available to PyTorch; use --device cpu")
    if r == "cuda" or r.startswith("cuda:"):
        if not torch.cuda.is_available():
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "no CUDA support"
            raise RuntimeUnavailable(f"PyTorch sees no CUDA GPU (this torch build has {build}); use --device cpu")
        try:
            index = int(r.split(":", 1)[1]) if ":" in r else torch.cuda.current_device()
        except ValueError:
            raise RuntimeUnavailable(f"{request!r} is not a CUDA device; write cuda or cuda:N") from None
        count = torch.cuda.device_count()
        if not 0 <= index < count:
            raise RuntimeUnavailable(f"there is no {request}: PyTorch sees {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}")
        return torch.device("cuda", index)
    if r == "mps":
        if not _mps_available():
            raise RuntimeUnavailable("Apple MPS is not available to PyTorch on this machine; use --device cpu")
        return torch.device("mps")
    raise RuntimeUnavailable(f"PyTorch models run on auto, cpu, gpu, cuda, cuda:N or mps, not {request!r}")


def choose_dtype(device_type: str, fp16: bool, bf16: bool, half: bool | None, architecture: str) -> torch.dtype:
    """fp32 on the CPU; on a GPU fp16 where the model (``fp16``) allows it, else bf16 where the model
    and the GPU (``bf16``) allow it, else fp32. ``half`` False forces fp32; True refuses fp32."""
    if device_type == "cpu" or half is False:
        return torch.float32
    if fp16:
        return torch.float16
    if bf16:
        return torch.bfloat16
    if half:
        raise InvalidParameter(f"{architecture} models cannot run in half precision on {device_type}; leave half unset")
    return torch.float32


def _bf16_on(device: torch.device) -> bool:
    """Native bf16 on this very GPU: CUDA compute capability 8 (Ampere) or newer, or ROCm.

    ``torch.cuda.is_bf16_supported()`` also says yes where bf16 is only emulated (Volta, Turing),
    which is slower than fp32, and it asks about the current device, not ``device``.
    MPS bf16 needs recent macOS and is slow where present: fp32 there.
    """
    if device.type != "cuda":
        return False
    return bool(torch.version.hip) or torch.cuda.get_device_capability(device)[0] >= 8


@contextlib.contextmanager
def _cpu_threads(threads: int | None) -> Iterator[None]:
    """Run with ``threads`` CPU threads, then give the process its setting back (it is global in torch)."""
    before = torch.get_num_threads()
    if not threads or threads == before:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _is_oom(err: BaseException) -> bool:
    if isinstance(err, torch.OutOfMemoryError):
        return True
    return isinstance(err, RuntimeError) and any(m in str(err).lower() for m in _OOM_MESSAGES)


def _free_device_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        with contextlib.suppress(Exception):
            torch.mps.empty_cache()


class TorchModel:
    """A spandrel model behind revive's :class:`~revive.models.spec.ImageModel` interface.

    Its capabilities come from spandrel's descriptor: ``multiple_of`` and ``min_size`` (tiles are
    reflect-padded to fit), ``tiling`` ("supported", "discouraged" or "internal": the last means
    one tile per image), channels, half precision, and ``extra_inputs`` ("mask" for inpainting);
    ``memory_budget`` is bytes of GPU memory to plan tiles with (None on the CPU).
    """

    def __init__(
        self, spec: ModelSpec, descriptor: Any, device: torch.device, dtype: torch.dtype, threads: int | None = None
    ) -> None:
        self.spec = spec
        self.threads = threads  # CPU threads for each call; None = torch's process-wide setting
        self.descriptor = descriptor
        self.architecture: str = descriptor.architecture.id
        self.purpose = purpose_of(descriptor)
        self.scale: int = int(descriptor.scale)
        self.device = str(device)
        self.torch_device = device
        self.dtype = dtype
        req = descriptor.size_requirements
        self.multiple_of: int = max(1, int(req.multiple_of))
        self.min_size: int = max(1, int(req.minimum))
        self.square: bool = bool(req.square)  # spandrel's call pads to a square itself
        self.tiling: Tiling = _TILING.get(descriptor.tiling.name.lower(), "supported")
        self.input_channels: int = int(descriptor.input_channels)
        self.output_channels: int = int(descriptor.output_channels)
        self.supports_half: bool = bool(descriptor.supports_half or descriptor.supports_bfloat16) and spec.supports_half
        self.extra_inputs: tuple[ExtraInput, ...] = ("mask",) if descriptor.purpose == "Inpainting" else ()
        self.takes_mask = "mask" in self.extra_inputs  # what MaskedImageModel declares (erase reads it)
        self._channels_last = device.type == "cuda"
        if self._channels_last:
            try:
                descriptor.model.to(memory_format=torch.channels_last)
            except RuntimeError:  # a weight of another rank (MAT has 5-D ones): keep the default layout
                self._channels_last = False

    @property
    def memory_budget(self) -> int | None:
        if self.torch_device.type != "cuda":
            return None
        free, _total = torch.cuda.mem_get_info(self.torch_device)
        return int(free * 0.6)

    def bytes_per_input_pixel(self) -> int:
        return bytes_per_input_pixel(self.architecture, self.scale, _DTYPE_BYTES.get(self.dtype, 4))

    def to_tensor(self, tile: np.ndarray) -> torch.Tensor:
        """HxWx3 float32 in [0, 1] → 1xCxHxW on the model's device and dtype."""
        chw = torch.from_numpy(np.ascontiguousarray(tile.transpose(2, 0, 1), dtype=np.float32))
        if self.input_channels == 1:  # grayscale models see luma (BT.601)
            chw = (chw[0] * 0.299 + chw[1] * 0.587 + chw[2] * 0.114)[None]
        x = chw[None].to(self.torch_device, non_blocking=True).to(self.dtype)
        return x.contiguous(memory_format=torch.channels_last) if self._channels_last else x

    def to_array(self, y: torch.Tensor) -> np.ndarray:
        out = y[0].float().clamp_(0.0, 1.0)
        if out.shape[0] == 1:
            out = out.expand(3, -1, -1)
        hwc = out.permute(1, 2, 0).contiguous()  # HWC made on the device: one plain copy back
        if hwc.device.type != "cuda":
            return hwc.cpu().numpy()
        # Pageable device→host copies are several times slower than pinned ones; stage through a
        # reused pinned buffer, then hand the caller its own array.
        staging = self._pinned_staging(hwc.numel())
        view = staging[: hwc.numel()].view(hwc.shape)
        view.copy_(hwc)
        return view.numpy().copy()

    def _pinned_staging(self, numel: int) -> torch.Tensor:
        buffer = getattr(self, "_staging", None)
        if buffer is None or buffer.numel() < numel:
            self._staging = buffer = torch.empty(numel, dtype=torch.float32, pin_memory=True)
        return buffer

    @property
    def is_masked(self) -> bool:
        return "mask" in self.extra_inputs

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        if self.is_masked:
            raise UnsupportedModel(
                f"{self.spec.name!r} is a {self.architecture} inpainting model: it fills masked areas and "
                "cannot upscale or restore a whole photo"
            )
        return self._run(tile, self.descriptor)

    def restore_face(self, face: np.ndarray, fidelity: float | None = None) -> np.ndarray:
        """An aligned face crop (HxWx3 in [0, 1], the model's size) restored; ``fidelity`` goes to
        architectures that have such a knob (CodeFormer's w) and is ignored by the others."""
        if self.architecture not in FACE_FIDELITY_KEYWORD:
            return self(face)  # a face architecture revive does not know: spandrel's own call
        keyword = FACE_FIDELITY_KEYWORD[self.architecture]
        kwargs = {keyword: float(fidelity)} if keyword is not None and fidelity is not None else {}
        network = self.descriptor.model

        def signed(x: torch.Tensor) -> torch.Tensor:
            y = network(x * 2.0 - 1.0, **kwargs)
            return (y[0] if isinstance(y, (tuple, list)) else y) * 0.5 + 0.5

        return self._run(face, signed)

    def _run(self, tile: np.ndarray, network: Any) -> np.ndarray:
        try:
            with _cpu_threads(self.threads), torch.inference_mode():
                return self.to_array(network(self.to_tensor(tile)))
        except RuntimeError as err:  # torch.OutOfMemoryError is one
            if not _is_oom(err):
                raise
        # Out of memory. Outside the except block the traceback no longer pins the tile's tensors.
        _free_device_memory(self.torch_device)
        raise OutOfMemory(f"a {tile.shape[1]}x{tile.shape[0]} tile did not fit in {self.device} memory")


    def inpaint(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Fill the masked pixels (``mask`` HxW, True = fill) of an HxWx3 image; inpainting models only."""
        if not self.takes_mask:
            raise UnsupportedModel(f"{self.spec.name!r} is a {self.architecture} model, not an inpainting model: "
                                   "it cannot fill masked areas")
        try:
            with _cpu_threads(self.threads), torch.inference_mode():
                m = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None, None]
                m = m.to(self.torch_device, non_blocking=True).to(self.dtype)
                return self.to_array(self.descriptor(self.to_tensor(image), m))
        except RuntimeError as err:
            if not _is_oom(err):
                raise
        _free_device_memory(self.torch_device)
        raise OutOfMemory(f"a {image.shape[1]}x{image.shape[0]} crop did not fit in {self.device} memory")


def load(spec: ModelSpec, paths: list[Path], options: LoadOptions) -> TorchModel:
    if len(paths) != 1:
        raise UnsupportedModel(f"model {spec.name!r} should be one PyTorch file, got {[p.name for p in paths]}")
    device = resolve_device(str(options.device))
    descriptor = load_descriptor(paths[0])
    if spec.scale != descriptor.scale:
        raise UnsupportedModel(
            f"{paths[0].name} is a ×{descriptor.scale} {descriptor.architecture.id} model, but model "
            f"{spec.name!r} is registered as ×{spec.scale}; re-import it with the right scale"
        )
    if descriptor.input_channels not in (1, 3) or descriptor.output_channels not in (1, 3):
        raise UnsupportedModel(
            f"{paths[0].name} maps {descriptor.input_channels} to {descriptor.output_channels} channels; "
            "revive runs RGB or grayscale image models"
        )
    dtype = choose_dtype(device.type, descriptor.supports_half and spec.supports_half,
                         descriptor.supports_bfloat16 and descriptor.architecture.id not in NO_BFLOAT16_ARCHITECTURES
                         and _bf16_on(device), options.half, descriptor.architecture.id)
    try:
        descriptor.to(device=device, dtype=dtype)
    except RuntimeError as err:
        if _is_oom(err):
            raise OutOfMemory(f"model {spec.name!r} does not fit in {device} memory") from None
        raise
    descriptor.model.eval()
    return TorchModel(spec, descriptor, device, dtype, threads=options.threads)
