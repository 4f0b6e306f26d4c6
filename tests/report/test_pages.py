"""premirna.report.pages: every table of the report as a page that shows it."""

from __future__ import annotations

import base64
import re

import pandas as pd
import pytest

from premirna.core.errors import InputError
from premirna.report import pages
from premirna.report.pages import table_page, write_table_pages


def _table(path, n):
    frame = pd.DataFrame({"name": [f"m{i}" for i in range(n)], "score": [i / 3 for i in range(n)],
                          "note": [">= 0.8" if i % 2 else "" for i in range(n)]})
    frame.to_csv(path, sep="\t", index=False)
    return frame


def test_a_page_shows_the_table_sortable_and_links_the_exact_tsv(tmp_path):
    tsv = tmp_path / "summary.tsv"
    _table(tsv, 5)
    assert table_page(tsv, tmp_path / "summary.html") == 5
    page = (tmp_path / "summary.html").read_text()
    assert page.count("<tr") == 6 and "class=\"dataframe sortable\"" in page
    assert "<td>0.3333</td>" in page  # 4 decimals
    assert "&gt;=\u00a00.8" in page  # kept on one line
    link = re.search(r"href='data:text/tab-separated-values;base64,([^']+)'", page)
    assert base64.b64decode(link.group(1)) == tsv.read_bytes()
    assert "5 rows, 3 columns" in page and "onclick" in page


def test_a_long_table_says_how_much_it_shows(tmp_path, monkeypatch):
    monkeypatch.setattr(pages, "MAX_ROWS", 10)
    tsv = tmp_path / "long.tsv"
    _table(tsv, 25)
    table_page(tsv, tmp_path / "long.html")
    page = (tmp_path / "long.html").read_text()
    assert page.count("<tr") == 11 and "25 rows, 3 columns; the first 10 shown" in page


def test_every_page_output_of_a_rule_is_rendered_from_its_tsv(tmp_path):
    _table(tmp_path / "a.tsv", 3)
    _table(tmp_path / "b.tsv", 4)
    outputs = {"a": tmp_path / "a.tsv", "a_page": tmp_path / "a.html", "b": tmp_path / "b.tsv",
               "figure": tmp_path / "f.png"}
    assert write_table_pages(outputs) == [str(tmp_path / "a.html")]
    assert (tmp_path / "a.html").exists() and not (tmp_path / "b.html").exists()
    with pytest.raises(KeyError, match="c_page"):
        write_table_pages({"c_page": tmp_path / "c.html"})


def test_a_broken_table_is_named_and_leaves_no_page(tmp_path):
    tsv = tmp_path / "bad.tsv"
    tsv.write_text("a\tb\n1\t2\t3\n")
    with pytest.raises(InputError, match="bad.tsv"):
        table_page(tsv, tmp_path / "bad.html")
    assert not (tmp_path / "bad.html").exists()


def test_a_large_table_keeps_its_page_small_enough_to_show(tmp_path, monkeypatch):
    """Chromium shows no data URI above 2 MB in a frame: rows and the embedded TSV shrink."""
    import gzip

    monkeypatch.setattr(pages, "PAGE_BYTES", 60_000)
    monkeypatch.setattr(pages, "PLAIN_BYTES", 5_000)
    tsv = tmp_path / "mutants.tsv"
    _table(tsv, 3000)
    table_page(tsv, tmp_path / "mutants.html")
    page = (tmp_path / "mutants.html").read_text()
    assert len(page.encode()) <= 60_000
    shown = page.count("<tr") - 1
    assert 10 < shown < 3000 and f"3,000 rows, 3 columns; the first {shown:,} shown" in page
    link = re.search(r"download='mutants.tsv.gz' href='data:application/gzip;base64,([^']+)'",
                     page)
    assert gzip.decompress(base64.b64decode(link.group(1))) == tsv.read_bytes()
    monkeypatch.setattr(pages, "EMBED_BYTES", 100)
    table_page(tsv, tmp_path / "mutants.html")
    assert f"The whole table: {tsv}" in (tmp_path / "mutants.html").read_text()
