"""Score generated pre-miRNAs against the definitions of SCIENCE.md section 3, with baselines.

Every generated sequence is re-folded with ViennaRNA and scored: **validity** (its image decodes to
a sequence and an intended structure, and the MFE structure has exactly one hairpin loop),
**structure agreement** (base-pair distance between MFE and intended structure / length <= 0.1),
**judged pre-miRNA** (our CNN, on the image of the re-folded molecule, probability >= 0.5),
**novelty** (normalised edit distance to the nearest training sequence >= 0.1), **uniqueness**
(distinct / generated), **diversity** (mean pairwise normalised edit distance, on a sample when
large), **realism** (Kolmogorov-Smirnov statistic of length, MFE per nt, GC, stem length and
terminal-loop size against real held-out hairpins) and **conditional control** (share whose
re-folded attribute falls in the requested bin; beside it **first-draw control**, the share of the
decoder's first draws whose drawn hairpin fell in the bin, before `generate` redrew the misses,
and the draws per molecule that took). The normalised edit distance is the Levenshtein
distance over the length of the longer sequence. Each table carries three baselines scored the same
way: real held-out hairpins, the same hairpins dinucleotide-shuffled, and random sequences of
matched length and GC. The edit distance is Myers' bit-vector algorithm (Myers 1999, J ACM 46:395,
with its block extension to patterns longer than 64), vectorised with NumPy over many pairs at once.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from premirna.atomic import atomic_path, write_tsv
from premirna.cvae_train import assign_bins
from premirna.errors import InputError
from premirna.structure import base_pair_distance, features

log = logging.getLogger("premirna.validate")

#: Attributes whose distributions are compared with real hairpins (realism).
REALISM_ATTRIBUTES: tuple[str, ...] = ("length", "mfe_per_nt", "gc", "stem_length", "loop_size")
AGREEMENT_THRESHOLD = 0.1  # base-pair distance / length at or below which structures agree
NOVELTY_THRESHOLD = 0.1  # normalised edit distance to the nearest training sequence
JUDGE_THRESHOLD = 0.5  # CNN probability at or above which a molecule is judged a pre-miRNA
BASELINES: tuple[str, ...] = ("real", "shuffled", "random")
#: SCIENCE.md targets on the default configuration: metric -> (lowest or highest allowed, value).
TARGETS: dict[str, tuple[str, float]] = {
    "validity": (">=", 0.95),
    "structure_agreement": (">=", 0.80),
    "judged_premirna": (">=", 0.90),
    "novelty": (">=", 0.95),
    "uniqueness": (">=", 0.99),
    "ks_mfe_per_nt": ("<=", 0.15),
    "conditional_control": (">=", 0.80),
}

_ONE = np.uint64(1)
_TOP = np.uint64(63)
_ALL_BITS = np.uint64(0xFFFFFFFFFFFFFFFF)


# --------------------------------------------------------------------------------------------
# Edit distance
# --------------------------------------------------------------------------------------------
def _letter_codes(sequences: Sequence[str], alphabet: dict[str, int], pad: int) -> np.ndarray:
    width = max((len(s) for s in sequences), default=0)
    codes = np.full((len(sequences), max(width, 1)), pad, dtype=np.intp)
    for row, seq in enumerate(sequences):
        codes[row, : len(seq)] = [alphabet[c] for c in seq]
    return codes


def _myers_block(
    patterns: Sequence[str],
    alphabet: dict[str, int],
    text_codes: np.ndarray,
    text_lengths: np.ndarray,
    words: int,
) -> np.ndarray:
    """Edit distances of R non-empty patterns (each <= 64 * `words` long) to T texts.

    Texts must be sorted by increasing length: at text position j only the texts longer than j are
    advanced (a suffix of the array). State per pair: the vertical +1/-1 delta vectors Pv, Mv of one
    DP column, `words` 64-bit blocks each; the score is the DP value in the pattern's last row.
    """
    n_patterns, n_texts = len(patterns), len(text_lengths)
    n_letters = len(alphabet) + 1  # the last code pads texts and never occurs in a pattern
    peq = np.zeros((words, n_patterns, n_letters), dtype=np.uint64)
    for row, pattern in enumerate(patterns):
        for pos, char in enumerate(pattern):
            peq[pos // 64, row, alphabet[char]] |= _ONE << np.uint64(pos % 64)
    lengths = np.array([len(p) for p in patterns])
    last_bit = (_ONE << ((lengths - 1) % 64).astype(np.uint64))[:, None]
    plus = np.full((words, n_patterns, n_texts), _ALL_BITS)
    minus = np.zeros((words, n_patterns, n_texts), dtype=np.uint64)
    score = np.repeat(lengths[:, None], n_texts, axis=1).astype(np.int32)
    start_at = np.searchsorted(text_lengths, np.arange(int(text_lengths[-1])), side="right")
    for j in range(int(text_lengths[-1])):
        first = start_at[j]
        chars = text_codes[first:, j]
        # Horizontal delta entering block 0 is +1: D[0][j] = j (global alignment).
        h_plus: Any = _ONE
        h_minus: Any = np.uint64(0)
        for w in range(words):
            pv = plus[w, :, first:]
            mv = minus[w, :, first:]
            eq = np.take(peq[w], chars, axis=1)
            xv = eq | mv
            if w:
                eq |= h_minus
            xh = (((eq & pv) + pv) ^ pv) | eq
            ph = mv | ~(xh | pv)
            mh = pv & xh
            if w == words - 1:
                up = (ph & last_bit) != 0
                down = (mh & last_bit) != 0
                score[:, first:] += up.view(np.int8) - down.view(np.int8)
            else:
                next_plus, next_minus = ph >> _TOP, mh >> _TOP
            ph <<= _ONE
            ph |= h_plus
            mh <<= _ONE
            mh |= h_minus
            np.bitwise_or(mh, ~(xv | ph), out=pv)
            np.bitwise_and(ph, xv, out=mv)
            if w < words - 1:
                h_plus, h_minus = next_plus, next_minus
    return score


def edit_distance_matrix(
    queries: Sequence[str], targets: Sequence[str], chunk_cells: int = 1 << 16
) -> np.ndarray:
    """Levenshtein distances (unit costs), int32 array len(queries) x len(targets).

    Myers' bit-vector algorithm, vectorised over `chunk_cells` / words pairs at a time: about
    3 microseconds per pair of 80-nt sequences on one core.
    """
    n_q, n_t = len(queries), len(targets)
    out = np.zeros((n_q, n_t), dtype=np.int32)
    if n_q == 0 or n_t == 0:
        return out
    letters = sorted(set().union(*map(set, queries), *map(set, targets)))
    alphabet = {char: code for code, char in enumerate(letters)}
    q_len = np.array([len(q) for q in queries])
    t_len = np.array([len(t) for t in targets])
    order = np.argsort(t_len, kind="stable")
    sorted_len = t_len[order]
    text_codes = _letter_codes([targets[i] for i in order], alphabet, len(letters))
    words = (q_len + 63) // 64
    for n_words in np.unique(words[q_len > 0]).tolist():
        rows = np.flatnonzero((words == n_words) & (q_len > 0))
        per_chunk = max(1, chunk_cells // (n_t * n_words))
        for start in range(0, len(rows), per_chunk):
            chunk = rows[start : start + per_chunk]
            if sorted_len[-1] == 0:
                block = np.repeat(q_len[chunk][:, None], n_t, axis=1)
            else:
                block = _myers_block(
                    [queries[i] for i in chunk], alphabet, text_codes, sorted_len, n_words
                )
            out[np.ix_(chunk, order)] = block
    out[q_len == 0] = t_len[None, :]
    return out


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance of two strings."""
    return int(edit_distance_matrix([a], [b])[0, 0])


