"""Every random stream of the pipeline, derived from the configured seed in one place.

A stage gets one seed from config (its own `seed:` or the top-level one). Where it needs several
independent streams, each stream has a name here and a fixed way of deriving its seed from the
stage's, so that switching one step on or off does not change the draws of another, and the same
config gives the same numbers on every run. The offsets are those of earlier versions of the
pipeline, kept so that results stay identical.
"""

from __future__ import annotations

import numpy as np

#: Streams drawn as ``np.random.default_rng([seed, STREAMS[name]])``.
STREAMS: dict[str, int] = {
    "download_cap": 1,  # the seeded sample of `download.max_per_class` positives
    "download_coding": 2,  # which CODING negatives are kept
    "download_shuffle": 3,  # dinucleotide shuffles of the positives
    "download_split": 4,  # the train/val/test split
    "pretrain_positives": 11,  # the sample of `train_cnn.pretrain.max_positives`
    "judge_decoys": 21,  # validate: which positives give the judge's pair-shuffle decoys
    "generate_keep": 31,  # generate: attribute matching's keep-or-redraw draws, per condition
    "generate_tilt": 32,  # generate: the latents of dinucleotide matching's pilot
    "generate_stem": 33,  # generate: the latents of stem-pair matching's pilot
}
#: Streams seeded with ``seed + OFFSETS[name] + index``.
OFFSETS: dict[str, int] = {
    "condition": 0,  # generate: the k-th condition's first draws and repair walk
    "reconstruction": 0,  # train_cvae: the k-th decoding in the reconstruction figure
    "randomised_weights": 1,  # interpret_cnn: the randomised copy of the CNN
    "traversal": 1,  # generate: the noise shared along every latent traversal
    "sanity_molecules": 2,  # interpret_cnn: the molecules of the model-randomisation check
    "around": 1000,  # generate: the j-th real molecule sampled around
    "pretrain_phase": 7919,  # train_cnn: the pre-training phase
    "redraw_round": 100_000,  # generate: added once per redraw round (`redraw_seed`)
}
#: generate: the redraw round whose seeds attribute matching's pilot draws take (`redraw_seed`).
PILOT_ROUND = 1000
#: generate: the redraw round whose seeds dinucleotide matching's pilot draws take.
TILT_ROUND = 1001
#: generate: the redraw round whose seeds stem-pair matching's pilot draws take.
STEM_ROUND = 1002


def stream(seed: int, name: str) -> np.random.Generator:
    """The NumPy generator of a named stream (`STREAMS`)."""
    return np.random.default_rng([seed, STREAMS[name]])


def molecule_stream(seed: int, index: int) -> np.random.Generator:
    """The generator of the `index`-th molecule of a batch (its shuffles, say), so that numbers
    per molecule do not depend on how the batch is split over processes."""
    return np.random.default_rng([seed, index])


def offset(seed: int, name: str, index: int = 0) -> int:
    """The integer seed of a named stream (`OFFSETS`), the `index`-th of its kind."""
    return seed + OFFSETS[name] + index


def redraw_seed(seed: int, round_: int, condition: int) -> int:
    """generate: the seed of the `condition`-th condition's draws in redraw round `round_` (round
    0, the first draws, is the condition's own stream)."""
    return offset(seed, "condition", condition) + OFFSETS["redraw_round"] * round_


def cnn_epoch_seed(seed: int, epoch: int) -> int:
    """train_cnn: the seed of one epoch's shuffling, dropout and mixup (the same whether or not
    the run was resumed)."""
    return seed * 1000 + epoch


def cvae_epoch_seed(seed: int, epoch: int) -> int:
    """train_cvae: the seed of one epoch's random streams (the same whether or not the run was
    resumed)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])
