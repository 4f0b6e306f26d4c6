"""The independent judge and the two-sample test: what they read, what they learn from, and that
they tell real pre-miRNAs from decoys."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import DATA, REPO

from premirna.rna.folding import fold_sequences
from premirna.rna.sequence import dinucleotide_shuffle, random_matched
from premirna.rna.structure import features, pair_shuffle, pair_table
from premirna.training.checkpoints import read_checkpoint, save_checkpoint
from premirna.validate.judge import (
    CHANNELS,
    JudgeNet,
    JudgeSettings,
    build_judge,
    load_judge,
    one_hot,
    train_judge,
)
from premirna.validate.trees_judge import fit_trees_judge
from premirna.validate.two_sample import length_outside, two_sample_auc

HAIRPINS = REPO / "resources" / "mirbase_v22" / "hairpin.fa.gz"


def test_one_hot_reads_nucleotide_bracket_partner_and_position():
    x = one_hot(["GGGAAACCC", "ACNU"], ["(((...)))", "...."], 12)
    assert x.shape == (2, CHANNELS, 12)
    assert x[0, :4, 0].tolist() == [0, 0, 1, 0]  # G
    assert x[0, 4:7, 0].tolist() == [1, 0, 0] and x[0, 4:7, 8].tolist() == [0, 1, 0]
    assert x[0, 7:11, 0].tolist() == [0, 1, 0, 0]  # paired with a C
    assert x[0, 7:11, 3].sum() == 0  # unpaired: no partner
    assert x[1, :4, 2].sum() == 0  # N: no nucleotide, but a real position
    assert (x[:, -1, :9] > 0).sum() == 9 + 4 and (x[0, :, 9:] == 0).all()


def test_pair_shuffle_keeps_the_fold_and_composition_not_the_order():
    sequence = "UGUCGGGUAGCUUAUCAGACUGAUGUUGACUGUUGAAUCUCAUGGCAACACCAGUCGAUGGGCUGUCUGACA"
    structure = fold_sequences([sequence])[0][0]
    table = pair_table(structure)
    decoy = pair_shuffle(sequence, structure, np.random.default_rng(1))
    assert sorted(decoy) == sorted(sequence) and decoy != sequence
    pairs = {frozenset((sequence[i], sequence[j])) for i, j in enumerate(table) if j > i}
    for i, j in enumerate(table):
        if j > i:
            assert frozenset((decoy[i], decoy[j])) in pairs  # a pair the original has
    unpaired = table < 0
    assert sorted(np.array(list(decoy))[unpaired]) == sorted(np.array(list(sequence))[unpaired])
    assert decoy == pair_shuffle(sequence, structure, np.random.default_rng(1))


def test_the_judge_never_learns_from_the_configured_species(tiny_judge):
    checkpoint = read_checkpoint(tiny_judge["folder"] / "model.pt")
    assert checkpoint["kind"] == "judge"
    assert not {"hsa", "mmu"} & set(checkpoint["species"])
    assert checkpoint["counts"]["positives"] == 400
    assert checkpoint["counts"]["pair_shuffles"] > 0
    history = pd.read_csv(tiny_judge["folder"] / "history.tsv", sep="\t")
    assert history["member"].tolist() == [1, 1, 2, 2]
    assert history["epoch"].tolist() == [1, 2, 1, 2]


def test_the_judge_set_is_written_and_the_trees_judge_learns_from_it(tiny_judge):
    judge_set = pd.read_csv(tiny_judge["judge_set"], sep="\t")
    checkpoint = tiny_judge["checkpoint"]
    assert set(judge_set["label"]) == {0, 1}
    assert (judge_set["label"] == 1).sum() == checkpoint["counts"]["positives"]
    assert not {"hsa", "mmu"} & set(judge_set.loc[judge_set["label"] == 1, "species"])
    human = pd.read_csv(tiny_judge["human"], sep="\t")
    assert not set(human["sequence"]) & set(judge_set["sequence"])
    assert (judge_set["sequence"].str.len() == judge_set["structure"].str.len()).all()
    assert "pair_shuffle" in set(judge_set["source"])

    trees = fit_trees_judge(judge_set, seed=3, max_length=200)
    # held-out human hairpins (never in the judge set) against their dinucleotide shuffles
    real = human["sequence"].tolist()[:40]
    rng = np.random.default_rng(5)
    decoys = [dinucleotide_shuffle(s, rng) for s in real]
    structures = [s for s, _ in fold_sequences(real + decoys)]
    scores = trees(real + decoys, structures)
    assert scores[:40].mean() > scores[40:].mean()
    assert ((scores >= 0) & (scores <= 1)).all()
    assert trees(["", "A" * 250], ["", "." * 250]).tolist() == [0, 0]
    again = fit_trees_judge(judge_set, seed=3, max_length=200)
    np.testing.assert_array_equal(again(real, structures[:40]), scores[:40])


def test_the_judge_scores_what_its_network_says_and_zero_beyond_its_length(tiny_judge):
    judge = load_judge(tiny_judge["folder"] / "model.pt")
    sequences = ["GGGGAAAACCCC", "A" * 250, ""]
    structures = [fold_sequences([s])[0][0] if s else "" for s in sequences]
    scores = judge(sequences, structures)
    checkpoint = read_checkpoint(tiny_judge["folder"] / "model.pt")
    assert checkpoint["model_args"]["members"] == 2
    x = torch.from_numpy(one_hot(sequences[:1], structures[:1], 200))
    members = []
    for k in range(2):  # the judge is the mean of its networks' probabilities
        network = JudgeNet(checkpoint["model_args"]["channels"])
        prefix = f"members.{k}."
        network.load_state_dict({key.removeprefix(prefix): value for key, value
                                 in checkpoint["model"].items() if key.startswith(prefix)})
        with torch.no_grad():
            members.append(torch.softmax(network.eval()(x), 1)[0, 1].item())
    assert members[0] != pytest.approx(members[1], abs=1e-6)
    assert scores[0] == pytest.approx(np.mean(members), abs=1e-6)
    # The second network alone, saved as judges of one network were before ensembles.
    single = tiny_judge["folder"] / "single.pt"
    save_checkpoint({**checkpoint, "model_args": {"channels": checkpoint["model_args"]["channels"]},
                     "model": network.state_dict()}, single)
    assert load_judge(single)(sequences[:1], structures[:1])[0] == pytest.approx(members[1],
                                                                                abs=1e-6)
    assert scores[1] == 0 and scores[2] == 0
    again = build_judge(HAIRPINS, DATA / "mirbase" / "coding_head30.txt.gz",
                        tiny_judge["molecules"], ["hsa", "mmu"],
                        tiny_judge["folder"] / "again.pt", tiny_judge["folder"] / "again.tsv",
                        checkpoint["config"])
    for key, value in again["model"].items():  # the config it records gives the same judge
        assert torch.equal(value, checkpoint["model"][key])


def test_the_first_network_of_the_judge_is_the_one_its_seed_trains_alone(tiny_judge):
    table = pd.read_csv(tiny_judge["judge_set"], sep="\t", keep_default_na=False)
    molecules = (table["sequence"].tolist(), table["structure"].tolist(),
                 table["label"].to_numpy())
    settings = {**tiny_judge["checkpoint"]["config"], "epochs": 1}
    pair, checkpoint = train_judge(*molecules, JudgeSettings.from_dict(settings))
    alone, _ = train_judge(*molecules, JudgeSettings.from_dict({**settings, "members": 1}))
    first = pair.members[0].state_dict()
    for key, value in alone.members[0].state_dict().items():
        assert torch.equal(value, first[key])
    assert not torch.equal(pair.members[0].convs[0].weight, pair.members[1].convs[0].weight)
    assert 0 < checkpoint["best_metric"] < 1 and len(checkpoint["history"]) == 2


def _folded(sequences: list[str]) -> pd.DataFrame:
    rows = []
    for sequence, (structure, mfe) in zip(sequences, fold_sequences(sequences), strict=True):
        rows.append({"sequence": sequence, "refolded": structure,
                     **features(sequence, structure, mfe)})
    return pd.DataFrame(rows)


def test_two_sample_auc_tells_decoys_from_real_hairpins_not_real_from_real():
    import gzip

    with gzip.open(HAIRPINS, "rt") as handle:
        text = handle.read().split(">")[1:]
    real = ["".join(r.splitlines()[1:]).upper().replace("T", "U")
            for r in text if r.startswith("hsa-")][:240]
    rng = np.random.default_rng(0)
    # Alternate hairpins, not file halves: miRBase lists families together.
    first, second = _folded(real[0::2]), _folded(real[1::2])
    shuffled = _folded([dinucleotide_shuffle(s, rng) for s in real[1::2]])
    random = _folded([random_matched(s, rng) for s in real[1::2]])
    same = two_sample_auc(first, second, seed=1)
    assert same < 0.7
    assert two_sample_auc(random, first, seed=1) > 0.9
    assert two_sample_auc(shuffled, first, seed=1) > same
    assert two_sample_auc(first, second, seed=1) == same  # seeded: the same every time
    assert np.isnan(two_sample_auc(first.head(5), second, seed=1))
    assert length_outside([10, 50, 60, 500], [40, 50, 60, 70] * 10) == 0.5
