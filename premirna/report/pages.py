"""Tables as HTML pages that Snakemake's report shows inside itself.

The report displays an HTML or image result in its own page but only offers a TSV for download
(its viewer switches on the MIME type: images, HTML and PDF are shown, anything else is a
download). So every table the report lists is written twice by the rule that makes it: the TSV,
for programs, and a self-contained page, for people: the table sortable by a click on a column
heading, numbers to `DECIMALS` places, and the exact TSV one click away (embedded as a data URI,
so the page needs no other file; gzipped when large). Long tables show their first `MAX_ROWS`
rows and say so.

The report embeds each page as a base64 data URI, and Chromium shows no data URI in a frame above
2 MB: a page is kept under `PAGE_BYTES` (1.2 MB, 1.6 MB in base64) by showing fewer rows, and a
TSV whose gzipped copy would not fit either is named by its path instead of embedded.

A rule declares the pair as ``name="results/<stage>/<name>.tsv"`` and
``name_page=report("results/<stage>/<name>.html", ...)``; its script ends with
``write_table_pages(snakemake.output)``, which renders every ``*_page`` output from its TSV.
"""

from __future__ import annotations

import base64
import gzip
import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from premirna.core.atomic import atomic_open
from premirna.core.tables import read_table

DECIMALS = 4
MAX_ROWS = 2000  # rows shown in a page at most; the linked TSV holds them all
PAGE_BYTES = 1_200_000  # the page's size at most (see the module docstring)
PLAIN_BYTES = 200_000  # a TSV larger than this is embedded gzipped
EMBED_BYTES = 400_000  # a gzipped TSV larger than this is not embedded
PAGE_SUFFIX = "_page"

STYLE = """body{font-family:sans-serif;font-size:14px;margin:1.5em;max-width:1400px}
table{border-collapse:collapse;margin:0.5em 0 1.5em}th,td{padding:3px 8px;text-align:left}
th{background:#eee;cursor:pointer;position:sticky;top:0}td{white-space:nowrap}
tr:nth-child(even){background:#f8f8f8}
img{max-width:100%}.note{color:#555}"""
SORT = """document.querySelectorAll('table.sortable th').forEach(th=>th.onclick=()=>{
const i=th.cellIndex,b=th.closest('table').tBodies[0],r=[...b.rows];
const d=th.dataset.d=th.dataset.d==='1'?'-1':'1';
r.sort((x,y)=>{const a=x.cells[i].innerText,c=y.cells[i].innerText,n=parseFloat(a)-parseFloat(c);
return (isNaN(n)?a.localeCompare(c):n)*d});r.forEach(x=>b.appendChild(x))});"""


def html_table(frame: pd.DataFrame, decimals: int = DECIMALS) -> str:
    """`frame` as a sortable HTML table, floats to `decimals` places, empty cells for NaN."""
    shown = frame.copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].map(
                lambda v: "" if pd.isna(v) else f"{v:.{decimals}f}")
        elif not pd.api.types.is_numeric_dtype(shown[column]):  # keep ">= 0.8" on one line
            shown[column] = shown[column].map(
                lambda v: v.replace("= ", "=\u00a0") if isinstance(v, str) else v)
    return shown.to_html(index=False, escape=True, border=0, classes="sortable", na_rep="")


def page(title: str, body: str) -> str:
    """A complete HTML document around `body` with the shared style and the sorting script."""
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{STYLE}</style></head><body>{body}<script>{SORT}</script>"
            "</body></html>")


def table_page(tsv: str | Path, out_html: str | Path, title: str | None = None) -> int:
    """Write the page of one TSV (see the module docstring); return the number of rows."""
    tsv = Path(tsv)
    frame = read_table(tsv)  # InputError names the file when it is not a table
    title = title or f"{tsv.parent.name} / {tsv.stem}"
    link = _download_link(tsv)
    rows = min(len(frame), MAX_ROWS)
    while True:
        note = (f"{len(frame):,} rows, {frame.shape[1]} columns"
                + (f"; the first {rows:,} shown" if len(frame) > rows else "")
                + "; click a column heading to sort.")
        text = page(title, f"<h2>{html.escape(title)}</h2><p class='note'>{html.escape(note)} "
                           f"{link}</p>{html_table(frame.head(rows))}")
        if len(text.encode()) <= PAGE_BYTES or rows <= 1:
            break
        rows = max(1, int(rows * PAGE_BYTES / len(text.encode()) * 0.95))
    with atomic_open(out_html, "w") as handle:
        handle.write(text)
    return len(frame)


def _download_link(tsv: Path) -> str:
    """A link that downloads the TSV from the page itself (gzipped when large), or its path."""
    raw = tsv.read_bytes()
    name, kind = tsv.name, "text/tab-separated-values"
    if len(raw) > PLAIN_BYTES:
        raw, name, kind = gzip.compress(raw, mtime=0), f"{tsv.name}.gz", "application/gzip"
    if len(raw) > EMBED_BYTES:
        return html.escape(f"The whole table: {tsv} ({tsv.stat().st_size / 1e6:.1f} MB).")
    data = base64.b64encode(raw).decode("ascii")
    return (f"<a download='{html.escape(name)}' href='data:{kind};base64,{data}'>"
            f"Download {html.escape(name)}</a>")


def write_table_pages(outputs: Mapping[str, Any]) -> list[str]:
    """Render every ``<name>_page`` entry of a rule's named outputs from its ``<name>`` TSV.

    `outputs` is ``snakemake.output`` (or any mapping of names to paths); returns the pages
    written. A ``_page`` without its TSV is a mistake in the rule and raises KeyError.
    """
    written = []
    for key in list(outputs.keys()):
        if not key.endswith(PAGE_SUFFIX):
            continue
        source = key[: -len(PAGE_SUFFIX)]
        if source not in outputs.keys():
            raise KeyError(f"output {key!r} has no TSV output {source!r} to render")
        table_page(outputs[source], outputs[key])
        written.append(str(outputs[key]))
    return written
