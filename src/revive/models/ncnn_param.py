"""Read and check an ncnn ``.param`` graph in plain Python, before ncnn ever sees it.

ncnn trusts its files: a blob count of a billion, an infinite scale or a weight size larger than
the ``.bin`` makes it allocate without bound or read past its buffers. Every number here is
checked (finite, within ncnn's int range, weights no larger than the weights file), the counts on
the second line must match the graph, and every blob a layer reads must have been written by an
earlier one. What passes is also walked to tell the model's scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..errors import UnsupportedModel

NCNN_MAGIC = "7767517"
MAX_PARAM_BYTES = 16 << 20  # the largest real graphs are a few hundred KB
MAX_LAYERS = 1 << 16
MAX_BLOBS = 1 << 18
MAX_ARRAY = 1 << 16
MAX_NAME = 255  # ncnn reads names with %255s
INT_LIMIT = 2**31 - 1  # ncnn stores params as C int
_ARRAY_KEY = -23300  # keys at or below this carry "count,v1,v2,…" arrays

Params = dict[int, float | tuple[float, ...]]

# Parameters that size a layer's weights, in elements; each element takes at least one byte of
# the .bin (int8), so none can exceed the file's size. MemoryData is sized by its dimensions.
WEIGHT_KEYS: dict[str, int] = {
    **dict.fromkeys(("Convolution", "ConvolutionDepthWise", "Convolution1D", "ConvolutionDepthWise1D",
                     "Convolution3D", "ConvolutionDepthWise3D", "Deconvolution", "DeconvolutionDepthWise",
                     "Deconvolution1D", "DeconvolutionDepthWise1D", "Deconvolution3D",
                     "DeconvolutionDepthWise3D"), 6),
    "InnerProduct": 2,
    "Embed": 3,
    "MultiHeadAttention": 2,
    **dict.fromkeys(("BatchNorm", "Scale", "Bias", "PReLU", "InstanceNorm", "LayerNorm", "GroupNorm"), 0),
}
MEMORY_DATA_DIMS = (0, 1, 11, 2)  # w, h, d, c


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    if abs(value) > INT_LIMIT and float(value).is_integer():
        raise ValueError(f"{text} is beyond ncnn's int range")
    return value


def _param(key_text: str, value_text: str) -> tuple[int, float | tuple[float, ...]]:
    key = int(key_text)
    if key > _ARRAY_KEY:
        if not 0 <= key < 32:
            raise ValueError(f"parameter id {key} is out of range")
        return key, _number(value_text)
    count_text, *values = value_text.split(",")
    count = int(count_text)
    if not 0 <= count <= MAX_ARRAY or count != len(values):
        raise ValueError(f"array parameter {key} declares {count_text} values and has {len(values)}")
    return _ARRAY_KEY - key, tuple(_number(v) for v in values)


def _int(params: Params, key: int, default: int) -> int:
    value = params.get(key, default)
    if isinstance(value, tuple) or not float(value).is_integer():
        raise ValueError(f"parameter {key} must be a whole number, got {value}")
    return int(value)


def _check_weights(kind: str, params: Params, bin_size: int) -> None:
    if kind == "MemoryData":
        elements = math.prod(max(1, _int(params, k, 0)) for k in MEMORY_DATA_DIMS)
    elif kind in WEIGHT_KEYS:
        elements = _int(params, WEIGHT_KEYS[kind], 0)
    else:
        return
    if elements > bin_size:  # negative: taken from a second input blob, nothing read from the .bin
        raise ValueError(f"a {kind} layer needs {elements} weights but the .bin holds {bin_size} bytes")


# --- scale --------------------------------------------------------------------------------------

def _interp(params: Params) -> Fraction | None:
    if _int(params, 3, 0) or _int(params, 4, 0):
        return None  # a fixed output size: no scale to read
    h, w = (Fraction(float(params.get(k, 1.0))).limit_denominator(64) for k in (1, 2))  # type: ignore[arg-type]
    return h if h == w and h > 0 else None


def _stride(key: int, inverse: bool) -> Callable[[Params], Fraction | None]:
    def factor(params: Params) -> Fraction | None:
        s = _int(params, key, 1)
        if s < 1 or _int(params, key + 10, s) != s:  # ncnn's stride_h is key + 10; non-square: no scale
            return None
        return 1 / Fraction(s) if inverse else Fraction(s)

    return factor


def _pooling(params: Params) -> Fraction | None:
    return None if _int(params, 4, 0) else _stride(2, inverse=True)(params)


# How each ncnn layer type changes the spatial size; every other layer keeps it.
NCNN_RESAMPLERS: dict[str, Callable[[Params], Fraction | None]] = {
    "Interp": _interp,
    "PixelShuffle": _stride(0, inverse=False),
    "Deconvolution": _stride(3, inverse=False),
    "DeconvolutionDepthWise": _stride(3, inverse=False),
    "Convolution": _stride(3, inverse=True),
    "ConvolutionDepthWise": _stride(3, inverse=True),
    "Reorg": _stride(0, inverse=True),
    "Pooling": _pooling,
}
_SCALE_LIMIT = 1 << 16  # beyond this a graph's scale is nonsense: treat it as unknown


def _bounded(scale: Fraction | None) -> Fraction | None:
    if scale is None or scale <= 0 or scale.numerator > _SCALE_LIMIT or scale.denominator > _SCALE_LIMIT:
        return None
    return scale


# --- the graph ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class NcnnGraph:
    input: str
    output: str
    scale: Fraction | None


def _lines(path: Path) -> list[list[str]]:
    try:
        size = path.stat().st_size
        if size > MAX_PARAM_BYTES:
            raise UnsupportedModel(f"{path.name} is {size} bytes, far more than any ncnn param file; it is not one")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UnsupportedModel(f"{path} is not a text ncnn param file ({err})") from None
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0] != [NCNN_MAGIC]:
        raise UnsupportedModel(f"{path} is not an ncnn param file: it does not start with the magic {NCNN_MAGIC}")
    return lines


def read_ncnn_param(path: Path, bin_size: int | None = None) -> NcnnGraph:
    """Check ``path`` (and, given the ``.bin``'s size, the weights it asks for) and walk its graph."""
    lines = _lines(path)
    bin_size = bin_size if bin_size is not None else MAX_PARAM_BYTES << 12
    scales: dict[str, Fraction | None] = {}
    consumed: set[str] = set()
    produced: list[str] = []
    inputs: list[str] = []
    try:
        if len(lines) < 2 or len(lines[1]) != 2:
            raise ValueError("the second line must hold the layer and blob counts")
        layer_count, blob_count = int(lines[1][0]), int(lines[1][1])
        if not (0 < layer_count <= MAX_LAYERS and 0 < blob_count <= MAX_BLOBS):
            raise ValueError(f"it declares {layer_count} layers and {blob_count} blobs")
        if layer_count != len(lines) - 2:
            raise ValueError(f"it declares {layer_count} layers and has {len(lines) - 2}")
        for number, fields in enumerate(lines[2:], start=3):
            kind, name, n_in, n_out = fields[0], fields[1], int(fields[2]), int(fields[3])
            if not (0 <= n_in <= MAX_BLOBS and 0 <= n_out <= MAX_BLOBS) or len(fields) < 4 + n_in + n_out:
                raise ValueError(f"line {number} declares {n_in} inputs and {n_out} outputs")
            ins, outs = fields[4 : 4 + n_in], fields[4 + n_in : 4 + n_in + n_out]
            if any(len(n) > MAX_NAME for n in (kind, name, *ins, *outs)):
                raise ValueError(f"line {number} has a name longer than {MAX_NAME} characters")
            if unknown := [b for b in ins if b not in scales]:
                raise ValueError(f"line {number} reads blob {unknown[0]!r} before any layer wrote it")
            params = dict(_param(*_split(f)) for f in fields[4 + n_in + n_out :])
            _check_weights(kind, params, bin_size)
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
                out_scale = None if here is None or factor is None else _bounded(here * factor)
            scales.update(dict.fromkeys(outs, out_scale))
        if len(set(produced)) != blob_count:
            raise ValueError(f"it declares {blob_count} blobs and its layers write {len(set(produced))}")
    except (IndexError, ValueError, ZeroDivisionError, OverflowError) as err:
        raise UnsupportedModel(f"{path} is a damaged ncnn param file ({err})") from None
    ends = [b for b in produced if b not in consumed]
    if not inputs or not ends:
        raise UnsupportedModel(f"{path} has no input or no output blob")
    output = "output" if "output" in ends else ends[-1]
    return NcnnGraph(inputs[0], output, scales.get(output))


def _split(field: str) -> tuple[str, str]:
    key, sep, value = field.partition("=")
    if not sep:
        raise ValueError(f"{field!r} is not a key=value parameter")
    return key, value
