"""The known determinants of pri-/pre-miRNA processing as mutations of one hairpin, and random
mutations of the same size elsewhere in it to compare each with.

A determinant is a pure function of a `Hairpin` (sequence, dot-bracket structure, mature spans)
returning the `Mutation` that destroys it, or None when the molecule does not carry it.
Positions are 0-based; "-k" is the k-th nucleotide 5' of the 5p Drosha cut (the mature 5p's first
nucleotide is +1), "+k after the 3p cut" the k-th nucleotide 3' of the mature 3p. A mutation says
how its controls are drawn (`recipe`: edits of each class, none in its `region`) and which original
pairs its refold should keep (`keep`). A stem substitution turns a pair into another pair
("pair_1", "pair_2": 1 or 2 letters changed), so the sequence changes and the fold need not;
"break" makes a paired nucleotide a copy of its partner (A-A, C-C, G-G, U-U never pair).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from premirna.rna.duplex import duplex_asymmetry
from premirna.rna.folding import DEFAULT_FOLD, FoldSettings
from premirna.rna.structure import central_hairpin_loop, hairpin_loops, pair_table

#: Canonical pairs (Watson-Crick and G-U wobble) as 5'-3' letter pairs.
PAIRS: tuple[str, ...] = ("AU", "UA", "GC", "CG", "GU", "UG")
#: Nucleotides at each duplex end whose pairs the asymmetry test exchanges (Khvorova et al.'s 4).
END_WINDOW = 4
#: Share of the original pairs the refold must keep (with the same number of hairpin loops).
KEEP_SHARE = 0.9
#: Paired 5p-arm nucleotides of the 11-nt basal segment a molecule needs for the basal test.
MIN_BASAL_PAIRS = 6
#: Nucleotides the loop tests delete from or insert into the terminal loop (3 bp in the controls).
LOOP_CHANGE = 6
#: Loops at least this long are shrunk, shorter ones enlarged (Zhang & Zeng 2010: about 10 nt).
LARGE_LOOP = 10
#: Inserted into small loops: A and C cannot pair with each other, so the run cannot fold back.
LOOP_INSERT = "ACAACA"


@dataclass(frozen=True)
class Hairpin:
    """One folded molecule with its mature spans (0-based inclusive; None where unknown)."""

    sequence: str
    structure: str
    five_p: tuple[int, int] | None = None
    three_p: tuple[int, int] | None = None
    fold: FoldSettings = DEFAULT_FOLD  # the energy model of the asymmetry test
    table: np.ndarray = field(init=False, repr=False, compare=False)
    loop: tuple[int, int] | None = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "table", pair_table(self.structure))
        object.__setattr__(self, "loop", central_hairpin_loop(self.structure))

    def pairs(self) -> list[tuple[int, int]]:
        return [(i, int(j)) for i, j in enumerate(self.table) if j > i]


@dataclass(frozen=True)
class Mutation:
    """Edits of a hairpin: `substitutions` (position -> letter), `deletions` and `insertions`
    (letters put before the position; len(sequence) puts them at the end)."""

    substitutions: dict[int, str] = field(default_factory=dict)
    deletions: frozenset[int] = frozenset()
    insertions: dict[int, str] = field(default_factory=dict)
    region: frozenset[int] = frozenset()
    recipe: tuple[tuple[str, int], ...] = ()
    keep: frozenset[tuple[int, int]] | None = None  # None: every pair no edit opens

    @property
    def kind(self) -> str:
        return "deletion" if self.deletions else "insertion" if self.insertions else "substitution"

    def changed(self) -> list[int]:
        """Original positions substituted or deleted, and the insertion points."""
        return sorted({*self.substitutions, *self.deletions, *self.insertions})

    def n_changed(self) -> int:
        return (len(self.substitutions) + len(self.deletions)
                + sum(len(v) for v in self.insertions.values()))

    def apply(self, sequence: str) -> str:
        kept = ("" if k in self.deletions else self.substitutions.get(k, b)
                for k, b in enumerate(sequence))
        return ("".join(self.insertions.get(k, "") + b for k, b in enumerate(kept))
                + self.insertions.get(len(sequence), ""))

    def position_map(self, length: int) -> np.ndarray:
        """The mutant's index of every original position (-1 where deleted)."""
        present = np.array([k not in self.deletions for k in range(length)], dtype=bool)
        sizes = [len(self.insertions.get(k, "")) + present[k] for k in range(length)]
        return np.where(present, np.cumsum(sizes, dtype=np.int64) - 1, -1)


