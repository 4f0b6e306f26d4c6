"""premirna.core.figures: panels in rows a viewer need not shrink; the smallest text recorded."""

from __future__ import annotations

from PIL import Image

from premirna.core.figures import (
    DPI,
    FONT_KEY,
    MAX_WIDTH_IN,
    panel_grid,
    pyplot,
    save_figure,
    shown_font_pt,
    smallest_font_pt,
)


def test_panels_wrap_into_rows_no_wider_than_the_limit():
    fig, axes = panel_grid(5, 3.2, 2.8)
    assert len(axes) == 5 and fig.get_size_inches()[0] <= MAX_WIDTH_IN
    assert [a.get_visible() for a in fig.axes] == [True] * 5 + [False]
    fig, axes = panel_grid(2, 4.4, 3.0)
    assert fig.get_size_inches().tolist() == [8.8, 3.0]
    fig, axes = panel_grid(3, 4.4, 3.0)  # a third 4.4-in panel would pass the limit: next row
    assert fig.get_size_inches().tolist() == [8.8, 6.0]
    pyplot().close("all")


def test_the_png_records_its_smallest_text(tmp_path):
    plt = pyplot()
    fig, axis = plt.subplots(figsize=(4, 3))
    axis.set_title("title", fontsize=12)
    axis.set_xlabel("small", fontsize=7.5)
    axis.text(0.5, 0.5, "", fontsize=3)  # empty text is not text a reader sees
    assert smallest_font_pt(fig) == 7.5
    save_figure(fig, tmp_path / "f.png")
    assert Image.open(tmp_path / "f.png").info[FONT_KEY] == "7.50"


def test_shown_size_scales_with_the_displayed_width():
    assert shown_font_pt(9.0, 1000, 1000) == 9.0 * DPI / 96
    assert shown_font_pt(10.0, 2000, 1000) == 10.0 * DPI / 96 / 2
