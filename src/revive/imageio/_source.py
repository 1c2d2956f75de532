"""Opening an input safely: only regular files, never blocking, never reading more than the file holds.

A FIFO would block ``open()`` forever and ``/dev/zero`` never ends, so the file type is checked
with ``stat`` before opening, the open itself is non-blocking, and ``fstat`` on the opened
descriptor confirms it (the path may have been swapped in between). Reads stop at the size the
file had when opened, so a file that keeps growing (or a /proc file that lies) cannot run on.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from revive.errors import ImageReadError

HEAD_BYTES = 4096  # enough to sniff the format and to recognise common non-images

_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device (a disk)"),
    (stat.S_ISSOCK, "a socket"),
)


@dataclass
class Source:
    """An open regular file: its first bytes, and its size when it was opened."""

    path: Path
    file: BinaryIO
    size: int
    head: bytes

    def read_all(self) -> bytes:
        self.file.seek(0)
        data = self.file.read(self.size)
        if len(data) < self.size:
            raise ImageReadError(f"{self.path}: the file shrank while it was being read: try again once it is complete")
        return data

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_source(p: Path) -> Source:
    """Open ``p`` for reading if it is a non-empty regular file; otherwise one :class:`ImageReadError` saying why."""
    try:
        _refuse_special(p, os.stat(p).st_mode)
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0))
    except ImageReadError:
        raise
    except OSError as e:
        raise ImageReadError(_open_failure(p, e)) from None
    try:
        st = os.fstat(fd)
        _refuse_special(p, st.st_mode)
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    try:
        head = f.read(min(st.st_size, HEAD_BYTES))
    except OSError as e:
        f.close()
        raise ImageReadError(_open_failure(p, e)) from None
    if not head:
        f.close()
        raise ImageReadError(f"{p}: file is empty (0 bytes): copy or download it again")
    return Source(p, f, st.st_size, head)


def _refuse_special(p: Path, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise ImageReadError(f"{p} is a folder, not an image file: give the path of one image")
    for test, kind in _KINDS:
        if test(mode):
            raise ImageReadError(f"{p} is {kind}, not an image file: save the image to a regular file and read that")
    if not stat.S_ISREG(mode):
        raise ImageReadError(f"{p} is not a regular file: give the path of one image")


def _open_failure(p: Path, e: OSError) -> str:
    if e.errno == errno.ENOENT:
        return f"{p}: no such file: check the path and the spelling"
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"{p}: permission denied: this file cannot be read by the current user"
    if e.errno == errno.ENAMETOOLONG:
        return f"{p}: the name is too long for this file system: rename the file"
    if e.errno == errno.ELOOP:
        return f"{p}: symbolic links point at each other in a loop: fix or remove the link"
    if e.errno == errno.ENOTDIR:
        return f"{p}: part of the path is a file, not a folder: check the path"
    if e.errno == errno.EISDIR:
        return f"{p} is a folder, not an image file: give the path of one image"
    return f"{p}: the file cannot be read ({e.strerror or e})"


@contextlib.contextmanager
def spooled(data: bytes, suffix: str = "") -> Iterator[Path]:
    """Bytes as a private temporary file (the readers sniff content, not names); removed afterwards."""
    handle, name = tempfile.mkstemp(prefix="revive-", suffix=suffix)
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
        yield Path(name)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)
