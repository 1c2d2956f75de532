"""The XMP packet every output carries: what revive did, merged into the source's own XMP.

revive's properties live in their own namespace (``revive:``) in one ``rdf:Description``;
a generative run also sets the IPTC digital source type that marks AI-composited images.
Everything else in a source packet (Lightroom edits, captions, ratings…) is kept as it was.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timezone

from revive.types import ParamValue, ProcessingRecord, StageRecord

NS = "https://revive.photo/ns/1.0/"
IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
GENERATIVE_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
X = "adobe:ns:meta/"
XMP = "http://ns.adobe.com/xap/1.0/"
TIFF = "http://ns.adobe.com/tiff/1.0/"
EXIF = "http://ns.adobe.com/exif/1.0/"
_PREFIXES = {
    "x": X, "rdf": RDF, "revive": NS, "Iptc4xmpExt": IPTC_EXT, "xmp": XMP,
    "dc": "http://purl.org/dc/elements/1.1/", "xmpMM": "http://ns.adobe.com/xap/1.0/mm/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/", "exif": EXIF,
    "tiff": TIFF, "crs": "http://ns.adobe.com/camera-raw-settings/1.0/",
}  # fmt: skip
for _prefix, _uri in _PREFIXES.items():
    ET.register_namespace(_prefix, _uri)  # so written packets use the prefixes people recognise

_BEGIN = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
_END = '\n<?xpacket end="w"?>'
_MAX_SOURCE = 4 << 20  # a larger "XMP packet" is not metadata worth parsing


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


@dataclass(frozen=True)
class Packet:
    data: bytes
    notes: tuple[str, ...] = ()  # what could not be kept of the source's XMP


def build(
    record: ProcessingRecord, source: bytes | None, size: tuple[int, int], *, now: datetime | None = None
) -> Packet:
    """The packet to write: the source's XMP (if it parses) with revive's description replaced by ``record``'s.

    The source's orientation becomes 1 and its pixel sizes become ``size``, as in the EXIF: the
    pixels are upright and (perhaps) enlarged.
    """
    notes: tuple[str, ...] = ()
    root = _parse(source) if source else None
    if source and root is None:
        notes = ("the source's XMP could not be parsed and was left out",)
    if root is None:
        root = ET.Element(_q(X, "xmpmeta"))
        ET.SubElement(root, _q(RDF, "RDF"))
    rdf = root if root.tag == _q(RDF, "RDF") else next(root.iter(_q(RDF, "RDF")), None)
    if rdf is None:
        rdf = ET.SubElement(root, _q(RDF, "RDF"))
    _drop_ours(rdf, replace_source_type=record.generative)
    _set_layout(rdf, size)
    rdf.append(_description(record, now or datetime.now(timezone.utc)))
    body = ET.tostring(root, encoding="unicode")
    return Packet((_BEGIN + body + _END).encode("utf-8"), notes)


def _parse(packet: bytes) -> ET.Element | None:
    if len(packet) > _MAX_SOURCE or b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:  # no entity expansion
        return None
    text = packet.rstrip(b"\x00 \t\r\n")
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None
    if root.tag not in (_q(X, "xmpmeta"), _q(RDF, "RDF")) and root.find(f".//{_q(RDF, 'RDF')}") is None:
        return None
    return root


def _drop_ours(rdf: ET.Element, *, replace_source_type: bool) -> None:
    """Remove revive's earlier record (and, for a generative run, the old digital source type)."""
    for desc in list(rdf.iter(_q(RDF, "Description"))):
        for key in [k for k in desc.attrib if _ns_of(k) == NS or (replace_source_type and _is_dst(k))]:
            del desc.attrib[key]
        for child in [c for c in desc if _ns_of(c.tag) == NS or (replace_source_type and _is_dst(c.tag))]:
            desc.remove(child)
    for desc in [d for d in rdf if d.tag == _q(RDF, "Description") and not len(d) and _only_about(d)]:
        rdf.remove(desc)  # an empty description left behind


