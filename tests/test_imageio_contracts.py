"""What imageio promises as a whole: formats declared once and true to their declarations, one atomic
writer for every file (images and reports) that concurrent writers cannot interleave, short reprs."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from revive import imageio
from revive.errors import InvalidParameter, OutputExists
from revive.outputs import IMAGE_SUFFIXES
from revive.types import ImageMeta, Photo, ProcessingRecord

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()

# ---------------------------------------------------------------- the format table


def test_each_format_and_suffix_is_declared_once() -> None:
    keys = [f.key for f in imageio.FORMATS]
    suffixes = [s for f in imageio.FORMATS for s in f.suffixes]
    assert len(keys) == len(set(keys)) and len(suffixes) == len(set(suffixes))
    assert imageio.SUPPORTED_WRITE_FORMATS == tuple(f.write for f in imageio.FORMATS if f.write)
    assert IMAGE_SUFFIXES == frozenset(suffixes)
    for spec in imageio.FORMATS:
        for suffix in spec.suffixes:
            if spec.write:
                assert imageio.format_for_path(f"a{suffix.upper()}") == spec.write
            else:
                with pytest.raises(InvalidParameter):
                    imageio.format_for_path(f"a{suffix}")


def _rich_photo(rgb: np.ndarray) -> Photo:
    """16-bit gray with a half-transparent alpha, ICC-less gray, EXIF, DPI and a source XMP packet."""
    exif = Image.Exif()
    exif[0x010F] = "Leica"
    gray16 = rgb[:, :, 0].astype(np.uint16) * 257 + 1
    alpha = np.full(gray16.shape, 40000, np.uint16)
    xmp = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'/></x:xmpmeta>"
    meta = ImageMeta(bit_depth=16, exif=exif.tobytes(), dpi=(240.0, 240.0), xmp=xmp)
    return Photo.from_array(np.dstack([gray16, alpha]), meta)


@pytest.mark.parametrize("spec", [f for f in imageio.FORMATS if f.write], ids=lambda f: f.key)
def test_written_files_keep_exactly_what_their_spec_declares(tmp_path: Path, coffee: np.ndarray, spec) -> None:
    photo = _rich_photo(coffee[:32, :48])
    notes = imageio.write_notes(photo, spec.write)
    back = imageio.read(imageio.write(photo, tmp_path / f"x{spec.suffixes[0]}", record=ProcessingRecord("test")))
    assert (back.meta.bit_depth == 16) == (16 in spec.depths)
    assert (back.alpha is not None) == spec.alpha
    assert back.is_gray == spec.gray
    assert (back.meta.dpi == (240.0, 240.0)) == ("dpi" in spec.carries)
    assert (back.meta.exif is not None) == ("exif" in spec.carries)
    assert (imageio.read_record(tmp_path / f"x{spec.suffixes[0]}") is not None) == ("xmp" in spec.carries)
    lost = {"16": 16 not in spec.depths, "alpha": not spec.alpha, "grayscale": not spec.gray,
            "resolution": "dpi" not in spec.carries}  # fmt: skip
    for word, is_lost in lost.items():
        assert any(word in n for n in notes) == is_lost, (word, notes)


def test_max_side_comes_from_the_spec(tmp_path: Path) -> None:
    for spec in (f for f in imageio.FORMATS if f.write and f.max_side):
        wide = Photo(np.zeros((1, spec.max_side + 1, 3), np.float32))
        with pytest.raises(InvalidParameter, match=f"at most {spec.max_side} pixels a side"):
            imageio.write(wide, tmp_path / f"w{spec.suffixes[0]}")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- one atomic writer


def test_text_and_bytes_go_through_the_same_no_clobber_writer(tmp_path: Path) -> None:
    report = imageio.write_text(tmp_path / "r" / "report.json", '{"ok": true}\n')
    assert report.read_text() == '{"ok": true}\n'
    with pytest.raises(OutputExists, match="already exists"):
        imageio.write_text(report, "{}")
    imageio.write_text(report, "{}", overwrite=True)
    assert report.read_text() == "{}"
    source = tmp_path / "in.png"
    source.write_bytes(b"precious")
    with pytest.raises(OutputExists, match="input"):
        imageio.write_bytes(source, b"x", overwrite=True, protect=[source])
    assert source.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["in.png", "r", "report.json"]


def test_a_255_byte_target_gets_a_legal_temporary_name(tmp_path: Path) -> None:
    name = "ü" * 123 + "abcde.png"  # 255 bytes: "." + name + random + ".tmp" would not fit
    assert len(name.encode()) == 255
    out = imageio.write(Photo(np.zeros((4, 4, 3), np.float32)), tmp_path / name)
    assert out.is_file() and [p.name for p in tmp_path.iterdir()] == [name]
    assert imageio.fit_name(name, 100).endswith(".png") and len(imageio.fit_name(name, 100).encode()) <= 100


def _hammer(target: str, byte: int, rounds: int, start: multiprocessing.synchronize.Event) -> None:
    start.wait()
    payload = bytes([byte]) * (3 << 20)  # 3 MB: big enough that a torn write would show
    for _ in range(rounds):
        imageio.write_bytes(target, payload, overwrite=True)


def test_two_processes_writing_one_target_never_interleave(tmp_path: Path) -> None:
    target = tmp_path / "shared.bin"
    ctx = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    start = ctx.Event()
    workers = [ctx.Process(target=_hammer, args=(str(target), b, 15, start)) for b in (0x41, 0x42)]
    for w in workers:
        w.start()
    start.set()
    seen = set()
    while any(w.is_alive() for w in workers):
        try:
            data = target.read_bytes()
        except FileNotFoundError:
            continue
        assert len(data) == 3 << 20 and data.count(data[:1]) == len(data), "a reader saw a mixed or partial file"
        seen.add(data[:1])
    for w in workers:
        w.join()
        assert w.exitcode == 0
    assert [p.name for p in tmp_path.iterdir()] == ["shared.bin"]  # no temporary files left behind
    assert seen  # the reader did look while they wrote


def _claim(target: str, start: multiprocessing.synchronize.Event, results: multiprocessing.Queue) -> None:
    start.wait()
    try:
        imageio.write_bytes(target, str(os.getpid()).encode())
        results.put("won")
    except OutputExists:
        results.put("refused")


def test_without_overwrite_exactly_one_of_many_writers_wins(tmp_path: Path) -> None:
    target = tmp_path / "new.txt"
    ctx = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    start, results = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_claim, args=(str(target), start, results)) for _ in range(6)]
    for w in workers:
        w.start()
    start.set()
    for w in workers:
        w.join()
    outcomes = sorted(results.get(timeout=5) for _ in workers)
    assert outcomes == ["refused"] * 5 + ["won"]
    assert [p.name for p in tmp_path.iterdir()] == ["new.txt"]


# ---------------------------------------------------------------- repr


def test_repr_is_one_short_line(coffee: np.ndarray) -> None:
    photo = Photo.from_array(np.dstack([coffee.astype(np.uint16) * 257, coffee[:, :, 0].astype(np.uint16) * 257]))
    text = repr(photo)
    assert "\n" not in text and len(text) < 80 and "600" in text and "400" in text
    assert "RGB+alpha" in text and "16-bit" in text
    meta = ImageMeta(icc_profile=SRGB, exif=b"Exif\x00\x00" + b"\x00" * 500, source_path=Path("/photos/a.jpg"))
    assert "gray" in repr(Photo.from_array(coffee[:, :, 0], meta))
    assert f"icc_profile=<{len(SRGB)} bytes>" in repr(meta) and "exif=<506 bytes>" in repr(meta)
    assert "\n" not in repr(meta) and len(repr(meta)) < 300
