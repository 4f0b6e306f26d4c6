"""One reader for every table: one convention for empty cells, clear errors naming the file."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from premirna.core.errors import InputError
from premirna.core.tables import ALL_TEXT, read_folded, read_table


def write(path, text: str):
    path.write_text(text)
    return path


def test_text_columns_keep_text_and_number_columns_parse(tmp_path):
    path = write(tmp_path / "t.tsv", "id\tsequence\tsource\tmfe\tmature_5p_start\n"
                                     "NA\tACGU\t\t-12.5\t\n007\tGGCC\tcoding\t-3\t14\n")
    table = read_table(path)
    assert table["id"].tolist() == ["NA", "007"]  # ids stay as written
    assert table["source"].tolist() == ["", "coding"]  # an empty text cell is ""
    assert table["mfe"].tolist() == [-12.5, -3.0]
    assert np.isnan(table["mature_5p_start"].iloc[0]) and table["mature_5p_start"].iloc[1] == 14


def test_all_text_passes_a_table_on_unchanged(tmp_path):
    path = write(tmp_path / "t.tsv", "id\tmfe\tmature_5p_start\nx\t-3.10\t\n")
    table = read_table(path, text=ALL_TEXT)
    assert table.iloc[0].tolist() == ["x", "-3.10", ""]


def test_missing_columns_empty_tables_and_bad_files_name_the_file(tmp_path):
    path = write(tmp_path / "t.tsv", "id\tsequence\n")
    with pytest.raises(InputError, match=r"t\.tsv: missing column\(s\) structure"):
        read_table(path, ("id", "structure"))
    with pytest.raises(InputError, match="has no rows"):
        read_table(path, nonempty=True)
    with pytest.raises(InputError, match="no such file"):
        read_table(tmp_path / "absent.tsv")
    binary = tmp_path / "b.tsv"
    binary.write_bytes(gzip.compress(b"id\tsequence\nx\tACGU\n"))
    with pytest.raises(InputError, match=r"b\.tsv: cannot be read"):
        read_table(binary)


def test_read_folded_indexes_by_id_and_keeps_the_first_of_a_repeated_id(tmp_path):
    path = write(tmp_path / "folded.tsv", "id\tsequence\tstructure\tgc\n"
                                          "a\tGGGAAACCC\t(((...)))\t0.6\n"
                                          "a\tACGU\t....\t0.5\n"
                                          "b\tAAAA\t....\t0\n")
    folded = read_folded(path)
    assert folded.index.tolist() == ["a", "b"] and folded.loc["a", "gc"] == 0.6
    assert folded.loc["b", "id"] == "b"
