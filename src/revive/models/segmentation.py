"""Segmentation models from the store: class probabilities per pixel, mapped to revive's mask classes.

A model with purpose ``segmentation`` (an ONNX SegFormer export, say) takes one NCHW image and returns
class logits, N×C×h×w at its own resolution (SegFormer: a quarter of the input). Its spec's options
say how to feed it and what its classes mean:

* ``classes``: the mapping to revive's classes, e.g. ``sky=2;foliage=4,9,17;water=21,26,60;subject=12``
  (class indices of the model's output). Without it, a model with 150 classes is read as ADE20K
  (SceneParse150) and one with 19 as Cityscapes — what SegFormer checkpoints are trained on.
* ``normalize``: ``imagenet`` (the default: ImageNet mean and std, as SegFormer and most backbones
  expect) or ``none`` (pixels in [0, 1]).
* ``input_size``: the side the photo is resized to (default 512; a fixed-size export takes its own).

Only ONNX runs here: no spandrel architecture returns class maps, so a torch segmenter has no loader.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import UnsupportedModel
from .loaders import LoadOptions
from .spec import ModelSpec

MASK_CLASSES = ("sky", "skin", "foliage", "water", "subject")
# ADE20K (SceneParse150), 0-based: sky 2, tree 4, grass 9, person 12, plant 17, water 21, sea 26, river 60, palm 72
ADE20K = {"sky": (2,), "foliage": (4, 9, 17, 72), "water": (21, 26, 60), "subject": (12,)}
# Cityscapes: vegetation 8, sky 10, person 11, rider 12
CITYSCAPES = {"sky": (10,), "foliage": (8,), "subject": (11, 12)}
PRESETS: dict[int, dict[str, tuple[int, ...]]] = {150: ADE20K, 19: CITYSCAPES}
_IMAGENET = (np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32))


def parse_classes(text: str, channels: int) -> dict[str, tuple[int, ...]]:
    """``sky=2;foliage=4,9`` → {"sky": (2,), "foliage": (4, 9)}, checked against the model's channels."""
    mapping: dict[str, tuple[int, ...]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, indices = part.partition("=")
        name = name.strip()
        if not sep or name not in MASK_CLASSES:
            raise UnsupportedModel(f"the model's 'classes' option has {part!r}; write e.g. sky=2;foliage=4,9 "
                                   f"with classes {', '.join(MASK_CLASSES)}")
        try:
            values = tuple(int(i) for i in indices.split(",") if i.strip())
        except ValueError:
            raise UnsupportedModel(f"the model's 'classes' option has {part!r}; indices are whole numbers") from None
        if any(not 0 <= v < channels for v in values):
            raise UnsupportedModel(f"the model's 'classes' option names a class outside 0..{channels - 1}: {part!r}")
        mapping[name] = values
    return mapping


def class_mapping(spec: ModelSpec, channels: int) -> dict[str, tuple[int, ...]]:
    """What the model's output channels mean in revive's classes (from ``classes`` or a preset)."""
    declared = spec.option("classes")
    if declared:
        return parse_classes(declared, channels)
    if channels in PRESETS:
        return dict(PRESETS[channels])
    raise UnsupportedModel(f"{spec.name} has {channels} classes and no 'classes' option saying which are sky, foliage, "
                           "water or people (150 are read as ADE20K, 19 as Cityscapes)")


@dataclass
class Segmenter:
    """A loaded segmentation model: an RGB photo in, probabilities of revive's classes out."""

    spec: ModelSpec
    session: Any
    input_name: str
    output_name: str
    size: int
    normalize: bool
    device: str
    _lock: threading.Lock

    def probabilities(self, rgb: np.ndarray) -> dict[str, np.ndarray]:
        """HxWx3 float32 in [0, 1] → {class: HxW probability} at the photo's size (mapped classes only)."""
        h, w = rgb.shape[:2]
        x = cv2.resize(np.ascontiguousarray(rgb, dtype=np.float32), (self.size, self.size), interpolation=cv2.INTER_AREA)
        if self.normalize:
            x = (x - _IMAGENET[0]) / _IMAGENET[1]
        with self._lock:
            (logits,) = self.session.run([self.output_name], {self.input_name: x.transpose(2, 0, 1)[None].astype(np.float32)})
        logits = np.asarray(logits, dtype=np.float32)
        if logits.ndim != 4 or logits.shape[0] != 1:
            raise UnsupportedModel(f"{self.spec.name} returned {logits.shape}; a segmentation model returns N×C×H×W logits")
        z = logits[0] - logits[0].max(axis=0, keepdims=True)
        probs = np.exp(z)
        probs /= probs.sum(axis=0, keepdims=True)
        out = {}
        for name, indices in class_mapping(self.spec, probs.shape[0]).items():
            p = probs[list(indices)].sum(axis=0) if indices else np.zeros(probs.shape[1:], np.float32)
            out[name] = np.clip(cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0).astype(np.float32)
        return out


def load_segmenter(spec: ModelSpec, paths: list[Path], options: LoadOptions) -> Segmenter:
    """An ONNX segmentation model from the store, on the device ``options`` ask for."""
    if spec.runtime != "onnx":
        raise UnsupportedModel(f"{spec.name} is a {spec.runtime} model; segmentation models run as ONNX only "
                               "(no spandrel architecture returns class maps)")
    models = [p for p in paths if p.suffix.lower() == ".onnx"]
    if len(models) != 1:
        raise UnsupportedModel(f"model {spec.name!r} needs one .onnx file, got {[p.name for p in paths]}")
    from .onnx_runtime import choose_providers, ort  # onnxruntime only when a segmenter is used

    providers, device = choose_providers(str(options.device), ort.get_available_providers())
    session_options = ort.SessionOptions()
    session_options.log_severity_level = 3
    if options.threads:
        session_options.intra_op_num_threads = options.threads
    try:
        session = ort.InferenceSession(str(models[0]), sess_options=session_options, providers=providers)
    except Exception as err:  # onnxruntime raises its own types for a bad graph
        raise UnsupportedModel(f"{models[0].name}: onnxruntime cannot load this model ({err})") from None
    inp = session.get_inputs()[0]
    fixed = [d for d in inp.shape[2:] if isinstance(d, int) and d > 0]
    size = fixed[0] if len(fixed) == 2 and fixed[0] == fixed[1] else int(spec.option("input_size", "512") or 512)
    normalize = (spec.option("normalize", "imagenet") or "imagenet").lower() != "none"
    output = spec.option("output") or session.get_outputs()[0].name
    return Segmenter(spec, session, inp.name, output, size, normalize, device, threading.Lock())
