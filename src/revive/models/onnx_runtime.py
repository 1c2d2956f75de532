"""Run ONNX image models with onnxruntime: CUDA, CoreML or the CPU.

The model takes one NCHW image in [0, 1] (float32 or float16) and returns the upscaled image.
Dynamic height and width are used as they are; a model exported for one fixed square size gets its
tiles cut to exactly that size here, with the same tiling engine.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort  # imported here, so a missing extra surfaces in loaders.get_loader as "pip install"

from ..errors import OutOfMemory, RuntimeUnavailable, UnsupportedModel
from ..tiling import TileOptions, process_tiled
from ._beside import run_beside
from .loaders import LoadOptions, first_line
from .spec import ExtraInput, ModelSpec, Tiling
from .torch_inspect import bytes_per_input_pixel

# onnxruntime's providers for each device request, in order of preference.
GPU_PROVIDERS = ("CUDAExecutionProvider", "CoreMLExecutionProvider")
_DEVICE_NAMES = {"CUDAExecutionProvider": "cuda", "CoreMLExecutionProvider": "coreml"}
# What onnxruntime's allocators say when memory ran out.
_OOM_MESSAGES = ("out of memory", "failed to allocate memory", "alloc_failed", "bad_alloc", "cudamalloc")
_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


def choose_providers(request: str, available: list[str]) -> tuple[list[Any], str]:
    """onnxruntime providers for a device request, and the device's name."""
    r = request.strip().lower()
    cpu = "CPUExecutionProvider"
    if r == "cpu":
        return [cpu], "cpu"
    if r in ("auto", "gpu"):
        for provider in GPU_PROVIDERS:
            if provider in available:
                return [provider, cpu], _DEVICE_NAMES[provider] + (":0" if provider.startswith("CUDA") else "")
        if r == "auto":
            return [cpu], "cpu"
        raise RuntimeUnavailable(
            "onnxruntime has no GPU provider here (install onnxruntime-gpu for CUDA); use --device cpu"
        )
    if r == "cuda" or r.startswith("cuda:"):
        if "CUDAExecutionProvider" not in available:
            raise RuntimeUnavailable("this onnxruntime has no CUDA provider; install onnxruntime-gpu or use --device cpu")
        try:
            index = int(r.split(":", 1)[1]) if ":" in r else 0
        except ValueError:
            raise RuntimeUnavailable(f"{request!r} is not a CUDA device; write cuda or cuda:N") from None
        return [("CUDAExecutionProvider", {"device_id": index}), cpu], f"cuda:{index}"
    if r == "coreml":
        if "CoreMLExecutionProvider" not in available:
            raise RuntimeUnavailable("this onnxruntime has no CoreML provider; use --device cpu")
        return ["CoreMLExecutionProvider", cpu], "coreml"
    raise RuntimeUnavailable(f"ONNX models run on auto, cpu, gpu, cuda, cuda:N or coreml, not {request!r}")


def _is_oom(err: BaseException) -> bool:
    return isinstance(err, MemoryError) or any(m in str(err).lower() for m in _OOM_MESSAGES)


