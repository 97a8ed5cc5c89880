"""Command line of the shipped word-confidence calibrations (runtime side).

python -m tair_ocr.calibration show [ENGINE ...]

Fitting new calibrations is workbench work:
``python -m tair_workbench.calibration fit ...`` (see :mod:`tair_ocr.calibration`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tair_ocr.calibration",
        description="Show the shipped per-engine word-confidence calibrations. To fit "
        "them, use the workbench: python -m tair_workbench.calibration fit.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("show", help="summarise the shipped calibrations")
    show.add_argument("engines", nargs="*", default=["tesseract", "rapidocr"])
    show.add_argument(
        "--restorer",
        help="the restored conditions fitted on this restorer's output "
        "(default: those the data file was fitted on first)",
    )
    return parser


def show(engines: Sequence[str], restorer: str | None = None) -> int:
    """Print one line per engine and condition: words, accuracy, held-out scores
    (restored conditions: ``restorer``'s)."""
    from tair_ocr.calibration import CONDITIONS, load_calibration

    for engine in engines:
        for condition in CONDITIONS:
            c = load_calibration(engine, condition, restorer)
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
                + (
                    f"; poor pages (median raw < {c.poor_pages[0]:g}): "
                    + ", ".join(f"{r:.2f}->{c.poor_pages[1](r):.2f}" for r in (0.3, 0.6, 0.9))
                    if c.poor_pages is not None
                    else ""
                )
            )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "fit":
        print(
            "python -m tair_ocr.calibration: fitting moved to the workbench: "
            "python -m tair_workbench.calibration fit ...",
            file=sys.stderr,
        )
        return 2
    args = _parser().parse_args(argv)
    return show(args.engines, args.restorer)


if __name__ == "__main__":
    raise SystemExit(main())
