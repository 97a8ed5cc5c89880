"""The ``tair-ocr weights`` command: convert, check and locate the TeReDiff weights.

    tair-ocr weights convert --terediff terediff_stage3.pt [--sd FILE] [--diffbir FILE]
                             [--swinir FILE] [--tokenizer PATH] [-o DIR]
                             [--dtype fp32|fp16|bf16] [--allow-missing] [--allow-unused]
                             [--unsafe-pickle] [--force] [--json]
    tair-ocr weights check [DIR] [--json]
    tair-ocr weights info [--weights DIR] [--json]

Exit codes are :class:`tair_ocr.errors.ExitCode`: 0 ok, 2 bad arguments, 3 a
checkpoint that cannot be converted (missing, damaged, wrong kind, shapes, keys
without a home or unfilled), 4 no weights / an incomplete weights folder / no
tokenizer, 5 the output cannot be written.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tair_ocr.errors import ExitCode, TairOcrError, UsageError, WeightsNotFoundError
from tair_ocr.models.weights_location import (
    WEIGHTS_ENV,
    default_output_dir,
    find_weights,
    weights_in,
)

__all__ = ["build_parser", "weights_command"]


def _error(message: str) -> None:
    print(f"tair-ocr: error: {message}", file=sys.stderr)


def _size(n: int) -> str:
    """Bytes in binary units."""
    if n < 1024:
        return f"{n} B"
    value, unit = n / 1024, "KiB"
    for bigger in ("MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.2f} {unit}"


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``tair-ocr weights``."""
    parser = argparse.ArgumentParser(
        prog="tair-ocr weights",
        description="Convert the published TeReDiff checkpoints into tair-ocr's weights "
        "folder, check a folder, or show where the terediff restorer looks for weights.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    convert = commands.add_parser(
        "convert",
        help="convert the published checkpoints",
        description="Convert the published checkpoints into a weights folder. Files are read "
        "memory-mapped with torch.load(weights_only=True); every key is mapped onto the "
        "model and shape-checked; the stage-3 file overrides the base files, as in the "
        "published loading order. The folder is written beside DIR and renamed into place.",
    )
    convert.add_argument(
        "--terediff", required=True, type=Path, metavar="FILE", help="terediff_stage3.pt"
    )
    convert.add_argument(
        "--sd", type=Path, metavar="FILE", help="sd2.1-base-zsnr-laionaes5.ckpt (optional)"
    )
    convert.add_argument("--diffbir", type=Path, metavar="FILE", help="DiffBIR_v2.1.pt (optional)")
    convert.add_argument(
        "--swinir", type=Path, metavar="FILE", help="realesrgan_s4_swinir_100k.pth (optional)"
    )
    convert.add_argument(
        "--tokenizer",
        type=Path,
        metavar="PATH",
        help="OpenCLIP's bpe_simple_vocab_16e6.txt.gz, or a folder with vocab.json and "
        "merges.txt (default: the installed open_clip package's file)",
    )
    convert.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="DIR",
        help=f"weights folder to write (default: ${WEIGHTS_ENV} if set, else "
        "~/.cache/tair-ocr/terediff: where the restorer looks)",
    )
    convert.add_argument(
        "--dtype",
        choices=("fp32", "fp16", "bf16"),
        default="fp32",
        help="dtype of the stored weights (default: %(default)s; the restorer casts on load)",
    )
    convert.add_argument(
        "--allow-missing",
        action="store_true",
        help="write our default initialisation for parameters no file fills (listed) "
        "instead of failing",
    )
    convert.add_argument(
        "--allow-unused",
        action="store_true",
        help="drop published keys that have no place in the model (listed) instead of failing",
    )
    convert.add_argument(
        "--unsafe-pickle",
        action="store_true",
        help="allow full unpickling of files that hold more than tensors: this runs code "
        "from the file, use it only for files you trust",
    )
    convert.add_argument(
        "--config",
        type=Path,
        metavar="JSON",
        help="component configurations replacing the published ones (a JSON object: "
        "component name -> config); for derived or test models",
    )
    convert.add_argument(
        "-f", "--force", action="store_true", help="replace an existing weights folder"
    )
    convert.add_argument("--json", action="store_true", help="print the report as JSON")
    convert.add_argument("-q", "--quiet", action="store_true", help="no progress lines")

    check = commands.add_parser(
        "check",
        help="check that a weights folder is complete and consistent",
        description="Check a weights folder without loading it: every component's config "
        "and safetensors header against the model, the tokenizer and scheduler, and that "
        "the components fit each other. Prints dtype and size per component.",
    )
    check.add_argument(
        "folder",
        nargs="?",
        type=Path,
        metavar="DIR",
        help="weights folder (default: where the restorer looks; see `tair-ocr weights info`)",
    )
    check.add_argument("--json", action="store_true", help="print JSON")

    info = commands.add_parser(
        "info",
        help="show where the restorer looks for weights and what it finds",
        description="Show the places searched for TeReDiff weights, in order "
        f"(--weights DIR, ${WEIGHTS_ENV}, the user cache folder), and what each holds.",
    )
    info.add_argument("--weights", type=Path, metavar="DIR", help="as the main command's --weights")
    info.add_argument("--json", action="store_true", help="print JSON")
    return parser


