"""Command line of the word-confidence calibration fitting.

python -m tair_workbench.calibration fit --engines tesseract,rapidocr --pages-per-kind 3 \\
    --out tair_ocr/calibration/data --restorer cleaner --jobs 2

(``python -m tair_ocr.calibration show`` summarises the shipped calibrations.)
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence


def _default_out() -> str:
    """The runtime's data folder, where the shipped calibrations live."""
    from tair_ocr.calibration import data_path

    path = data_path("tesseract")
    assert path is not None
    return str(path.parent)


def _parser() -> argparse.ArgumentParser:
    from tair_workbench.calibration.fit import (
        DEFAULT_LENGTH_CLASSES,
        MIN_BLOCK_WORDS,
        MIN_CLASS_WORDS,
    )

    parser = argparse.ArgumentParser(
        prog="python -m tair_workbench.calibration",
        description="Fit the per-engine word-confidence calibrations.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser(
        "fit",
        help="read synthetic pages with each engine and fit its calibration",
        description="Read synthetic pages of every degradation kind with each engine "
        "(and, with --restorer, the restored pages), label the words against the ground "
        "truth, fit isotonic maps and write <out>/<engine>.json.",
    )
    fit.add_argument("--engines", default="tesseract,rapidocr", help="comma-separated engines")
    fit.add_argument("--pages-per-kind", type=int, default=2, help="pages per degradation kind")
    fit.add_argument(
        "--out",
        default=_default_out(),
        help="output folder (default: the runtime's tair_ocr/calibration/data)",
    )
    fit.add_argument(
        "--restorer", default=None, help="also fit the 'restored' condition with this restorer"
    )
    fit.add_argument("--jobs", type=int, default=1, help="pages read side by side")
    fit.add_argument("--kinds", default=None, help="comma-separated kinds (default: all)")
    fit.add_argument(
        "--length-classes",
        default=",".join(DEFAULT_LENGTH_CLASSES),
        help="word-length classes tried for maps of their own (e.g. 1-2,3+)",
    )
    fit.add_argument("--min-class-words", type=int, default=MIN_CLASS_WORDS)
    fit.add_argument("--min-block-words", type=int, default=MIN_BLOCK_WORDS)
    fit.add_argument("--save-readings", default=None, help="also save the labelled words (JSONL)")
    fit.add_argument(
        "--from-readings", default=None, help="refit from a --save-readings file, reading nothing"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    from tair_workbench.calibration.fit import main_fit

    return main_fit(args, shlex.join(argv))


if __name__ == "__main__":
    raise SystemExit(main())
