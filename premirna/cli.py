"""Command-line face of the package: one stage at a time, without Snakemake.

`python -m premirna fold|encode|decode|classify|check-config ...`; `--help` on each. `-` as IN
reads standard input and `-` as OUT writes standard output. Every failure
is one line on stderr naming the file, the record (or line) and the problem, with exit status 2
and no traceback: bad input, a bad option value, an output that cannot be written (checked before
any work). Nothing half-written is left behind because every writer in the package writes
atomically.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from premirna import __version__
from premirna.core.errors import DownloadError, InputError
from premirna.core.logs import setup_logging
from premirna.rna.folding import DEFAULT_FOLD, MAX_FOLD_LENGTH, FoldSettings

# The same bounds as workflow/schemas/config.schema.yaml.
TEMPERATURE = (0.0, 100.0)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit status 2, as argparse has)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _number(kind: type, low: float | None = None, high: float | None = None) -> Callable:
    """An argparse type: `kind` within [low, high], else a one-line usage error."""

    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            span = f"at least {low:g}" if high is None else f"between {low:g} and {high:g}"
            raise argparse.ArgumentTypeError(f"{text} must be {span}")
        return value

    parse.__name__ = kind.__name__
    return parse


def _fold_settings(args: argparse.Namespace) -> FoldSettings:
    return FoldSettings(args.temperature, args.dangles)


def _fold(args: argparse.Namespace) -> None:
    from premirna.fold.table import fold_file

    fold_file(args.input, args.output, processes=args.processes, fold=_fold_settings(args),
              max_length=args.max_length)


def _encode(args: argparse.Namespace) -> None:
    from premirna.encode.stage import encode_table

    encode_table(args.input, args.output, processes=args.processes, fold=_fold_settings(args))


def _decode(args: argparse.Namespace) -> None:
    from premirna.encode.stage import decode_file

    decode_file(args.input, args.output)


def _classify(args: argparse.Namespace) -> None:
    from premirna.classifier.classify import classify_fasta
    from premirna.classifier.default import default_model

    classify_fasta(
        args.input,
        args.output,
        args.model or default_model(),
        processes=args.processes,
        threshold=args.threshold,
        fold=_fold_settings(args),
        features_model=args.features,
        min_length=args.min_length,
        max_length=args.max_length,
        min_pairs=args.min_pairs,
    )


def _check_config(args: argparse.Namespace) -> None:
    from premirna.data.config_checks import check_config_files

    check_config_files(args.files)
    print(f"{', '.join(args.files)}: ok", file=sys.stderr)


def _add_fold_options(p: argparse.ArgumentParser, what: str = "folding processes") -> None:
    p.add_argument("--processes", type=_number(int, 1), default=1, help=f"{what} (default 1)")
    p.add_argument("--temperature", type=_number(float, *TEMPERATURE),
                   default=DEFAULT_FOLD.temperature,
                   help=f"folding temperature, degrees C (default {DEFAULT_FOLD.temperature:g})")
    p.add_argument("--dangles", type=int, choices=[0, 1, 2, 3], default=DEFAULT_FOLD.dangles,
                   help=f"ViennaRNA dangling-end model (default {DEFAULT_FOLD.dangles})")


def _add_classify_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None,
                   help="checkpoint written by train_cnn (model.pt); default: the small "
                        "classifier shipped in resources/default_classifier/ (its PROVENANCE.md "
                        "says how it was trained and how well it does)")
    p.add_argument(
        "--features",
        help="feature trees written by train_cnn (features_model.npz): adds the columns "
        "homology, features_probability and fused_probability",
    )
    p.add_argument("--threshold", type=_number(float, 0, 1), default=0.5,
                   help="probability at or above which a molecule is called a pre-miRNA "
                        "(default 0.5)")
    p.add_argument("--min-length", type=_number(int, 1), default=None,
                   help="shortest molecule given a call, nt (default: the shortest the model "
                        "was trained on)")
    p.add_argument("--max-length", type=_number(int, 1), default=None,
                   help="longest molecule folded and given a call, nt (default: the longest the "
                        "model was trained on)")
    p.add_argument("--min-pairs", type=_number(int, 0), default=18,
                   help="fewest base pairs of a molecule given a call (default 18)")
    _add_fold_options(p)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per stage tool."""
    parser = _Parser(
        prog="python -m premirna",
        description="Fold, encode, decode and classify pre-miRNA hairpins (Cordero 2019 images).",
    )
    parser.add_argument("--version", action="version", version=f"premirna {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)

    def add(name: str, func: Callable[[argparse.Namespace], None], help_: str, inp: str, out: str):
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("input", metavar="IN", help=f"{inp}; - reads standard input")
        p.add_argument("output", metavar="OUT", help=f"{out}; - writes standard output")
        p.set_defaults(func=func)
        return p

    p = add(
        "fold",
        _fold,
        "Fold every sequence with ViennaRNA (MFE) and add hairpin features.",
        "sequence file: FASTA, RNAfold output or triplet-SVM 3-line records (.gz allowed)",
        "output table (TSV): id, sequence, structure, mfe and the hairpin features",
    )
    _add_fold_options(p)
    p.add_argument("--max-length", type=_number(int, 1), default=MAX_FOLD_LENGTH,
                   help=f"refuse records longer than this, nt (default {MAX_FOLD_LENGTH}: folding "
                        "time grows with the cube of the length; cut genomes into windows)")

    p = add(
        "encode",
        _encode,
        "Draw each hairpin as the Cordero et al. 2019 25x100 RGB image.",
        "table (TSV) with columns id, sequence and optionally structure (folded when absent)",
        "compressed array file (.npz) with ids (str) and images (N x 25 x 100 x 3, uint8)",
    )
    _add_fold_options(p, "folding processes if folding")

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
        "output table (TSV): id, sequence, structure, mfe, probability, prediction, status",
    )
    _add_classify_options(p)

    p = sub.add_parser(
        "check-config",
        help="Check workflow config files as the workflow does when it starts.",
        description="Check workflow config files as the workflow does when it starts: YAML syntax "
        "(with the line), the schema's types and bounds, the split shares and the species. Later "
        "files override earlier ones, as with `snakemake --configfile`.",
    )
    p.add_argument("files", metavar="FILE", nargs="+",
                   help="config file(s), such as config/config.yaml and a file of overrides")
    p.set_defaults(func=_check_config)
    return parser