def normalised_distance_matrix(queries: Sequence[str], targets: Sequence[str]) -> np.ndarray:
    """Edit distance / length of the longer sequence (0 for two empty sequences)."""
    dist = edit_distance_matrix(queries, targets).astype(np.float64)
    longest = np.maximum.outer(
        np.array([len(q) for q in queries], dtype=np.float64),
        np.array([len(t) for t in targets], dtype=np.float64),
    )
    return np.divide(dist, longest, out=np.zeros_like(dist), where=longest > 0)


def nearest_distances(
    queries: Sequence[str], references: Sequence[str], chunk: int = 256
) -> np.ndarray:
    """For each query, the normalised edit distance to its nearest reference (NaN if none)."""
    out = np.full(len(queries), np.nan)
    if not references:
        return out
    for start in range(0, len(queries), chunk):
        block = normalised_distance_matrix(queries[start : start + chunk], references)
        out[start : start + chunk] = block.min(axis=1)
    return out


def mean_pairwise_distance(
    sequences: Sequence[str], max_sequences: int = 400, seed: int = 0
) -> float:
    """Mean normalised edit distance over all pairs (of a seeded sample of `max_sequences`)."""
    seqs = list(sequences)
    if len(seqs) < 2:
        return float("nan")
    if len(seqs) > max_sequences:
        pick = np.random.default_rng(seed).choice(len(seqs), size=max_sequences, replace=False)
        seqs = [seqs[i] for i in np.sort(pick)]
    dist = normalised_distance_matrix(seqs, seqs)
    upper = np.triu_indices(len(seqs), k=1)
    return float(dist[upper].mean())


