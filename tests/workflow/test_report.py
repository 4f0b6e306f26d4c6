"""The HTML report opens in a real browser, its stage sections are there and a figure renders.

`snakemake --report` writes a JavaScript page: a plain screenshot shows only its landing page, so
Debian's Chromium is driven through Playwright's Python API (docs/REPORT.md): open the report,
read the categories under "Results", click into each, open a figure and check that the image
decoded (natural width > 0), open its caption and check that it quotes the run's parameters, and
save a screenshot. Which report is checked is decided by one fixture, `report_under_test`,
parametrised over

- `tiny_report`: a self-contained two-rule workflow written to a temporary folder (seconds);
- `real_report`: the report of the small end-to-end run of this repository's workflow
  (`small_run` in conftest.py; marked slow), whose expected categories are every `category=`
  declared in workflow/rules/*.smk.

Without Chromium or Playwright the test is skipped with the reason (`make system-deps` installs
Chromium on Debian); it never passes without having looked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import BIN, REPO

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("workflow")]

CHROMIUM = Path("/usr/bin/chromium")
# Flags that this sandbox-less, offline machine needs (HPC.md, "HTML report").
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass(frozen=True)
class BuiltReport:
    """A built report and what it must show."""

    html: Path  # the self-contained report.html
    categories: tuple[str, ...]  # sections expected under "Results"
    figure_category: str  # a category holding at least one figure
    caption_text: str  # text the caption of that category's first figure must contain


TINY_SNAKEFILE = '''\
configfile: "config.yaml"


report: "report/workflow.rst"


rule all:
    input:
        "results/interpret_cnn/sanity.png",
        "results/interpret_cvae/links.tsv",


rule interpret_cnn:
    output:
        figure=report(
            "results/interpret_cnn/sanity.png",
            caption="report/sanity.rst",
            category="8. interpret",
            subcategory="CNN: trust",
            labels={"figure": "sanity check"},
        ),
    log:
        "results/logs/interpret_cnn.log",
    params:
        threshold=config["interpret_cnn"]["sanity_threshold"],
    run:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axis = plt.subplots(figsize=(5, 3))
        axis.barh(["SmoothGrad", "Input (control)"], [0.3, 1.0])
        axis.axvline(params.threshold, color="red", ls="--")
        fig.savefig(output.figure, bbox_inches="tight")


rule interpret_cvae:
    output:
        table=report(
            "results/interpret_cvae/links.tsv",
            caption="report/links.rst",
            category="9. latent",
            labels={"table": "latent links"},
        ),
    log:
        "results/logs/interpret_cvae.log",
    shell:
        "printf 'dimension\\tattribute\\tspearman\\n0\\tgc\\t0.8\\n' > {output.table}"
'''


def _write_tiny_workflow(folder: Path) -> None:
    (folder / "report").mkdir(parents=True)
    (folder / "Snakefile").write_text(TINY_SNAKEFILE)
    (folder / "config.yaml").write_text("seed: 20191108\ninterpret_cnn:\n  sanity_threshold: 0.5\n")
    (folder / "report" / "workflow.rst").write_text("A tiny workflow to test the report.\n")
    (folder / "report" / "sanity.rst").write_text(
        "Model-randomisation check; methods at or above a median Spearman of "
        "{{ snakemake.params.threshold }} are flagged (seed {{ snakemake.config['seed'] }}).\n"
    )
    (folder / "report" / "links.rst").write_text("Latent dimensions against attributes.\n")


def _snakemake(folder: Path, *args: str) -> None:
    proc = subprocess.run(
        [str(BIN / "snakemake"), "--directory", str(folder), *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory: pytest.TempPathFactory) -> BuiltReport:
    folder = tmp_path_factory.mktemp("tiny_report")
    _write_tiny_workflow(folder)
    _snakemake(folder, "--cores", "1", "--quiet")
    _snakemake(folder, "--report", "report.html")
    return BuiltReport(
        html=folder / "report.html",
        categories=("8. interpret", "9. latent"),
        figure_category="8. interpret",
        caption_text="Spearman of 0.5 are flagged (seed 20191108)",
    )


def declared_categories(rules_dir: Path) -> tuple[str, ...]:
    """Every `category="..."` given to report() in the workflow's rule files."""
    found = set()
    for path in rules_dir.glob("*.smk"):
        found.update(re.findall(r'\bcategory\s*=\s*"([^"]+)"', path.read_text()))
    return tuple(sorted(found))


