"""premirna.rna.seqio on real published files (tests/fixtures/seqio) and on hand-made broken
ones."""

from __future__ import annotations

import gzip

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from premirna.core.errors import InputError
from premirna.rna.seqio import Record, detect_format, read_records, write_fasta

SEQIO = "seqio"


@pytest.fixture(scope="module")
def seqio_dir(data_dir):
    return data_dir / SEQIO


def write(path, text, newline="\n"):
    path.write_bytes(text.replace("\n", newline).encode("ascii"))
    return path


# --- real files -------------------------------------------------------------------------------


def test_triplet_records_with_crlf_and_tab_metadata(seqio_dir):
    result = read_records(seqio_dir / "triplet_train_hsa_head5.txt")
    assert result.format == "triplet"
    assert [r.id for r in result][:2] == ["hsa-let-7a-2", "hsa-let-7a-3"]
    first = result.records[0]
    assert (
        first.sequence == "AGGUUGAGGUAGUAGGUUGUAUAGUUUAGAAUUACAUCAAGGGAGAUAACUGUACAGCCUCCUAGCUUUCCU"
    )
    assert (
        first.structure
        == "(((..(((.(((.(((((((((((((.....(..(.....)..)...))))))))))))).))).))).)))"
    )
    assert first.mfe is None  # the triplet format gives no energy on the structure line
    assert first.description.startswith("SEQ_LENGTH\t67\tGC_CONTENT")
    assert all("\r" not in r.sequence + r.structure for r in result)


def test_rnafold_lower_case_becomes_upper_case_rna(seqio_dir):
    result = read_records(seqio_dir / "mirdnn_test.fold")
    assert result.format == "rnafold"
    assert len(result) == 16
    first = result.records[0]
    assert first.id == "hsa-let-7a-1"
    assert first.sequence.startswith("UGGGAUGAGGUAGUAGG")
    assert first.sequence == first.sequence.upper()
    assert first.mfe == pytest.approx(-34.20)
    assert len(first.structure) == len(first.sequence)


def test_rnafold_with_crlf_on_headers_only(seqio_dir):
    result = read_records(seqio_dir / "micropred_head4.rnafold")
    assert result.format == "rnafold"
    assert [r.id for r in result] == [
        "hsa-let-7a-1",
        "hsa-let-7a-2",
        "hsa-let-7a-3",
        "hsa-let-7b",
    ]
    assert result.records[0].description == "MI0000060"
    assert result.records[0].mfe == pytest.approx(-35.60)


def test_the_same_molecules_in_fasta_and_rnafold(seqio_dir):
    fasta = read_records(seqio_dir / "micropred_head4.fasta")
    folded = read_records(seqio_dir / "micropred_head4.rnafold")
    assert fasta.format == "fasta"
    assert [(r.id, r.sequence) for r in fasta] == [(r.id, r.sequence) for r in folded]
    assert all(r.structure is None and r.mfe is None for r in fasta)


def test_headers_unique_only_as_a_whole(seqio_dir):
    path = seqio_dir / "rfam91_aga_head6.fa"
    with pytest.raises(InputError) as caught:
        read_records(path)
    message = str(caught.value)
    assert "rfam91_aga_head6.fa" in message
    assert "duplicate id '5S_rRNA'" in message and "line 3" in message and "line 1" in message
    whole = read_records(path, id_from="header")
    assert [r.id for r in whole][:3] == ["5S_rRNA_1", "5S_rRNA_2", "5S_rRNA_3"]


def test_space_after_the_header_mark(seqio_dir):
    result = read_records(seqio_dir / "micropred_other_head4.fasta", id_from="header")
    assert [r.id for r in result][:2] == ["miscellaneous_RNA_1", "miscellaneous_RNA_2"]


def test_gzip_multiline_fasta_and_iupac_policies(data_dir):
    path = data_dir / "mirbase" / "hairpin.fa.gz"
    kept = read_records(path, iupac="keep")
    dropped = read_records(path)
    assert len(kept) == 59
    assert sorted(dropped.iupac_dropped) == ["rno-mir-215", "zma-MIR160a"]
    assert len(dropped) == 57
    assert not any(r.has_iupac() for r in dropped)
    let7 = next(r for r in kept if r.id == "cel-let-7")
    # 99 nt over two 60-column lines, joined.
    assert len(let7.sequence) == 99 and let7.description.startswith("MI0000001 ")
    with pytest.raises(InputError, match=r"zma-MIR160a \(line 154\).*IUPAC"):
        read_records(path, iupac="error")


# --- hand-made malformed files -------------------------------------------------------------------

