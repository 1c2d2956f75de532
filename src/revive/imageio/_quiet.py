"""Silence the image libraries: their warnings become revive notes instead of stray stderr lines.

Three channels are caught while an image is decoded or encoded: Python warnings (Pillow),
the ``tifffile`` logger, and C-level messages that libtiff (inside Pillow) or libpng (inside
OpenCV) print straight to file descriptor 2. The fd-2 redirect is process-wide, so concurrent
captures share one (reference-counted) and each takes what was printed during its own window;
text carrying terminal control codes (a progress bar drawn meanwhile) is passed through.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

_LOGGERS = ("tifffile",)
_lock = threading.RLock()


@dataclass
class Diagnostics:
    """What the libraries said during one capture, as short lines (filled when the capture ends)."""

    lines: list[str] = field(default_factory=list)

    def notes(self) -> list[str]:
        """The lines as notes for a Photo: known messages in plain words, the rest quoted, no repeats."""
        out: list[str] = []
        for line in self.lines:
            note = _plain(line)
            if note and note not in out:
                out.append(note)
        return out[:8]  # a fuzzed file can warn hundreds of times; the first few say enough


@dataclass
class _State:
    depth: int = 0
    records: list[str] = field(default_factory=list)
    saved_fd: int | None = None
    sink: Any = None
    saved_showwarning: Any = None
    saved_filters: Any = None
    handler: logging.Handler | None = None
    saved_propagate: dict[str, bool] = field(default_factory=dict)
    swallowed: list[tuple[int, int]] = field(default_factory=list)  # fd-2 byte ranges already dealt with


_state = _State()


class _Collect(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            _state.records.append(record.getMessage())


def _showwarning(message: Any, category: type[Warning], *args: object, **kwargs: object) -> None:
    if issubclass(category, (UserWarning, RuntimeWarning)):  # deprecations are for developers, not users
        _state.records.append(str(message))


@contextmanager
def quiet(*, keep: bool = True) -> Iterator[Diagnostics]:
    """Capture the libraries' warnings for the duration of the block into the yielded Diagnostics.

    With ``keep=False`` what is said inside is dropped, also for enclosing captures: for an attempt
    whose failure is handled (a second decoder that succeeds makes the first one's complaints moot).
    """
    diag = Diagnostics()
    with _lock:
        if _state.depth == 0:
            _start()
        _state.depth += 1
        first_record = len(_state.records)
        fd_start = _fd_offset()
    try:
        yield diag
    finally:
        with _lock:
            diag.lines.extend(_state.records[first_record:])
            diag.lines.extend(_native_lines(fd_start))
            if not keep:
                del _state.records[first_record:]
                _state.swallowed.append((fd_start, _fd_offset()))
            _state.depth -= 1
            if _state.depth == 0:
                _stop()


def _start() -> None:
    _state.records = []
    _state.saved_filters = warnings.filters[:]
    _state.saved_showwarning = warnings.showwarning
    warnings.simplefilter("always")  # "once per location" would hide the second file's warning
    warnings.showwarning = _showwarning
    _state.handler = _Collect()
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        _state.saved_propagate[name] = logger.propagate
        logger.propagate = False
        logger.addHandler(_state.handler)
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, AttributeError, ValueError):  # no fd 2 (a service without a console): nothing to catch
        return
    _state.sink = tempfile.TemporaryFile()
    _state.saved_fd = saved
    os.dup2(_state.sink.fileno(), 2)


def _stop() -> None:
    warnings.filters[:] = _state.saved_filters  # type: ignore[index]  # a list at run time
    warnings.showwarning = _state.saved_showwarning
    getattr(warnings, "_filters_mutated", lambda: None)()  # registries forget what was cached meanwhile
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _state.handler is not None:
            logger.removeHandler(_state.handler)
        logger.propagate = _state.saved_propagate.pop(name, True)
    if _state.saved_fd is not None:
        os.dup2(_state.saved_fd, 2)
        os.close(_state.saved_fd)
        _state.sink.close()
        _state.saved_fd, _state.sink = None, None
    _state.records = []
    _state.swallowed = []


def _fd_offset() -> int:
    return os.lseek(_state.sink.fileno(), 0, os.SEEK_END) if _state.sink is not None else 0


def _native_lines(start: int) -> list[str]:
    if _state.sink is None:
        return []
    end = _fd_offset()
    text = b""
    for a, b in _gaps(start, end, _state.swallowed):
        text += _read_at(_state.sink.fileno(), a, b - a)
    lines: list[str] = []
    for raw in text.decode("utf-8", "replace").splitlines():
        if "\x1b" in raw or "\r" in raw:  # a terminal display drawn meanwhile: let it through
            os.write(_state.saved_fd or 2, (raw + "\n").encode())
        elif raw.strip():
            lines.append(raw.strip())
    return lines


def _read_at(fd: int, offset: int, size: int) -> bytes:
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # Windows: no pread; a line printed this very moment may be lost
    try:
        return os.read(fd, size)
    finally:
        os.lseek(fd, 0, os.SEEK_END)


def _gaps(start: int, end: int, taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of [start, end) outside the ``taken`` ranges."""
    out, pos = [], start
    for a, b in sorted(taken):
        if b <= pos or a >= end:
            continue
        if a > pos:
            out.append((pos, a))
        pos = max(pos, b)
    if pos < end:
        out.append((pos, end))
    return out


# Messages that deserve plainer words; the rest are quoted as the library's own.
_KNOWN = (
    (re.compile(r"Unknown field with tag|unknown tag", re.I), ""),  # private tags are normal in TIFFs
    (re.compile(r"corrupt exif", re.I), "damaged EXIF data was partly ignored"),
    (re.compile(r"malformed MPO", re.I), "malformed multi-picture (MPO) data: read as a plain JPEG"),
    (re.compile(r"invalid APNG", re.I), "broken animation (APNG) data: the still image was read"),
    (re.compile(r"truncated file read|image file is truncated", re.I), "the file ends early: the missing part is gray"),
    (re.compile(r"incorrect (StripByteCounts|StripOffsets|TileByteCounts|TileOffsets)"),
     "the TIFF's strip table is inconsistent: it was repaired on reading"),
    (re.compile(r"circular reference to IFD"), "the TIFF's page list loops back on itself: extra pages ignored"),
    (re.compile(r"iCCP|sRGB profile"), ""),  # the profile itself is checked on reading (checked_icc)
)


def _plain(line: str) -> str:
    for pattern, note in _KNOWN:
        if pattern.search(line):
            return note
    text = re.sub(r"^<tifffile\.[^>]*>\s*", "", line)  # tifffile names its internal objects
    text = re.sub(r"^\S+\.tiff?:\s*", "", text)  # libtiff names its (temporary) file
    text = " ".join(text.split())
    return f"decoder warning: {text[:160]}" if text else ""