#: What each command writes, for the temporary file behind `-` as OUT.
OUTPUT_SUFFIX = {"fold": ".tsv", "encode": ".npz", "decode": ".tsv", "classify": ".tsv"}
STDIN = "stdin"


@contextmanager
def _standard_streams(args: argparse.Namespace) -> Iterator[Path | None]:
    """`-` as IN or OUT: standard input copied to a temporary file, which the package's readers
    then read (they detect the format from the content); the output written to a temporary file
    and copied to standard output only when the command succeeded, so a failure writes nothing
    there. Yields the temporary folder (None when neither is `-`)."""
    if getattr(args, "input", None) != "-" and getattr(args, "output", None) != "-":
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="premirna-") as tmp:
        folder = Path(tmp)
        if args.input == "-":
            args.input = str(folder / STDIN)
            Path(args.input).write_bytes(sys.stdin.buffer.read())
        to_stdout = args.output == "-"
        if to_stdout:
            args.output = str(folder / f"stdout{OUTPUT_SUFFIX[args.command]}")
        yield folder
        if to_stdout:
            sys.stdout.flush()
            sys.stdout.buffer.write(Path(args.output).read_bytes())
            sys.stdout.buffer.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the exit status (0 ok, 2 bad input, options or failed download)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "min_length", None) and getattr(args, "max_length", None) and (
        args.min_length > args.max_length
    ):
        parser.error(f"--min-length {args.min_length} is above --max-length {args.max_length}")
    setup_logging(level=logging.INFO if args.verbose else logging.WARNING)
    folder: Path | None = None
    try:
        with _standard_streams(args) as folder:
            args.func(args)
    except (InputError, DownloadError) as err:
        print(f"premirna {args.command}: error: {_named(str(err), folder)}", file=sys.stderr)
        return 2
    except OSError as err:  # the disk filled up, a folder vanished ... while working
        where = f"{err.filename}: " if err.filename else ""
        print(f"premirna {args.command}: error: {_named(where, folder)}{err.strerror or err}",
              file=sys.stderr)
        return 2
    return 0


def _named(message: str, folder: Path | None) -> str:
    """The message with the temporary files behind `-` named as the user gave them."""
    if folder is None:
        return message
    message = message.replace(str(folder / STDIN), "<stdin>")
    for suffix in set(OUTPUT_SUFFIX.values()):
        message = message.replace(str(folder / f"stdout{suffix}"), "<stdout>")
    return message