@pytest.fixture(scope="module")
def real_report(small_run: Path) -> BuiltReport:
    """The report of the small real run (built once; the run itself is shared)."""
    from workflow_run import small_config, snakemake

    html = small_run / "results" / "report.html"
    if not html.exists():
        snakemake(small_run, "--report", str(html))
    config = small_config()
    seed = config.get("interpret_cnn", {}).get("seed", config["seed"])
    return BuiltReport(
        html=html,
        categories=declared_categories(REPO / "workflow" / "rules"),
        figure_category="8. interpret",
        caption_text=f"seed {seed}",  # every interpret caption ends with the seed it ran with
    )


@pytest.fixture(
    params=["tiny_report", pytest.param("real_report", marks=pytest.mark.slow)],
)
def report_under_test(request: pytest.FixtureRequest) -> BuiltReport:
    """The one fixture that decides which report is checked."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def browser_page():
    """A Chromium page through Playwright, or a skip that says why there is none."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as error:  # pragma: no cover - the dev requirements pin playwright
        pytest.skip(f"Playwright is not installed ({error}); pip install -r requirements-dev.txt")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (make system-deps, or "
                    "apt-get install -y chromium as root)")
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    with sync_playwright() as playwright:
        try:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
        except PlaywrightError as error:
            shutil.rmtree(profile, ignore_errors=True)
            pytest.skip(f"Chromium would not start: {str(error).splitlines()[0]}")
        try:
            yield context.new_page()
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


GENERAL_ENTRIES = ("Workflow", "Statistics", "About")


def _menu(page) -> list[str]:
    """Texts of the entries of the report's side menu as it is now."""
    return [t.strip() for t in page.locator("nav").first.locator("ul li a span").all_inner_texts()]


def _results_categories(page, uri: str) -> list[str]:
    """From the landing page: the categories under Results. With several, Results is a heading
    with one entry per category; with one, Results is itself the entry and leads straight into
    it (its name is then read from the breadcrumbs)."""
    page.goto(uri)
    page.wait_for_selector("nav")
    entries = _menu(page)
    assert "Workflow" in entries, f"not a Snakemake report landing page: {entries}"
    if entries[-1] == "Results":
        page.locator("nav").first.locator("ul li a span").get_by_text("Results", exact=True).click()
        page.wait_for_timeout(200)
        crumbs = page.locator("nav").first.locator("ol li a").all_inner_texts()
        return [crumbs[-1].strip()]
    return [e for e in entries if e not in GENERAL_ENTRIES]


def _open_category(page, uri: str, category: str) -> None:
    """From the landing page into `category` (through Results)."""
    page.goto(uri)
    page.wait_for_selector("nav")
    menu = page.locator("nav").first.locator("ul li a span")
    name = category if category in _menu(page) else "Results"
    menu.get_by_text(name, exact=True).click()
    page.wait_for_timeout(200)


def _result_rows(page):
    """The rows of results listed now; if the category has subcategories, open the first."""
    nav = page.locator("nav").first
    rows = nav.locator("table tbody tr")
    if rows.count() == 0:
        entries = nav.locator("ul li a span")
        assert entries.count() > 0, "a category that lists neither results nor subcategories"
        entries.first.click()
        page.wait_for_timeout(200)
        rows = nav.locator("table tbody tr")
    return rows


def _shown_images(page) -> list[int]:
    """Natural widths of the result images on the page (the Snakemake logo left out)."""
    return page.evaluate(
        """() => Array.from(document.images)
            .filter(img => !img.src.includes('filename=logo'))
            .map(img => img.complete ? img.naturalWidth : 0)"""
    )