@dataclass(frozen=True)
class FoldCheck:
    """How a mutant's refold compares with the original structure."""

    hairpin_loops: int
    loop_size: int  # unpaired nucleotides of the central loop (-1: none)
    bp_distance: int  # original pairs (mapped, deleted ones left out) and refold pairs not shared
    pairs_kept: float  # share of the `keep` pairs the refold still has
    kept: bool  # same number of hairpin loops, pairs_kept >= KEEP_SHARE, few new pairs


def fold_check(hairpin: Hairpin, mutation: Mutation, structure: str) -> FoldCheck:
    """Compare the refold `structure` of the mutant with the hairpin's own structure: kept when
    it has as many hairpin loops, `KEEP_SHARE` of the `keep` pairs and at most 1 - `KEEP_SHARE`
    of the original's pair count in new pairs (besides those the inserted letters can make, and,
    for a mutation with its own `keep`, those of its region, which it means to re-pair)."""
    mapped = mutation.position_map(len(hairpin.sequence))
    seq = [mutation.substitutions.get(k, b) for k, b in enumerate(hairpin.sequence)]
    keep = mutation.keep if mutation.keep is not None else {  # the pairs no edit opens
        (i, j) for i, j in hairpin.pairs()
        if seq[i] + seq[j] in PAIRS and not {i, j} & mutation.deletions}
    table = pair_table(structure)
    new = {(i, int(j)) for i, j in enumerate(table) if j > i}
    old, wanted = _mapped(hairpin.pairs(), mapped), _mapped(keep, mapped)
    share = len(wanted & new) / len(wanted) if wanted else 1.0
    excused = mutation.region if mutation.keep is not None else frozenset()
    spare = (1 - KEEP_SHARE) * len(old) + sum(len(v) for v in mutation.insertions.values()) / 2
    loops, loop = hairpin_loops(structure), central_hairpin_loop(structure)
    return FoldCheck(len(loops), loop[1] - loop[0] - 1 if loop else -1, len(old ^ new), share,
                     len(loops) == len(hairpin_loops(hairpin.structure)) and share >= KEEP_SHARE
                     and len(_outside(new - old, excused, mapped)) <= max(spare, 1))


def _outside(pairs: set[tuple[int, int]], region: frozenset[int], mapped: np.ndarray
              ) -> set[tuple[int, int]]:
    """The pairs with no nucleotide in `region` (original positions, `mapped` to the mutant)."""
    inside = {int(mapped[p]) for p in region if mapped[p] >= 0}
    return {(i, j) for i, j in pairs if i not in inside and j not in inside}


def _mapped(pairs: Iterable[tuple[int, int]], mapped: np.ndarray) -> set[tuple[int, int]]:
    return {(int(mapped[i]), int(mapped[j])) for i, j in pairs if min(mapped[i], mapped[j]) >= 0}


def _motif_starts(sequence: str, motifs: tuple[str, ...], lo: int, hi: int) -> list[int]:
    """Starts of the motifs lying wholly within positions lo..hi."""
    return [p for p in range(max(lo, 0), hi + 1) for m in motifs
            if p + len(m) - 1 <= hi and sequence[p : p + len(m)] == m]


def _erase(
    hairpin: Hairpin, positions: set[int], window: range, motifs: tuple[str, ...]
) -> Mutation | None:
    """Replace the motif letters at `positions`: an unpaired U becomes C and G becomes A; a paired
    one turns its pair into A-U (for a U) or C-G (for a G), so the pair stays and no U or G is
    left where the motif was. None when a motif of `window` survives."""
    subs: dict[int, str] = {}
    counts = {"unpaired": 0, "pair_2": 0}
    for p in sorted(positions):
        partner = int(hairpin.table[p])
        if partner < 0:
            subs[p] = "C" if hairpin.sequence[p] == "U" else "A"
            counts["unpaired"] += 1
        elif partner not in positions:
            subs[p] = "A" if hairpin.sequence[p] == "U" else "C"
            subs[partner] = "U" if subs[p] == "A" else "G"
            counts["pair_2"] += 1
    mutation = Mutation(subs, region=_with_partners(hairpin, set(window) | positions),
                        recipe=tuple((k, v) for k, v in counts.items() if v))
    mutant = mutation.apply(hairpin.sequence)
    if not subs or _motif_starts(mutant, motifs, window.start, window.stop - 1):
        return None
    return mutation


