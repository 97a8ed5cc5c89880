"""The ``tair-ocr weights`` command: check and locate the TeReDiff weights; convert them.

    tair-ocr weights check [DIR] [--json]
    tair-ocr weights info [--weights DIR] [--json]
    tair-ocr weights convert --terediff terediff_stage3.pt [--sd FILE] [--diffbir FILE]
                             [--swinir FILE] [--tokenizer PATH] [-o DIR]
                             [--dtype fp32|fp16|bf16] [--allow-missing] [--allow-unused]
                             [--unsafe-pickle] [--force] [--json]

``check`` and ``info`` are runtime commands (loading-side code). Other sub-commands
come from installed packages through the entry-point group
:data:`COMMANDS_ENTRY_POINT_GROUP` (``tair_ocr.weights_commands``): each entry point
is named after its sub-command and names an object with ``help``, ``description``,
``add_arguments(parser)`` and ``run(args) -> int`` (:class:`WeightsCommand`). The
checkpoint converter (``convert``) is registered this way by the workbench
(``tair_workbench.conversion.cli``), so the runtime never imports conversion code.
These entry points are found whatever ``TAIR_OCR_DISABLE_PLUGIN_AUTOLOAD`` says: that
switch governs the components of an OCR run, not this maintenance command.

Exit codes are :class:`tair_ocr.errors.ExitCode`: 0 ok, 2 bad arguments, 3 a
checkpoint that cannot be converted (missing, damaged, wrong kind, shapes, keys
without a home or unfilled), 4 no weights / an incomplete weights folder / no
tokenizer / a sub-command whose package cannot be loaded, 5 the output cannot be
written.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from tair_ocr.errors import ExitCode, MissingDependencyError, TairOcrError, WeightsNotFoundError
from tair_ocr.models.weights_location import WEIGHTS_ENV, find_weights, weights_in

__all__ = [
    "COMMANDS_ENTRY_POINT_GROUP",
    "WeightsCommand",
    "build_parser",
    "format_size",
    "weights_command",
]

#: Entry-point group of extra ``tair-ocr weights`` sub-commands (``convert``).
COMMANDS_ENTRY_POINT_GROUP = "tair_ocr.weights_commands"
#: Sub-commands of the runtime itself; an entry point may not replace them.
BUILTIN_COMMANDS = ("check", "info")


@runtime_checkable
class WeightsCommand(Protocol):
    """A ``tair-ocr weights`` sub-command that an installed package provides."""

    help: str
    description: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add the sub-command's options to its parser."""

    def run(self, args: argparse.Namespace) -> int:
        """Run it; return an :class:`~tair_ocr.errors.ExitCode` (raise TairOcrError on errors)."""


class _Unavailable:
    """Stands in for a sub-command whose entry point cannot be loaded."""

    def __init__(self, name: str, target: str, error: str) -> None:
        self.help = f"(cannot be loaded: {error})"
        self.description = f"{target} cannot be loaded: {error}"
        self._message = f"`tair-ocr weights {name}` cannot be loaded ({target}): {error}"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        pass

    def run(self, args: argparse.Namespace | None = None) -> int:
        raise MissingDependencyError(
            self._message, hint="install tair-ocr with the extra it needs, e.g. '.[terediff]'"
        )


def _error(message: str) -> None:
    print(f"tair-ocr: error: {message}", file=sys.stderr)


def format_size(n: int) -> str:
    """Bytes in binary units."""
    if n < 1024:
        return f"{n} B"
    value, unit = n / 1024, "KiB"
    for bigger in ("MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.2f} {unit}"


def installed_commands() -> dict[str, WeightsCommand]:
    """The sub-commands installed packages register (entry-point name -> command).

    An entry point that fails to load, or names something that is not a
    :class:`WeightsCommand`, becomes a command that says so when it is run.
    """
    commands: dict[str, WeightsCommand] = {}
    eps = importlib.metadata.entry_points(group=COMMANDS_ENTRY_POINT_GROUP)
    for ep in sorted(eps, key=lambda e: e.name):
        if ep.name in BUILTIN_COMMANDS or ep.name in commands:
            continue
        try:
            command = ep.load()
        except Exception as exc:  # a broken package must not break `check` and `info`
            commands[ep.name] = _Unavailable(ep.name, ep.value, f"{type(exc).__name__}: {exc}")
            continue
        if not isinstance(command, WeightsCommand):
            command = _Unavailable(ep.name, ep.value, "not a tair-ocr weights command")
        commands[ep.name] = command
    return commands


def build_parser(
    commands: dict[str, WeightsCommand] | None = None,
) -> argparse.ArgumentParser:
    """The parser of ``tair-ocr weights`` with the ``commands`` installed packages add
    (default: :func:`installed_commands`); each sub-parser's ``run`` default is the
    command to run (None for the built-ins)."""
    if commands is None:
        commands = installed_commands()
    parser = argparse.ArgumentParser(
        prog="tair-ocr weights",
        description="Check a TeReDiff weights folder, show where the terediff restorer "
        "looks for weights, or convert the published checkpoints into a weights folder.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name, command in commands.items():
        sub = subparsers.add_parser(name, help=command.help, description=command.description)
        command.add_arguments(sub)
        sub.set_defaults(run=command)

    check = subparsers.add_parser(
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
    check.set_defaults(run=None)

    info = subparsers.add_parser(
        "info",
        help="show where the restorer looks for weights and what it finds",
        description="Show the places searched for TeReDiff weights, in order "
        f"(--weights DIR, ${WEIGHTS_ENV}, the user cache folder), and what each holds.",
    )
    info.add_argument("--weights", type=Path, metavar="DIR", help="as the main command's --weights")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(run=None)
    return parser


def weights_command(argv: Sequence[str]) -> int:
    """Run ``tair-ocr weights ARGV``; return the exit code."""
    argv = list(argv)
    # `check` and `info` are the runtime's own: they load no other package's command.
    commands = {} if argv and argv[0] in BUILTIN_COMMANDS else installed_commands()
    if argv and argv[0] == "convert" and "convert" not in commands:
        _error(
            "`tair-ocr weights convert` is not installed: it is the workbench's checkpoint "
            f"converter, registered in the {COMMANDS_ENTRY_POINT_GROUP!r} entry-point group "
            "(reinstall tair-ocr: pip install -e '.[terediff]')"
        )
        return ExitCode.MISSING_DEPENDENCY
    _setup_logging()
    try:
        unavailable = commands.get(argv[0]) if argv else None
        if isinstance(unavailable, _Unavailable):  # its options are unknown: do not parse
            return unavailable.run()
        args = build_parser(commands).parse_args(argv)
        if args.run is not None:
            return int(args.run.run(args))
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


def _check(args: argparse.Namespace) -> int:
    from tair_ocr.models.weights_check import check_weights_folder

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
                    f"tensors {c.elements:>14,} values {format_size(c.bytes):>11}"
                )
            for problem in c.problems:
                print(f"    {problem}")
        for problem in result.problems:
            print(f"  {problem}")
        print(f"  total {format_size(result.bytes)}, dtype {','.join(result.dtypes) or '-'}")
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