# --------------------------------------------------------------------------------------------
# Simple metrics
# --------------------------------------------------------------------------------------------
def uniqueness(sequences: Sequence[str]) -> float:
    """Distinct sequences / sequences (NaN for none)."""
    return len(set(sequences)) / len(sequences) if len(sequences) else float("nan")


def ks_statistic(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the two empirical CDFs.

    NaN values are dropped; NaN when either sample is empty.
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    x, y = np.sort(x[~np.isnan(x)]), np.sort(y[~np.isnan(y)])
    if len(x) == 0 or len(y) == 0:
        return float("nan")
    points = np.concatenate([x, y])
    cdf_x = np.searchsorted(x, points, side="right") / len(x)
    cdf_y = np.searchsorted(y, points, side="right") / len(y)
    return float(np.max(np.abs(cdf_x - cdf_y)))


def structure_distance_per_nt(intended: str, refolded: str) -> float:
    """Base-pair distance between two equally long structures, divided by their length."""
    if not intended:
        return float("nan")
    return base_pair_distance(intended, refolded) / len(intended)


# --------------------------------------------------------------------------------------------
# Baselines
# --------------------------------------------------------------------------------------------
def random_matched(sequence: str, rng: np.random.Generator) -> str:
    """A random sequence with the same length and exactly the same number of G+C as `sequence`."""
    upper = sequence.upper().replace("T", "U")
    n_gc = sum(upper.count(b) for b in "GC")
    letters = np.where(rng.random(len(upper)) < 0.5, "A", "U").astype("<U1")
    positions = rng.choice(len(upper), size=n_gc, replace=False)
    letters[positions] = np.where(rng.random(n_gc) < 0.5, "G", "C")
    return "".join(letters.tolist())


def dinucleotide_shuffle(sequence: str, rng: np.random.Generator) -> str:
    """Dinucleotide-preserving shuffle (`premirna.negatives`), unfiltered: it may not fold."""
    from premirna.negatives import dinucleotide_shuffle as shuffle

    return shuffle(sequence, rng)


def make_baselines(real: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The three baseline sets built from real held-out hairpins (`id`, `sequence`, `structure`).

    Returns one frame with columns `set` (real, shuffled, random), `id`, `condition` ("all"),
    `sequence`, `intended` and `source_id`: real hairpins intend their own MFE structure; the
    shuffled and random sequences intend the structure of the hairpin they were made from.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for _, rec in real.iterrows():
        seq, struct, name = str(rec["sequence"]), str(rec["structure"]), str(rec["id"])
        rows.append(("real", name, seq, struct, name))
        rows.append(("shuffled", f"shuf_{name}", dinucleotide_shuffle(seq, rng), struct, name))
        rows.append(("random", f"rand_{name}", random_matched(seq, rng), struct, name))
    frame = pd.DataFrame(rows, columns=["set", "id", "sequence", "intended", "source_id"])
    frame.insert(2, "condition", "all")
    return frame.sort_values("set", kind="stable", key=lambda s: s.map(BASELINES.index))


# --------------------------------------------------------------------------------------------
# Scoring molecules
# --------------------------------------------------------------------------------------------
def refold(
    sequences: Sequence[str],
    intended: Sequence[str],
    processes: int = 1,
    temperature: float = 37.0,
    dangles: int = 2,
) -> pd.DataFrame:
    """Fold each sequence (ViennaRNA MFE) and compare with its intended structure.

    Columns: `refolded`, `mfe`, the hairpin features of the re-folded molecule
    (`premirna.structure.features`), `valid` (exactly one hairpin loop), `bp_distance_per_nt`
    and `agrees` (bp distance / length <= 0.1).
    """
    from premirna.fold import fold_sequences

    foldable = [i for i, seq in enumerate(sequences) if seq]
    folded: list[tuple[str, float]] = [("", math.nan)] * len(sequences)
    results = fold_sequences(
        [sequences[i] for i in foldable], processes=processes, temperature=temperature,
        dangles=dangles,
    )
    for i, result in zip(foldable, results, strict=True):
        folded[i] = result
    rows = []
    for seq, want, (structure, mfe) in zip(sequences, intended, folded, strict=True):
        feats = features(seq, structure, mfe if seq else None)
        distance = (
            structure_distance_per_nt(want, structure) if len(want) == len(seq) else math.nan
        )
        rows.append(
            {
                "refolded": structure,
                "mfe": mfe,
                **feats,
                "valid": feats["hairpin_loops"] == 1,
                "bp_distance_per_nt": distance,
                "agrees": bool(distance <= AGREEMENT_THRESHOLD),
            }
        )
    return pd.DataFrame(rows)


Judge = Callable[[np.ndarray], np.ndarray]


def load_cnn_judge(model_path: str | Path, device: str = "cpu") -> Judge:
    """The trained CNN (`results/train_cnn/model.pt`) as a function images -> P(pre-miRNA)."""
    from premirna.cnn_train import load_checkpoint, predict_proba

    model, _ = load_checkpoint(model_path, device=device)
    return lambda images: predict_proba(model, images)


def judge_sequences(
    sequences: Sequence[str], structures: Sequence[str], judge: Judge
) -> np.ndarray:
    """P(pre-miRNA) of each molecule's image drawn from its re-folded structure (0 if no loop)."""
    from premirna.encode import encode_many

    images, encodable = encode_many(list(sequences), list(structures))
    proba = np.zeros(len(sequences))
    if encodable.any():
        proba[encodable] = judge(images[encodable])
    return proba


def score_molecules(
    molecules: pd.DataFrame,
    train_sequences: Sequence[str],
    judge: Judge | None,
    bins: dict[str, list[float]],
    fold_settings: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Per-molecule scores: re-fold, agreement, CNN probability, novelty, bins reached.

    `molecules` holds `set`, `id`, `condition`, `sequence`, `intended` (and `decodable`; missing
    means True) plus, for each conditioned attribute, a column `want_<attribute>` with the requested
    bin (-1 or missing = not requested).
    """
    fold_settings = fold_settings or {}
    out = molecules.reset_index(drop=True).copy()
    if "decodable" not in out:
        out["decodable"] = True
    folded = refold(out["sequence"].tolist(), out["intended"].tolist(), **fold_settings)
    out = pd.concat([out, folded], axis=1)
    out["valid"] = out["valid"] & out["decodable"].astype(bool)
    if judge is not None:
        out["cnn_probability"] = judge_sequences(
            out["sequence"].tolist(), out["refolded"].tolist(), judge
        )
        out["judged_premirna"] = out["cnn_probability"] >= JUDGE_THRESHOLD
    out["nearest_train_distance"] = nearest_distances(
        out["sequence"].tolist(), list(train_sequences)
    )
    out["novel"] = out["nearest_train_distance"] >= NOVELTY_THRESHOLD
    for attribute, edges in bins.items():
        reached = assign_bins(out[attribute].to_numpy(dtype=np.float64), edges)
        out[f"bin_{attribute}"] = reached
        want = out.get(f"want_{attribute}")
        if want is not None:
            want = want.fillna(-1).astype(int)
            out[f"in_bin_{attribute}"] = np.where(want >= 0, reached == want, np.nan)
    return out


def score_raw_agreement(
    scored: pd.DataFrame, fold_settings: dict[str, Any] | None = None
) -> pd.DataFrame:
    """Add `raw_agrees`: whether the decoder's own sequence (`raw_sequence`, before the repair
    walk of `premirna.refine` changed `refined_nt` unpaired nucleotides) folds as drawn."""
    out = scored.copy()
    generated = out["refined_nt"].notna()
    out["raw_agrees"] = out["agrees"].where(generated)
    changed = generated & (out["refined_nt"].fillna(0) > 0)
    if changed.any():
        raw = refold(out.loc[changed, "raw_sequence"].tolist(),
                     out.loc[changed, "intended"].tolist(), **(fold_settings or {}))
        out.loc[changed, "raw_agrees"] = raw["agrees"].to_numpy()
    return out


def summarise(
    scored: pd.DataFrame,
    reference: pd.DataFrame,
    group: pd.Series,
    seed: int = 0,
    diversity_sample: int = 400,
) -> pd.DataFrame:
    """One row per group value: every metric of the module docstring (NaN where undefined).

    `reference` holds the realism attributes of the real held-out hairpins.
    """
    rows = []
    for name, part in scored.groupby(group, sort=False):
        seqs = part["sequence"].tolist()
        row: dict[str, Any] = {"group": name, "n": len(part)}
        row["validity"] = float(part["valid"].mean())
        row["structure_agreement"] = float(part["agrees"].mean())
        row["judged_premirna"] = (
            float(part["judged_premirna"].mean()) if "judged_premirna" in part else math.nan
        )
        row["novelty"] = float(part["novel"].mean())
        row["uniqueness"] = uniqueness(seqs)
        row["diversity"] = mean_pairwise_distance(seqs, diversity_sample, seed)
        for attribute in REALISM_ATTRIBUTES:
            row[f"ks_{attribute}"] = ks_statistic(part[attribute], reference[attribute])
        hits = [part[c].dropna() for c in part.columns if c.startswith("in_bin_")]
        hits = [h for h in hits if len(h)]
        row["conditional_control"] = (
            float(pd.concat(hits).astype(bool).mean()) if hits else math.nan
        )
        for hit_col in [c for c in part.columns if c.startswith("in_bin_")]:
            values = part[hit_col].dropna()
            row[f"control_{hit_col[7:]}"] = (
                float(values.astype(bool).mean()) if len(values) else math.nan
            )
        row["median_nearest_train_distance"] = float(part["nearest_train_distance"].median())
        if "first_draw_in_bin" in part and part["first_draw_in_bin"].notna().any():
            first = part["first_draw_in_bin"].dropna()
            row["first_draw_control"] = float(first.astype(bool).mean())
            row["draws_per_molecule"] = float(part.loc[first.index, "draws"].mean())
        if "raw_agrees" in part and part["raw_agrees"].notna().any():
            refined = part["refined_nt"].astype(float)
            row["refined_share"] = float((refined > 0).mean())
            row["refined_nt_per_molecule"] = float(refined.mean())
            row["raw_structure_agreement"] = float(part["raw_agrees"].astype(bool).mean())
        rows.append(row)
    return pd.DataFrame(rows)


def targets_table(summary: pd.DataFrame, generated_group: str = "generated") -> pd.DataFrame:
    """Each target of the issue: required value, generated value, the baselines' values, met?"""
    by_group = summary.set_index("group")
    rows = []
    for metric, (op, bound) in TARGETS.items():
        value = (
            by_group.at[generated_group, metric] if generated_group in by_group.index
            else math.nan
        )
        met = (value >= bound) if op == ">=" else (value <= bound)
        row = {"metric": metric, "target": f"{op} {bound:g}", "generated": value}
        for baseline in BASELINES:
            row[baseline] = (
                by_group.at[baseline, metric] if baseline in by_group.index else math.nan
            )
        row["met"] = bool(met) if not math.isnan(value) else False
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------
def plot_realism(
    scored: pd.DataFrame, reference: pd.DataFrame, path: str | Path, summary: pd.DataFrame
) -> None:
    """Empirical CDFs of the realism attributes: generated and baselines against real held-out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(REALISM_ATTRIBUTES), figsize=(4 * len(REALISM_ATTRIBUTES), 3.4))
    colours = {"generated": "C3", "real": "C0", "shuffled": "C1", "random": "C7"}
    ks = summary.set_index("group")
    for ax, attribute in zip(axes, REALISM_ATTRIBUTES, strict=True):
        ref = np.sort(reference[attribute].dropna().to_numpy(dtype=float))
        ax.step(ref, np.arange(1, len(ref) + 1) / len(ref), where="post", color="k", lw=2,
                label="test split (reference)")
        for name, colour in colours.items():
            values = np.sort(
                scored.loc[scored["set"] == name, attribute].dropna().to_numpy(dtype=float)
            )
            if not len(values):
                continue
            stat = ks.at[name, f"ks_{attribute}"] if name in ks.index else math.nan
            ax.step(values, np.arange(1, len(values) + 1) / len(values), where="post",
                    color=colour, label=f"{name} (KS {stat:.2f})")
        ax.set_xlabel(attribute.replace("_", " "))
        ax.set_ylabel("cumulative share")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png", dpi=110)
    plt.close(fig)


def plot_examples(
    scored: pd.DataFrame, generated_npz: str | Path, path: str | Path, n: int = 6
) -> None:
    """Images of `n` generated molecules (the first of each of the first `n` conditions), each
    titled with what validation found: does it fold as drawn, the CNN's probability, the
    distance to the nearest training sequence."""
    from premirna.encode import plot_examples as draw

    generated = scored[scored["set"] == "generated"]
    chosen = generated.groupby("condition", sort=False).head(1).head(n)
    with np.load(generated_npz, allow_pickle=False) as data:
        ids = data["ids"].astype(str).tolist()
        where = {name: i for i, name in enumerate(ids)}
        images = data["images"][[where[name] for name in chosen["id"]]]
    titles = []
    for row in chosen.itertuples(index=False):
        folds = "folds as drawn" if row.agrees else "re-folds differently"
        judged = (f", CNN p = {row.cnn_probability:.2f}"
                  if "cnn_probability" in chosen and not pd.isna(row.cnn_probability) else "")
        titles.append(f"{row.id} ({row.condition}): {len(row.sequence)} nt, {folds}{judged}, "
                      f"nearest training sequence {row.nearest_train_distance:.2f} away")
    draw(images, titles, path)


def plot_metrics(summary: pd.DataFrame, path: str | Path) -> None:
    """Bar chart of the rate metrics for generated molecules and the three baselines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = ["validity", "structure_agreement", "judged_premirna", "novelty", "uniqueness",
               "conditional_control"]
    groups = [g for g in ("generated", *BASELINES) if g in set(summary["group"])]
    table = summary.set_index("group").loc[groups, metrics]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    width = 0.8 / max(len(groups), 1)
    x = np.arange(len(metrics))
    for k, name in enumerate(groups):
        ax.bar(x + k * width, table.loc[name].to_numpy(dtype=float), width, label=name)
    for m, metric in enumerate(metrics):
        op, bound = TARGETS[metric]
        ax.hlines(bound, m - 0.1, m + 0.9, colors="k", linestyles="dashed", lw=1)
    ax.set_xticks(x + 0.4 - width / 2, [m.replace("_", "\n") for m in metrics], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share")
    ax.legend(fontsize=8, ncol=4, loc="lower left")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png", dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# The stage.
def _generated_molecules(generated_tsv: str | Path, generated_npz: str | Path) -> pd.DataFrame:
    """Generated molecules with the hairpin their image decodes to (`intended`, `decodable`)."""
    from premirna.encode import decode_many

    table = pd.read_csv(generated_tsv, sep="\t", dtype={"id": str, "sequence": str,
                                                         "structure": str},
                        keep_default_na=False, na_values=[""])
    with np.load(generated_npz, allow_pickle=False) as data:
        ids = data["ids"].astype(str)
        images = data["images"]
    if list(ids) != table["id"].tolist():
        raise InputError(generated_npz, "ids differ from the generated table's")
    sequences, structures = decode_many(images, source=str(generated_npz))
    table["decodable"] = [
        bool(s) and s == t for s, t in zip(sequences, table["sequence"].fillna(""), strict=True)
    ]
    table["sequence"] = sequences
    table["intended"] = structures
    return table


def validate(
    generated_tsv: str | Path,
    generated_npz: str | Path,
    folded_tsv: str | Path,
    cnn_model: str | Path | None,
    cvae_model: str | Path,
    outputs: dict[str, str | Path],
    seed: int = 0,
    fold_settings: dict[str, Any] | None = None,
    diversity_sample: int = 400,
    threads: int = 1,
) -> pd.DataFrame:
    """The `validate` stage: score generated molecules and the three baselines.

    Real baseline: validation-split pre-miRNAs (never trained on), their shuffles and matched random
    sequences; realism reference: test-split pre-miRNAs; novelty against every training-split
    sequence. `outputs` names `molecules` (per-molecule TSV), `summary` (per condition, overall and
    per baseline), `targets` (the issue's targets) and the figures `realism` and `metrics`
    (and, if named, `examples`: generated images titled with their scores).
    Returns the targets table.
    """
    import torch

    torch.set_num_threads(max(1, threads))
    checkpoint = torch.load(cvae_model, map_location="cpu", weights_only=True)
    bins = {a: list(e) for a, e in checkpoint["bins"].items()}
    table = pd.read_csv(folded_tsv, sep="\t", dtype={"id": str}, keep_default_na=False,
                        na_values=[""])
    positives = table[table["label"].astype(int) == 1]
    real = positives[positives["split"] == "val"].reset_index(drop=True)
    reference = positives[positives["split"] == "test"].reset_index(drop=True)
    train_sequences = table.loc[table["split"] == "train", "sequence"].tolist()

    generated = _generated_molecules(generated_tsv, generated_npz)
    generated["set"] = np.where(generated["set"] == "around", "around", "generated")
    baselines = make_baselines(real, seed)
    source = real.set_index("id")
    for attribute, edges in bins.items():
        values = source.loc[baselines["source_id"], attribute].to_numpy(dtype=np.float64)
        baselines[f"want_{attribute}"] = assign_bins(values, edges)
    columns = ["set", "id", "condition", "sequence", "intended", "decodable",
               *[f"want_{a}" for a in bins]]
    repair = [c for c in ("raw_sequence", "refined_nt") if c in generated]
    draws = [c for c in ("draws", "first_draw_in_bin") if c in generated]
    molecules = pd.concat([generated[columns + repair + draws],
                           baselines.assign(decodable=True)[columns]], ignore_index=True)
    judge = load_cnn_judge(cnn_model) if cnn_model else None
    log.info("validate: scoring %d generated and %d baseline molecules", len(generated),
             len(baselines))
    scored = score_molecules(molecules, train_sequences, judge, bins, fold_settings)
    if len(repair) == 2:
        scored = score_raw_agreement(scored, fold_settings)

    prior = scored[scored["set"] == "generated"]
    parts = [
        summarise(prior, reference, prior["condition"], seed, diversity_sample),
        summarise(prior, reference, prior["set"], seed, diversity_sample),
    ]
    around = scored[scored["set"] == "around"]
    if len(around):
        parts.append(summarise(around, reference, around["set"], seed, diversity_sample))
    rest = scored[scored["set"].isin(BASELINES)]
    parts.append(summarise(rest, reference, rest["set"], seed, diversity_sample))
    summary = pd.concat(parts, ignore_index=True)
    kinds = {"generated": "overall", "around": "overall", **{b: "baseline" for b in BASELINES}}
    summary.insert(1, "kind", summary["group"].map(kinds).fillna("condition"))
    targets = targets_table(summary)

    write_tsv(scored, outputs["molecules"])
    write_tsv(summary, outputs["summary"])
    write_tsv(targets, outputs["targets"])
    plot_realism(scored, reference, outputs["realism"], summary)
    plot_metrics(summary, outputs["metrics"])
    if outputs.get("examples"):
        plot_examples(scored, generated_npz, outputs["examples"])
    for row in targets.itertuples(index=False):
        log.info("%s %s: generated %.3f | real %.3f shuffled %.3f random %.3f | %s", row.metric,
                 row.target, row.generated, row.real, row.shuffled, row.random,
                 "met" if row.met else "NOT met")
    return targets
