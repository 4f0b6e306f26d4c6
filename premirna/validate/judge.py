"""An independent judge of generated pre-miRNAs: a detector that shares neither the generator's
representation nor its training data.

The pipeline's own CNN reads the same Cordero image as the CVAE and learnt from the same human
split, and class guidance pushes the decoder toward what that image calls a pre-miRNA: its
verdict on generated molecules is circular. This judge reads the molecule in molecule order, 5'
to 3', one position after another (per position the nucleotide, its bracket, its partner's
nucleotide and the relative position: `CHANNELS`, 12), with 1-D convolutional networks pooled
over the whole length (mean and max over the real positions), as published sequence-plus-
structure detectors do; `members` such networks, trained alike from different seeds, average
their probabilities (`JudgeEnsemble`): one network's verdicts moved with its seed by more than
the differences they were meant to show (benchmarks/bench_judge.py). It learns from molecules
the generator never saw: miRBase hairpins of the other species
(`premirna.classifier.pretrain.other_species_molecules`), CODING
pseudo-hairpins that are not in the molecule table, dinucleotide shuffles of its own positives
and their structure-preserving shuffles (`premirna.rna.structure.pair_shuffle`: the positive's
structure and composition, its base pairs and unpaired letters dealt out again), which make it
judge the order of the sequence, not only the shape of the fold; every molecule of the
configured species (all splits) is left out. It is never used for training, guidance, redrawing
or selection of generated molecules, only to score them; its own accuracy on the configured
species' real test split is reported beside its verdicts.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from premirna.classifier.pretrain import other_species_molecules
from premirna.classifier.steps import stratified_holdout
from premirna.core.atomic import write_tsv
from premirna.core.errors import TrainingError, check_finite_loss
from premirna.core.logs import counts_text, eta
from premirna.core.seeds import molecule_stream, stream
from premirna.core.settings import Settings, check_bounds
from premirna.rna.folding import DEFAULT_FOLD, FoldSettings, fold_sequences
from premirna.rna.structure import hairpin_loops, pair_shuffle, pair_table
from premirna.training.checkpoints import load_model, save_checkpoint
from premirna.training.device import seed_everything, use_threads

log = logging.getLogger(__name__)

NUCLEOTIDES = "ACGU"
BRACKETS = "()."
#: Per position: the nucleotide, its bracket, its partner's nucleotide (none if unpaired) and
#: the position along the molecule (0 at the 5' end, 1 at the 3' end).
CHANNELS = 2 * len(NUCLEOTIDES) + len(BRACKETS) + 1
HISTORY_COLUMNS = ["member", "epoch", "train_loss", "val_loss", "val_accuracy", "seconds"]


@dataclass
class JudgeSettings(Settings):
    """The independent judge (the `validate: judge:` config section)."""

    SECTION = "validate.judge"

    max_positives: int = 8000  # other-species miRBase hairpins sampled (seeded)
    coding_ratio: float = 0.6  # CODING pseudo-hairpins per positive (those left over)
    shuffle_ratio: float = 0.3  # dinucleotide shuffles of the positives per positive
    pair_shuffle_ratio: float = 0.3  # structure-preserving shuffles per positive
    max_length: int = 200  # longest molecule learnt from and scored, nt (longer: probability 0)
    epochs: int = 12  # most epochs; the best validation epoch is kept
    batch_size: int = 64  # molecules per step
    learning_rate: float = 1e-3  # Adam step size
    channels: int = 64  # convolution channels
    members: int = 3  # networks averaged (member k is seeded with seed + k)
    seed: int = 20191108  # seeds the sample, shuffles, initialisation and batches
    threads: int = 2  # torch CPU threads

    def check(self) -> None:
        check_bounds(self, at_least={"max_positives": 100, "coding_ratio": 0, "shuffle_ratio": 0,
                                     "pair_shuffle_ratio": 0, "max_length": 20, "epochs": 1,
                                     "batch_size": 1, "channels": 4, "members": 1,
                                     "threads": 1},
                     above={"learning_rate": 0})


def one_hot(sequences: Sequence[str], structures: Sequence[str], length: int) -> np.ndarray:
    """(N, CHANNELS, length) float32 per position (see `CHANNELS`), zero beyond the molecule's
    end (IUPAC letters: no nucleotide); molecules longer than `length` are cut."""
    out = np.zeros((len(sequences), CHANNELS, length), np.float32)
    letters = np.full(256, -1, np.int64)
    for k, letter in enumerate(NUCLEOTIDES):
        letters[ord(letter)] = k
    brackets = np.full(256, -1, np.int64)
    for k, bracket in enumerate(BRACKETS):
        brackets[ord(bracket)] = k
    for i, (sequence, structure) in enumerate(zip(sequences, structures, strict=True)):
        n = min(len(sequence), length)
        if n == 0:
            continue
        nt = letters[np.frombuffer(sequence.encode("ascii", "replace"), np.uint8)]
        bracket = brackets[np.frombuffer(structure.encode("ascii", "replace"), np.uint8)]
        partner = pair_table(structure)
        positions = np.arange(n)
        known = nt[:n] >= 0
        out[i, nt[:n][known], positions[known]] = 1.0
        out[i, 4 + bracket[:n], positions] = 1.0
        paired = (partner[:n] >= 0) & (nt[np.maximum(partner[:n], 0)] >= 0)
        out[i, 7 + nt[partner[:n][paired]], positions[paired]] = 1.0
        out[i, 11, :n] = positions / max(1, len(sequence) - 1) + 1e-3  # > 0: marks a position
    return out


class JudgeNet(nn.Module):
    """Three 1-D convolutions, then mean and max over the molecule's positions, then a dense
    layer: two logits (not, pre-miRNA)."""

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv1d(CHANNELS, channels, 7, padding=3), nn.ReLU(),
            nn.Conv1d(channels, channels, 5, padding=2), nn.ReLU(),
            nn.Conv1d(channels, channels, 5, padding=4, dilation=2), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Linear(2 * channels + 1, channels), nn.ReLU(),
                                  nn.Dropout(0.2), nn.Linear(channels, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = (x[:, -1:] > 0).float()  # real positions (the position channel is > 0)
        n = mask.sum(2).clamp(min=1.0)
        h = self.convs(x) * mask
        mean = h.sum(2) / n
        peak = (h - (1 - mask) * 1e4).amax(2)
        return self.head(torch.cat([mean, peak, torch.log(n) / 5.0], 1))


class JudgeEnsemble(nn.Module):
    """`members` `JudgeNet`s whose probabilities are averaged; `forward` returns the log of the
    mean probabilities, so a softmax of it gives them back."""

    def __init__(self, channels: int = 64, members: int = 1) -> None:
        super().__init__()
        self.members = nn.ModuleList(JudgeNet(channels) for _ in range(members))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probabilities = torch.stack([torch.softmax(m(x), 1) for m in self.members]).mean(0)
        return torch.log(probabilities.clamp(min=1e-12))


def _epoch(model: JudgeNet, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer,
           batch_size: int, generator: torch.Generator) -> float:
    model.train()
    total = 0.0
    for batch in torch.randperm(len(y), generator=generator).split(batch_size):
        loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(batch)
    return total / len(y)


def _train_member(
    x: torch.Tensor, y: torch.Tensor, held: torch.Tensor, settings: JudgeSettings, member: int
) -> tuple[JudgeNet, list[dict[str, Any]]]:
    """One network (seed `settings.seed + member`), early-stopped on the `held` molecules;
    returns its best epoch and its history."""
    seed = settings.seed + member
    seed_everything(seed)
    model = JudgeNet(settings.channels)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    generator = torch.Generator().manual_seed(seed)
    best, best_loss, history = None, math.inf, []
    name = f"validate judge network {member + 1}/{settings.members}"
    for epoch in range(1, settings.epochs + 1):
        started = time.monotonic()
        train_loss = _epoch(model, x[~held], y[~held], optimizer, settings.batch_size, generator)
        model.eval()
        with torch.no_grad():
            logits = model(x[held])
        val_loss = float(nn.functional.cross_entropy(logits, y[held]))
        check_finite_loss({"train loss": train_loss, "val loss": val_loss},
                          f"{name} epoch {epoch}",
                          f"lower validate.judge.learning_rate (now {settings.learning_rate:g})")
        accuracy = float((logits.argmax(1) == y[held]).float().mean())
        history.append({"member": member + 1, "epoch": epoch, "train_loss": train_loss,
                        "val_loss": val_loss, "val_accuracy": accuracy,
                        "seconds": round(time.monotonic() - started, 2)})
        log.info("%s, epoch %d/%d: train loss %.4f, val loss %.4f, val accuracy %.4f, %s", name,
                 epoch, settings.epochs, train_loss, val_loss, accuracy,
                 eta(epoch, settings.epochs, sum(r["seconds"] for r in history)))
        if val_loss < best_loss:
            best_loss = val_loss
            best = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if best is None:
        raise TrainingError(f"{name}: no epoch was trained")
    model.load_state_dict(best)
    return model.eval(), history


def train_judge(
    sequences: Sequence[str], structures: Sequence[str], labels: np.ndarray,
    settings: JudgeSettings,
) -> tuple[JudgeEnsemble, dict[str, Any]]:
    """Train `settings.members` networks on the molecules (the same stratified tenth held out
    for early stopping; each keeps its best epoch); returns their ensemble and its checkpoint
    dict (`best_metric`: the ensemble's loss on the held-out tenth)."""
    use_threads(settings.threads)
    labels = np.asarray(labels, np.int64)
    x = torch.from_numpy(one_hot(sequences, structures, settings.max_length))
    y = torch.from_numpy(labels.copy())
    held = torch.from_numpy(stratified_holdout(labels, 0.1, settings.seed))
    ensemble = JudgeEnsemble(settings.channels, settings.members)
    history: list[dict[str, Any]] = []
    for member in range(settings.members):
        network, rows = _train_member(x, y, held, settings, member)
        ensemble.members[member].load_state_dict(network.state_dict())
        history += rows
    ensemble.eval()
    with torch.no_grad():
        logits = ensemble(x[held])
    loss = float(nn.functional.nll_loss(logits, y[held]))
    accuracy = float((logits.argmax(1) == y[held]).float().mean())
    log.info("judge: %d network(s) averaged, val loss %.4f, val accuracy %.4f", settings.members,
             loss, accuracy)
    checkpoint = {
        "kind": "judge", "model": {k: v.detach().clone() for k, v in ensemble.state_dict().items()},
        "model_args": {"channels": settings.channels, "members": settings.members},
        "config": settings.to_dict(), "max_length": settings.max_length, "history": history,
        "best_metric": loss, "val_accuracy": accuracy, "n_train": int((~held).sum()),
        "n_val": int(held.sum()), "labels": {0: "not", 1: "pre-miRNA"},
    }
    return ensemble, checkpoint


Judge = Callable[[Sequence[str], Sequence[str]], np.ndarray]


def _network(args: Mapping[str, Any]) -> nn.Module:
    """The judge's network from its `model_args` (a checkpoint of one network, written before
    judges were ensembles, has no `members`)."""
    return JudgeEnsemble(**args) if "members" in args else JudgeNet(**args)


def scorer(model: nn.Module, length: int, batch_size: int = 512) -> Judge:
    """A judge's network (`JudgeNet` or `JudgeEnsemble`, in eval mode) as a function
    (sequences, structures) -> P(pre-miRNA); molecules longer than `length`, or empty, get 0."""

    def judge(sequences: Sequence[str], structures: Sequence[str]) -> np.ndarray:
        proba = np.zeros(len(sequences))
        rows = [i for i, s in enumerate(sequences) if 0 < len(s) <= length]
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            x = torch.from_numpy(one_hot([sequences[i] for i in chunk],
                                         [structures[i] for i in chunk], length))
            with torch.no_grad():
                proba[chunk] = torch.softmax(model(x), 1)[:, 1].numpy()
        return proba

    return judge


def load_judge(path: str | Path, batch_size: int = 512) -> Judge:
    """A judge checkpoint as a `scorer`: molecules longer than it learnt from, or empty, get 0."""
    model, checkpoint = load_model(path, _network, "cpu", kind="judge")
    return scorer(model, int(checkpoint["max_length"]), batch_size)


def pair_shuffle_decoys(
    positives: pd.DataFrame, ratio: float, seed: int, fold: FoldSettings, processes: int = 1
) -> pd.DataFrame:
    """Structure-preserving shuffles of ``round(ratio * len(positives))`` positives (a seeded
    choice), folded; those that still fold into one hairpin loop (label 0, source
    ``pair_shuffle``)."""
    want = min(len(positives), round(ratio * len(positives)))
    rng = stream(seed, "judge_decoys")
    chosen = positives.iloc[np.sort(rng.choice(len(positives), want, replace=False))]
    sequences = [pair_shuffle(s, t, molecule_stream(seed, k)) for k, (s, t) in
                 enumerate(zip(chosen["sequence"], chosen["structure"], strict=True))]
    structures = [s for s, _ in fold_sequences(sequences, processes, fold)]
    decoys = pd.DataFrame({"id": [f"{i}_pair_shuffle" for i in chosen["id"]],
                           "sequence": sequences, "label": 0, "species": chosen["species"].values,
                           "source": "pair_shuffle", "structure": structures})
    return decoys[[len(hairpin_loops(s)) == 1 for s in structures]].reset_index(drop=True)


def build_judge(
    hairpin_fasta: str | Path,
    coding: str | Path,
    molecules_tsv: str | Path,
    species: Sequence[str],
    out_model: str | Path,
    out_history: str | Path,
    settings: JudgeSettings | Mapping[str, Any] | None = None,
    fold: FoldSettings | Mapping[str, Any] = DEFAULT_FOLD,
    processes: int = 1,
    out_table: str | Path | None = None,
) -> dict[str, Any]:
    """The `validate_judge` rule: the judge's molecules (none of the configured `species`, none
    in `molecules_tsv`), folded with the fold stage's energy model, and the judge trained on
    them; writes the checkpoint and its per-epoch history, and the molecules with their
    structures to `out_table` if named (the second judge, `premirna.validate.trees_judge`,
    learns from them). Returns the checkpoint."""
    if not isinstance(settings, JudgeSettings):
        settings = JudgeSettings.from_dict(settings or {})
    table, counts = other_species_molecules(
        hairpin_fasta, coding, exclude_species=species, exclude_molecules=molecules_tsv,
        coding_ratio=settings.coding_ratio, shuffle_ratio=settings.shuffle_ratio,
        max_positives=settings.max_positives, seed=settings.seed, fold=FoldSettings.of(fold),
        max_length=settings.max_length,
    )
    table = table[table["sequence"].str.len() <= settings.max_length].reset_index(drop=True)
    log.info("judge set: %d molecules (%d pre-miRNAs of %d species); %s", len(table),
             int(table["label"].sum()), table.loc[table["label"] == 1, "species"].nunique(),
             counts_text(counts))
    fold = FoldSettings.of(fold)
    table["structure"] = [s for s, _ in fold_sequences(table["sequence"].tolist(), processes, fold)]
    decoys = pair_shuffle_decoys(table[table["label"] == 1], settings.pair_shuffle_ratio,
                                 settings.seed, fold, processes)
    counts["pair_shuffles"] = len(decoys)
    table = pd.concat([table, decoys], ignore_index=True)
    _, checkpoint = train_judge(table["sequence"].tolist(), table["structure"].tolist(),
                                table["label"].to_numpy(), settings)
    checkpoint["counts"] = {k: int(v) for k, v in counts.items()}
    checkpoint["species"] = sorted(set(table.loc[table["label"] == 1, "species"]))
    save_checkpoint(checkpoint, out_model)
    write_tsv(pd.DataFrame(checkpoint["history"], columns=HISTORY_COLUMNS), out_history)
    if out_table is not None:
        write_tsv(table[["id", "sequence", "structure", "label", "species", "source"]], out_table)
    return checkpoint
