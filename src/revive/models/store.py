"""Where model files live on disk, and how revive finds them.

Embedded models resolve to files inside installed packages; everything else lives in the store
folder (``$REVIVE_HOME/models``, default: the platform cache folder).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from ..errors import ModelNotFound
from .spec import ModelFile, ModelSpec


def default_home() -> Path:
    env = os.environ.get("REVIVE_HOME")
    if env:
        return Path(env).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "revive"
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "revive" / "Cache"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "revive"


def package_file(path: str) -> Path | None:
    """Resolve 'pkg/sub/file' to a file inside the installed package ``pkg``, if present."""
    package, _, rest = path.partition("/")
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        return None
    for folder in found.submodule_search_locations:
        candidate = Path(folder) / rest
        if candidate.is_file():
            return candidate
    return None


class ModelStore:
    def __init__(self, home: Path | None = None) -> None:
        self.home = home or default_home()

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    def _file_path(self, spec: ModelSpec, file: ModelFile) -> Path | None:
        for source in file.sources:
            if source.kind == "package":
                found = package_file(source.url)
                if found is not None:
                    return found
        stored = self.models_dir / spec.name / file.name
        return stored if stored.is_file() else None

    def is_available(self, spec: ModelSpec) -> bool:
        return all(self._file_path(spec, f) is not None for f in spec.files)

    def locate(self, spec: ModelSpec) -> list[Path]:
        """Paths of the model's files, in ``spec.files`` order, or a ModelNotFound that says what to do."""
        paths = []
        for f in spec.files:
            p = self._file_path(spec, f)
            if p is None:
                if spec.embedded:
                    raise ModelNotFound(
                        f"embedded model {spec.name!r} is missing its file {f.name}; reinstall revive-photo "
                        "(pip install --force-reinstall revive-photo)"
                    )
                raise ModelNotFound(f"model {spec.name!r} is not downloaded yet; run 'revive models pull {spec.name}'")
            paths.append(p)
        return paths