def _set_layout(rdf: ET.Element, size: tuple[int, int]) -> None:
    values = {
        _q(TIFF, "Orientation"): "1",
        _q(TIFF, "ImageWidth"): str(size[0]),
        _q(TIFF, "ImageLength"): str(size[1]),
        _q(EXIF, "PixelXDimension"): str(size[0]),
        _q(EXIF, "PixelYDimension"): str(size[1]),
    }
    for desc in rdf.iter(_q(RDF, "Description")):
        for key in values.keys() & desc.attrib.keys():
            desc.attrib[key] = values[key]
        for child in desc:
            if child.tag in values and not len(child):
                child.text = values[child.tag]


def orientation(packet: bytes | None) -> int | None:
    """The tiff:Orientation an XMP packet states (1–8), or None."""
    root = _parse(packet) if packet else None
    if root is None:
        return None
    key = _q(TIFF, "Orientation")
    for desc in root.iter(_q(RDF, "Description")):
        found = desc.attrib.get(key) or next((c.text for c in desc if c.tag == key), None)
        if found and found.strip().isdigit() and 1 <= int(found) <= 8:
            return int(found)
    return None


def _ns_of(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def _is_dst(tag: str) -> bool:
    return tag == _q(IPTC_EXT, "DigitalSourceType")


def _only_about(desc: ET.Element) -> bool:
    return set(desc.attrib) <= {_q(RDF, "about")}


def _description(record: ProcessingRecord, now: datetime) -> ET.Element:
    desc = ET.Element(_q(RDF, "Description"), {_q(RDF, "about"): ""})

    def prop(parent: ET.Element, name: str, value: str, ns: str = NS) -> None:
        ET.SubElement(parent, _q(ns, name)).text = value

    prop(desc, "Version", record.revive_version)
    prop(desc, "Operation", record.operation)
    prop(desc, "Generative", "True" if record.generative else "False")
    if record.started is not None:
        prop(desc, "Started", _iso(record.started))
    prop(desc, "Finished", _iso(record.finished or now))
    seq = ET.SubElement(ET.SubElement(desc, _q(NS, "Stages")), _q(RDF, "Seq"))
    for stage in record.stages:
        li = ET.SubElement(seq, _q(RDF, "li"), {_q(RDF, "parseType"): "Resource"})
        prop(li, "Name", stage.name)
        for name, value in (("Model", stage.model), ("ModelVersion", stage.model_version),
                            ("ModelSha256", stage.model_sha256)):  # fmt: skip
            if value is not None:
                prop(li, name, value)
        prop(li, "Generative", "True" if stage.generative else "False")
        prop(li, "Params", json.dumps(dict(stage.params), sort_keys=True, allow_nan=True))
    if record.generative:
        prop(desc, "DigitalSourceType", GENERATIVE_SOURCE_TYPE, IPTC_EXT)
    return desc


def _iso(t: datetime) -> str:
    return (t if t.tzinfo else t.astimezone()).isoformat()


def parse_record(packet: bytes | None) -> ProcessingRecord | None:
    """The record revive wrote into an XMP packet, or None if the packet has none (or does not parse)."""
    root = _parse(packet) if packet else None
    desc = None if root is None else next((d for d in root.iter(_q(RDF, "Description"))
                                           if d.find(_q(NS, "Operation")) is not None), None)  # fmt: skip
    if desc is None:
        return None

    def text(parent: ET.Element, name: str) -> str | None:
        el = parent.find(_q(NS, name))
        return el.text if el is not None and el.text is not None else None

    stages = []
    for li in desc.iterfind(f"{_q(NS, 'Stages')}/{_q(RDF, 'Seq')}/{_q(RDF, 'li')}"):
        stages.append(StageRecord(
            name=text(li, "Name") or "",
            model=text(li, "Model"),
            model_version=text(li, "ModelVersion"),
            model_sha256=text(li, "ModelSha256"),
            params=_params(text(li, "Params")),
            generative=text(li, "Generative") == "True",
        ))  # fmt: skip
    return ProcessingRecord(
        operation=text(desc, "Operation") or "",
        stages=tuple(stages),
        revive_version=text(desc, "Version") or "",
        started=_time(text(desc, "Started")),
        finished=_time(text(desc, "Finished")),
    )


def _params(raw: str | None) -> dict[str, ParamValue]:
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _time(raw: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None
