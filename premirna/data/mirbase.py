"""miRBase release files: hairpins and the mature miRNAs inside them.

`read_mirna_dat` parses ``miRNA.dat``, miRBase's EMBL-like flat file (one entry per hairpin: ``ID``,
``AC``, ``DE``, ``FT miRNA`` features with 1-based ``start..end``, ``/accession`` and ``/product``,
then the ``SQ`` sequence and ``//``), into `Hairpin` and `Mature` rows. It is the only release
file that says where each mature miRNA sits on its hairpin, which the fold and interpretation
stages need. `read_hairpin_fasta` and `read_mature_fasta` read ``hairpin.fa`` / ``mature.fa``
through `premirna.rna.seqio`. Every reader takes a species filter: a list of miRBase prefixes
(``["hsa"]``) or ``all``; `resolve_species` turns organism names (``Mus musculus``) into prefixes.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from premirna.core.errors import InputError
from premirna.rna.seqio import ReadResult, read_records, text_lines
from premirna.rna.sequence import to_rna

log = logging.getLogger(__name__)

# "hsa-miR-21-5p", and the numbered isoforms of plants and viruses: "osa-miR169i-5p.2".
_ARM_SUFFIX = re.compile(r"-(5p|3p)(?:\.\d+)?$")
_LOCATION = re.compile(r"^(\d+)\.\.(\d+)$")
_ID_LENGTH = re.compile(r"(\d+)\s+BP\.?\s*$")


@dataclass(frozen=True)
class Hairpin:
    """A miRBase stem-loop, e.g. ``hsa-mir-21`` (``MI0000077``, species ``hsa``); upper-case RNA."""

    id: str
    accession: str
    species: str
    sequence: str
    description: str = ""


@dataclass(frozen=True)
class Mature:
    """A mature miRNA on its hairpin; `start` and `end` are 1-based and inclusive."""

    hairpin_id: str
    mature_id: str
    accession: str
    arm: str
    start: int
    end: int


def species_of(mirbase_id: str) -> str:
    """The species prefix of a miRBase name: the text before the first ``-`` (``hsa-mir-21``)."""
    return mirbase_id.split("-", 1)[0]


def family_of(mirbase_id: str) -> str:
    """The family a miRBase name places a hairpin in, lower case: the species prefix, paralog
    letter and copy number dropped, so ``hsa-mir-92a-2`` and ``mmu-mir-92b`` are ``mir-92`` and
    ``ath-MIR156a`` is ``mir-156``. miRBase gives orthologous miRNAs of different species the
    same number (Ambros et al. 2003, RNA 9:277; Griffiths-Jones et al. 2006, Nucleic Acids Res
    34:D140), so a shared family says the hairpins are homologous. A name outside the mir/let/
    lin scheme is its own family (``bmo-bantam`` -> ``bantam``)."""
    name = mirbase_id.split("-", 1)[-1].lower()
    match = re.match(r"(mir|let|lin)-?(\d+)", name)
    return f"{match.group(1)}-{match.group(2)}" if match else name


def species_filter(species: str | Iterable[str]) -> frozenset[str] | None:
    """Normalise a species setting: None means every species (``all`` or ``["all"]``)."""
    if isinstance(species, str):
        species = [species]
    chosen = frozenset(species)
    if not chosen:
        raise ValueError("species: give at least one miRBase prefix (such as hsa) or all")
    if "all" in chosen:
        if len(chosen) > 1:
            raise ValueError(f"species: 'all' cannot be combined with prefixes {sorted(chosen)}")
        return None
    return chosen


def release_species(hairpin_fa: str | os.PathLike[str]) -> frozenset[str]:
    """The species prefixes in a release's ``hairpin.fa`` (its headers only: a quick scan)."""
    return frozenset(
        species_of(line[1:].split(maxsplit=1)[0])
        for _, line in text_lines(hairpin_fa, strict=False)
        if line.startswith(">") and line[1:].strip()
    )


def release_organisms(hairpin_fa: str | os.PathLike[str]) -> dict[str, str]:
    """Prefix -> organism name (``mmu`` -> ``Mus musculus``) of a release's ``hairpin.fa``.

    The name is read from the headers' descriptions (``>mmu-let-7g MI0000137 Mus musculus let-7g
    stem-loop``: the words before the miRNA's name); the most common reading per prefix wins, so a
    few irregular headers do not matter.
    """
    readings: dict[str, Counter[str]] = {}
    for _, line in text_lines(hairpin_fa, strict=False):
        fields = line[1:].split(maxsplit=2) if line.startswith(">") else []
        if len(fields) < 3:
            continue
        description = fields[2].removesuffix(" stem-loop")
        organism = description.rsplit(" ", 1)[0] if " " in description else description
        readings.setdefault(species_of(fields[0]), Counter())[organism] += 1
    return {prefix: counts.most_common(1)[0][0] for prefix, counts in readings.items()}


def _name_key(name: str) -> str:
    return " ".join(name.replace("_", " ").split()).casefold()


