"""Run ncnn param/bin models (CPU, or Vulkan GPU when a driver is present)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import OutOfMemory, RuntimeUnavailable, UnsupportedModel
from ._beside import run_beside
from .loaders import LoadOptions
from .ncnn_param import read_ncnn_param
from .spec import ExtraInput, ModelSpec, Tiling

# A probe cache, not runtime state: how many Vulkan GPUs ncnn sees never changes within a process.
_gpu_count: int | None = None
_gpu_lock = threading.Lock()


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """ncnn prints loader failures (no libvulkan) straight to fd 2; keep the user's terminal clean."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def vulkan_gpu_count() -> int:
    """Vulkan GPUs ncnn sees (probed once per process; thread-safe)."""
    global _gpu_count
    with _gpu_lock:
        if _gpu_count is None:
            import ncnn

            with _quiet_stderr():
                _gpu_count = int(ncnn.get_gpu_count()) if hasattr(ncnn, "get_gpu_count") else 0
        return _gpu_count


def resolve_device(request: str) -> str:
    """'cpu' or 'vulkan:N'."""
    if request == "cpu":
        return "cpu"
    if request in ("auto", "gpu") or request.startswith("vulkan"):
        count = vulkan_gpu_count()
        if count == 0:
            if request == "auto":
                return "cpu"
            raise RuntimeUnavailable("no Vulkan GPU found for ncnn; install a Vulkan driver or use --device cpu")
        index_text = request.partition(":")[2] or "0"
        if not index_text.isdigit():
            raise RuntimeUnavailable(f"{request!r} is not a Vulkan device; write gpu, vulkan or vulkan:N")
        return f"vulkan:{min(int(index_text), count - 1)}"
    raise RuntimeUnavailable(
        f"ncnn models run on 'cpu' or 'gpu' (Vulkan), not {request!r}: use --device cpu or gpu "
        "(CUDA and MPS need a PyTorch or ONNX model)"
    )


class NcnnModel:
    """An ncnn param/bin pair behind revive's :class:`~revive.models.spec.ImageModel` interface.

    ncnn graphs declare no size needs: any tile size works, RGB in and out.
    """

    input_channels = 3
    output_channels = 3
    multiple_of = 1
    min_size = 1
    tiling: Tiling = "supported"
    extra_inputs: tuple[ExtraInput, ...] = ()
    memory_budget: int | None = None  # Vulkan reports no free memory: plan with the engine's budget

    def __init__(self, spec: ModelSpec, param: Path, weights: Path, options: LoadOptions) -> None:
        import ncnn

        self.spec = spec
        self.scale = spec.scale
        self.supports_half = spec.supports_half  # ncnn stores and computes in fp16 where the device has it
        self.device = resolve_device(str(options.device))
        self._input = spec.option("input", "data") or "data"
        self._output = spec.option("output", "output") or "output"
        # Networks that crop their own context (waifu2x: 7 px a side) declare it: the input is padded
        # by that much (edge values) and the output is scale× the unpadded size.
        self._pad = int(spec.option("pad", "0") or 0)
        net = ncnn.Net()
        net.opt.num_threads = options.threads or os.cpu_count() or 1
        if self.device.startswith("vulkan"):
            net.opt.use_vulkan_compute = True
            net.set_vulkan_device(int(self.device.split(":")[1]))
        else:
            net.opt.use_vulkan_compute = False
        if net.load_param(str(param)) != 0:
            raise UnsupportedModel(f"{param}: ncnn could not read this .param file; is it an ncnn model?")
        if net.load_model(str(weights)) != 0:
            raise UnsupportedModel(f"{weights}: ncnn could not read the weights; does the .bin match the .param?")
        self._net = net
        self._lock = threading.Lock()  # one extraction at a time per net

    def bytes_per_input_pixel(self) -> int:
        declared = self.spec.option("bytes_per_pixel")
        # Unknown imported models: assume an ESRGAN-sized working set (≈ 56 KB/px measured for x4plus).
        return int(declared) if declared else 64 * 1024

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        if self._pad:
            tile = np.pad(tile, ((self._pad, self._pad), (self._pad, self._pad), (0, 0)), mode="edge")
        chw = np.ascontiguousarray(tile.transpose(2, 0, 1), dtype=np.float32)
        # ncnn cannot be interrupted: running it beside the caller lets Ctrl-C through at once.
        result = run_beside(lambda: self._extract(chw), name="revive-ncnn")
        return np.clip(result.transpose(1, 2, 0), 0.0, 1.0)

    def _extract(self, chw: np.ndarray) -> np.ndarray:
        import ncnn

        with self._lock:
            mat = ncnn.Mat(chw)  # wraps chw's memory without a copy: chw must outlive extract()
            extractor = self._net.create_extractor()
            extractor.input(self._input, mat)
            code, out = extractor.extract(self._output)
            if code != 0:
                raise OutOfMemory(f"ncnn failed on a {chw.shape[2]}x{chw.shape[1]} tile (code {code})")
            result = np.array(out, dtype=np.float32, copy=True)
            del extractor, mat
        return result


def load(spec: ModelSpec, paths: list[Path], options: LoadOptions) -> NcnnModel:
    by_suffix = {p.suffix: p for p in paths}
    if ".param" not in by_suffix or ".bin" not in by_suffix:
        raise UnsupportedModel(f"model {spec.name!r} needs a .param and a .bin file, got {[p.name for p in paths]}")
    # ncnn trusts its files (a huge blob count makes it allocate without bound): check the graph first
    read_ncnn_param(by_suffix[".param"], bin_size=by_suffix[".bin"].stat().st_size)
    return NcnnModel(spec, by_suffix[".param"], by_suffix[".bin"], options)
