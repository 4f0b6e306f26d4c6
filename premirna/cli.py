"""Command-line face of the package: one stage at a time, without Snakemake.

`python -m premirna fold|encode|decode|classify ...`; `--help` on each. Errors in the input go to
stderr as one line naming the file, the record and the problem, with exit status 2; nothing
half-written is left behind because every writer in the package writes atomically.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from premirna import __version__
from premirna.core.errors import DownloadError, InputError
from premirna.core.logs import setup_logging
from premirna.rna.folding import DEFAULT_FOLD, FoldSettings


def _fold(args: argparse.Namespace) -> None:
    from premirna.fold.table import fold_file

    fold_file(
        args.input,
        args.output,
        processes=args.processes,
        fold=FoldSettings(args.temperature, args.dangles),
    )


def _encode(args: argparse.Namespace) -> None:
    from premirna.encode.stage import encode_table

    encode_table(args.input, args.output, processes=args.processes)


def _decode(args: argparse.Namespace) -> None:
    from premirna.encode.stage import decode_file

    decode_file(args.input, args.output)


def _classify(args: argparse.Namespace) -> None:
    from premirna.classifier.classify import classify_fasta

    classify_fasta(
        args.input,
        args.output,
        args.model,
        processes=args.processes,
        features_model=args.features,
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per stage tool."""
    parser = argparse.ArgumentParser(
        prog="python -m premirna",
        description="Fold, encode, decode and classify pre-miRNA hairpins (Cordero 2019 images).",
    )
    parser.add_argument("--version", action="version", version=f"premirna {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], None], help_: str, inp: str, out: str):
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("input", metavar="IN", help=inp)
        p.add_argument("output", metavar="OUT", help=out)
        p.set_defaults(func=func)
        return p

    p = add(
        "fold",
        _fold,
        "Fold every sequence with ViennaRNA (MFE) and add hairpin features.",
        "sequence file: FASTA, RNAfold output or triplet-SVM 3-line records (.gz allowed)",
        "output table (TSV): id, sequence, structure, mfe and the hairpin features",
    )
    p.add_argument("--processes", type=int, default=1, help="folding processes (default 1)")
    p.add_argument("--temperature", type=float, default=DEFAULT_FOLD.temperature,
                   help=f"degrees C (default {DEFAULT_FOLD.temperature:g})")
    p.add_argument("--dangles", type=int, choices=[0, 1, 2, 3], default=DEFAULT_FOLD.dangles,
                   help=f"ViennaRNA dangling-end model (default {DEFAULT_FOLD.dangles})")

    p = add(
        "encode",
        _encode,
        "Draw each hairpin as the Cordero et al. 2019 25x100 RGB image.",
        "table (TSV) with columns id, sequence and optionally structure (folded when absent)",
        "compressed array file (.npz) with ids (str) and images (N x 25 x 100 x 3, uint8)",
    )
    p.add_argument("--processes", type=int, default=1, help="folding processes if folding")

    add(
        "decode",
        _decode,
        "Invert the image: recover sequence and dot-bracket structure from each image.",
        "array file (.npz) with ids and images, as written by `encode`",
        "output table (TSV): id, sequence, structure",
    )

    p = add(
        "classify",
        _classify,
        "Fold, encode and score any sequence file with a trained CNN checkpoint.",
        "sequence file (FASTA, RNAfold output or triplet-SVM records)",
        "output table (TSV): id, sequence, structure, probability, status",
    )
    p.add_argument("--model", required=True, help="checkpoint written by train_cnn (model.pt)")
    p.add_argument(
        "--features",
        help="feature trees written by train_cnn (features_model.npz): adds the columns "
        "homology, features_probability and fused_probability",
    )
    p.add_argument("--processes", type=int, default=1, help="folding processes (default 1)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the exit status (0 ok, 2 bad input or failed download)."""
    args = build_parser().parse_args(argv)
    setup_logging(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        args.func(args)
    except (InputError, DownloadError, FileNotFoundError) as err:
        print(f"premirna {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0
