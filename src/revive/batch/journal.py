"""What makes a batch resumable: an append-only journal and a lock, both in the output folder.

The journal is JSON lines, each written with one ``write`` and ``fsync``'d before the batch moves
on. An item's ``done`` line is written only after its output is in place (outputs are written
atomically by the job runner), so after a crash — even ``kill -9`` — every ``done`` line stands for
a whole output, and an output without one is redone. A line torn by a crash (power loss) is
ignored on reading. ``begin`` lines mark the outputs this batch owns, so a rerun may replace them,
while a stranger's file in the way is refused unless ``--overwrite`` is given.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import FolderBusy, ImageWriteError
from ..imageio import fit_name

STATE_DIR = ".revive-batch"
JOURNAL_NAME = "journal.jsonl"
LOCK_NAME = "lock"
# What the atomic writer leaves behind when killed: ``.<name>.<8 random characters>.tmp``.
_TEMP = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.tmp$")


@dataclass
class JournalState:
    """The latest word on each input (by its name relative to the input folder)."""

    done: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: dict[str, dict[str, Any]] = field(default_factory=dict)
    owned: set[str] = field(default_factory=set)  # outputs (relative to the output folder) the batch wrote or began


class Journal:
    def __init__(self, folder: Path) -> None:
        self.path = folder / STATE_DIR / JOURNAL_NAME
        self._fd: int | None = None

    def read(self) -> JournalState:
        state = JournalState()
        for entry in _entries(self.path):
            name, kind = entry.get("name"), entry.get("event")
            if not isinstance(name, str):
                continue
            if isinstance(entry.get("target"), str):
                state.owned.add(entry["target"])
            if kind == "done":
                state.done[name] = entry
                state.failed.pop(name, None)
            elif kind == "failed":
                state.failed[name] = entry
        return state

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            if os.fstat(self._fd).st_size and not _ends_with_newline(self.path):
                os.write(self._fd, b"\n")  # a torn last line stays alone and is skipped when read
        except OSError as err:
            raise ImageWriteError(f"cannot write the batch journal {self.path} ({err.strerror or err}); "
                                  "pick an output folder you can write to") from err

    def append(self, entry: dict[str, Any]) -> None:
        """Write one line and make it durable before returning."""
        if self._fd is None:
            raise RuntimeError("the journal is not open")
        data = (json.dumps(entry, ensure_ascii=False, sort_keys=True, allow_nan=False) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _entries(path: Path) -> Iterator[dict[str, Any]]:
    try:
        with open(path, "rb") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # torn by a crash mid-line
        if isinstance(entry, dict):
            yield entry


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def sweep_temporaries(folders: Iterable[Path], names: set[str] | None) -> list[Path]:
    """Remove what a killed writer left: ``.<name>.XXXXXXXX.tmp`` for the files this batch may write
    (``names``; None: any, in folders that are the batch's own)."""
    prefixes = None if names is None else {fit_name(n, 255 - 14) for n in names}  # cut as the writer cuts them
    removed = []
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            match = _TEMP.match(entry.name)
            ours = match is not None and (prefixes is None or match.group("name") in prefixes)
            if ours and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


# --- the lock ---------------------------------------------------------------------------------------

class FolderLock:
    """One batch per output folder. The lock file names its holder (host, PID and the PID's start
    time); a holder that is gone — killed, even with ``kill -9`` — is detected and its lock taken over."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / STATE_DIR / LOCK_NAME
        self._held = False

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {"host": socket.gethostname(), "pid": os.getpid(), "start": _start_time(os.getpid()),
              "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                with _guard(self.path):  # two batches reclaiming one stale lock take turns
                    holder = _holder(self.path)
                    if holder is not None and not _is_stale(holder):
                        raise FolderBusy(_busy_message(self.path, holder)) from None
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self.path)
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
                f.flush()
                os.fsync(f.fileno())
            self._held = True
            return
        raise FolderBusy(f"could not take the lock {self.path}; is another batch starting on this folder?")

    def release(self) -> None:
        if self._held:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            self._held = False


def _holder(path: Path) -> dict[str, Any] | None:
    """The lock's holder; None when the file is gone, or empty and old (its writer died creating it)."""
    try:
        text = path.read_text()
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None
    try:
        holder = json.loads(text)
    except ValueError:
        holder = None
    if isinstance(holder, dict):
        return holder
    return None if age > 10 else {"host": socket.gethostname(), "pid": None, "since": "just now"}


def _is_stale(holder: dict[str, Any]) -> bool:
    if holder.get("host") != socket.gethostname():
        return False  # another machine's process cannot be checked from here
    pid = holder.get("pid")
    if not isinstance(pid, int):
        return False  # being written right now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    start = _start_time(pid)
    if start == "zombie":
        return True
    return holder.get("start") is not None and start is not None and start != holder.get("start")  # PID reused


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), "zombie" for a dead unreaped one."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return "zombie" if fields[0] in ("Z", "X") else fields[19]


def _busy_message(path: Path, holder: dict[str, Any]) -> str:
    who = f"process {holder.get('pid')} on {holder.get('host')} (since {holder.get('since')})"
    return (f"another batch is writing to this output folder: {who}. Wait for it, or pick another output folder; "
            f"if no batch runs there any more, delete {path}")


@contextlib.contextmanager
def _guard(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: the PID check alone
        yield
        return
    with open(path.with_name(path.name + ".guard"), "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
