"""Command line of the word-confidence calibration.

python -m tair_ocr.calibration fit --engines tesseract,rapidocr --pages-per-kind 3 \\
    --out tair_ocr/calibration/data --restorer cleaner --jobs 2
python -m tair_ocr.calibration show [ENGINE ...]
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    from tair_ocr.calibration.fit import (
        DEFAULT_LENGTH_CLASSES,
        MIN_BLOCK_WORDS,
        MIN_CLASS_WORDS,
    )

    parser = argparse.ArgumentParser(
        prog="python -m tair_ocr.calibration",
        description="Fit or show the per-engine word-confidence calibrations.",
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
    fit.add_argument("--out", default=str(Path(__file__).parent / "data"), help="output folder")
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
    show = commands.add_parser("show", help="summarise the shipped calibrations")
    show.add_argument("engines", nargs="*", default=["tesseract", "rapidocr"])
    return parser


def _show(engines: Sequence[str]) -> int:
    from tair_ocr.calibration import CONDITIONS, load_calibration

    for engine in engines:
        for condition in CONDITIONS:
            c = load_calibration(engine, condition)
            if c is None:
                print(f"{engine}: no calibration shipped")
                break
            if c.condition != condition:
                print(f"{engine} {condition}: uses the {c.condition} calibration")
                continue
            h = c.stats.get("held_out", {})
            points = ", ".join(f"{r:.2f}->{c.probability(r, 'word'):.2f}" for r in (0.3, 0.6, 0.9))
            print(
                f"{engine} {condition}: {c.words} words, accuracy {c.accuracy:.3f}, held-out "
                f"Brier {h.get('brier_raw')} -> {h.get('brier_calibrated')}, ECE "
                f"{h.get('ece_raw')} -> {h.get('ece_calibrated')}; {points}"
            )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.command == "show":
        return _show(args.engines)
    from tair_ocr.calibration.fit import main_fit

    return main_fit(args, shlex.join(argv))


if __name__ == "__main__":
    raise SystemExit(main())
