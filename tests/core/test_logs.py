"""Log lines a person can follow: durations, time left, plain numbers, dated timestamps."""

from __future__ import annotations

import logging
import math
import re

import numpy as np
import pytest

from premirna.core.logs import counts_text, duration, eta, setup_logging


@pytest.mark.parametrize(("seconds", "text"), [(0, "0 s"), (40.4, "40 s"), (89, "89 s"),
                                               (180, "3 min"), (3599, "60 min"),
                                               (4000, "1 h 07 min"), (math.nan, "?")])
def test_duration_reads_as_people_say_it(seconds, text):
    assert duration(seconds) == text


def test_eta_extrapolates_the_mean_step():
    assert eta(3, 40, 30.0) == "ETA 6 min"  # 37 more steps of 10 s
    assert eta(40, 40, 400.0) == "ETA 0 s"
    assert eta(0, 40, 0.0) == "ETA ?"


def test_counts_are_plain_numbers_not_numpy_reprs():
    outcomes = np.array(["FN", "TP", "TP"])
    text = counts_text(dict(zip(*np.unique(outcomes, return_counts=True), strict=True)))
    assert text == "FN 1, TP 2"
    assert "np." not in counts_text({np.str_("x"): np.int64(3), "y": 2.5})


def test_log_lines_carry_the_date(tmp_path, capsys):
    setup_logging(str(tmp_path / "run.log"))
    logging.getLogger("premirna.test").info("hello")
    line = (tmp_path / "run.log").read_text().strip()
    assert re.match(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} INFO premirna.test: hello$", line), line
