"""Columns as tokens: one categorical per image column over its joint factors."""

from __future__ import annotations

import numpy as np
import torch

from premirna.encode.image import N_CODES, NT_A, NT_C, NT_G, NT_N, NT_U, Factors
from premirna.encode.render import normalize_factors

VOCABULARY = N_CODES * N_CODES * 2  # 5'-arm code x 3'-arm code x paired


def factors_to_tokens(factors: Factors, mirror_loop: bool = True) -> np.ndarray:
    """Token of every column, int64 N x 100: (5'-arm code * 7 + 3'-arm code) * 2 + paired.

    With `mirror_loop`, the 3'-arm half of the terminal-loop columns (the unpaired columns before
    the first pair, when both halves hold a nucleotide) is replaced by the 5'-arm half. The image
    draws the loop twice, mirrored, so the 3' half repeats nucleotides that a decoder going
    outward from column 0 has not chosen yet; `premirna.encode.decode.factors_to_hairpins` reads
    the loop from the 5' half, so the hairpin the tokens spell is unchanged.
    """
    normal = normalize_factors(factors)
    top = np.atleast_2d(np.asarray(normal.top_nt, dtype=np.int64))
    bottom = np.atleast_2d(np.asarray(normal.bottom_nt, dtype=np.int64)).copy()
    paired = np.atleast_2d(np.asarray(normal.paired, dtype=np.int64))
    if mirror_loop:
        letter = (top >= NT_A) & (top <= NT_N)
        both = letter & (bottom >= NT_A) & (bottom <= NT_N)
        in_loop = np.cumsum(paired, axis=1) == 0
        drawn = letter | ((bottom >= NT_A) & (bottom <= NT_N))
        twice = (both | ~(in_loop & drawn)).all(axis=1)  # the loop is drawn in both halves
        mirror = in_loop & both & twice[:, None]
        bottom[mirror] = top[mirror]
    return (top * N_CODES + bottom) * 2 + paired


def tokens_to_factors(tokens: np.ndarray) -> Factors:
    """The factors that a batch of tokens (N x 100) stands for (inverse of `factors_to_tokens`)."""
    tokens = np.atleast_2d(np.asarray(tokens, dtype=np.int64))
    paired = (tokens % 2).astype(bool)
    pair = tokens // 2
    return Factors(
        (pair // N_CODES).astype(np.int8), (pair % N_CODES).astype(np.int8), paired
    )


def token_lengths(tokens: np.ndarray) -> np.ndarray:
    """Columns that carry information: the drawn ones plus the empty column ending the hairpin
    (every later column is empty too), at most all columns."""
    tokens = np.atleast_2d(tokens)
    empty = tokens == 0  # token 0: both halves NONE, unpaired
    first_empty = np.where(empty.any(axis=1), np.argmax(empty, axis=1), tokens.shape[1])
    return np.minimum(first_empty + 1, tokens.shape[1])


def teacher_inputs(tokens: torch.Tensor, start_token: int) -> torch.Tensor:
    """Decoder inputs for teacher forcing: the start token, then every column but the last."""
    start = torch.full_like(tokens[:, :1], start_token)
    return torch.cat([start, tokens[:, :-1]], dim=1)


def ending_tokens(vocabulary: int) -> torch.Tensor:
    """Bool mask of the tokens with no nucleotide in either half: a column that ends a hairpin."""
    factors = tokens_to_factors(np.arange(vocabulary)[None, :])
    letters = {NT_A, NT_C, NT_G, NT_U, NT_N}
    top, bottom = factors.top_nt[0].tolist(), factors.bottom_nt[0].tolist()
    return torch.tensor([t not in letters and b not in letters for t, b in zip(top, bottom,
                                                                               strict=True)])


def iupac_tokens(vocabulary: int) -> torch.Tensor:
    """Bool mask of the tokens with an IUPAC letter (N) in either half: never sampled, since a
    generated molecule is RNA."""
    factors = tokens_to_factors(np.arange(vocabulary)[None, :])
    return torch.from_numpy((factors.top_nt[0] == NT_N) | (factors.bottom_nt[0] ==
                                                                  NT_N))


def pairing_tokens(vocabulary: int) -> torch.Tensor:
    """Bool mask of the tokens that are a base pair (paired, A/C/G/U on both halves)."""
    factors = tokens_to_factors(np.arange(vocabulary)[None, :])
    acgu = {NT_A, NT_C, NT_G, NT_U}
    top, bottom = factors.top_nt[0].tolist(), factors.bottom_nt[0].tolist()
    paired = factors.paired[0].tolist()
    return torch.tensor([p and t in acgu and b in acgu for t, b, p in zip(top, bottom, paired,
                                                                           strict=True)])