BAD_FILES = {
    "sequence before any header": ("ACGU\n>a\nACGU\n", r"line 1: sequence data before"),
    "structure length": (">a\nACGUACGU\n((..)) (-1.0)\n", r"a \(line 1\).*6 characters.*8 nt"),
    "unbalanced": (">a\nACGUAC\n((..). (-1.0)\n", r"a \(line 1\).*unbalanced.*left open"),
    "closing first": (">a\nACGUAC\n)(..() (-1.0)\n", r"'\)' at column 1 has no '\('"),
    "illegal character": (">a\nACGU\n>b\nACXU\n", r"b \(line 3\).*'X'.*line 4, column 3"),
    "gap in sequence": (">a\nAC-GU\n", r"'-'.*line 2, column 3"),
    "empty record": (">a\n>b\nACGU\n", r"a \(line 1\): empty record"),
    "empty record at the end": (">a\nACGU\n>b\n", r"b \(line 3\): empty record"),
    "duplicate id": (">a x\nACGU\n>a y\nGGCC\n", r"a \(line 3\).*duplicate id 'a'.*line 1"),
    "no id": (">\nACGU\n", r"no id"),
    "structure missing": (">a\nACGU\n(()) (-1.0)\n>b\nACGU\n", r"b \(line 4\).*no structure"),
    "energy in triplet": (">a\nACGU\n(())\n>b\nACGU\n(()) (-2.0)\n", r"b \(line 4\).*energy"),
    "structure in fasta": (">a\nACGU\n>b\nACGU\n(())\n", r"b \(line 3\).*structure line"),
    "two structures": (">a\nACGU\n(())\n....\n", r"unexpected line 4"),
    "bad structure letter": (">a\nACGUAC\n((..]]\n", r"illegal character '\]' in the structure"),
    "no records": ("\n\n", r"no records"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_malformed_files_name_file_record_and_problem(tmp_path, case):
    text, pattern = BAD_FILES[case]
    path = write(tmp_path / "bad.fa", text)
    with pytest.raises(InputError, match=pattern) as caught:
        read_records(path, iupac="keep")
    assert str(path) in str(caught.value)
    assert caught.value.path == str(path)


def test_not_text(tmp_path):
    path = tmp_path / "binary.fa"
    path.write_bytes(b">a\nAC\xffGU\n")
    with pytest.raises(InputError, match="line 2, column 3: byte 0xff is not UTF-8"):
        read_records(path)


def test_utf8_headers_are_read_and_other_encodings_named_by_line(tmp_path):
    path = tmp_path / "utf8.fa"
    path.write_text(">a1 Müller’s hairpin\nACGU\n", encoding="utf-8")
    (record,) = read_records(path).records
    assert (record.id, record.description) == ("a1", "Müller’s hairpin")
    windows = tmp_path / "cp1252.fa.gz"
    with gzip.open(windows, "wb") as handle:
        handle.write(">a1\nACGU\n>a2 café\nACGU\n".encode("cp1252"))
    with pytest.raises(InputError, match=r"cp1252.fa.gz: line 3, column 8: byte 0xe9"):
        read_records(windows)


def test_broken_gzip(tmp_path):
    path = tmp_path / "cut.fa.gz"
    path.write_bytes(gzip.compress(b">a\nACGUACGUACGU\n" * 50)[:-12])
    with pytest.raises(InputError, match="gzip"):
        read_records(path)


# --- normalisation -----------------------------------------------------------------------------


def test_crlf_blank_lines_lower_case_and_t(tmp_path):
    path = write(tmp_path / "messy.fa", "\n>x first\nacgt\n\nTTgg\n\n>y\nNNAC\n", newline="\r\n")
    result = read_records(path, iupac="keep")
    assert [(r.id, r.sequence, r.description) for r in result] == [
        ("x", "ACGUUUGG", "first"),
        ("y", "NNAC", ""),
    ]
    assert read_records(path).iupac_dropped == ["y"]


def test_rnafold_energy_padding_and_forced_format(tmp_path):
    path = write(
        tmp_path / "folded.txt", ">a\nGGGAAACCC\n(((...))) ( -1.20)\n>b\nAAAA\n.... (  0.00)\n"
    )
    assert detect_format(path) == "rnafold"
    records = read_records(path).records
    assert [r.mfe for r in records] == [pytest.approx(-1.2), 0.0]
    with pytest.raises(InputError, match="structure line in a plain FASTA"):
        read_records(path, fmt="fasta")


def test_structure_checked_with_iupac_kept(tmp_path):
    path = write(tmp_path / "t.txt", ">a\nGGNAACC\n((...))\n")
    record = read_records(path, iupac="keep").records[0]
    assert record.structure == "((...))" and record.has_iupac()


# --- writer ------------------------------------------------------------------------------------

rna = st.text(alphabet="ACGUN", min_size=1, max_size=200)


@settings(max_examples=40, deadline=None)
@given(
    sequences=st.lists(rna, min_size=1, max_size=8),
    width=st.integers(min_value=1, max_value=80),
)
def test_write_then_read_round_trip(tmp_path_factory, sequences, width):
    folder = tmp_path_factory.mktemp("fasta")
    records = [Record(f"id{i}", seq, description=f"d {i}") for i, seq in enumerate(sequences)]
    for name in ("out.fa", "out.fa.gz"):
        count = write_fasta(records, folder / name, width=width)
        back = read_records(folder / name, iupac="keep").records
        assert count == len(records)
        assert [(r.id, r.sequence, r.description) for r in back] == [
            (r.id, r.sequence, r.description) for r in records
        ]
    lines = (folder / "out.fa").read_text().splitlines()
    assert all(len(line) <= width for line in lines if not line.startswith(">"))


def test_failed_write_leaves_nothing(tmp_path):
    def records():
        yield Record("a", "ACGU")
        raise RuntimeError("upstream failure")

    with pytest.raises(RuntimeError):
        write_fasta(records(), tmp_path / "out.fa")
    assert list(tmp_path.iterdir()) == []
