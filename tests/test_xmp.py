"""Every output records in XMP what revive did, merged into the source's own XMP, readable back."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms

from revive import imageio
from revive.errors import ImageReadError
from revive.types import ImageMeta, Photo, ProcessingRecord, StageRecord

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
REVIVE = "https://revive.photo/ns/1.0/"
IPTC = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
DC = "http://purl.org/dc/elements/1.1/"
TIFF = "http://ns.adobe.com/tiff/1.0/"
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
T0 = datetime(2026, 3, 1, 9, 30, 0, 250_000, tzinfo=timezone.utc)

RECORD = ProcessingRecord(
    operation="enhance",
    stages=(
        StageRecord("denoise", params={"strength": 0.35}),
        StageRecord("upscale", "realesrgan-x4plus", "0.2.5", "a" * 64, {"scale": 4, "tile": 256, "fp16": False}),
        StageRecord("faces", "codeformer", None, None, {"fidelity": 0.7}, generative=True),
    ),
    revive_version="9.8.7",
    started=T0,
    finished=T0 + timedelta(seconds=12.5),
)


def raw_xmp(path: Path) -> bytes:
    """The packet as another program finds it (Pillow's info or tifffile's tag 700), not via revive."""
    if path.suffix == ".tiff":
        with tifffile.TiffFile(path) as tf:
            return bytes(tf.pages.first.tags.valueof(700))
    with Image.open(path) as im:
        value = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    return value.encode() if isinstance(value, str) else value


def descriptions(packet: bytes) -> list[ET.Element]:
    return list(ET.fromstring(packet.split(b"?>", 1)[1].rsplit(b"<?xpacket", 1)[0]).iter(f"{{{RDF}}}Description"))


def find_all(packet: bytes, ns: str, name: str) -> list[str]:
    out = []
    for desc in descriptions(packet):
        out += [c.text or "" for c in desc if c.tag == f"{{{ns}}}{name}"]
        if f"{{{ns}}}{name}" in desc.attrib:
            out.append(desc.attrib[f"{{{ns}}}{name}"])
    return out


LAYOUTS = {
    "rgb8": lambda a: a,
    "gray8": lambda a: a[:, :, 1],
    "rgba8": lambda a: np.dstack([a, np.linspace(0, 255, a.shape[1], dtype=np.uint8)[None].repeat(a.shape[0], 0)]),
    "rgb16": lambda a: a.astype(np.uint16) * 257 + 3,
}


@pytest.mark.parametrize("fmt", imageio.SUPPORTED_WRITE_FORMATS)
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_the_record_round_trips_in_every_format(tmp_path: Path, coffee: np.ndarray, fmt: str, layout: str) -> None:
    exif = Image.Exif()
    exif[0x010F] = "Nikon"
    meta = ImageMeta(icc_profile=SRGB if layout != "gray8" else None, exif=exif.tobytes(), dpi=(300.0, 300.0))
    photo = Photo.from_array(LAYOUTS[layout](coffee[:40, :56]), meta)
    out = imageio.write(photo, tmp_path / f"x.{fmt}", record=RECORD)
    assert imageio.read_record(out) == RECORD
    assert b"revive:Operation" in raw_xmp(out)
    back = imageio.read(out)
    assert back.meta.xmp is not None and imageio.read_record(out).stages[1].params["tile"] == 256
    assert back.meta.icc_profile == meta.icc_profile or fmt == "webp" and layout == "gray8"
    with Image.open(out) as im:
        assert im.getexif().get(0x010F) == "Nikon"


def test_generative_runs_carry_the_iptc_digital_source_type(tmp_path: Path, coffee: np.ndarray) -> None:
    photo = Photo.from_array(coffee[:16, :16])
    plain = ProcessingRecord("upscale", (StageRecord("upscale", "realesrgan-x4plus", params={"scale": 4}),))
    assert not plain.generative and RECORD.generative
    for name, record in (("plain", plain), ("gen", RECORD)):
        out = imageio.write(photo, tmp_path / f"{name}.jpg", record=record)
        packet = raw_xmp(out)
        assert find_all(packet, REVIVE, "Generative") == [str(record.generative)]
        expected = [imageio.GENERATIVE_SOURCE_TYPE] if record.generative else []
        assert find_all(packet, IPTC, "DigitalSourceType") == expected


def test_every_output_has_a_record_and_its_time_is_the_writing_time(tmp_path: Path, coffee: np.ndarray) -> None:
    before = datetime.now(timezone.utc)
    out = imageio.write(Photo.from_array(coffee[:8, :8]), tmp_path / "plain.png")
    after = datetime.now(timezone.utc)
    record = imageio.read_record(out)
    assert record is not None and record.operation == "write" and record.stages == () and not record.generative
    assert record.finished is not None and before <= record.finished <= after
    import revive

    assert record.revive_version == revive.__version__
    stamped = Photo.from_array(coffee[:8, :8], ImageMeta(record=RECORD))
    assert imageio.read_record(imageio.write(stamped, tmp_path / "meta.png")) == RECORD  # meta.record is used


SOURCE_XMP = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{RDF}">
 <rdf:Description rdf:about="" xmlns:dc="{DC}" xmlns:tiff="{TIFF}"
   xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:xmpRights="http://ns.adobe.com/xap/1.0/rights/"
   xmlns:Iptc4xmpExt="{IPTC}" xmlns:revive="{REVIVE}"
   tiff:Orientation="6" exif:PixelXDimension="56" exif:PixelYDimension="40" xmpRights:Marked="True"
   revive:Operation="old-run">
  <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Grandma, 1962</rdf:li></rdf:Alt></dc:title>
  <Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture</Iptc4xmpExt:DigitalSourceType>
  <revive:Version>0.0.1</revive:Version>
 </rdf:Description>
</rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>""".encode()


