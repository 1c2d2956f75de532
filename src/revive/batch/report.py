"""The batch report: ``revive-batch.json`` for machines and ``revive-batch.html`` for people, in the
output folder, covering every photo of the batch (this run's and those done by earlier runs).

The HTML page is self-contained (thumbnails are embedded), so it can be mailed or archived with
the outputs: failures first with their reasons, then each photo with its before/after
thumbnails, sizes, time and fidelity (the output area-downscaled to the input's size, against the
input: PSNR in dB and SSIM). Past ``MAX_THUMBS`` photos the rows go on without pictures, so the
page stays small for archives of any size.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..imageio import write_text
from .journal import STATE_DIR

REPORT_NAME = "revive-batch"
MAX_THUMBS = 400


@dataclass(frozen=True)
class ReportRow:
    name: str
    status: str  # done (this run), skipped (done before), failed, not run (the run was interrupted)
    output: str | None = None
    seconds: float | None = None
    input_size: list[int] | None = None
    output_size: list[int] | None = None
    psnr: float | None = None
    ssim: float | None = None
    error: str | None = None
    thumb: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    worker: str | None = None
    traceback: str | None = None

    @classmethod
    def from_entry(cls, entry: dict[str, Any], status: str) -> ReportRow:
        """A row from a journal ``done`` line."""
        return cls(entry["name"], status, entry.get("target"), entry.get("seconds"), entry.get("input_size"),
                   entry.get("output_size"), entry.get("psnr"), entry.get("ssim"), thumb=entry.get("thumb"),
                   details=entry.get("details") or {}, notes=list(entry.get("notes") or []), worker=entry.get("worker"))

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()
                if v is not None and k not in ("thumb", "traceback")}


def thumbs_dir(out_dir: Path) -> Path:
    return out_dir / STATE_DIR / "thumbs"


def write_reports(out_dir: Path, rows: list[ReportRow], info: dict[str, Any]) -> tuple[Path, Path]:
    data = {**info, "items": [r.to_dict() for r in rows]}
    json_path = write_text(out_dir / f"{REPORT_NAME}.json", json.dumps(data, ensure_ascii=False, indent=2),
                           overwrite=True)
    html_path = write_text(out_dir / f"{REPORT_NAME}.html", render(out_dir, rows, info), overwrite=True)
    return json_path, html_path


def render(out_dir: Path, rows: list[ReportRow], info: dict[str, Any]) -> str:
    e = html.escape
    failed = [r for r in rows if r.status == "failed"]
    made = [r for r in rows if r.status in ("done", "skipped")]
    failures = "".join(f"<tr><td>{e(r.name)}</td><td>{e(r.error or '')}</td></tr>" for r in failed)
    body = []
    for i, r in enumerate(made):
        pics = _thumbs(out_dir, r) if i < MAX_THUMBS else "<td></td><td></td>"
        link = f"<a href='{e(quote(r.output))}'>{e(r.output)}</a>" if r.output else "–"
        body.append(
            f"<tr>{pics}<td><b>{e(r.name)}</b><br>→ {link}<div class='small'>{e(_summary(r))}</div></td>"
            f"<td>{_size(r.input_size)} → {_size(r.output_size)}</td>"
            f"<td>{_num(r.seconds, 2, ' s')}<div class='small'>{e(_timings(r))}</div></td>"
            f"<td>{_num(r.psnr, 2, ' dB')}</td><td>{_num(r.ssim, 4)}</td>"
            f"<td>{'this run' if r.status == 'done' else 'earlier run'}</td></tr>")
    more = (f"<p class='small'>Thumbnails are shown for the first {MAX_THUMBS} photos; "
            f"{REPORT_NAME}.json lists every one.</p>") if len(made) > MAX_THUMBS else ""
    rate = info.get("images_per_minute")
    title = f"revive batch — {e(str(info.get('operation')))} of {e(str(info.get('input')))}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1400px;padding:0 1rem;color:#222}}
h1{{font-size:1.4rem}} h2{{font-size:1.1rem;margin-top:2rem}}
table{{border-collapse:collapse}} td,th{{padding:.3rem .7rem .3rem 0;vertical-align:top;text-align:left}}
tr+tr td{{border-top:1px solid #eee}} img{{display:block;max-width:160px;max-height:160px}}
.small{{color:#777;font-size:.85em}} .bad td{{color:#a40}}
</style></head><body>
<h1>{title}</h1>
<p>{e(str(info.get('input')))} → {e(str(info.get('output')))} · revive {e(str(info.get('revive')))} ·
{e(str(info.get('engine')))} engine, {e(str(info.get('workers')))} worker(s) · settings {e(str(info.get('settings')))}</p>
<p><b>{info.get('done', 0)}</b> done this run, <b>{info.get('skipped', 0)}</b> skipped (done before),
<b>{info.get('failed', 0)}</b> failed, of {info.get('total', 0)} · {_num(info.get('seconds'), 1, ' s')}
{f'· {rate:.1f} photos a minute' if isinstance(rate, (int, float)) else ''} · finished {e(str(info.get('finished')))}</p>
<p class="small">Fidelity: the output area-downscaled to the input's size against the input (PSNR, SSIM;
higher is closer). Request: {e(json.dumps(info.get('request'), default=str))}</p>
{f'<h2>Failed ({len(failed)})</h2><table class="bad"><tr><th>photo</th><th>reason</th></tr>{failures}</table>'
 if failed else ''}
<h2>Photos ({len(made)})</h2>
<table><tr><th>before</th><th>after</th><th>photo</th><th>size</th><th>time</th><th>PSNR</th><th>SSIM</th>
<th>done</th></tr>{''.join(body)}</table>{more}
</body></html>
"""


def _thumbs(out_dir: Path, row: ReportRow) -> str:
    cells = []
    for which in ("before", "after"):
        path = thumbs_dir(out_dir) / f"{row.thumb}-{which}.jpg"
        try:
            data = base64.b64encode(path.read_bytes()).decode("ascii") if row.thumb else None
        except OSError:
            data = None
        cells.append(f"<td><img alt='{which}' src='data:image/jpeg;base64,{data}'></td>" if data else "<td></td>")
    return "".join(cells)


def _summary(row: ReportRow) -> str:
    d = row.details
    parts = []
    if d.get("steps"):
        parts.append(", ".join(map(str, d["steps"])))
    if d.get("model"):
        parts.append(f"model {d['model']}")
    guard = d.get("fidelity")
    if isinstance(guard, dict) and guard.get("action"):
        parts.append(f"guard: {guard['action']} at strength {_num(guard.get('strength_used'), 2)}")
    parts.extend(row.notes)
    return " · ".join(parts)


def _timings(row: ReportRow) -> str:
    timings = row.details.get("timings")
    if not isinstance(timings, list):
        return ""
    return ", ".join(f"{t.get('stage')} {t.get('seconds', 0):.2f}" for t in timings if isinstance(t, dict))


def _size(size: list[int] | None) -> str:
    return f"{size[0]}×{size[1]}" if size else "–"


def _num(value: Any, digits: int, unit: str = "") -> str:
    return f"{value:.{digits}f}{unit}" if isinstance(value, (int, float)) else "–"