def _with_partners(hairpin: Hairpin, positions: set[int]) -> frozenset[int]:
    partners = {int(hairpin.table[p]) for p in positions if 0 <= p < len(hairpin.table)}
    return frozenset({p for p in positions | partners if 0 <= p < len(hairpin.sequence)})


def apical_ugu(hairpin: Hairpin) -> Mutation | None:
    """Apical UGU/GUG motif (Auyeung et al. 2013, Cell 152:844): a UGU or GUG at the 5' end of the
    terminal loop. Looked for in the window from the last two stem nucleotides of the 5' arm
    before the central loop to the loop's sixth nucleotide, every triplet touching the loop;
    destroyed by `_erase` (the pair stays where the motif reaches into the stem)."""
    if hairpin.loop is None:
        return None
    i, j = hairpin.loop
    window = range(max(i - 1, 0), min(i + 6, j - 1) + 1)
    motifs = ("UGU", "GUG")
    starts = [p for p in _motif_starts(hairpin.sequence, motifs, window.start, window.stop - 1)
              if p + 2 > i]
    positions = {p + k for p in starts for k in range(3)}
    return _erase(hairpin, positions, window, motifs) if positions else None


def basal_ug(hairpin: Hairpin) -> Mutation | None:
    """Basal UG motif (Auyeung et al. 2013): U at -14 and G at -13 from the 5p Drosha cut. We
    accept the UG one nucleotide either way (U at -15 to -13: the cut itself varies by a
    nucleotide) and destroy every UG there by `_erase`."""
    if hairpin.five_p is None:
        return None
    s5 = hairpin.five_p[0]
    window = range(max(s5 - 15, 0), s5 - 11)  # U at -15..-13, its G up to -12
    if len(window) < 2:
        return None
    starts = _motif_starts(hairpin.sequence, ("UG",), window.start, window.stop - 1)
    positions = {p + k for p in starts for k in range(2)}
    return _erase(hairpin, positions, window, ("UG",)) if positions else None


