"""RNA sequences: the alphabet, normalisation, dinucleotide-preserving shuffles and
composition-matched random sequences."""

from __future__ import annotations

from collections import Counter

import numpy as np

#: The four RNA letters; everything else a sequence file may hold is an IUPAC ambiguity code.
RNA_LETTERS = frozenset("ACGU")
#: IUPAC nucleotide ambiguity codes (T is not here: it is read as U).
IUPAC_LETTERS = frozenset("RYKMSWBDHVN")


def to_rna(sequence: str) -> str:
    """Upper-case RNA letters: lower case read as upper case, T as U (other letters unchanged)."""
    return sequence.upper().replace("T", "U")


def is_rna(sequence: str) -> bool:
    """True when the sequence (after `to_rna`) holds only A, C, G and U."""
    return set(to_rna(sequence)) <= RNA_LETTERS


def dinucleotide_counts(sequence: str) -> Counter[str]:
    """Count of every overlapping dinucleotide (``"ACGA"`` -> AC, CG, GA)."""
    return Counter(sequence[i : i + 2] for i in range(len(sequence) - 1))


def _reaches_end(choice: dict[str, str], end: str) -> bool:
    """True when following every vertex's chosen last edge leads to `end` without a cycle."""
    for start in choice:
        seen = set()
        vertex = start
        while vertex != end:
            if vertex in seen:
                return False
            seen.add(vertex)
            vertex = choice[vertex]
    return True


def dinucleotide_shuffle(sequence: str, rng: np.random.Generator) -> str:
    """A random sequence with exactly the dinucleotide counts of `sequence`.

    Altschul & Erikson's shuffle, drawn as in Kandel et al. (1996) and in ``fasta-shuffle-letters``:
    the sequence is a walk through a graph whose vertices are letters and whose edges are its
    dinucleotides; a new walk that uses every edge once has the same dinucleotide counts. Each
    letter other than the last picks at random the edge it leaves by for the last time; these
    choices must form a tree leading to the final letter (otherwise the walk would strand edges),
    so they are drawn again until they do. The remaining edges of every letter are then put in
    random order and walked from the first letter. First and last letters are kept.
    """
    if len(sequence) <= 2:
        return sequence
    edges: dict[str, list[str]] = {}
    for left, right in zip(sequence, sequence[1:], strict=False):
        edges.setdefault(left, []).append(right)
    end = sequence[-1]
    while True:
        last_index = {v: int(rng.integers(len(out))) for v, out in edges.items() if v != end}
        if _reaches_end({v: edges[v][i] for v, i in last_index.items()}, end):
            break
    order: dict[str, list[str]] = {}
    for vertex, out in edges.items():
        rest = list(out)
        last = rest.pop(last_index[vertex]) if vertex in last_index else None
        rng.shuffle(rest)
        order[vertex] = rest if last is None else [*rest, last]
    position = {vertex: 0 for vertex in order}
    walk = [sequence[0]]
    for _ in range(len(sequence) - 1):
        here = walk[-1]
        walk.append(order[here][position[here]])
        position[here] += 1
    return "".join(walk)


def random_matched(sequence: str, rng: np.random.Generator) -> str:
    """A random sequence with the same length and exactly the same number of G+C as `sequence`."""
    upper = to_rna(sequence)
    n_gc = sum(upper.count(b) for b in "GC")
    letters = np.where(rng.random(len(upper)) < 0.5, "A", "U").astype("<U1")
    positions = rng.choice(len(upper), size=n_gc, replace=False)
    letters[positions] = np.where(rng.random(n_gc) < 0.5, "G", "C")
    return "".join(letters.tolist())
