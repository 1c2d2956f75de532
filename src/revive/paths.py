"""Where revive keeps its files: one home folder (models, the signing identity), ``$REVIVE_HOME`` or the platform's cache."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HOME_ENV = "REVIVE_HOME"


def default_home() -> Path:
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "revive"
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "revive" / "Cache"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "revive"