def mismatched_ghg(hairpin: Hairpin) -> Mutation | None:
    """Mismatched GHG motif, mGHG (Fang & Bartel 2015, Mol Cell 60:131): on the 3p strand of the
    basal stem, G, then an unpaired H (A, C or U) facing at least one unpaired nucleotide of the
    5p strand (a mismatch, not a bulge), then G, both Gs paired. We look for the H at +4 to +8
    after the 3p Drosha cut (our reading of where the motif sits, about 6-7 bp below the cut; a
    window because the annotated cut varies). Destroyed by turning both Gs' pairs into C-G, so the
    stem and the mismatch stay and only the motif's sequence goes."""
    if hairpin.three_p is None:
        return None
    seq, table, e3 = hairpin.sequence, hairpin.table, hairpin.three_p[1]
    subs: dict[int, str] = {}
    for q in range(e3 + 4, min(e3 + 9, len(seq) - 1)):
        if (seq[q - 1] == "G" and seq[q] in "ACU" and seq[q + 1] == "G" and table[q] < 0
                and min(table[q - 1], table[q + 1]) >= 0 and table[q - 1] - table[q + 1] >= 2):
            for g in (q - 1, q + 1):
                subs[g], subs[int(table[g])] = "C", "G"
    if not subs:
        return None
    window = set(range(e3 + 3, min(e3 + 10, len(seq))))
    return Mutation(subs, region=_with_partners(hairpin, window | set(subs)),
                    recipe=(("pair_2", len(subs) // 2),))


def basal_segment(hairpin: Hairpin) -> Mutation | None:
    """The basal segment (Han et al. 2006, Cell 125:887): Drosha cuts about 11 bp from the basal
    junction of a ~35-bp stem, measuring from the single-stranded flanks. Its pairing is broken
    by making each paired nucleotide of -11..-1 (5p arm) a copy of its partner; needs at least
    `MIN_BASAL_PAIRS` of them paired. The refold should keep the stem above the cut."""
    if hairpin.five_p is None:
        return None
    s5 = hairpin.five_p[0]
    segment = set(range(max(s5 - 11, 0), s5))
    paired = [p for p in sorted(segment) if hairpin.table[p] > p]
    if len(paired) < MIN_BASAL_PAIRS:
        return None
    subs = {p: hairpin.sequence[int(hairpin.table[p])] for p in paired}
    keep = frozenset((i, j) for i, j in hairpin.pairs() if i >= s5)
    return Mutation(subs, region=_with_partners(hairpin, segment),
                    recipe=(("break", len(paired)),), keep=keep)


def loop_shrink(hairpin: Hairpin) -> Mutation | None:
    """Apical loop size (Zhang & Zeng 2010, Nucleic Acids Res 38:7689: pri-miRNAs with terminal
    loops shorter than about 10 nt were processed less efficiently): a central loop of at least
    `LARGE_LOOP` nt loses `LOOP_CHANGE` nucleotides from its middle. Controls delete 3 base pairs
    (the same 6 nt) of the stem, which keeps the hairpin's shape."""
    if hairpin.loop is None or hairpin.loop[1] - hairpin.loop[0] - 1 < LARGE_LOOP:
        return None
    i, j = hairpin.loop
    start = i + 1 + (j - i - 1 - LOOP_CHANGE) // 2
    return Mutation(deletions=frozenset(range(start, start + LOOP_CHANGE)),
                    region=frozenset(range(i, j + 1)),
                    recipe=(("delete_pair", LOOP_CHANGE // 2),))


def loop_enlarge(hairpin: Hairpin) -> Mutation | None:
    """Apical loop size (Zhang & Zeng 2010): a central loop under `LARGE_LOOP` nt gets
    `LOOP_INSERT` in its middle. Controls insert 3 random base pairs into the stem."""
    if hairpin.loop is None or hairpin.loop[1] - hairpin.loop[0] - 1 >= LARGE_LOOP:
        return None
    i, j = hairpin.loop
    return Mutation(insertions={i + 1 + (j - i - 1) // 2: LOOP_INSERT},
                    region=frozenset(range(i, j + 1)),
                    recipe=(("insert_pair", len(LOOP_INSERT) // 2),))


#: Each canonical pair as the weakest and as the strongest pair one or two transitions away.
_WEAKEN = {"GC": "AU", "CG": "UA", "GU": "AU", "UG": "UA", "AU": "AU", "UA": "UA"}
_STRENGTHEN = {"AU": "GC", "UA": "CG", "GU": "GC", "UG": "CG", "GC": "GC", "CG": "CG"}


def end_asymmetry(hairpin: Hairpin) -> Mutation | None:
    """Thermodynamic asymmetry of the duplex ends (Khvorova et al. 2003, Cell 115:209; Schwarz et
    al. 2003, Cell 115:199): the pairs of the first `END_WINDOW` nucleotides of the more stable
    end (`premirna.rna.duplex.duplex_asymmetry`) become A-U or U-A and those of the less stable
    end G-C or C-G (transitions, so every pair stays a pair), which turns the weaker end into the
    stronger one. Needs both mature spans and an asymmetry other than 0."""
    if hairpin.five_p is None or hairpin.three_p is None:
        return None
    seq, table = hairpin.sequence, hairpin.table
    asymmetry = duplex_asymmetry(seq, hairpin.structure, hairpin.five_p, hairpin.three_p,
                                 fold=hairpin.fold)
    if math.isnan(asymmetry) or asymmetry == 0:
        return None
    ends = (hairpin.five_p[0], hairpin.three_p[0])
    subs: dict[int, str] = {}
    region: set[int] = set()
    counts = {"pair_1": 0, "pair_2": 0}
    for start, change in zip(ends if asymmetry > 0 else ends[::-1], (_WEAKEN, _STRENGTHEN),
                             strict=True):
        for a in range(start, min(start + END_WINDOW, len(seq))):
            pair = sorted({a, int(table[a])} - {-1})
            if len(pair) < 2 or set(pair) & region:
                region |= set(pair)
                continue
            region |= set(pair)
            new = change[seq[pair[0]] + seq[pair[1]]]
            changed = {p: letter for p, letter in zip(pair, new, strict=True) if seq[p] != letter}
            subs.update(changed)
            counts["pair_1" if len(changed) == 1 else "pair_2"] += bool(changed)
    if not subs:
        return None
    return Mutation(subs, region=frozenset(region),
                    recipe=tuple((k, v) for k, v in counts.items() if v))


def _other_pair(pair: str, changed: int, rng: np.random.Generator) -> str:
    """A random canonical pair differing from `pair` in exactly `changed` letters."""
    options = [q for q in PAIRS if sum(a != b for a, b in zip(q, pair, strict=True)) == changed]
    return options[int(rng.integers(len(options)))]


def _draw(hairpin: Hairpin, kind: str, taken: set[int], rng: np.random.Generator,
          edits: dict[str, dict[int, str]]) -> bool:
    """Add one random edit of `kind` (a recipe class) outside `taken` to `edits`; False when no
    position is left for it."""
    seq, table = hairpin.sequence, hairpin.table
    if kind == "unpaired":
        free = [p for p in range(len(seq)) if table[p] < 0 and p not in taken]
        if not free:
            return False
        p = free[int(rng.integers(len(free)))]
        letters = [b for b in "ACGU" if b != seq[p]]
        edits["sub"][p] = letters[int(rng.integers(3))]
        taken.add(p)
        return True
    stacked = kind == "insert_pair"
    free_pairs = [(i, j) for i, j in hairpin.pairs() if not {i, j} & taken
                  and (not stacked or (table[i + 1] == j - 1 and not {i + 1, j - 1} & taken))]
    if not free_pairs:
        return False
    i, j = free_pairs[int(rng.integers(len(free_pairs)))]
    taken |= {i, j, i + 1, j - 1} if stacked else {i, j}
    if kind in ("pair_1", "pair_2"):
        new = _other_pair(seq[i] + seq[j], int(kind[-1]), rng)
        for p, old, letter in ((i, seq[i], new[0]), (j, seq[j], new[1])):
            if letter != old:
                edits["sub"][p] = letter
    elif kind == "break":
        p, q = (i, j) if rng.integers(2) else (j, i)
        edits["sub"][p] = seq[q]
    elif kind == "delete_pair":
        edits["del"].update({i: "", j: ""})
    elif kind == "insert_pair":
        new = PAIRS[int(rng.integers(len(PAIRS)))]
        edits["ins"].update({i + 1: new[0], j: new[1]})
    else:
        raise ValueError(f"unknown control edit {kind!r}")
    return True


def random_control(hairpin: Hairpin, mutation: Mutation, rng: np.random.Generator
                   ) -> Mutation | None:
    """A random mutant of the same size and kind as `mutation` (its `recipe`), at positions outside
    its `region`, none used twice; None when the molecule has too few such positions."""
    taken = set(mutation.region)
    edits: dict[str, dict[int, str]] = {"sub": {}, "del": {}, "ins": {}}
    for kind, count in mutation.recipe:
        for _ in range(count):
            if not _draw(hairpin, kind, taken, rng, edits):
                return None
    return Mutation(edits["sub"], frozenset(edits["del"]), edits["ins"])


@dataclass(frozen=True)
class Determinant:
    """A determinant: its mutation, the paper(s) it comes from and what the biology expects of a
    model that learnt it when the mutation is made."""

    name: str
    mutate: Callable[[Hairpin], Mutation | None]
    citation: str
    expected: str


DETERMINANTS: tuple[Determinant, ...] = (
    Determinant("apical_ugu", apical_ugu, "Auyeung et al. 2013, Cell 152:844", "lower"),
    Determinant("basal_ug", basal_ug, "Auyeung et al. 2013, Cell 152:844", "lower"),
    Determinant("mismatched_ghg", mismatched_ghg, "Fang & Bartel 2015, Mol Cell 60:131",
                "lower"),
    Determinant("basal_segment", basal_segment, "Han et al. 2006, Cell 125:887", "lower"),
    Determinant("loop_shrink", loop_shrink, "Zhang & Zeng 2010, Nucleic Acids Res 38:7689",
                "lower"),
    Determinant("loop_enlarge", loop_enlarge, "Zhang & Zeng 2010, Nucleic Acids Res 38:7689",
                "higher"),
    Determinant("end_asymmetry", end_asymmetry,
                "Khvorova et al. 2003, Cell 115:209; Schwarz et al. 2003, Cell 115:199",
                "none (decides the guide strand, not whether it is a pre-miRNA)"),
)
