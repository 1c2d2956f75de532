"""House rules that tools check: ruff (prints banned in the library) and mypy on src/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean():
    result = _run("ruff", "check", "src", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean_on_the_library():
    if not (REPO / "src" / "revive").is_dir():
        pytest.fail("run the tests from a source checkout")
    result = _run("mypy", "src/revive")
    assert result.returncode == 0, result.stdout + result.stderr


def test_lower_layers_never_import_higher_ones():
    """Lower layers never import higher ones (see ARCHITECTURE.md)."""
    layers = ["errors", "paths", "types", "colorimetry", "imageio", "imageops", "tiling", "masks", "models", "engine", "analysis",
              "stages", "pipeline", "outputs", "operations", "jobs", "batch", "api", "cli", "server"]
    rank = {name: i for i, name in enumerate(layers)}
    problems = []
    for path in (REPO / "src" / "revive").rglob("*.py"):
        module = path.relative_to(REPO / "src" / "revive").parts[0].removesuffix(".py")
        if module not in rank:
            continue
        for line in path.read_text().splitlines():
            line = line.strip()
            if not line.startswith("from ."):
                continue
            target = line.split()[1].lstrip(".").split(".")[0]
            depth = len(line.split()[1]) - len(line.split()[1].lstrip("."))
            if depth == 1 and path.parent.name != "revive":
                continue  # a sibling inside the same package
            if target in rank and rank[target] > rank[module]:
                problems.append(f"{path.relative_to(REPO)}: {line}")
    assert not problems, "upward imports:\n" + "\n".join(problems)

