"""Tests of premirna.fold: ViennaRNA folding, chunked tables, the gather step and the file tool."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
import RNA

from premirna.core.errors import InputError
from premirna.fold.chunks import chunk_count, count_chunks
from premirna.fold.table import (
    FILE_COLUMNS,
    FOLD_COLUMNS,
    MATURE_POSITION_COLUMNS,
    fold_file,
    fold_table,
    gather_folds,
)
from premirna.rna.folding import FoldSettings, fold_sequences
from premirna.rna.structure import hairpin_loops

REPO = Path(__file__).resolve().parents[2]
HAIRPINS = REPO / "resources" / "mirbase_v22" / "hairpin.fa.gz"
MOLECULE_COLUMNS = ["id", "sequence", "label", "species", "source", "split"]


def human_hairpins(n: int) -> dict[str, str]:
    """The first `n` human hairpins of the bundled miRBase 22 hairpin.fa.gz, in file order."""
    found: dict[str, str] = {}
    current = None
    with gzip.open(HAIRPINS, "rt") as handle:
        for line in handle:
            if line.startswith(">"):
                if len(found) == n:
                    break
                name = line[1:].split()[0]
                current = name if name.startswith("hsa-") else None
                if current:
                    found[current] = ""
            elif current:
                found[current] += line.strip()
    return found


@pytest.fixture(scope="module")
def hairpins() -> dict[str, str]:
    return human_hairpins(30)


def direct_fold(sequence: str, temperature: float = 37.0, dangles: int = 2) -> tuple[str, float]:
    md = RNA.md()
    md.temperature = temperature
    md.dangles = dangles
    structure, mfe = RNA.fold_compound(sequence, md).mfe()
    return structure, round(mfe, 2)


def write_molecules(path: Path, hairpins: dict[str, str]) -> Path:
    rows = [
        (name, seq, 1 if k % 3 else 0, "hsa", "mirbase_v22", ("train", "val", "test")[k % 3])
        for k, (name, seq) in enumerate(hairpins.items())
    ]
    pd.DataFrame(rows, columns=MOLECULE_COLUMNS).to_csv(path, sep="\t", index=False)
    return path


def test_let7a1_folds_into_one_stem_loop_with_viennarnas_mfe(hairpins: dict[str, str]) -> None:
    sequence = hairpins["hsa-let-7a-1"]
    [(structure, mfe)] = fold_sequences([sequence])
    assert (structure, mfe) == direct_fold(sequence)
    assert len(hairpin_loops(structure)) == 1
    assert structure.startswith("(((((.((((") and structure.endswith(")))))")
    assert -40 < mfe < -30  # -34.2 kcal/mol with ViennaRNA 2.8 at 37 C


def test_two_processes_keep_order_and_are_deterministic(hairpins: dict[str, str]) -> None:
    sequences = list(hairpins.values())
    expected = [direct_fold(seq) for seq in sequences]
    assert fold_sequences(sequences, processes=1) == expected
    assert fold_sequences(sequences, processes=2) == expected
    # Reversed input gives reversed output: results follow the input, not the finishing order.
    assert fold_sequences(sequences[::-1], processes=2) == expected[::-1]


def test_progress_counts_every_sequence(hairpins: dict[str, str]) -> None:
    class Counter:
        done = 0

        def update(self, n: int = 1) -> None:
            self.done += n

    counter = Counter()
    fold_sequences(list(hairpins.values()), processes=2, progress=counter)
    assert counter.done == len(hairpins)


def test_temperature_and_dangles_change_the_fold(hairpins: dict[str, str]) -> None:
    sequences = list(hairpins.values())[:10]
    at_37 = fold_sequences(sequences)
    at_70 = fold_sequences(sequences, fold=FoldSettings(temperature=70.0))
    assert at_70 == [direct_fold(seq, temperature=70.0) for seq in sequences]
    assert all(hot > cold for (_, hot), (_, cold) in zip(at_70, at_37, strict=True))
    no_dangles = fold_sequences(sequences, fold=FoldSettings(dangles=0))
    assert no_dangles == [direct_fold(seq, dangles=0) for seq in sequences]
    assert no_dangles != at_37
    with pytest.raises(ValueError, match="dangles"):
        fold_sequences(sequences, fold=FoldSettings(dangles=5))


def test_bad_letters_are_named() -> None:
    with pytest.raises(ValueError, match=r"sequence 1: letter 'X' at position 3"):
        fold_sequences(["GGGAAACCC", "GGXAAACCC"])
    with pytest.raises(ValueError, match="sequence 0: empty"):
        fold_sequences([""])


def test_fold_table_columns_and_values(tmp_path: Path, hairpins: dict[str, str]) -> None:
    molecules = write_molecules(tmp_path / "molecules.tsv", hairpins)
    table = fold_table(molecules, tmp_path / "folded.tsv", processes=2)
    written = pd.read_csv(tmp_path / "folded.tsv", sep="\t", keep_default_na=False)
    expected_columns = [*MOLECULE_COLUMNS, *FOLD_COLUMNS, *MATURE_POSITION_COLUMNS]
    assert list(written.columns) == expected_columns
    assert list(table.columns) == expected_columns
    assert written["id"].tolist() == list(hairpins)
    folds = [direct_fold(seq) for seq in hairpins.values()]
    assert written["structure"].tolist() == [s for s, _ in folds]
    assert written["mfe"].tolist() == pytest.approx([m for _, m in folds])
    assert (written["mfe_per_nt"] == (written["mfe"] / written["length"]).round(4)).all()
    assert written["length"].tolist() == [len(seq) for seq in hairpins.values()]
    # No mature table given: the mature columns are there and empty.
    assert (written[list(MATURE_POSITION_COLUMNS)] == "").all().all()


def test_chunks_gathered_equal_the_unchunked_table(
    tmp_path: Path, hairpins: dict[str, str]
) -> None:
    molecules = write_molecules(tmp_path / "molecules.tsv", hairpins)
    fold_table(molecules, tmp_path / "whole.tsv")
    size = 7
    n = count_chunks(molecules, size)
    assert n == chunk_count(len(hairpins), size) == 5  # 30 molecules: 7, 7, 7, 7, 2
    chunks = [tmp_path / f"chunks/{k}.tsv" for k in range(n)]
    for k, path in enumerate(chunks):
        fold_table(molecules, path, chunk=k, chunk_size=size)
    assert [len(pd.read_csv(p, sep="\t")) for p in chunks] == [7, 7, 7, 7, 2]
    gather_folds(chunks, tmp_path / "gathered.tsv", tmp_path / "settings.json", molecules,
                 FoldSettings(45.0, 1))
    assert (tmp_path / "gathered.tsv").read_bytes() == (tmp_path / "whole.tsv").read_bytes()
    settings = json.loads((tmp_path / "settings.json").read_text())
    assert settings["viennarna_version"] == RNA.__version__
    assert (settings["temperature"], settings["dangles"]) == (45.0, 1)
    with pytest.raises(ValueError, match="out of range"):
        fold_table(molecules, tmp_path / "x.tsv", chunk=n, chunk_size=size)


def test_gather_refuses_chunks_out_of_order(tmp_path: Path, hairpins: dict[str, str]) -> None:
    molecules = write_molecules(tmp_path / "molecules.tsv", hairpins)
    chunks = [tmp_path / f"{k}.tsv" for k in range(2)]
    for k, path in enumerate(chunks):
        fold_table(molecules, path, chunk=k, chunk_size=15)
    with pytest.raises(InputError, match="order"):
        gather_folds(chunks[::-1], tmp_path / "g.tsv", tmp_path / "s.json", molecules)
    assert not (tmp_path / "g.tsv").exists()


def test_mature_positions_are_joined(tmp_path: Path, hairpins: dict[str, str]) -> None:
    molecules = write_molecules(tmp_path / "molecules.tsv", hairpins)
    mature = tmp_path / "mature.tsv"
    mature.write_text(
        "hairpin_id\tmature_id\taccession\tarm\tstart\tend\n"
        "hsa-let-7a-1\thsa-let-7a-5p\tMIMAT0000062\t5p\t6\t27\n"
        "hsa-let-7a-1\thsa-let-7a-3p\tMIMAT0004481\t3p\t57\t77\n"
        "hsa-mir-16-1\thsa-miR-16-5p\tMIMAT0000069\t5p\t14\t35\n"
        "hsa-mir-not-in-table\thsa-miR-x\tMIMAT9\t3p\t50\t70\n"
    )
    fold_table(molecules, tmp_path / "folded.tsv", mature_tsv=mature)
    written = pd.read_csv(tmp_path / "folded.tsv", sep="\t", keep_default_na=False, index_col="id")
    positions = written[list(MATURE_POSITION_COLUMNS)].astype(str)
    assert positions.loc["hsa-let-7a-1"].tolist() == ["6", "27", "57", "77"]
    assert positions.loc["hsa-mir-16-1"].tolist() == ["14", "35", "", ""]
    assert positions.loc["hsa-let-7a-2"].tolist() == ["", "", "", ""]
    assert "hsa-mir-not-in-table" not in written.index


def test_non_rna_letters_in_the_table_name_the_record(tmp_path: Path) -> None:
    molecules = tmp_path / "molecules.tsv"
    molecules.write_text(
        "id\tsequence\tlabel\tspecies\tsource\tsplit\n"
        "good\tGGGGAAAACCCC\t1\thsa\tshuffle\ttrain\n"
        "bad_one\tGGGGAA#ACCCC\t0\thsa\tshuffle\ttest\n"
    )
    with pytest.raises(InputError, match=r"record bad_one: letter '#' at position 7"):
        fold_table(molecules, tmp_path / "folded.tsv")
    assert not (tmp_path / "folded.tsv").exists()


def test_fold_file_reads_fasta(tmp_path: Path, hairpins: dict[str, str]) -> None:
    fasta = tmp_path / "in.fa"
    chosen = dict(list(hairpins.items())[:4])
    fasta.write_text("".join(f">{name} a hairpin\n{seq}\n" for name, seq in chosen.items()))
    table = fold_file(fasta, tmp_path / "out.tsv", processes=2)
    written = pd.read_csv(tmp_path / "out.tsv", sep="\t")
    assert list(written.columns) == list(FILE_COLUMNS) == list(table.columns)
    assert written["id"].tolist() == list(chosen)
    assert written["structure"].tolist() == [direct_fold(s)[0] for s in chosen.values()]


def test_fold_file_names_a_bad_record(tmp_path: Path) -> None:
    fasta = tmp_path / "in.fa"
    fasta.write_text(">ok\nGGGGAAAACCCC\n>broken\nGGGG1AAACCCC\n")
    with pytest.raises(InputError, match="broken"):
        fold_file(fasta, tmp_path / "out.tsv")
    assert not (tmp_path / "out.tsv").exists()
