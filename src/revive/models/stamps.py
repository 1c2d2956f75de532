"""Has a stored file changed since its sha256 last matched? A stat says so without re-hashing.

When a file's sha256 is checked, its size, modification and change times, device and inode are
written to ``<store>/models/.verified/<model>.json``. Locating the file for loading compares a
fresh stat with that record: equal means unchanged (the change time moves on every write and
cannot be set back by a user), anything else means a full re-hash. Records are a cache: a store
that cannot be written still works, it just hashes once per process.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from .download import sha256_file

Stamp = tuple[int, ...]


def stamp_of(path: Path) -> Stamp:
    st = path.stat()
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_dev, st.st_ino)


class StampBook:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._memo: dict[str, dict[str, list[object]]] = {}

    def _path(self, model: str) -> Path:
        return self.folder / f"{model}.json"

    def _records(self, model: str) -> dict[str, list[object]]:
        if model not in self._memo:
            try:
                with open(self._path(model), "rb") as f:
                    data = json.loads(f.read(1 << 20))
            except (OSError, ValueError, RecursionError):
                data = {}
            self._memo[model] = data if isinstance(data, dict) else {}
        return self._memo[model]

    def sha256(self, model: str, path: Path) -> str:
        """``path``'s sha256: from the record when its stat is unchanged, else hashed (and recorded)."""
        stamp = stamp_of(path)
        record = self._records(model).get(str(path))
        if isinstance(record, list) and len(record) == len(stamp) + 1 and tuple(record[:-1]) == stamp:
            return str(record[-1])
        digest = sha256_file(path)
        self.record(model, path, digest, stamp)
        return digest

    def record(self, model: str, path: Path, digest: str, stamp: Stamp | None = None) -> None:
        """Note that ``path`` had ``digest`` as it is now (best effort: a read-only store keeps it in memory)."""
        try:
            stamp = stamp or stamp_of(path)
        except OSError:
            return
        records = self._records(model)
        records[str(path)] = [*stamp, digest]
        with contextlib.suppress(OSError):
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{model}-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(records, f)
                os.replace(tmp, self._path(model))
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    def forget(self, model: str) -> None:
        self._memo.pop(model, None)
        self._path(model).unlink(missing_ok=True)
