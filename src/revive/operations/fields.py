"""Requests from text and requests described to a form, read from the request dataclasses' fields.

The server's page builds its controls from :func:`describe_request`; forms and batch options come
back through :func:`request_from_fields`, which refuses unknown names, file-typed fields given as
text, and paths where only a model name in the store may be given.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Literal

import numpy as np

from ..errors import InvalidParameter
from ..stages import StageRegistry, default_stages
from ..stages.planning import EnhanceOptions
from ..types import Photo


def request_from_fields(request_type: type, fields: Mapping[str, str], stages: StageRegistry | None = None, *,
                        files: Mapping[str, Any] | None = None) -> Any:
    """A request from text values by its dataclass field types (server forms, batch options).

    Nested dataclass fields (``UpscaleRequest.params``) are filled from the same flat mapping; an
    unknown name is refused, so a typo never silently falls back to a default. Fields that take a
    file (a path, a Photo, an array, bytes) are never set from text — a form field must not name a
    path on the machine that runs revive — only from ``files``: values the caller has already made
    (an uploaded mask decoded to a Photo, a private temporary file).
    """
    used: set[str] = set()
    request = _build(request_type, fields, dict(files or {}), used, stages or default_stages())
    unknown = (set(fields) | set(files or {})) - used
    if unknown:
        raise InvalidParameter(f"unknown option{'s' if len(unknown) > 1 else ''} for {request_type.__name__}: "
                               f"{', '.join(sorted(unknown))}")
    return request


def _build(cls: type, fields: Mapping[str, str], files: Mapping[str, Any], used: set[str],
           stages: StageRegistry) -> Any:
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint) and not _takes_file(hint):
            values[f.name] = _build(hint, fields, files, used, stages)  # type: ignore[arg-type]
        elif _takes_file(hint):
            if f.name in fields:
                raise InvalidParameter(f"{f.name} takes a file: send it as a file, not as text (a request never "
                                       "names a path on this machine)")
            if f.name in files:
                used.add(f.name)
                values[f.name] = files[f.name]
        elif f.name in fields:
            used.add(f.name)
            if f.metadata.get("name_only"):
                _check_name(f.name, fields[f.name])
            values[f.name] = _convert(f.name, fields[f.name], hint)
        if f.name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise InvalidParameter(f"{cls.__name__} needs {f.name}")
    if cls is EnhanceOptions:  # stage settings are open-ended: every registered stage option
        options = stages.options()
        settings = {k: options[k].parse(v) for k, v in fields.items() if k in options}
        used.update(settings)
        values["settings"] = tuple(settings.items())
    return cls(**values)


def _check_name(field_name: str, text: str) -> None:
    """A model named in text is a name in the store: a path would let a form load any file on this machine."""
    value = text.strip()
    if "/" in value or "\\" in value or value.startswith(("~", ".")) or PurePath(value).is_absolute():
        raise InvalidParameter(f"{field_name} takes the name of a folder in the model store, not a path "
                               f"(got {text!r}); put the model in the store's models folder and name it")


def _options_of(hint: Any) -> tuple[Any, ...]:
    union = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
    return typing.get_args(hint) if union else (hint,)


_FILE_KINDS: tuple[tuple[type, Literal["path", "photo", "array", "bytes"]], ...] = (
    (PurePath, "path"), (os.PathLike, "path"), (Photo, "photo"), (np.ndarray, "array"), (bytes, "bytes"))


def _takes_file(hint: Any) -> bool:
    """A path, an image or raw bytes: what only a file can give."""
    return any(isinstance(o, type) and issubclass(o, t) for o in _options_of(hint) for t, _ in _FILE_KINDS)


def _convert(name: str, text: str, hint: Any) -> Any:
    options = _options_of(hint)
    if type(None) in options and text.strip().lower() in ("", "none", "auto"):
        return None
    for option in options:
        if option is type(None):
            continue
        try:
            if option is bool:
                lowered = text.strip().lower()
                if lowered in ("1", "true", "yes", "on"):
                    return True
                if lowered in ("0", "false", "no", "off"):
                    return False
                raise ValueError(text)
            if option is float:
                value = float(text)
                if not math.isfinite(value):
                    raise ValueError(text)
                return value
            if option is int:
                return int(text)
            if typing.get_origin(option) is typing.Literal:
                if text in typing.get_args(option):
                    return text
                raise ValueError(text)
            if option is str:
                return text
            if isinstance(option, type) and hasattr(option, "parse"):
                return option.parse(text)
        except ValueError:
            continue
    raise InvalidParameter(f"{name}: cannot use {text!r} here")


# --- describing requests to a form (the server's page builds its controls from this) ---------------

FieldKind = Literal["number", "integer", "boolean", "choice", "setting", "text", "file"]


@dataclass(frozen=True)
class FieldInfo:
    """One option of a request as a form shows it, read from the request dataclass (never written by hand).

    Dataclass field ``metadata`` may add ``help``, ``range`` (low, high), ``model`` (the purpose of the
    models it names: a picker) and ``advanced`` (tucked away by default).
    """

    name: str
    kind: FieldKind
    default: Any = None  # JSON-ready; None = automatic
    optional: bool = False  # "auto" / empty is allowed
    choices: tuple[str, ...] = ()  # choice and setting kinds
    strength: bool = False  # a setting that also takes a strength 0..1
    help: str = ""
    range: tuple[float, float] | None = None
    model: str | None = None
    advanced: bool = False
    file: Literal["path", "photo", "array", "bytes"] | None = None  # what a file kind's upload becomes

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def describe_request(request_type: type, stages: StageRegistry | None = None) -> tuple[FieldInfo, ...]:
    """The fields :func:`request_from_fields` takes for ``request_type``, flattened the same way."""
    out: list[FieldInfo] = []
    _describe(request_type, out)
    if _nests(request_type, EnhanceOptions):
        for option in (stages or default_stages()).options().values():
            choices = tuple(a for a in option.accepts if a != "strength")
            out.append(FieldInfo(option.name, "setting", "auto", choices=choices, help=option.help,
                                 strength="strength" in option.accepts, range=(0.0, 1.0)))
    return tuple(out)


def _describe(cls: type, out: list[FieldInfo]) -> None:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint) and not _takes_file(hint):
            _describe(hint, out)  # type: ignore[arg-type]
            continue
        if f.name == "settings" and cls is EnhanceOptions:
            continue  # described by the stage options
        options = [o for o in _options_of(hint) if o is not type(None)]
        default = (f.default if f.default is not dataclasses.MISSING else
                   f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        kind: FieldKind = "text"
        choices: tuple[str, ...] = ()
        file = next((k for t, k in _FILE_KINDS if any(isinstance(o, type) and issubclass(o, t) for o in options)), None)
        if file is not None:
            kind, default = "file", None
        elif options and typing.get_origin(options[0]) is typing.Literal:
            kind, choices = "choice", tuple(str(c) for c in typing.get_args(options[0]))
        elif options and options[0] in _KINDS:
            kind = _KINDS[options[0]]
        meta = f.metadata
        out.append(FieldInfo(
            f.name, kind, default if isinstance(default, (bool, int, float, str)) or default is None else str(default),
            optional=len(options) < len(_options_of(hint)) or kind == "file" and f.default is not dataclasses.MISSING,
            choices=choices, help=meta.get("help", ""), range=meta.get("range"), model=meta.get("model"),
            advanced=bool(meta.get("advanced", False)), file=file))


_KINDS: dict[Any, FieldKind] = {bool: "boolean", int: "integer", float: "number", str: "text"}


def _nests(cls: type, target: type) -> bool:
    """Whether ``cls`` is ``target`` or holds it in a (nested) dataclass field."""
    if cls is target:
        return True
    hints = typing.get_type_hints(cls)
    return any(dataclasses.is_dataclass(hints[f.name]) and _nests(hints[f.name], target) for f in dataclasses.fields(cls))