def test_report_opens_and_shows_its_sections_and_a_figure(report_under_test, browser_page,
                                                          tmp_path):
    report = report_under_test
    page = browser_page
    uri = report.html.resolve().as_uri()
    listed = _results_categories(page, uri)
    missing = [c for c in report.categories if c not in listed]
    assert not missing, f"sections missing under Results: {missing} (listed: {listed})"

    for category in report.categories:
        _open_category(page, uri, category)
        assert _result_rows(page).count() > 0, f"{category} lists no results"

    # Show the category's results one by one (showing one replaces the list) until one is an
    # image; then open its caption, and show the image again for the screenshot.
    _open_category(page, uri, report.figure_category)
    n_rows = _result_rows(page).count()
    widths: list[int] = []
    for k in range(n_rows):
        _open_category(page, uri, report.figure_category)
        rows = _result_rows(page)
        rows.nth(k).locator("a[iconname=eye]").click()
        page.wait_for_timeout(300)
        widths = _shown_images(page)
        if widths:
            break
    assert widths and all(w > 0 for w in widths), f"no figure rendered (widths {widths})"

    _open_category(page, uri, report.figure_category)
    _result_rows(page).nth(k).locator("a[iconname=information-circle]").click()
    page.wait_for_timeout(300)
    caption = page.locator("body").inner_text()
    assert report.caption_text in caption, caption[-1500:]
    page.locator("nav").first.locator("a[iconname=eye]").first.click()
    page.wait_for_timeout(300)
    assert all(w > 0 for w in _shown_images(page))
    screenshot = tmp_path / "report.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
    print(f"screenshot of the report: {screenshot}")


