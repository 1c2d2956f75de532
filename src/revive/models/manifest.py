"""The imported-models manifest (``imported.json``), read as hostile data.

The file is the user's to edit, and anything may have written it: every entry is checked field by
field (types, ranges, names that can never leave the store) before it becomes a
:class:`ModelSpec`, and the file as a whole is bounded in size and depth. An unreadable entry
only hides that model; an unreadable file only hides the imports. Names checked here are the
only names the store ever turns into paths.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, get_args

from ..errors import InvalidParameter, ModelError
from .loaders import RUNTIMES, first_line
from .spec import Content, ModelFile, ModelSpec, Purpose

MANIFEST_VERSION = 1
MAX_MANIFEST_BYTES = 16 << 20
MAX_ENTRIES = 10_000
MAX_FILES = 64
MAX_TEXT = 4096
MAX_MODEL_SCALE = 16  # no super-resolution model enlarges more in one pass

_MODEL_NAME = re.compile(r"[a-z0-9][a-z0-9._+-]{0,79}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FORBIDDEN_IN_FILE_NAMES = frozenset('/\\:\0')


def check_model_name(name: object) -> str:
    """``name`` if it is a model name (and so a plain folder name inside the store); else InvalidParameter."""
    if not isinstance(name, str) or not _MODEL_NAME.fullmatch(name) or name.endswith(".json"):
        shown = repr(name)[:60] if isinstance(name, str) else type(name).__name__
        raise InvalidParameter(
            f"{shown} is not a usable model name: use lowercase letters, digits and . _ + - (at most 80)"
        )
    return name


def is_model_name(name: object) -> bool:
    try:
        check_model_name(name)
    except InvalidParameter:
        return False
    return True


def check_file_name(name: object) -> str:
    """``name`` if it is a plain file name (no folder, no ``..``); else InvalidParameter."""
    if (
        not isinstance(name, str)
        or name in ("", ".", "..")
        or len(name) > 255
        or any(c in _FORBIDDEN_IN_FILE_NAMES or ord(c) < 32 for c in name)
    ):
        shown = repr(name)[:60] if isinstance(name, str) else type(name).__name__
        raise InvalidParameter(f"{shown} is not a plain file name")
    return name


def read_entries(path: Path) -> list[Any]:
    """The raw entries of the manifest at ``path`` ([] when there is none).

    Raises ModelError when the file is damaged; OSErrors other than "no such file" go up (the
    store says what is wrong with its folder).
    """
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        return []
    if len(data) > MAX_MANIFEST_BYTES:
        raise ModelError(f"the imported-models manifest {path} is damaged (larger than 16 MiB); fix or delete it")
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:  # RecursionError: nesting too deep
        raise ModelError(f"the imported-models manifest {path} is damaged ({first_line(err)}); fix or delete it") from None
    models = parsed.get("models") if isinstance(parsed, dict) else None
    if not isinstance(models, list) or len(models) > MAX_ENTRIES:
        raise ModelError(f"the imported-models manifest {path} is damaged; fix or delete it")
    return models


def entry_name(entry: object) -> str | None:
    """The entry's model name, when it has a usable one."""
    name = entry.get("name") if isinstance(entry, dict) else None
    return name if is_model_name(name) else None


def spec_to_json(spec: ModelSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "purpose": spec.purpose,
        "runtime": spec.runtime,
        "architecture": spec.architecture,
        "scale": spec.scale,
        "files": [{"name": f.name, "sha256": f.sha256, "size": f.size} for f in spec.files],
        "license": spec.license,
        "non_commercial": spec.non_commercial,
        "content": spec.content,
        "description": spec.description,
        "supports_half": spec.supports_half,
        "options": [list(kv) for kv in spec.options],
    }


class _Newer(ValueError):
    """A value this version does not know (a newer revive wrote it), as opposed to damage."""


def _text(m: dict[str, Any], key: str, default: str | None = None) -> str:
    value = m.get(key, default)
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise ValueError(f"{key} must be text of at most {MAX_TEXT} characters")
    return value


def _flag(m: dict[str, Any], key: str, default: bool) -> bool:
    value = m.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false")
    return value


def _choice(m: dict[str, Any], key: str, allowed: tuple[str, ...], default: str | None = None) -> str:
    value = _text(m, key, default)
    if value not in allowed:
        raise _Newer(f"{key} {value[:40]!r} is not one of {', '.join(allowed)}")
    return value


def _whole(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{what} must be a whole number from {low} to {high}")
    return value


def _file(f: object) -> ModelFile:
    if not isinstance(f, dict):
        raise ValueError("each file must be an object")
    name = check_file_name(f.get("name"))
    sha = f.get("sha256")
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise ValueError(f"file {name[:60]!r} has no valid sha256")
    size = f.get("size")
    if size is not None:
        size = _whole(size, f"the size of {name[:60]!r}", 0, 1 << 50)
    return ModelFile(name, sha, size)


def _options(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list) or len(value) > 256:
        raise ValueError("options must be a list of at most 256 pairs")
    pairs = []
    for kv in value:
        if not (isinstance(kv, list) and len(kv) == 2 and all(isinstance(x, str) and len(x) <= MAX_TEXT for x in kv)):
            raise ValueError("each option must be a pair of texts")
        pairs.append((kv[0], kv[1]))
    return tuple(pairs)


def spec_from_json(m: object, where: Path) -> ModelSpec:
    """The spec an entry describes; a ModelError that says what to do when it cannot be read."""
    name = entry_name(m)
    try:
        if not isinstance(m, dict):
            raise ValueError("an entry must be an object")
        check_model_name(m.get("name"))
        files = m.get("files")
        if not isinstance(files, list) or not 1 <= len(files) <= MAX_FILES:
            raise ValueError(f"files must be a list of 1 to {MAX_FILES} files")
        parsed = tuple(_file(f) for f in files)
        if len({f.name for f in parsed}) != len(parsed):
            raise ValueError("two files have the same name")
        return ModelSpec(
            name=m["name"],
            purpose=_choice(m, "purpose", get_args(Purpose)),  # type: ignore[arg-type]
            runtime=_choice(m, "runtime", RUNTIMES.names),
            architecture=_text(m, "architecture"),
            scale=_whole(m.get("scale"), "scale", 1, MAX_MODEL_SCALE),
            files=parsed,
            license=_text(m, "license", "unknown"),
            non_commercial=_flag(m, "non_commercial", False),
            content=_choice(m, "content", get_args(Content), "photo"),  # type: ignore[arg-type]
            description=_text(m, "description", ""),
            supports_half=_flag(m, "supports_half", True),
            options=_options(m.get("options", [])),
        )
    except _Newer as err:
        if name is None:
            raise ModelError(f"the imported-models manifest {where} has a damaged entry ({err}); fix or delete it") from None
        raise ModelError(
            f"the imported-models manifest {where} has an entry {name!r} this revive cannot read ({err}); "
            f"a newer revive may have written it: upgrade, or run 'revive models remove {name}'"
        ) from None
    except (InvalidParameter, ValueError, TypeError) as err:
        what = f"an entry {name!r}" if name else "an entry"
        fix = f"run 'revive models remove {name}' and add it again" if name else "fix or delete it"
        raise ModelError(f"the imported-models manifest {where} has {what} that is damaged ({err}); {fix}") from None


def one_problem(problems: list[str], where: Path) -> tuple[str, ...]:
    """Several unreadable entries make one line, not one each."""
    if len(problems) <= 1:
        return tuple(problems)
    return (f"{len(problems)} entries of the imported-models manifest {where} cannot be read; "
            f"the first: {problems[0]}",)
