"""``tair-ocr weights convert``: the converter's sub-command of the runtime's ``weights``.

The runtime command (:mod:`tair_ocr.weights_cli`) owns ``check`` and ``info`` and
never imports the workbench. It finds this sub-command through the entry point
``convert = "tair_workbench.conversion.cli:CONVERT"`` in the group
:data:`tair_ocr.weights_cli.COMMANDS_ENTRY_POINT_GROUP` (``pyproject.toml``).
Importing this module is cheap: the converter (torch) loads when the command runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from tair_ocr.errors import ExitCode, UsageError
from tair_ocr.models.weights_location import WEIGHTS_ENV, default_output_dir
from tair_ocr.weights_cli import format_size

__all__ = ["CONVERT", "ConvertCommand"]


class ConvertCommand:
    """Convert the published checkpoints into a weights folder."""

    help = "convert the published checkpoints"
    description = (
        "Convert the published checkpoints into a weights folder. Files are read "
        "memory-mapped with torch.load(weights_only=True); every key is mapped onto the "
        "model and shape-checked; the stage-3 file overrides the base files, as in the "
        "published loading order. The folder is written beside DIR and renamed into place."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--terediff", required=True, type=Path, metavar="FILE", help="terediff_stage3.pt"
        )
        parser.add_argument(
            "--sd", type=Path, metavar="FILE", help="sd2.1-base-zsnr-laionaes5.ckpt (optional)"
        )
        parser.add_argument(
            "--diffbir", type=Path, metavar="FILE", help="DiffBIR_v2.1.pt (optional)"
        )
        parser.add_argument(
            "--swinir", type=Path, metavar="FILE", help="realesrgan_s4_swinir_100k.pth (optional)"
        )
        parser.add_argument(
            "--tokenizer",
            type=Path,
            metavar="PATH",
            help="OpenCLIP's bpe_simple_vocab_16e6.txt.gz, or a folder with vocab.json and "
            "merges.txt (default: the installed open_clip package's file)",
        )
        parser.add_argument(
            "-o",
            "--output",
            type=Path,
            metavar="DIR",
            help=f"weights folder to write (default: ${WEIGHTS_ENV} if set, else "
            "~/.cache/tair-ocr/terediff: where the restorer looks)",
        )
        parser.add_argument(
            "--dtype",
            choices=("fp32", "fp16", "bf16"),
            default="fp32",
            help="dtype of the stored weights (default: %(default)s; the restorer casts on load)",
        )
        parser.add_argument(
            "--allow-missing",
            action="store_true",
            help="write our default initialisation for parameters no file fills (listed) "
            "instead of failing",
        )
        parser.add_argument(
            "--allow-unused",
            action="store_true",
            help="drop published keys that have no place in the model (listed) instead of failing",
        )
        parser.add_argument(
            "--unsafe-pickle",
            action="store_true",
            help="allow full unpickling of files that hold more than tensors: this runs code "
            "from the file, use it only for files you trust",
        )
        parser.add_argument(
            "--config",
            type=Path,
            metavar="JSON",
            help="component configurations replacing the published ones (a JSON object: "
            "component name -> config); for derived or test models",
        )
        parser.add_argument(
            "-f", "--force", action="store_true", help="replace an existing weights folder"
        )
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")

    def run(self, args: argparse.Namespace) -> int:
        from tair_workbench.conversion.convert import convert_checkpoints

        _setup_logging()

        sources = {
            role: getattr(args, role)
            for role in ("sd", "diffbir", "swinir", "terediff")
            if getattr(args, role) is not None
        }
        output = args.output if args.output is not None else default_output_dir()

        def progress(line: str) -> None:
            if not args.quiet:
                print(f"tair-ocr: {line}", file=sys.stderr)

        report = convert_checkpoints(
            sources,
            output,
            tokenizer=args.tokenizer,
            configs=_read_config(args.config),
            dtype=args.dtype,
            allow_missing=args.allow_missing,
            allow_unused=args.allow_unused,
            unsafe_pickle=args.unsafe_pickle,
            force=args.force,
            progress=progress,
        )
        if args.json:
            print(json.dumps(report.to_json(), indent=2))
            return ExitCode.OK
        _print_report(report)
        return ExitCode.OK


#: The object the ``convert`` entry point names.
CONVERT = ConvertCommand()


def _setup_logging() -> None:
    """The converter's warnings (``tair_workbench.*`` loggers) as the runtime prints its own."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("tair-ocr: %(levelname)s: %(message)s"))
    root = logging.getLogger("tair_workbench")
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    root.propagate = False


def _read_config(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"--config {path}: cannot read JSON: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise UsageError(f"--config {path}: expected an object of component configurations")
    return data


def _print_report(report: Any) -> None:
    print(f"converted into {report.output} ({report.dtype})")
    for name, row in report.components.items():
        print(
            f"  {name:<13} {row['tensors']:>5} tensors {row['elements']:>14,} values "
            f"{format_size(row['bytes']):>11}"
        )
    for role, count in report.superseded.items():
        print(f"  {count} tensors of the {role} file were overridden by a later file")
    if report.dropped:
        print(f"  {len(report.dropped)} published tensors not used by the model (dropped):")
        for key in report.dropped:
            print(f"    {key}")
    if report.ignored:
        print(f"  {len(report.ignored)} schedule buffers ignored (the scheduler computes them)")
    for component, keys in report.recomputed.items():
        print(f"  {component}: {len(keys)} buffers computed by the model (not in the files)")
    if report.unused:
        print(f"  {len(report.unused)} published keys without a place (--allow-unused):")
        for key in report.unused:
            print(f"    {key}")
    for component, keys in report.unfilled.items():
        print(
            f"  {component}: {len(keys)} parameters NOT converted, default init (--allow-missing):"
        )
        for key in keys:
            print(f"    {key}")
    print(f"use it with: tair-ocr INPUT --restorer terediff --weights {report.output}")
