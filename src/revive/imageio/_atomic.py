"""Atomic, no-clobber file output: temp file in the target folder, fsync, then link or replace.

The one way revive writes a file (images, reports, sidecars): readers see the old file or the
whole new one, and two writers of one target each use their own uniquely named temp file, so
their bytes never interleave: the last replace wins whole.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from revive.errors import ImageWriteError, OutputExists


def check_target(target: Path, *, overwrite: bool, protect: Iterable[Path]) -> None:
    """Refuse an output that is one of the inputs (always) or that exists (unless ``overwrite``)."""
    for src in protect:
        if _same_file(target, Path(src)):
            raise OutputExists(
                f"{target} is an input of this job and revive never overwrites its inputs, even with overwrite: "
                "pick another output path"
            )
    if target.is_dir():
        raise ImageWriteError(f"{target} is a folder: give a file name for the output")
    if not overwrite and (target.exists() or target.is_symlink()):
        raise OutputExists(f"{target} already exists: pass --overwrite (overwrite=True in Python) or pick another output path")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): compare where they would be
        return os.path.realpath(a) == os.path.realpath(b)


NAME_MAX = 255  # bytes per file name on nearly every file system


def fit_name(name: str, limit: int = NAME_MAX, *, keep_extension: bool = True) -> str:
    """``name`` cut (before its extension, on a character boundary) to at most ``limit`` bytes."""
    if len(os.fsencode(name)) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if not keep_extension or not dot or len(os.fsencode(ext)) > limit // 4:
        stem, dot, ext = name, "", ""
    room = limit - len(os.fsencode(dot + ext))
    cut = os.fsencode(stem)[:room].decode("utf-8", "ignore")  # drops a character split by the cut
    return cut + dot + ext


def write_atomic(target: Path, data: bytes, *, overwrite: bool) -> None:
    """Write ``data`` to ``target`` so that readers see the old file or the whole new one, never a part."""
    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ImageWriteError(
            f"cannot create the output folder {folder}: part of that path is a file, not a folder; "
            "pick another output path"
        ) from None
    except OSError as e:
        raise ImageWriteError(
            f"cannot create the output folder {folder} ({e.strerror or e}): pick another one"
        ) from None
    try:
        # mkstemp adds 8 random characters and the suffix: the prefix is cut to keep the name legal
        prefix = "." + fit_name(target.name, NAME_MAX - 14) + "."
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".tmp")
    except OSError as e:
        why = (
            "is not writable"
            if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
            else f"cannot be written ({e.strerror or e})"
        )
        raise ImageWriteError(f"the output folder {folder} {why}: pick another output folder") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _mode_for(target))
        if overwrite:
            os.replace(tmp, target)
        else:
            _publish_new(tmp, target)
        _fsync_folder(folder)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError) and not isinstance(e, ImageWriteError):
            why = "the disk is full" if e.errno == errno.ENOSPC else (e.strerror or str(e))
            raise ImageWriteError(f"could not write {target}: {why}; nothing was written") from e
        raise


def _publish_new(tmp: Path, target: Path) -> None:
    """Move ``tmp`` to ``target`` only if no file appeared there meanwhile (hard link is atomic and exclusive)."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise OutputExists(
            f"{target} already exists: pass --overwrite (overwrite=True in Python) or pick another output path"
        ) from None
    except OSError:  # the filesystem has no hard links: check, then replace
        if target.exists():
            raise OutputExists(
                f"{target} already exists: pass --overwrite (overwrite=True in Python) or pick another output path"
            ) from None
        os.replace(tmp, target)
        return
    tmp.unlink()


def _mode_for(target: Path) -> int:
    try:
        return stat.S_IMODE(os.stat(target).st_mode)  # replacing a file keeps its permissions
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes(
    path: str | os.PathLike[str], data: bytes, *, overwrite: bool = False, protect: Iterable[Path] = ()
) -> Path:
    """Write any file (a report, a sidecar) the way images are written: atomically, never over an input."""
    target = Path(path)
    check_target(target, overwrite=overwrite, protect=protect)
    write_atomic(target, data, overwrite=overwrite)
    return target


def write_text(
    path: str | os.PathLike[str], text: str, *, overwrite: bool = False, protect: Iterable[Path] = ()
) -> Path:
    """:func:`write_bytes` for UTF-8 text (JSON and HTML reports)."""
    return write_bytes(path, text.encode("utf-8"), overwrite=overwrite, protect=protect)