@pytest.mark.parametrize("fmt", imageio.SUPPORTED_WRITE_FORMATS)
def test_the_source_xmp_is_merged_not_dropped(tmp_path: Path, coffee: np.ndarray, fmt: str) -> None:
    """Titles and rights stay; an old revive record and the orientation (pixels are upright) do not."""
    src = tmp_path / "src.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(coffee[:40, :56]).save(src, quality=95, exif=exif, xmp=SOURCE_XMP)
    photo = imageio.read(src)
    assert photo.width == 40 and photo.meta.xmp is not None  # turned upright by the EXIF orientation
    big = Photo(np.repeat(np.repeat(photo.pixels, 2, 0), 2, 1), None, photo.meta)
    plain = ProcessingRecord("upscale", (StageRecord("upscale", "x2"),), started=T0, finished=T0)
    out = imageio.write(big, tmp_path / f"out.{fmt}", record=plain)
    packet = raw_xmp(out)
    assert b"Grandma, 1962" in packet and find_all(packet, "http://ns.adobe.com/xap/1.0/rights/", "Marked") == ["True"]
    assert find_all(packet, TIFF, "Orientation") == ["1"]
    assert find_all(packet, "http://ns.adobe.com/exif/1.0/", "PixelXDimension") == ["80"]
    assert find_all(packet, REVIVE, "Operation") == ["upscale"] and find_all(packet, REVIVE, "Version") != ["0.0.1"]
    assert find_all(packet, IPTC, "DigitalSourceType")[0].endswith("/digitalCapture")  # not generative: kept
    assert imageio.read_record(out) == plain
    reread = imageio.read(out)
    assert (reread.width, reread.height) == (80, 112)  # not turned a second time by an XMP orientation
    gen = imageio.write(big, tmp_path / f"gen.{fmt}", record=RECORD)
    assert find_all(raw_xmp(gen), IPTC, "DigitalSourceType") == [imageio.GENERATIVE_SOURCE_TYPE]


def test_an_xmp_only_orientation_is_applied_on_reading(tmp_path: Path, coffee: np.ndarray) -> None:
    path = tmp_path / "xmp-turned.png"
    Image.fromarray(coffee[:40, :56]).save(path, pnginfo=_xmp_chunk(SOURCE_XMP))
    photo = imageio.read(path)
    assert np.array_equal(photo.to_array(np.uint8), np.rot90(coffee[:40, :56], -1))  # 6: turn clockwise


def _xmp_chunk(packet: bytes):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", packet.decode())
    return info


@pytest.mark.parametrize(
    "packet",
    [
        b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF",  # cut
        b"not xml at all \x00\xff",
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>&lol2;</x:xmpmeta>",  # entity expansion is never attempted
    ],
)
def test_a_broken_source_xmp_is_left_out_with_a_note(tmp_path: Path, coffee: np.ndarray, packet: bytes) -> None:
    photo = Photo.from_array(coffee[:8, :8], ImageMeta(xmp=packet))
    assert "the source's XMP could not be parsed and was left out" in imageio.write_notes(photo, "png")
    out = imageio.write(photo, tmp_path / "x.png", record=RECORD)
    assert imageio.read_record(out) == RECORD and b"lol" not in raw_xmp(out)


def test_jpeg_keeps_the_record_when_the_source_xmp_is_too_big(tmp_path: Path, coffee: np.ndarray) -> None:
    filler = "<dc:description>" + "a long caption " * 5000 + "</dc:description>"
    packet = SOURCE_XMP.replace(b"<revive:Version>", filler.encode() + b"<revive:Version>")
    photo = Photo.from_array(coffee[:8, :8], ImageMeta(xmp=packet))
    assert any("only revive's record is stored" in n for n in imageio.write_notes(photo, "jpg"))
    assert imageio.write_notes(photo, "png") == []
    jpg = imageio.write(photo, tmp_path / "x.jpg", record=RECORD)
    png = imageio.write(photo, tmp_path / "x.png", record=RECORD)
    assert imageio.read_record(jpg) == imageio.read_record(png) == RECORD
    assert b"a long caption" not in raw_xmp(jpg) and b"a long caption" in raw_xmp(png)


def test_read_record_of_foreign_and_non_image_files(tmp_path: Path, coffee: np.ndarray) -> None:
    Image.fromarray(coffee[:8, :8]).save(tmp_path / "camera.jpg")
    assert imageio.read_record(tmp_path / "camera.jpg") is None
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(ImageReadError, match="not an image"):
        imageio.read_record(tmp_path / "notes.txt")


def test_reading_the_record_does_not_decode_pixels(tmp_path: Path, coffee: np.ndarray) -> None:
    """Its header claims 3.6 gigapixels: read() refuses, read_record() answers from the metadata alone."""
    import struct

    out = bytearray(imageio.write(Photo.from_array(coffee[:16, :16]), tmp_path / "x.jpg", record=RECORD).read_bytes())
    sof = next(i for i in range(len(out) - 1) if out[i] == 0xFF and out[i + 1] in (0xC0, 0xC1, 0xC2))
    struct.pack_into(">HH", out, sof + 5, 60_000, 60_000)
    (tmp_path / "x.jpg").write_bytes(bytes(out))
    with pytest.raises(ImageReadError, match="megapixels"):
        imageio.read(tmp_path / "x.jpg")
    assert imageio.read_record(tmp_path / "x.jpg") == RECORD