def resolve_species(
    species: str | Iterable[str], hairpin_fa: str | os.PathLike[str]
) -> str | list[str]:
    """The `species` setting with organism names replaced by their miRBase prefixes.

    An entry may be a prefix (``mmu``), ``all``, or an organism's name as miRBase writes it (``Mus
    musculus``; case, extra spaces and underscores ignored). Entries that are neither stay as given,
    so that `missing_species` names them.
    """
    if isinstance(species, str):
        return species if species == "all" else resolve_species([species], hairpin_fa)
    entries = list(species)
    prefixes = release_species(hairpin_fa)
    by_name = {_name_key(name): prefix for prefix, name in release_organisms(hairpin_fa).items()}
    return [entry if entry in prefixes or entry == "all" else by_name.get(_name_key(entry), entry)
            for entry in entries]


def missing_species(
    species: str | Iterable[str], hairpin_fa: str | os.PathLike[str]
) -> list[str]:
    """The prefixes of the `species` setting that `hairpin_fa` has no hairpin of (none for all)."""
    chosen = species_filter(species)
    return [] if chosen is None else sorted(chosen - release_species(hairpin_fa))


def _wanted(mirbase_id: str, chosen: frozenset[str] | None) -> bool:
    return chosen is None or species_of(mirbase_id) in chosen


def arm_of(product: str, start: int, end: int, hairpin_length: int) -> str:
    """``5p`` or ``3p``: from the product name when it ends in -5p/-3p, else by position.

    By position, a mature miRNA whose centre lies before the hairpin's centre (or exactly on it)
    is on the 5' arm. miRBase names only some products by arm (``hsa-miR-21-5p`` but
    ``hsa-miR-107``), so position is the fallback for the rest.
    """
    match = _ARM_SUFFIX.search(product)
    if match:
        return match.group(1)
    return "5p" if (start + end) / 2 <= (hairpin_length + 1) / 2 else "3p"


@dataclass
class _Entry:
    line: int
    id: str = ""
    accession: str = ""
    description: str = ""
    declared_length: int | None = None
    features: list[tuple[int, str, dict[str, str]]] | None = None
    sequence: str = ""


def _entries(path: Path) -> Iterator[_Entry]:
    """Split miRNA.dat into entries, collecting only the fields this module uses."""
    entry: _Entry | None = None
    in_sequence = False
    feature_qualifier: str | None = None  # the qualifier being continued over several FT lines
    for number, line in text_lines(path):
        if not line.strip():
            continue
        code, text = line[:2], line[5:].strip()
        if entry is None:
            if code != "ID":
                raise InputError(
                    path,
                    f"line {number}: expected an 'ID' line to start an entry, got {code!r}",
                )
            entry = _Entry(number, features=[])
        if code == "//":
            yield entry
            entry, in_sequence, feature_qualifier = None, False, None
            continue
        if in_sequence:
            # "     uacacugugg auccggugag ...        60": letters in groups, then a count.
            entry.sequence += "".join(part for part in text.split() if not part.isdigit())
            continue
        if code == "ID":
            if entry.id:
                raise InputError(
                    path,
                    f"line {number}: a new 'ID' line before the '//' that ends the entry",
                    record=f"{entry.id} (line {entry.line})",
                )
            entry.id = text.split()[0] if text else ""
            length = _ID_LENGTH.search(text)
            entry.declared_length = int(length.group(1)) if length else None
        elif code == "AC":
            entry.accession = text.rstrip(";").split(";")[0].strip()
        elif code == "DE":
            entry.description = f"{entry.description} {text}".strip()
        elif code == "FT":
            feature_qualifier = _feature_line(path, entry, number, line, feature_qualifier)
        elif code == "SQ":
            in_sequence = True
    if entry is not None:
        raise InputError(
            path,
            "the file ends inside an entry (no closing '//'): truncated?",
            record=f"{entry.id or '<no id>'} (line {entry.line})",
        )


def _feature_line(
    path: Path, entry: _Entry, number: int, line: str, continuing: str | None
) -> str | None:
    """Add one FT line to the entry's features; return the qualifier still open, if any."""
    assert entry.features is not None
    key, value = line[5:21].strip(), line[21:].strip()
    if key:
        entry.features.append((number, key, {"location": value}))
        return None
    if not entry.features:
        raise InputError(
            path,
            f"line {number}: a feature qualifier before any feature key",
            record=f"{entry.id} (line {entry.line})",
        )
    qualifiers = entry.features[-1][2]
    if continuing is not None:
        # A quoted value that runs over several lines: '/experiment="cloned [1-3], Northern'.
        qualifiers[continuing] += " " + value.rstrip('"')
        return None if value.endswith('"') else continuing
    if not value.startswith("/"):
        return None
    name, _, rest = value[1:].partition("=")
    if not rest.startswith('"'):
        qualifiers[name] = rest  # unquoted: "/evidence=experimental", or a flag with no value
        return None
    if len(rest) >= 2 and rest.endswith('"'):
        qualifiers[name] = rest[1:-1]
        return None
    qualifiers[name] = rest[1:]
    return name


