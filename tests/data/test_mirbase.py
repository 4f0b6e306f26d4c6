"""premirna.data.mirbase on a real slice of miRBase 22 (tests/fixtures/mirbase) and on broken
entries."""

from __future__ import annotations

import gzip

import pytest

from premirna.core.errors import InputError
from premirna.data.mirbase import (
    arm_of,
    family_of,
    read_hairpin_fasta,
    read_mature_fasta,
    read_mirna_dat,
    species_filter,
    species_of,
)


@pytest.fixture(scope="module")
def mirbase_dir(data_dir):
    return data_dir / "mirbase"


@pytest.fixture(scope="module")
def everything(mirbase_dir):
    return read_mirna_dat(mirbase_dir / "miRNA.dat.gz", species="all")


def test_entries_and_features_of_the_slice(everything):
    hairpins, matures = everything
    assert len(hairpins) == 59
    assert len(matures) == 112
    let7 = hairpins[0]
    assert (let7.id, let7.accession, let7.species) == ("cel-let-7", "MI0000001", "cel")
    assert let7.description == "Caenorhabditis elegans let-7 stem-loop"
    assert let7.sequence.startswith("UACACUGUGGAUCCGGUGAGGUAG") and len(let7.sequence) == 99
    assert [(m.mature_id, m.accession, m.arm, m.start, m.end) for m in matures[:2]] == [
        ("cel-let-7-5p", "MIMAT0000001", "5p", 17, 38),
        ("cel-let-7-3p", "MIMAT0015091", "3p", 60, 81),
    ]


def test_mature_sequences_match_mature_fa(mirbase_dir, everything):
    hairpins, matures = everything
    sequence = {h.id: h.sequence for h in hairpins}
    cut = {m.accession: sequence[m.hairpin_id][m.start - 1 : m.end] for m in matures}
    mature_fa = read_mature_fasta(mirbase_dir / "mature.fa.gz", species="all", iupac="keep")
    assert len(mature_fa) == len(cut) == 100
    for record in mature_fa:
        assert cut[record.description.split()[0]] == record.sequence


def test_arm_from_position_when_the_name_does_not_say(everything):
    _, matures = everything
    mir107 = [m for m in matures if m.hairpin_id == "hsa-mir-107"]
    # hsa-miR-107 (50..72 on an 81-nt hairpin) is named without -5p/-3p.
    assert [(m.mature_id, m.arm, m.start, m.end) for m in mir107] == [("hsa-miR-107", "3p", 50, 72)]


def test_modified_base_features_are_not_matures(everything):
    _, matures = everything
    assert {m.mature_id for m in matures if m.hairpin_id == "hsa-mir-376c"} == {
        "hsa-miR-376c-5p",
        "hsa-miR-376c-3p",
    }


def test_arm_rules():
    assert arm_of("hsa-miR-21-5p", 60, 80, 100) == "5p"  # the name wins over the position
    assert arm_of("osa-miR169i-5p.2", 70, 90, 100) == "5p"
    assert arm_of("osa-miR395p", 70, 90, 100) == "3p"  # "395p" is no arm
    assert arm_of("x-miR-1", 1, 22, 100) == "5p"
    assert arm_of("x-miR-1", 79, 100, 100) == "3p"
    assert arm_of("x-miR-1", 40, 61, 100) == "5p"  # centre 50.5 == hairpin centre 50.5


def test_species_filter_and_prefix(mirbase_dir, everything):
    human, _ = read_mirna_dat(mirbase_dir / "miRNA.dat.gz")
    assert len(human) == 48 and {h.species for h in human} == {"hsa"}
    two, _ = read_mirna_dat(mirbase_dir / "miRNA.dat.gz", species=["hsa", "mmu"])
    assert len(two) == 56
    assert species_of("hsa-let-7a-1") == "hsa" and species_of("zma-MIR160a") == "zma"
    assert species_filter("all") is None and species_filter(["all"]) is None
    with pytest.raises(ValueError):
        species_filter(["all", "hsa"])
    with pytest.raises(ValueError):
        species_filter([])


def test_hairpin_fasta_agrees_with_the_flat_file(mirbase_dir, everything):
    from_dat = {h.id: h for h in everything[0]}
    hairpins, dropped = read_hairpin_fasta(mirbase_dir / "hairpin.fa.gz", species="all")
    assert dropped == ["zma-MIR160a", "rno-mir-215"]
    assert len(hairpins) == 57
    for hairpin in hairpins:
        assert hairpin == from_dat[hairpin.id]
    human, human_dropped = read_hairpin_fasta(mirbase_dir / "hairpin.fa.gz")
    assert len(human) == 48 and human_dropped == []


ENTRY = """ID   xyz-mir-1         standard; RNA; XYZ; 30 BP.
XX
AC   MI9999999;
XX
DE   Test species mir-1 stem-loop
XX
FH   Key             Location/Qualifiers
FH
FT   miRNA           {location}
FT                   /accession="MIMAT9999999"
FT                   /product="xyz-miR-1"
FT                   /experiment="a qualifier that runs on
FT                   over two lines"
XX
SQ   Sequence 30 BP; 8 A; 7 C; 8 G; 0 T; 7 other;
     acguacguac guacguacgu acguacguac        30
//
"""


def write_dat(path, text):
    with gzip.open(path, "wt") as handle:
        handle.write(text)
    return path


def test_hand_made_entry(tmp_path):
    path = write_dat(tmp_path / "ok.dat.gz", ENTRY.format(location="2..23"))
    hairpins, matures = read_mirna_dat(path, species="all")
    assert hairpins[0].sequence == "ACGU" * 7 + "AC"
    assert [(m.arm, m.start, m.end) for m in matures] == [("5p", 2, 23)]


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        (ENTRY.format(location="2..31"), r"xyz-mir-1 \(line 1\).*2\.\.31 lies outside"),
        (ENTRY.format(location="complement(2..23)"), r"is not 'start\.\.end'"),
        (ENTRY.format(location="2..23").replace("30 BP.", "31 BP."), r"declares 31 BP"),
        (ENTRY.format(location="2..23").replace("AC   MI9999999;\n", ""), r"no 'AC'"),
        (ENTRY.format(location="2..23")[:-3], r"ends inside an entry"),
        (ENTRY.format(location="2..23") * 2, r"duplicate ID 'xyz-mir-1'.*line 1"),
        ("XX\n" + ENTRY.format(location="2..23"), r"line 1: expected an 'ID' line"),
        ("\n", r"no entries"),
    ],
)
def test_malformed_flat_files(tmp_path, text, pattern):
    path = write_dat(tmp_path / "bad.dat.gz", text)
    with pytest.raises(InputError, match=pattern) as caught:
        read_mirna_dat(path, species="all")
    assert caught.value.path == str(path)


def test_family_of_drops_species_paralog_letter_and_copy_number():
    # orthologs and paralogs share a family; other numbers do not
    assert {family_of(n) for n in ("hsa-mir-92a-2", "mmu-mir-92b", "dre-mir-92a-1")} == {"mir-92"}
    assert family_of("hsa-let-7a-1") == "let-7" and family_of("cel-lin-4") == "lin-4"
    assert family_of("ath-MIR156a") == "mir-156" and family_of("hsa-mir-1-1") == "mir-1"
    assert family_of("hsa-mir-10") != family_of("hsa-mir-100")
    assert family_of("bmo-bantam") == "bantam"  # outside the numbering: its own family
