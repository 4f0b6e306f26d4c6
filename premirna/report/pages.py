"""Tables as HTML pages that Snakemake's report shows inside itself.

The report displays an HTML or image result in its own page but only offers a TSV for download
(its viewer switches on the MIME type: images, HTML and PDF are shown, anything else is a
download). So every table the report lists is written twice by the rule that makes it: the TSV,
for programs, and a self-contained page, for people: the table sortable by a click on a column
heading, numbers to `DECIMALS` places, and the exact TSV one click away (embedded as a data URI,
so the page needs no other file). Long tables show their first `MAX_ROWS` rows and say so.

A rule declares the pair as ``name="results/<stage>/<name>.tsv"`` and
``name_page=report("results/<stage>/<name>.html", ...)``; its script ends with
``write_table_pages(snakemake.output)``, which renders every ``*_page`` output from its TSV.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from premirna.core.atomic import atomic_open
from premirna.core.tables import read_table

DECIMALS = 4
MAX_ROWS = 2000  # rows shown in a page; the linked TSV holds them all
PAGE_SUFFIX = "_page"

STYLE = """body{font-family:sans-serif;font-size:14px;margin:1.5em;max-width:1400px}
table{border-collapse:collapse;margin:0.5em 0 1.5em}th,td{padding:3px 8px;text-align:left}
th{background:#eee;cursor:pointer;position:sticky;top:0}tr:nth-child(even){background:#f8f8f8}
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
    raw = tsv.read_bytes()
    frame = read_table(tsv)  # InputError names the file when it is not a table
    title = title or f"{tsv.parent.name} / {tsv.stem}"
    link = base64.b64encode(raw).decode("ascii")
    shown = frame.head(MAX_ROWS)
    note = (f"{len(frame):,} rows, {frame.shape[1]} columns"
            + (f"; the first {MAX_ROWS:,} shown" if len(frame) > MAX_ROWS else "")
            + "; click a column heading to sort.")
    body = (f"<h2>{html.escape(title)}</h2><p class='note'>{html.escape(note)} "
            f"<a download='{html.escape(tsv.name)}' "
            f"href='data:text/tab-separated-values;base64,{link}'>Download {html.escape(tsv.name)}"
            f"</a></p>{html_table(shown)}")
    with atomic_open(out_html, "w") as handle:
        handle.write(page(title, body))
    return len(frame)


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