def weights_command(argv: Sequence[str]) -> int:
    """Run ``tair-ocr weights ARGV``; return the exit code."""
    args = build_parser().parse_args(list(argv))
    _setup_logging()
    try:
        if args.command == "convert":
            return _convert(args)
        if args.command == "check":
            return _check(args)
        return _info(args)
    except TairOcrError as exc:
        _error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        _error("interrupted")
        return ExitCode.INTERRUPTED
    except Exception as exc:  # a bug: say so in one line, not a traceback
        _error(f"internal error: {type(exc).__name__}: {exc} (please report this bug)")
        return ExitCode.INTERNAL_ERROR


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("tair-ocr: %(levelname)s: %(message)s"))
    root = logging.getLogger("tair_ocr")
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


def _convert(args: argparse.Namespace) -> int:
    from tair_ocr.models.convert import convert_checkpoints

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
    print(f"converted into {report.output} ({report.dtype})")
    for name, row in report.components.items():
        print(
            f"  {name:<13} {row['tensors']:>5} tensors {row['elements']:>14,} values "
            f"{_size(row['bytes']):>11}"
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
    return ExitCode.OK


def _check(args: argparse.Namespace) -> int:
    from tair_ocr.models.convert import check_weights_folder

    if args.folder is not None:
        folder = weights_in(args.folder.expanduser()) or args.folder.expanduser()
    else:
        lookup = find_weights()
        if lookup.found is None:
            raise WeightsNotFoundError(
                "no weights folder found in " + ", ".join(str(p) for p in lookup.searched),
                hint="pass DIR, or see `tair-ocr weights info`",
            )
        folder = lookup.found
    result = check_weights_folder(folder)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(f"{result.folder}: {'complete' if result.ok else 'NOT USABLE'}")
        for c in result.components:
            state = "ok" if c.ok else "PROBLEM"
            if c.name in ("tokenizer", "scheduler"):
                print(f"  {c.name:<13} {state:<8}")
            else:
                print(
                    f"  {c.name:<13} {state:<8} {','.join(c.dtypes) or '-':<6} {c.tensors:>5} "
                    f"tensors {c.elements:>14,} values {_size(c.bytes):>11}"
                )
            for problem in c.problems:
                print(f"    {problem}")
        for problem in result.problems:
            print(f"  {problem}")
        print(f"  total {_size(result.bytes)}, dtype {','.join(result.dtypes) or '-'}")
        conversion = result.conversion or {}
        for component, keys in (conversion.get("unfilled") or {}).items():
            print(f"  note: {component}: {len(keys)} parameters were not converted (default init)")
    if not result.ok:
        problems = result.problems + [p for c in result.components for p in c.problems]
        raise WeightsNotFoundError(
            f"{result.folder} is not a usable weights folder: {problems[0]}"
            + (f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""),
            hint="re-create it with `tair-ocr weights convert`",
        )
    return ExitCode.OK


def _info(args: argparse.Namespace) -> int:
    import os

    lookup = find_weights(args.weights)
    rows = []
    for location in lookup.locations:
        found = weights_in(location.path)
        if found is not None:
            state = f"weights found: {found}"
        elif location.path.exists():
            state = "exists, no model_index.json"
        else:
            state = "does not exist"
        rows.append({"source": location.source, "path": str(location.path), "state": state})
    data: dict[str, Any] = {
        "searched": rows,
        "environment_variable": WEIGHTS_ENV,
        "environment_value": os.environ.get(WEIGHTS_ENV),
        "found": str(lookup.found) if lookup.found else None,
    }
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print("TeReDiff weights are looked for in (first match wins):")
        for i, row in enumerate(rows, 1):
            print(f"  {i}. {row['source']:<18} {row['path']}\n       {row['state']}")
        if args.weights is None and not os.environ.get(WEIGHTS_ENV):
            print(f"  (${WEIGHTS_ENV} is not set)")
        if lookup.found:
            print(f"the terediff restorer uses: {lookup.found}")
            print(f"check it with: tair-ocr weights check {lookup.found}")
        else:
            print("no weights found: convert them with `tair-ocr weights convert --terediff FILE`")
    return ExitCode.OK if lookup.found else ExitCode.MISSING_DEPENDENCY