@pytest.mark.slow
def test_the_report_leads_with_a_summary_whose_tables_render(real_report, browser_page, tmp_path):
    page = browser_page
    uri = real_report.html.resolve().as_uri()
    listed = _results_categories(page, uri)
    assert listed[0] == "0. summary", listed  # the first category a reader meets
    _open_category(page, uri, "0. summary")
    frames = []
    for k in range(_result_rows(page).count()):  # the figure and the page: show each
        _open_category(page, uri, "0. summary")
        _result_rows(page).nth(k).locator("a[iconname=eye]").click()
        page.wait_for_timeout(1000)
        frames = [f for f in page.frames if "summary.html" in f.url]
        if frames:
            break
    assert frames, "the summary page is not shown inside the report"
    summary = frames[0]
    # classifier, generation, against real (each judge's shares with intervals), gaps (what
    # still tells generated from real), judge, sanity, latent, findings
    assert summary.locator("table").count() == 8
    assert "with 95 % intervals" in summary.locator("h2").nth(2).inner_text()
    judged = summary.locator("table").nth(2).locator("tbody tr").first.locator("td")
    assert judged.nth(1).inner_text() == "generated"
    assert "What still tells generated molecules" in summary.locator("h2").nth(3).inner_text()
    claims = summary.locator("table").nth(7).locator("tbody tr")
    assert claims.count() >= 10  # every region's claim, the unsupported ones included
    assert "The CNN uses" in claims.first.inner_text()
    cells = summary.locator("table").nth(1).locator("tbody tr").first.locator("td")
    assert cells.first.inner_text() == "independent_judge"  # a real row, not a download link
    assert summary.evaluate(
        "() => Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    # Sorting: a click on a heading reorders the rows.
    first = summary.locator("table").nth(1).locator("tbody tr td").first.inner_text()
    summary.locator("table").nth(1).locator("th").first.click()
    summary.locator("table").nth(1).locator("th").first.click()
    assert summary.locator("table").nth(1).locator("tbody tr td").first.inner_text() != first
    page.screenshot(path=str(tmp_path / "summary.png"), full_page=True)


def declared_kinds(rules_dir: Path) -> dict[str, set[str]]:
    """Category -> what its declared results are: "figure" (.png/.svg) and "table" (the .html
    pages the rules render from their TSVs; the summary page counts as one)."""
    kinds: dict[str, set[str]] = {}
    for path in rules_dir.glob("*.smk"):
        for target, args in re.findall(r'report\(\s*"([^"]+)",(.*?)\n\s*\)', path.read_text(),
                                       flags=re.S):
            category = re.search(r'\bcategory\s*=\s*"([^"]+)"', args).group(1)
            kind = "figure" if target.endswith((".png", ".svg")) else "table"
            kinds.setdefault(category, set()).add(kind)
    return kinds


def _shown_tables(page) -> int:
    """Rows of the largest table shown in a frame of the page (the result viewer's iframe)."""
    counts = [frame.locator("table tbody tr").count() for frame in page.frames
              if frame is not page.main_frame]
    return max(counts, default=0)


def _subcategories(page, uri: str, category: str) -> list[str | None]:
    _open_category(page, uri, category)
    nav = page.locator("nav").first
    if nav.locator("table tbody tr").count():
        return [None]
    return [t.strip() for t in nav.locator("ul li a span").all_inner_texts()]


def _rows_of(page, uri: str, category: str, subcategory: str | None):
    _open_category(page, uri, category)
    nav = page.locator("nav").first
    if subcategory is not None:
        nav.locator("ul li a span").get_by_text(subcategory, exact=True).click()
        page.wait_for_timeout(200)
    return nav.locator("table tbody tr")


def _small_text(page) -> list[str]:
    """Figures shown now whose smallest text (recorded in the PNG by premirna.core.figures)
    appears below MIN_SHOWN_PT at the width the report shows them."""
    import base64
    import io

    from PIL import Image

    from premirna.core.figures import FONT_KEY, MIN_SHOWN_PT, shown_font_pt

    shown = page.evaluate("""() => Array.from(document.images)
        .filter(img => !img.src.includes('filename=logo') && img.src.startsWith('data:image/png'))
        .map(img => [img.src, img.clientWidth, img.naturalWidth])""")
    small = []
    for src, client, natural in shown:
        png = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        smallest = float(png.info.get(FONT_KEY, "nan"))
        size = shown_font_pt(smallest, natural, client)
        if not size >= MIN_SHOWN_PT:  # NaN (no record) counts as too small
            small.append(f"{natural} px shown at {client} px: {smallest} pt -> {size:.1f} pt")
    return small


@pytest.mark.slow
def test_every_category_shows_its_tables_and_figures(real_report, browser_page, tmp_path):
    """Each category's results are shown one by one in a 1600 x 1000 window: every category that
    declares a figure shows a decoded image, every one that declares a table shows it as rows
    inside the report, and no figure's text appears smaller than 9 pt."""
    page = browser_page
    page.set_viewport_size({"width": 1600, "height": 1000})
    uri = real_report.html.resolve().as_uri()
    expected = declared_kinds(REPO / "workflow" / "rules")
    too_small: list[str] = []
    for category, kinds in sorted(expected.items()):
        seen: set[str] = set()
        for sub in _subcategories(page, uri, category):
            n_rows = _rows_of(page, uri, category, sub).count()
            for k in range(n_rows):
                _rows_of(page, uri, category, sub).nth(k).locator("a[iconname=eye]").click()
                for _ in range(20):  # a large page takes a moment to decode
                    page.wait_for_timeout(250)
                    if any(w > 0 for w in _shown_images(page)) or _shown_tables(page):
                        break
                if any(w > 0 for w in _shown_images(page)):
                    seen.add("figure")
                    too_small += [f"{category} / {sub} #{k}: {s}" for s in _small_text(page)]
                if _shown_tables(page) > 0:
                    seen.add("table")
        assert seen >= kinds, f"{category}: declared {sorted(kinds)}, shown {sorted(seen)}"
        page.screenshot(path=str(tmp_path / f"{category.split('.')[0]}.png"), full_page=True)
    assert not too_small, "text too small to read:\n" + "\n".join(too_small)