def _hairpin_and_matures(path: Path, entry: _Entry) -> tuple[Hairpin, list[Mature]]:
    label = f"{entry.id or '<no id>'} (line {entry.line})"
    if not entry.id:
        raise InputError(path, "the ID line has no name", record=label)
    if not entry.accession:
        raise InputError(path, "no 'AC' accession line", record=label)
    sequence = to_rna(entry.sequence)
    if not sequence:
        raise InputError(path, "no sequence (missing 'SQ' block)", record=label)
    if not sequence.isalpha():
        bad = next(c for c in sequence if not c.isalpha())
        raise InputError(path, f"illegal character {bad!r} in the sequence", record=label)
    if entry.declared_length is not None and entry.declared_length != len(sequence):
        raise InputError(
            path,
            f"the ID line declares {entry.declared_length} BP but the sequence has "
            f"{len(sequence)} nt",
            record=label,
        )
    matures = []
    for number, key, qualifiers in entry.features or []:
        if key != "miRNA":
            continue  # e.g. "modified_base" (inosine): not a mature product
        location = _LOCATION.match(qualifiers["location"])
        if location is None:
            raise InputError(
                path,
                f"line {number}: miRNA feature location {qualifiers['location']!r} is not "
                "'start..end'",
                record=label,
            )
        start, end = int(location.group(1)), int(location.group(2))
        if not 1 <= start <= end <= len(sequence):
            raise InputError(
                path,
                f"line {number}: miRNA feature {start}..{end} lies outside the "
                f"{len(sequence)}-nt hairpin",
                record=label,
            )
        product, accession = qualifiers.get("product"), qualifiers.get("accession")
        if not product or not accession:
            raise InputError(
                path,
                f"line {number}: miRNA feature without /product or /accession",
                record=label,
            )
        arm = arm_of(product, start, end, len(sequence))
        matures.append(Mature(entry.id, product, accession, arm, start, end))
    hairpin = Hairpin(entry.id, entry.accession, species_of(entry.id), sequence, entry.description)
    return hairpin, matures


def read_mirna_dat(
    path: str | os.PathLike[str], species: str | Iterable[str] = ("hsa",)
) -> tuple[list[Hairpin], list[Mature]]:
    """Parse ``miRNA.dat`` (gzipped or not): hairpins and their mature miRNAs, file order.

    `species` is a list of miRBase prefixes or ``all``. Raises InputError (file, entry, problem)
    for an entry without ID, accession or sequence, a sequence length that disagrees with the ID
    line, a miRNA feature outside the hairpin, a duplicate ID, or a file cut inside an entry.
    """
    path = Path(path)
    chosen = species_filter(species)
    hairpins: list[Hairpin] = []
    matures: list[Mature] = []
    seen: dict[str, int] = {}
    total = 0
    for entry in _entries(path):
        total += 1
        if entry.id in seen:
            raise InputError(
                path,
                f"duplicate ID {entry.id!r} (first at line {seen[entry.id]})",
                record=f"{entry.id} (line {entry.line})",
            )
        seen[entry.id] = entry.line
        if not _wanted(entry.id, chosen):
            continue
        hairpin, products = _hairpin_and_matures(path, entry)
        hairpins.append(hairpin)
        matures.extend(products)
    if total == 0:
        raise InputError(path, "no entries (an empty miRNA.dat)")
    log.info(
        "%s: %d entries, %d hairpins and %d mature miRNAs kept for species %s",
        path,
        total,
        len(hairpins),
        len(matures),
        "all" if chosen is None else ",".join(sorted(chosen)),
    )
    return hairpins, matures


def read_hairpin_fasta(
    path: str | os.PathLike[str],
    species: str | Iterable[str] = ("hsa",),
    iupac: str = "drop",
) -> tuple[list[Hairpin], list[str]]:
    """Read ``hairpin.fa`` (header ``>ID ACCESSION description``) for the chosen species.

    Returns the hairpins and the ids dropped for IUPAC codes under `iupac` (see
    `premirna.rna.seqio.read_records`); only ids of the chosen species are counted as dropped.
    """
    chosen = species_filter(species)
    result = read_records(path, fmt="fasta", iupac=iupac)
    hairpins = []
    for record in result.records:
        if not _wanted(record.id, chosen):
            continue
        accession, _, description = record.description.partition(" ")
        hairpins.append(
            Hairpin(record.id, accession, species_of(record.id), record.sequence, description)
        )
    dropped = [rid for rid in result.iupac_dropped if _wanted(rid, chosen)]
    log.info(
        "%s: %d hairpins of species %s, %d dropped for IUPAC codes",
        path,
        len(hairpins),
        "all" if chosen is None else ",".join(sorted(chosen)),
        len(dropped),
    )
    return hairpins, dropped


def read_mature_fasta(
    path: str | os.PathLike[str], species: str | Iterable[str] = ("hsa",), iupac: str = "drop"
) -> ReadResult:
    """Read ``mature.fa`` and keep the chosen species (`ReadResult` of `premirna.rna.seqio`)."""
    chosen = species_filter(species)
    result = read_records(path, fmt="fasta", iupac=iupac)
    return ReadResult(
        [record for record in result.records if _wanted(record.id, chosen)],
        result.format,
        [rid for rid in result.iupac_dropped if _wanted(rid, chosen)],
    )
