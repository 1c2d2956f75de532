"""Where each output goes: pure naming rules shared by the CLI and batch jobs."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import InvalidParameter
from .imageio._atomic import fit_name
from .imageio._formats import EXTENSIONS, FORMATS

# Every extension revive reads (GIF, JFIF, DIB… too), so folders and single files agree.
IMAGE_SUFFIXES = frozenset(EXTENSIONS)
# Output format when the user asks for none: keep the input's own when revive can write it.
_WRITABLE = {s: f.write for f in FORMATS if f.write for s in f.suffixes}
_EXTENSION = {f.write: f.suffixes[0] for f in FORMATS if f.write}


@dataclass(frozen=True)
class OutputPlan:
    source: Path
    target: Path
    format: str


def expand_inputs(
    inputs: Iterable[str | os.PathLike[str]], *, recursive: bool = False, exclude: Path | None = None
) -> tuple[list[Path], bool]:
    """Files to process, and whether the inputs name several files (so the output is a folder).

    A folder contributes its image files (sorted, hidden ones skipped), and with ``recursive``
    those of its subfolders too, except hidden ones and ``exclude`` (the output folder, so a
    second run does not upscale the first one's results). A missing path is kept so that it is
    reported as a failure with the rest still running.
    """
    files: list[Path] = []
    many = False
    given = [Path(p) for p in inputs]
    skip = _resolved(exclude) if exclude is not None else None
    for path in given:
        if path.is_dir():
            many = True
            files.extend(_images_in(path, recursive, skip, set()))
        else:
            files.append(path)
    return files, many or len(given) > 1


def _images_in(folder: Path, recursive: bool, skip: Path | None, seen: set[Path]) -> list[Path]:
    here = _resolved(folder)
    if here in seen:  # a symbolic link back up the tree
        return []
    seen.add(here)
    found: list[Path] = []
    subfolders: list[Path] = []
    for p in sorted(folder.iterdir()):
        if p.name.startswith("."):
            continue
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            found.append(p)
        elif recursive and p.is_dir() and (skip is None or _resolved(p) != skip):
            subfolders.append(p)
    for sub in subfolders:
        found.extend(_images_in(sub, recursive, skip, seen))
    return found


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path.absolute()


def is_output_of(path: Path, tag: str) -> bool:
    """Whether ``path`` is named like an output of a job with this tag (``photo_x4.png``, ``photo_x4-1.png``)."""
    stem = path.stem
    base, dash, number = stem.rpartition("-")
    if dash and number.isdigit():
        stem = base
    return stem.endswith(f"_{tag}")


def suffix_tag(scale: float | None, native: int) -> str:
    value = native if scale is None else scale
    return f"x{value:g}"


def plan_outputs(
    sources: Sequence[Path],
    output: Path | None,
    *,
    output_is_dir: bool,
    format: str | None,
    tag: str,
    roots: Sequence[Path] = (),
) -> list[OutputPlan]:
    """Pair each source with a target path; names within one job never collide.

    A source found inside one of the input folders ``roots`` keeps its subfolder under the
    output folder (``scans/2019/a.jpg`` → ``out/2019/a_x4.jpg``).
    """
    if format is not None and format not in _EXTENSION:
        raise InvalidParameter(f"unknown output format {format!r}; use one of {', '.join(_EXTENSION)}")
    plans: list[OutputPlan] = []
    taken: set[Path] = set()
    for source in sources:
        if output is not None and not output_is_dir:
            target = output
            fmt = format or _WRITABLE.get(target.suffix.lower())
            if fmt is None:
                raise InvalidParameter(
                    f"{target}: unknown output format {target.suffix or '(no extension)'!r}; "
                    f"use one of {', '.join(_EXTENSION)} or pass --format"
                )
            if format is not None and _WRITABLE.get(target.suffix.lower()) != format:
                target = target.with_suffix(_EXTENSION[format])
        else:
            fmt = format or _WRITABLE.get(source.suffix.lower(), "png")
            folder = source.parent if output is None else output / _subfolder(source, roots)
            target = folder / _output_name(source.stem, f"_{tag}{_EXTENSION[fmt]}")
        target = _unique(target, taken)
        taken.add(target)
        plans.append(OutputPlan(source, target, fmt))
    return plans


def _subfolder(source: Path, roots: Sequence[Path]) -> Path:
    for root in roots:
        if source.parent.is_relative_to(root):
            return source.parent.relative_to(root)
    return Path()


def _output_name(stem: str, ending: str) -> str:
    """``stem + ending``, the stem shortened so the name fits the file system's 255 bytes (ending kept whole)."""
    room = 255 - len(os.fsencode(ending)) - 4  # and room for a "-123" that _unique may add
    return fit_name(stem, room, keep_extension=False) + ending if len(os.fsencode(stem)) > room else stem + ending


def _unique(target: Path, taken: set[Path]) -> Path:
    candidate, n = target, 1
    while candidate in taken:
        candidate = target.with_name(_output_name(target.stem, f"-{n}{target.suffix}"))
        n += 1
    return candidate


def check_target(target: Path, *, overwrite: bool, protect: Sequence[Path] = ()) -> None:
    """Refuse early (before any slow work) what the atomic write would refuse at the end: an output
    that is an input or a folder, an existing file without ``overwrite``, a folder that cannot be made."""
    from .errors import ImageWriteError
    from .imageio._atomic import check_target as refuse_like_the_write

    refuse_like_the_write(target, overwrite=overwrite, protect=protect)
    existing = target.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ImageWriteError(f"{target}: cannot create the output folder ({existing} is a file); pick another output path")
    if not os.access(existing, os.W_OK):
        raise ImageWriteError(f"{target}: the output folder {existing} is not writable; pick another output folder")
