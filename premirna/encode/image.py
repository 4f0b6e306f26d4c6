"""The Cordero, Menkovski & Allmer (2019) hairpin image, drawn as the authors' ImageCalc.jar draws
it, its per-column discrete factors, and its inverse. Rules (Cordero et al. 2019, the authors'
program and the oracle's PROVENANCE.md, refined against the oracle): the central loop is the
``(.+)`` whose opening index i or exclusive end j + 1 is nearest ``n // 2`` (the 5'-most on a tie;
`premirna.rna.structure.central_hairpin_loop` picks another loop in 5 of the 131 multi-loop oracle
rows); two streams are walked from the outside in, top = positions 0..j-1 and bottom = positions
n-1..i+1, where two dots or two brackets make one column, a dot facing a bracket gets a gap
opposite, and the walk stops when either stream runs out; the columns are reversed so that column 0
is the loop, and columns from 100 on are cut. Each half-bar is L + 1 px, plus 2r for an unpaired
nucleotide, at most 13 px (5' half) or 12 px (3' half); L comes from the column's two letters (G-C
1, A-U 2, G-U 3, other 4; a 5'-half letter facing a gap 1; a gap facing A/C/G/U 1, facing another
letter 4); r counts a half's unpaired nucleotides outward from the last pair (a one-sided ramp),
except in the terminal run: after g leading gaps, its k-th of D nucleotides gets min(k + 1, D - k +
2g), the loop's symmetric tent when g = 0. Measured: 2,052 / 2,052 oracle images and 2,440 / 2,440
modhsa images with a known sequence are byte-identical given the RNAfold 2.1.3 structures (no
exceptions), and all 3,660 modhsa images, the 1,220 of unknown sequence included, read back as
factors that redraw them pixel for pixel. Inferred from few images and unverifiable here: a gap
facing a non-A/C/G/U letter (one oracle row, 2048; other letters facing a gap: rows 2031, 2047,
2050), the 2g term (g + 1 fits the 173 gapped runs equally; only 2g gives the tent at g = 0), and
terminal loops of 100 or more columns (tent over the drawn columns). What the image cannot
distinguish, and what `decode` returns: IUPAC and other non-A/C/G/U letters (black: ``N``); case
and T/U (upper-case ``ACGU``); columns past 99 (the inner 100 columns are returned, a hairpin with
the loop); in multi-loop folds, which bracket a walked column holds, which nucleotides a
non-partner bracket column pairs and the part of the molecule the walk never reached (the
single-stem hairpin the columns spell is returned); loop-less folds (all black: two empty strings).
A structure with exactly one hairpin loop, A/C/G/U/T letters (IUPAC come back as N) and at most 100
columns decodes to its upper-case RNA sequence and its structure exactly. `Factors` (per
column: 5'-half code, 3'-half code, paired) is what a generative model predicts: `render` draws any
factor values, `image_to_factors` reads them back, and `factors_to_hairpin` turns them into a
balanced hairpin.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np

#: The image contract's name, stored in every checkpoint trained on these images.
ENCODING_VERSION = "cordero2019-rgb-25x100x3"

#: Geometry of one image: 25 rows x 100 columns x 3 colour channels (RGB), uint8.
ROWS, COLUMNS, CHANNELS = 25, 100, 3
IMAGE_SHAPE = (ROWS, COLUMNS, CHANNELS)
#: Rows 0-12 hold the 5' arm (bars grow up from row 12), rows 13-24 the 3' arm (down from row 13).
TOP_ROWS, BOTTOM_ROWS = 13, 12

#: Factor codes of one half of one column.
NONE, NT_A, NT_C, NT_G, NT_U, NT_N, GAP = range(7)
N_CODES = 7

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
#: RGB of each code: A yellow, C blue, G red, U green, other letters and gaps black, none white.
PALETTE = np.array(
    [WHITE, (255, 255, 0), (0, 0, 255), (255, 0, 0), (0, 255, 0), BLACK, BLACK], dtype=np.uint8
)

# Sequence letter -> code: T/t are read as U (the JAR's toRNA), lower case as upper case, any other
# letter as N; -1 = not a letter (rejected).
_SEQ_CODE = np.full(256, -1, dtype=np.int8)
for _letter in string.ascii_letters:
    _SEQ_CODE[ord(_letter)] = NT_N
for _letter, _code in zip("ACGUT", (NT_A, NT_C, NT_G, NT_U, NT_U), strict=True):
    _SEQ_CODE[ord(_letter)] = _SEQ_CODE[ord(_letter.lower())] = _code
# Structure character -> 0 dot, 1 "(", 2 ")"; -1 = anything else.
_DOT, _OPEN, _CLOSE = 0, 1, 2
_STRUCT_CODE = np.full(256, -1, dtype=np.int8)
_STRUCT_CODE[ord(".")], _STRUCT_CODE[ord("(")], _STRUCT_CODE[ord(")")] = _DOT, _OPEN, _CLOSE


def _pair_length_table() -> np.ndarray:
    """L (bar length beyond the axis pixel) of a column, indexed [5' code, 3' code]."""
    table = np.zeros((N_CODES, N_CODES), dtype=np.int16)
    letters = (NT_A, NT_C, NT_G, NT_U, NT_N)
    for top in letters:
        for bottom in letters:
            table[top, bottom] = 4  # mismatch, and anything with an IUPAC letter
        table[top, GAP] = 1  # a 5'-arm letter facing a gap, IUPAC included (oracle rows 2031, 2050)
        table[GAP, top] = 1 if top != NT_N else 4  # a gap facing IUPAC on the 3' arm: 4 (row 2048)
    for a, b, length in ((NT_G, NT_C, 1), (NT_A, NT_U, 2), (NT_G, NT_U, 3)):
        table[a, b] = table[b, a] = length
    return table


_PAIR_LENGTH = _pair_length_table()

_IS_LETTER = np.zeros(N_CODES, dtype=bool)
_IS_LETTER[[NT_A, NT_C, NT_G, NT_U, NT_N]] = True

_IS_ACGU = np.zeros(N_CODES, dtype=bool)
_IS_ACGU[[NT_A, NT_C, NT_G, NT_U]] = True

_LETTER_BYTES = np.frombuffer(b"\0ACGUN-", dtype=np.uint8)

# Drawing in chunks keeps the temporary (chunk, 25, 100) arrays in cache and memory bounded.
_CHUNK = 2048


@dataclass(frozen=True, eq=False)
class Factors:
    """The discrete factors an image is drawn from, one entry per column (last axis = 100 columns).

    - ``top_nt`` (int8): the 5'-arm half of the column (rows 0-12): `NONE` (no column: white),
      `NT_A`, `NT_C`, `NT_G`, `NT_U`, `NT_N` (any other letter: black) or `GAP` (black stub).
    - ``bottom_nt`` (int8): the 3'-arm half (rows 13-24), same codes.
    - ``paired`` (bool): the column is a base pair (a bracket on both arms), else both halves are
      unpaired nucleotides or one is a gap.
    - ``top_pos``/``bottom_pos`` (int32 or None): the 0-based sequence position each half draws,
      -1 for a gap or no column; only when the factors come from `columns`/`columns_many`.

    Arrays are 1-D (one hairpin) or 2-D (a batch). Everything else in the image follows from these
    (`render`): the colours from the codes, L from the two codes, the ramp r from the run of
    unpaired columns. Any values in range render and read back (`normalize_factors` says how).
    """

    top_nt: np.ndarray
    bottom_nt: np.ndarray
    paired: np.ndarray
    top_pos: np.ndarray | None = None
    bottom_pos: np.ndarray | None = None

    @property
    def n_columns(self) -> np.ndarray:
        """Drawn columns (int, or an array for a batch): columns before the first empty one."""
        has = _IS_LETTER[self.top_nt] | _IS_LETTER[self.bottom_nt]
        return np.cumprod(has, axis=-1).sum(axis=-1)

    @property
    def encodable(self) -> np.ndarray:
        """True where column 0 holds a nucleotide (a hairpin loop was found)."""
        return _IS_LETTER[self.top_nt[..., 0]] | _IS_LETTER[self.bottom_nt[..., 0]]


#: What each colour of the image stands for (the colour key of every figure that shows one).
COLOUR_KEY = {"A": PALETTE[NT_A], "C": PALETTE[NT_C], "G": PALETTE[NT_G], "U": PALETTE[NT_U],
              "other letter or gap": PALETTE[GAP]}


def image_key(fig, anchor: tuple[float, float] = (1.0, 1.0), fontsize: float = 9) -> None:
    """Add the colour key of the hairpin image to a matplotlib figure, its upper left corner at
    `anchor` (figure coordinates): a patch per nucleotide colour, and where the arms are drawn."""
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=tuple(rgb / 255), edgecolor="0.3", label=name)
               for name, rgb in COLOUR_KEY.items()]
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=anchor, fontsize=fontsize,
               title=("hairpin image\nrows 0-12: 5' arm\nrows 13-24: 3' arm\nlonger bar: weaker\n"
                      "pair or unpaired"),
               title_fontsize=fontsize, frameon=False)
