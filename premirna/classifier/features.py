"""Numbers that describe a hairpin beside its image: thermodynamics, homology, coding signals.

The Cordero image draws sequence and structure; how stable the fold is, whether the molecule has
relatives among known pre-miRNAs and whether it was cut out of a protein-coding exon are not in
it (or only implicitly). These functions describe a molecule by such numbers so that a model on them
can be set beside the CNN (`benchmarks/bench_cnn_features.py` measures that on the authors' modhsa
set).

- `thermodynamic` (`THERMODYNAMIC`): ViennaRNA's MFE and partition function of the sequence, and
  the MFE of dinucleotide shuffles (z-score and a randfold-like p-value; Bonnet et al. 2004), plus
  the energy of the structure the image draws.
- `sequence_features` (`SEQUENCE`): the share of the molecule's k-mers found in a reference set of
  hairpins (homology; the reference is the caller's, e.g. the miRBase hairpins of other species,
  never the molecules being scored), the longest stop-free reading frame, how unevenly each base
  is spread over the three codon positions (coding sequence is 3-periodic; Fickett 1982), the
  64 trinucleotide shares, and the `SPLICE` signals of `splice_signals`.
- `splice_signals` (`SPLICE`): the ends of a mirtron, a pre-miRNA that is a whole short intron
  spliced out rather than cut by Drosha (Ruby et al. 2007; Okamura et al. 2007; Berezikov et al.
  2007; Ladewig et al. 2012). Its 5' end is the donor site (GU, mostly GURAGU), its 3' end the
  acceptor (YAG after a pyrimidine-rich tract). These are a few nucleotides at the image's edges,
  which a CNN learns poorly from a few hundred examples.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import RNA

from premirna.rna.sequence import dinucleotide_shuffle, to_rna

THERMODYNAMIC: tuple[str, ...] = (
    "length",
    "gc",
    "mfe",
    "mfe_per_nt",
    "mfe_index",
    "mfe_z",
    "mfe_p",
    "efe_per_nt",
    "mfe_frequency",
    "diversity_per_nt",
    "mfe_minus_efe_per_nt",
    "pairs_per_nt",
    "drawn_pairs_per_nt",
    "drawn_energy_per_nt",
    "drawn_distance_per_nt",
    "mfe_per_pair",
    "gu_share",
    "mean_max_bpp",
    "ensemble_defect",
)

STOPS: tuple[str, ...] = ("UAA", "UAG", "UGA")

TRIPLETS: tuple[str, ...] = tuple(a + b + c for a in "ACGU" for b in "ACGU" for c in "ACGU")

SPLICE: tuple[str, ...] = (
    "starts_gu",
    "ends_ag",
    "ends_yag",
    "starts_gurr",
    "pyrimidine_3p",
    "pyrimidine_5p",
    *(f"first_{b}" for b in "ACGU"),
    *(f"last_{b}" for b in "ACGU"),
)

SPLICE_WINDOW = 20  # nucleotides of the 5' end and of the tract before the 3' AG

SEQUENCE: tuple[str, ...] = (
    "homology",
    "open_frame",
    *(f"codon_skew_{b}" for b in "ACGU"),
    *(f"share_{t}" for t in TRIPLETS),
    *SPLICE,
)

_TRIPLET_INDEX = {t: i for i, t in enumerate(TRIPLETS)}


def thermodynamic(
    sequence: str,
    drawn: str,
    md: Any,
    shuffles: int,
    rng: np.random.Generator,
    record: object = "<sequence>",
) -> list[float]:
    """The `THERMODYNAMIC` numbers of one molecule.

    `drawn` is the structure its image draws (dot-bracket, same length); the molecule is also
    re-folded with `md` (`premirna.rna.folding.FoldSettings.model_details`). `shuffles` >= 2
    dinucleotide shuffles give the z-score and p-value of the MFE.
    """
    s = to_rna(sequence)
    n = len(s)
    if not n:
        raise ValueError(f"record {record}: empty sequence")
    if len(drawn) != n:
        raise ValueError(f"record {record}: structure has {len(drawn)} characters, sequence {n}")
    if shuffles < 2:
        raise ValueError(f"shuffles must be at least 2 for a z-score, not {shuffles}")
    gc = sum(b in "GC" for b in s) / n
    fc = RNA.fold_compound(s, md)
    structure, mfe = fc.mfe()
    fc.exp_params_rescale(mfe)
    _, efe = fc.pf()
    bpp = np.array(fc.bpp())[1:, 1:]
    pairs = [(i, j) for i, j in enumerate(RNA.ptable(structure)[1:]) if j > i + 1]
    gu = sum({s[i], s[j - 1]} == {"G", "U"} for i, j in pairs)
    background = np.array(
        [RNA.fold_compound(dinucleotide_shuffle(s, rng), md).mfe()[1] for _ in range(shuffles)]
    )
    sd = background.std(ddof=1)
    return [
        n,
        gc,
        mfe,
        mfe / n,
        (mfe / n) / max(gc, 1e-5),
        (mfe - background.mean()) / sd if sd else 0.0,
        (1 + np.sum(background <= mfe)) / (shuffles + 1),
        efe / n,
        fc.pr_structure(structure),
        fc.mean_bp_distance() / n,
        (mfe - efe) / n,
        len(pairs) / n,
        drawn.count("(") / n,
        fc.eval_structure(drawn) / n,
        RNA.bp_distance(structure, drawn) / n,
        mfe / max(len(pairs), 1),
        gu / max(len(pairs), 1),
        float((bpp + bpp.T).max(axis=1).mean()),
        fc.ensemble_defect(structure),
    ]


_CODE = {"A": 0, "C": 1, "G": 2, "U": 3, "T": 3}


def reference_kmers(sequences: Iterable[str], k: int) -> np.ndarray:
    """The distinct k-mers of the reference sequences, packed 2 bits per base into sorted uint64
    (about 8 bytes a k-mer, so a whole miRBase fits in a model file); k-mers with a letter other
    than A, C, G, U (T read as U, any case) are left out."""
    if k < 1:
        raise ValueError(f"k must be positive, not {k}")
    if k > 32:
        raise ValueError(f"k must be 1-32 (2 bits per base in 64), not {k}")
    packed: set[int] = set()
    for sequence in sequences:
        packed.update(_kmer_codes(sequence, k))
    return np.array(sorted(packed), dtype=np.uint64)


def _kmer_codes(sequence: str, k: int) -> list[int]:
    """The packed code of every k-mer of `sequence` made of A, C, G, U only."""
    mask = (1 << (2 * k)) - 1
    codes, value, run = [], 0, 0
    for letter in sequence.upper():
        code = _CODE.get(letter)
        if code is None:
            value, run = 0, 0
            continue
        value = ((value << 2) | code) & mask
        run += 1
        if run >= k:
            codes.append(value)
    return codes


def homology(sequence: str, reference: np.ndarray, k: int) -> float:
    """Share of the distinct ACGU k-mers of `sequence` found in `reference` (`reference_kmers`);
    0 when it has none."""
    words = np.array(sorted(set(_kmer_codes(sequence, k))), dtype=np.uint64)
    if not len(words) or not len(reference):
        return 0.0
    at = np.minimum(np.searchsorted(reference, words), len(reference) - 1)
    return float((reference[at] == words).mean())


def open_frame(sequence: str) -> float:
    """Longest run of stop-free codons over the three forward frames, as a share of the length."""
    s = to_rna(sequence)
    best = 0
    for frame in range(3):
        run = 0
        for i in range(frame, len(s) - 2, 3):
            run = 0 if s[i : i + 3] in STOPS else run + 1
            best = max(best, run)
    return 3 * best / len(s) if s else 0.0


def codon_skew(sequence: str) -> list[float]:
    """Per base A, C, G, U: most / (fewest + 1) occurrences over the three codon positions."""
    s = to_rna(sequence)
    skew = []
    for base in "ACGU":
        counts = [s[f::3].count(base) for f in range(3)]
        skew.append(max(counts) / (min(counts) + 1))
    return skew


def triplet_shares(sequence: str) -> np.ndarray:
    """Shares of the 64 trinucleotides (`TRIPLETS` order) among the ACGU-only ones."""
    s = to_rna(sequence)
    counts = np.zeros(len(TRIPLETS))
    for i in range(len(s) - 2):
        j = _TRIPLET_INDEX.get(s[i : i + 3])
        if j is not None:
            counts[j] += 1
    return counts / max(counts.sum(), 1)


def splice_signals(sequence: str) -> list[float]:
    """`SPLICE` of one molecule: does it start like an intron's 5' end and end like its 3' end?

    `starts_gu`, `ends_ag`, `ends_yag` (CAG or UAG) and `starts_gurr` (GU and two purines) are 0/1;
    `pyrimidine_3p` is the C+U share of the `SPLICE_WINDOW` nucleotides before the last two,
    `pyrimidine_5p` that of the first `SPLICE_WINDOW`; then the first and the last base one-hot
    (all 0 for an empty sequence or a letter other than ACGU).
    """
    s = to_rna(sequence)
    tract, head = s[-SPLICE_WINDOW - 2 : -2], s[:SPLICE_WINDOW]
    signals = [
        s.startswith("GU"),
        s.endswith("AG"),
        s.endswith(("CAG", "UAG")),
        len(s) >= 4 and s.startswith("GU") and s[2] in "AG" and s[3] in "AG",
    ]
    values = [float(v) for v in signals]
    values += [_share(tract, "CU"), _share(head, "CU")]
    values += [float(s[:1] == b) for b in "ACGU"] + [float(s[-1:] == b) for b in "ACGU"]
    return values


def _share(text: str, letters: str) -> float:
    return sum(c in letters for c in text) / len(text) if text else 0.0


def sequence_row(sequence: str, homology_share: float) -> list[float]:
    """`SEQUENCE` of one molecule whose homology share the caller has measured."""
    return [
        homology_share,
        open_frame(sequence),
        *codon_skew(sequence),
        *triplet_shares(sequence),
        *splice_signals(sequence),
    ]


def sequence_features(sequences: Sequence[str], reference: np.ndarray, k: int) -> np.ndarray:
    """`SEQUENCE` for each molecule: (N, 84) float64."""
    rows = [sequence_row(s, homology(s, reference, k)) for s in sequences]
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(SEQUENCE))