class OnnxModel:
    """An ONNX model behind revive's :class:`~revive.models.spec.ImageModel` interface.

    ``multiple_of`` and ``min_size`` come from the spec's options (ONNX graphs do not declare
    them); ``fixed_size`` is the side of a model exported for one square size, else None (such a
    model still takes any tile: it cuts it to that size itself). Channels and half precision are
    read from the graph's input and output.
    """

    tiling: Tiling = "supported"
    extra_inputs: tuple[ExtraInput, ...] = ()
    memory_budget: int | None = None  # onnxruntime reports no free memory: plan with the engine's budget

    def __init__(self, spec: ModelSpec, path: Path, options: LoadOptions) -> None:
        self.spec = spec
        self.scale = spec.scale
        providers, self.device = choose_providers(str(options.device), ort.get_available_providers())
        session_options = ort.SessionOptions()
        session_options.log_severity_level = 3  # onnxruntime's warnings are for model authors
        if options.threads:
            session_options.intra_op_num_threads = options.threads
        try:
            self._session = ort.InferenceSession(str(path), sess_options=session_options, providers=providers)
        except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph/… types
            if _is_oom(err):
                raise OutOfMemory(f"model {spec.name!r} does not fit in {self.device} memory") from None
            raise UnsupportedModel(f"{path.name}: onnxruntime cannot load this model ({first_line(err)})") from None
        inputs = {i.name: i for i in self._session.get_inputs()}
        outputs = [o.name for o in self._session.get_outputs()]
        if len(inputs) != 1 and spec.option("input") not in inputs:
            raise UnsupportedModel(f"{path.name} has {len(inputs)} inputs; revive runs image models with exactly one")
        wanted = spec.option("input")
        inp = inputs[wanted] if wanted in inputs else next(iter(inputs.values()))
        self._input = inp.name
        wanted = spec.option("output")
        self._output = wanted if wanted in outputs else outputs[0]
        if inp.type not in _DTYPES:
            raise UnsupportedModel(f"{path.name} takes {inp.type} input; revive feeds float32 or float16 images")
        self._dtype = _DTYPES[inp.type]
        shape = list(inp.shape)
        if len(shape) != 4:
            raise UnsupportedModel(f"{path.name} takes a {len(shape)}-D input; revive feeds NCHW images")
        channels, height, width = (d if isinstance(d, int) and d > 0 else None for d in shape[1:])
        if channels not in (None, 1, 3):
            raise UnsupportedModel(f"{path.name} takes {channels} channels; revive feeds NCHW RGB or grayscale images")
        self._gray = channels == 1
        self.input_channels = 1 if self._gray else 3
        out_shape: list[Any] = next((list(o.shape) for o in self._session.get_outputs() if o.name == self._output), [])
        out_channels = out_shape[1] if len(out_shape) == 4 else None
        self.output_channels = 1 if out_channels == 1 else 3
        self.supports_half = self._dtype == np.float16  # the graph's own precision; revive never converts it
        self.multiple_of = _positive_option(spec, "multiple_of")
        self.min_size = _positive_option(spec, "min_size")
        self.fixed_size: int | None = None
        if height is not None or width is not None:
            if height is None or width is None or height != width:
                raise UnsupportedModel(
                    f"{path.name} only takes {width or '?'}x{height or '?'} images; revive can run ONNX models with "
                    "dynamic height and width, or one fixed square size"
                )
            if height < 16:
                raise UnsupportedModel(f"{path.name} only takes {width}x{height} images, too small to tile")
            self.fixed_size = height
        self._lock = threading.Lock()  # CoreML and some CUDA set-ups are not re-entrant

    def bytes_per_input_pixel(self) -> int:
        dtype_bytes = 2 if self._dtype == np.float16 else 4
        return bytes_per_input_pixel(self.spec.architecture, self.scale, dtype_bytes)

    def _run(self, tile: np.ndarray) -> np.ndarray:
        chw = tile.transpose(2, 0, 1)
        if self._gray:
            chw = (chw[0] * 0.299 + chw[1] * 0.587 + chw[2] * 0.114)[None]
        x = np.ascontiguousarray(chw[None], dtype=self._dtype)
        run_options = ort.RunOptions()

        def work() -> Any:
            with self._lock:
                return self._session.run([self._output], {self._input: x}, run_options)

        def stop() -> None:  # onnxruntime checks this between nodes, Loop bodies included
            run_options.terminate = True

        try:
            (y,) = run_beside(work, name="revive-onnx", stop=stop)
        except Exception as err:
            if not _is_oom(err):
                raise
            raise OutOfMemory(f"a {tile.shape[1]}x{tile.shape[0]} tile did not fit in {self.device} memory") from None
        out = np.asarray(y[0], dtype=np.float32)
        if out.shape[0] == 1:
            out = np.repeat(out, 3, axis=0)
        return np.clip(out.transpose(1, 2, 0), 0.0, 1.0)

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        n = self.fixed_size
        if n is None or tile.shape[:2] == (n, n):
            return self._run(tile)
        overlap = min(32, n // 4)  # cut into tiles of exactly n×n (smaller ones are reflect-padded to n)
        inner = TileOptions(tile=n - 2 * overlap, overlap=overlap, min_tile=n - 2 * overlap, min_size=n,
                            multiple_of=n)
        return process_tiled(tile, self._run, self.scale, inner)


def _positive_option(spec: ModelSpec, key: str) -> int:
    text = spec.option(key, "1") or "1"
    if not text.isdigit() or not 1 <= int(text) <= 4096:
        raise UnsupportedModel(f"model {spec.name!r} has {key}={text!r}; it must be a whole number from 1 to 4096")
    return int(text)


def load(spec: ModelSpec, paths: list[Path], options: LoadOptions) -> OnnxModel:
    """The first path is the graph; any others are its external data files, which sit beside it."""
    if not paths or paths[0].suffix.lower() != ".onnx":
        raise UnsupportedModel(f"model {spec.name!r} needs an .onnx file first, got {[p.name for p in paths]}")
    for path in paths:
        if not os.path.isfile(path):
            raise UnsupportedModel(f"{path} is not a file")
        if path.parent != paths[0].parent:
            raise UnsupportedModel(f"{path.name} must sit beside {paths[0].name}, whose external data it holds")
    return OnnxModel(spec, paths[0], options)
