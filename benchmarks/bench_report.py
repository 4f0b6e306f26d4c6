"""Benchmark: the HTML report of a finished run: build time, size, its tables' pages and the
legibility of its figures.

Builds `snakemake --report` for a finished run folder `--repeats` times (median seconds), then
reads what the report shows: every table page (`results/**/<name>.html` beside its TSV: rows,
bytes, and whether it stays under Chromium's 2 MB limit for a data URI once base64-encoded) and
every figure (pixel width, smallest text recorded by `premirna.core.figures`, and the size that
text appears at when the report shows the figure at `--shown` CSS pixels, the narrowest content
width measured in a 1600-px window). Appends one row per run to benchmarks/results/report.tsv.

    .venv/bin/python benchmarks/bench_report.py --run . [--repeats 3] [--shown 925]
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import REPO, RESULTS, need

DATA_URI_LIMIT = 2 * 1024 * 1024


def build_seconds(run: Path, repeats: int) -> tuple[float, int]:
    """Median seconds of `snakemake --report` and the report's size in bytes."""
    out = run / "results" / "report.html"
    times = []
    for _ in range(repeats):
        start = time.monotonic()
        subprocess.run([str(Path(sys.executable).parent / "snakemake"), "--snakefile",
                        str(REPO / "Snakefile"), "--directory", str(run), "--report", str(out)],
                       check=True, capture_output=True, cwd=run)
        times.append(time.monotonic() - start)
    return statistics.median(times), out.stat().st_size


def _commit(folder: Path) -> str:
    """The short commit of the checkout that made the run (the run folder's, else this one's)."""
    for where in (folder, REPO):
        found = subprocess.run(["git", "-C", str(where), "rev-parse", "--short", "HEAD"],
                               capture_output=True, text=True)
        if found.returncode == 0:
            return found.stdout.strip()
    return "unknown"


def main() -> None:
    from PIL import Image

    from premirna.core.figures import FONT_KEY, MIN_SHOWN_PT, shown_font_pt

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=REPO, help="a finished run's folder")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shown", type=int, default=925,
                        help="CSS px the report shows a wide figure at (1600-px window: 925-1104)")
    args = parser.parse_args()
    results = need(args.run / "results")
    seconds, size = build_seconds(args.run, args.repeats)
    pages = [p for p in results.rglob("*.html") if p.with_suffix(".tsv").exists()]
    too_big = [p for p in pages if p.stat().st_size * 4 / 3 > DATA_URI_LIMIT]
    figures = sorted(results.rglob("*.png"))
    worst, small = float("inf"), []
    for figure in figures:
        png = Image.open(figure)
        smallest = float(png.info.get(FONT_KEY, "nan"))
        shown = shown_font_pt(smallest, png.size[0], min(args.shown, png.size[0]))
        worst = min(worst, shown)
        if not shown >= MIN_SHOWN_PT:
            small.append(f"{figure.relative_to(results)} {shown:.1f} pt")
    row = {
        "date": datetime.date.today().isoformat(),
        "commit": _commit(args.run),
        "report_seconds_median": f"{seconds:.1f}",
        "report_mb": f"{size / 1e6:.1f}",
        "table_pages": len(pages),
        "largest_page_mb": f"{max((p.stat().st_size for p in pages), default=0) / 1e6:.2f}",
        "pages_over_data_uri_limit": len(too_big),
        "figures": len(figures),
        "widest_figure_px": max((Image.open(f).size[0] for f in figures), default=0),
        "smallest_shown_pt": f"{worst:.1f}",
        "figures_under_9pt": len(small),
    }
    for key, value in row.items():
        print(f"{key}\t{value}")
    for line in small:
        print(f"too small: {line}")
    table = RESULTS / "report.tsv"
    new = not table.exists()
    with table.open("a") as handle:
        if new:
            handle.write("\t".join(row) + "\n")
        handle.write("\t".join(str(v) for v in row.values()) + "\n")


if __name__ == "__main__":
    main()
