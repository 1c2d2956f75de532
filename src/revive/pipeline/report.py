"""The enhance report: JSON for machines, one self-contained HTML page for people.

The JSON holds the diagnosis, the plan with reasons, per-stage timings, the fidelity guard's
numbers and the notes. The HTML page shows the same with a before/after slider; both images are
embedded as base64 JPEG (long side at most ``max_side``), the "before" being the input resampled to
the output's size, so the page needs nothing else and can be mailed or archived as is.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import imageio
from ..errors import InvalidParameter
from ..imageops import resize, resize_alpha
from ..types import Photo
from .fidelity import FidelityReport
from .runner import EnhanceResult

REPORT_FORMATS = {".json": "json", ".html": "html", ".htm": "html"}
_MAX_SIDE = 1280
_TRACK_TAGS = {"reference": " <i>(reference only)</i>", "plain": " <i>(plain, no model)</i>"}


def report_format(path: str | os.PathLike[str]) -> str:
    fmt = REPORT_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise InvalidParameter(f"{path}: a report must end in .json or .html")
    return fmt


def report_dict(result: EnhanceResult, *, input: Path | None = None, output: Path | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"input": None if input is None else str(input),
                           "output": None if output is None else str(output),
                           "input_size": list(result.plan.input_size),
                           "output_size": [result.photo.width, result.photo.height]}
    out.update(result.to_dict())
    return out


def write_report(path: str | os.PathLike[str], result: EnhanceResult, before: Photo, *, input: Path | None = None,
                 output: Path | None = None, overwrite: bool = True) -> Path:
    """Write the report as JSON or HTML (by the file's extension), atomically."""
    target = Path(path)
    fmt = report_format(target)
    if fmt == "json":
        text = json.dumps(report_dict(result, input=input, output=output), ensure_ascii=False, indent=2)
    else:
        text = render_html(result, before, input=input, output=output)
    return imageio.write_text(target, text, overwrite=overwrite)  # atomic: two runs never interleave


def embedded_jpeg(photo: Photo, max_side: int = _MAX_SIDE) -> str:
    """A data: URI of ``photo`` as JPEG, downscaled to ``max_side``, alpha composited over white."""
    return "data:image/jpeg;base64," + base64.b64encode(thumbnail_jpeg(photo, max_side)).decode("ascii")


def thumbnail_jpeg(photo: Photo, max_side: int) -> bytes:
    """``photo`` as JPEG bytes, downscaled to ``max_side``, alpha composited over white."""
    pixels = photo.rgb()
    if photo.alpha is not None:
        a = photo.alpha[:, :, None]
        pixels = pixels * a + (1.0 - a)
    h, w = pixels.shape[:2]
    if max(h, w) > max_side:
        f = max_side / max(h, w)
        pixels = resize(pixels, max(1, round(w * f)), max(1, round(h * f)))
    image = imageio.to_pil(Photo(np.ascontiguousarray(pixels, dtype=np.float32)))
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def heatmap_uri(strength: np.ndarray, requested: float, photo: Photo, min_side: int = 256) -> str:
    """A PNG data: URI of where the guard lowered the model's share: the photo in dimmed gray, red
    where it was softened (full red: the reference alone), at the input's size, enlarged to be seen."""
    h, w = strength.shape
    share = np.clip(strength / requested, 0.0, 1.0) if requested > 0 else np.ones_like(strength)
    softened = (1.0 - share)[:, :, None]
    gray = resize(photo.rgb(), w, h).mean(axis=2, keepdims=True)
    base = 0.25 + 0.5 * np.repeat(gray, 3, axis=2)
    red = np.array([0.9, 0.1, 0.1], np.float32)
    pixels = (base * (1.0 - softened) + red * softened).astype(np.float32)
    factor = max(1, -(-min_side // max(h, w)))  # nearest-neighbour blocks: each window stays readable
    pixels = np.repeat(np.repeat(pixels, factor, axis=0), factor, axis=1)
    buf = io.BytesIO()
    imageio.to_pil(Photo(np.ascontiguousarray(pixels))).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _guard_section(g: FidelityReport | None, before: Photo) -> str:
    e = html.escape
    if g is None:
        return "<p>No model step ran, so there was nothing to guard.</p>"
    where = ", ".join(f"{bw}×{bh} px at ({x}, {y})" for x, y, bw, bh in g.softened_regions) or "nowhere"
    table = (
        f"<table><tr><td>action</td><td><b>{e(g.action)}</b></td></tr>"
        f"<tr><td>strength</td><td>{g.strength_used:.2f} (asked {g.strength_requested:.2f})</td></tr>"
        f"<tr><td>softened locally</td><td>{g.softened_share:.1%} of the picture; largest places (input px): "
        f"{e(where)}</td></tr>"
        f"<tr><td>worst window of the local check</td><td>{_num(g.worst_window_psnr, 1, ' dB')} before the guard, "
        f"{_num(g.worst_window_psnr_guarded, 1, ' dB')} after</td></tr>"
        f"<tr><td>consistency (vs reference, at input size)</td><td>PSNR {_num(g.psnr, 2, ' dB')}, "
        f"SSIM {_num(g.ssim, 4)}</td></tr>"
        f"<tr><td>model result before the guard</td><td>PSNR {_num(g.psnr_unguarded, 2, ' dB')}, "
        f"SSIM {_num(g.ssim_unguarded, 4)}</td></tr>"
        f"<tr><td>colour-shift correction</td><td>ΔE {g.color_shift:.2f}</td></tr>"
        f"<tr><td>thresholds</td><td>PSNR ≥ {g.min_psnr:g} dB, SSIM ≥ {g.min_ssim:g}</td></tr></table>"
    )
    heat = ""
    if g.strength_map is not None:
        heat = (f"<figure><img class='heat' src='{heatmap_uri(g.strength_map, g.strength_requested, before)}' "
                "alt='where the guard softened the model'><figcaption>red: where the guard held the model back "
                "(full red: the plain version alone)</figcaption></figure>")
    return f"{table}<p>{e(g.message)}</p>{heat}"


def _num(value: float | None, digits: int = 2, unit: str = "") -> str:
    if value is None or value != value:  # NaN: not measurable (SSIM under 11 px)
        return "–"
    if value == float("inf"):
        return "∞ (identical)"
    return f"{value:.{digits}f}{unit}"


def render_html(result: EnhanceResult, before: Photo, *, input: Path | None = None, output: Path | None = None) -> str:
    e = html.escape
    after = result.photo
    if (before.width, before.height) != (after.width, after.height):  # line the two up for the slider
        alpha = None if before.alpha is None else resize_alpha(before.alpha, after.width, after.height)
        before = Photo(resize(before.pixels, after.width, after.height), alpha, before.meta)
    title = e(input.name if input is not None else "photo")
    (w, h), (ow, oh) = result.plan.input_size, (after.width, after.height)
    rows: list[str] = []
    if result.diagnosis is not None:
        for name, m in result.diagnosis.measurements():
            flag = "⚠" if m.attention else ""
            rows.append(f"<tr class='{'flag' if m.attention else ''}'><td>{e(m.label or name)}</td>"
                        f"<td>{flag}</td><td>{e(m.summary())}</td><td class='rule'>{e(m.rule)}</td></tr>")
    steps = "".join(
        f"<li><b>{e(s.stage)}</b>{_TRACK_TAGS.get(s.track, '')} — {e(s.reason)}"
        f"<div class='params'>{e(json.dumps(s.to_dict()['params'], ensure_ascii=False))}</div></li>"
        for s in result.plan.steps
    ) or "<li>nothing to do — the photo was left as it is</li>"
    timings = "".join(f"<tr><td>{e(t.stage)}</td><td>{t.seconds:.2f} s</td></tr>" for t in result.timings)
    guard = _guard_section(result.fidelity, before)
    notes = "".join(f"<li>{e(n)}</li>" for n in result.notes)
    files = " → ".join(e(str(p)) for p in (input, output) if p is not None)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>revive enhance — {title}</title>
<style>
body{{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1300px;padding:0 1rem;color:#222}}
h1{{font-size:1.4rem}} h2{{font-size:1.1rem;margin-top:2rem}}
table{{border-collapse:collapse}} td{{padding:.2rem .8rem .2rem 0;vertical-align:top}}
tr.flag td{{color:#a40}} td.rule,.params{{color:#888;font-size:.85em}}
.cmp{{position:relative;display:inline-block;max-width:100%;user-select:none;line-height:0}}
.cmp img{{display:block;max-width:100%;height:auto}}
.cmp .after{{position:absolute;top:0;left:0;width:100%;height:100%;clip-path:inset(0 0 0 50%)}}
.cmp .bar{{position:absolute;top:0;bottom:0;left:50%;width:2px;background:#fff;box-shadow:0 0 3px #000}}
img.heat{{image-rendering:pixelated;max-width:100%}}
.cmp .tag{{position:absolute;top:.5rem;padding:.1rem .4rem;background:#0008;color:#fff;font-size:12px;line-height:1.4}}
input[type=range]{{width:100%;max-width:{min(ow, _MAX_SIDE)}px}}
</style></head><body>
<h1>revive enhance — {title}</h1>
<p>{files}<br>{w}×{h} → {ow}×{oh} · {result.seconds:.1f} s · result vs input (area-downscaled): PSNR
{_num(result.psnr_vs_input, 2, ' dB')}, SSIM {_num(result.ssim_vs_input, 4)}</p>
<div class="cmp" id="cmp"><img src="{embedded_jpeg(before)}" alt="before">
<img class="after" id="after" src="{embedded_jpeg(after)}" alt="after"><div class="bar" id="bar"></div>
<span class="tag" style="left:.5rem">before</span><span class="tag" style="right:.5rem">after</span></div>
<div><input type="range" id="pos" min="0" max="100" value="50" aria-label="before/after"></div>
<h2>Diagnosis</h2><table>{''.join(rows)}</table>
<h2>Plan</h2><ol>{steps}</ol>
<h2>Fidelity guard</h2>{guard}
<h2>Timings</h2><table>{timings}</table>
{f'<h2>Notes</h2><ul>{notes}</ul>' if notes else ''}
<script>
const pos=document.getElementById('pos'),after=document.getElementById('after'),bar=document.getElementById('bar'),
cmp=document.getElementById('cmp');
function set(v){{after.style.clipPath='inset(0 0 0 '+v+'%)';bar.style.left=v+'%';pos.value=v;}}
pos.addEventListener('input',()=>set(pos.value));
cmp.addEventListener('pointermove',ev=>{{if(ev.buttons){{const r=cmp.getBoundingClientRect();
set(Math.max(0,Math.min(100,(ev.clientX-r.left)/r.width*100)));}}}});
</script>
</body></html>
"""
