"""The ``tair-ocr`` command.

    tair-ocr INPUT... [-o DIR] [--engine NAME] [--restorer NAME] [--output-type pdf,txt,...]
    tair-ocr plugins [--json]
    tair-ocr weights convert|check|info ...   (see tair_ocr.weights_cli)

Exit codes are :class:`tair_ocr.errors.ExitCode`; with several inputs the most
severe outcome wins (see ``_SEVERITY``), and every input is attempted.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tair_ocr._version import __version__
from tair_ocr.components import checked_availability
from tair_ocr.errors import ExitCode, TairOcrError
from tair_ocr.outputs import plan_outputs
from tair_ocr.plugins import PluginManager
from tair_ocr.progress import default_progress
from tair_ocr.settings import FUSION_MODES, RESTORE_MODES, Settings

log = logging.getLogger("tair_ocr")

#: When inputs end differently, the exit code is the first of these that occurred.
_SEVERITY = (
    ExitCode.INTERRUPTED,
    ExitCode.INTERNAL_ERROR,
    ExitCode.PLUGIN_ERROR,
    ExitCode.MISSING_DEPENDENCY,
    ExitCode.OUTPUT_ERROR,
    ExitCode.INPUT_ERROR,
    ExitCode.PAGES_FAILED,
    ExitCode.OK,
)

_EPILOG = """\
outputs (-o DIR, default: current directory), named after each input's stem:
  pdf   <stem>.ocr.pdf   searchable PDF: the original pages with an invisible text layer
  txt   <stem>.txt       plain text, pages separated by form feeds
  hocr  <stem>.hocr      hOCR 1.2 with word boxes and confidences (x_wconf)
  alto  <stem>.alto.xml  ALTO v4 with word confidences (WC)
  json  <stem>.json      the full result: words, boxes, confidences, provenance, timings

exit codes:
  0 ok   1 internal error   2 bad arguments   3 input error   4 missing dependency
  5 output error   6 some pages failed (outputs written)   7 plugin error   130 interrupted

other commands:
  tair-ocr plugins [--json]   list installed plugins, engines, restorers, writers
  tair-ocr weights convert|check|info
                              convert the published TeReDiff checkpoints, check a
                              weights folder, show where weights are looked for

examples:
  tair-ocr scan.pdf --engine tesseract
  tair-ocr scan.pdf --engine tesseract,rapidocr --restorer auto --fusion vote
  tair-ocr photo.jpg -o out --output-type pdf,txt,json --lang eng+deu
  tair-ocr book.pdf --pages 1-10 --restorer auto -j 2
"""


def _base_parser() -> argparse.ArgumentParser:
    """Options needed before plugins are loaded (they decide which plugins load)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE|FILE.py")
    parser.add_argument("--no-plugin-autoload", action="store_true")
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    return parser


def _default(name: str) -> Any:
    """The default of setting ``name``: written once, in :class:`Settings`."""
    return Settings.model_fields[name].get_default(call_default_factory=True)


def build_parser(plugins: PluginManager) -> argparse.ArgumentParser:
    """The ``tair-ocr`` parser: the core options, then one group per plugin option
    model (``--<namespace>-<field>``, generated from the models), then the flags
    plugins add themselves with the ``add_options`` hook."""
    parser = argparse.ArgumentParser(
        prog="tair-ocr",
        description=(
            "OCR for scans and photos of documents: restore degraded text tile by tile "
            "(text-aware restorers), read it with an OCR engine, and write a searchable "
            "PDF, text, hOCR, ALTO or JSON."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        type=Path,
        metavar="INPUT",
        help="PDF or image files (PNG, JPEG, TIFF incl. multi-page)",
    )
    parser.add_argument(
        "-o",
        "--output-dir",
        type=Path,
        default=_default("output_dir"),
        metavar="DIR",
        help="folder for the outputs (default: current directory)",
    )
    parser.add_argument(
        "-t",
        "--output-type",
        default=",".join(_default("output_types")),
        metavar="TYPES",
        help=f"comma-separated outputs: {','.join(plugins.writers.names())} (default: %(default)s)",
    )
    parser.add_argument(
        "-e",
        "--engine",
        default=_default("engine"),
        metavar="NAME[,NAME]",
        help=f"OCR engine: {', '.join(plugins.engines.names())}; a comma list runs "
        "several and fuses their readings (default: auto, every engine usable here)",
    )
    parser.add_argument(
        "--fusion",
        choices=FUSION_MODES,
        default=_default("fusion"),
        help="how the readings (the page as loaded, restored regions, every engine, the "
        "restorer's spotter) are combined, by calibrated confidence: off (the first "
        "engine's reading; restored regions replace it unguarded), conservative (the most "
        "likely reading per word; a restored reading replaces the original only when it is "
        "more likely), vote (also character-level voting) (default: %(default)s)",
    )
    parser.add_argument(
        "--restore",
        choices=RESTORE_MODES,
        default=_default("restore"),
        help="when the restorer runs: auto (read the page first, restore and re-read only "
        "the regions whose reading is unsure), always (restore the whole page and read it "
        "again), never (read the page as loaded) (default: %(default)s)",
    )
    parser.add_argument(
        "-r",
        "--restorer",
        default=_default("restorer"),
        metavar="NAME",
        help="restoration before OCR: auto (the best one usable here: terediff with "
        "weights on a GPU, else the CPU cleaner, else classical), "
        f"{', '.join(plugins.restorers.names())} (default: %(default)s)",
    )
    parser.add_argument(
        "-l",
        "--lang",
        default="+".join(_default("languages")),
        metavar="LANGS",
        help="OCR languages joined by '+', e.g. eng+deu (default: %(default)s)",
    )
    parser.add_argument(
        "-p",
        "--pages",
        metavar="RANGES",
        help="pages to process, 1-based, e.g. 1-3,7,10- (default: all)",
    )
    parser.add_argument(
        "--dpi",
        type=float,
        default=_default("dpi"),
        help="resolution PDF pages are rasterised at (default: %(default)s)",
    )
    parser.add_argument(
        "--scale",
        default="auto",
        metavar="auto|N",
        help="working scale for restoration: auto (upscale small text) or a "
        "factor (default: auto; only used when a restorer runs)",
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=_default("jobs"),
        help="pages OCRed in parallel (default: number of CPUs)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=_default("timeout"),
        metavar="SECONDS",
        help="OCR time limit per page; a page over it fails (default: %(default)s)",
    )
    parser.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="NAME",
        help="run an extra page filter (repeatable)",
    )
    parser.add_argument(
        "--save-restored", action="store_true", help="also write the restored page images as PNG"
    )
    parser.add_argument("-f", "--force", action="store_true", help="overwrite existing outputs")
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE|FILE.py",
        help="load a plugin module or file (repeatable)",
    )
    parser.add_argument(
        "--no-plugin-autoload",
        action="store_true",
        help="do not load plugins of installed packages (entry points)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar, only errors")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more logging (-vv for debug); tracebacks on errors",
    )
    parser.add_argument("--version", action="version", version=f"tair-ocr {__version__}")
    plugins.option_models.add_arguments(parser)
    plugins.add_options(parser)  # the untyped escape hatch
    return parser


def _setup_logging(quiet: bool, verbose: int) -> None:
    level = logging.ERROR if quiet else logging.WARNING
    if verbose == 1:
        level = logging.INFO
    elif verbose >= 2:
        level = logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("tair-ocr: %(levelname)s: %(message)s"))
    root = logging.getLogger("tair_ocr")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _error(message: str) -> None:
    print(f"tair-ocr: error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "plugins" and not Path("plugins").is_file():
        return _plugins_command(argv[1:])
    if argv and argv[0] == "weights" and not Path("weights").is_file():
        from tair_ocr.weights_cli import weights_command

        return weights_command(argv[1:])
    try:
        return _run(argv)
    except KeyboardInterrupt:
        _error("interrupted")
        return ExitCode.INTERRUPTED


def _run(argv: list[str]) -> int:
    early, _ = _base_parser().parse_known_args(argv)
    _setup_logging(early.quiet, early.verbose)
    try:
        plugins = PluginManager(plugins=early.plugin, autoload=not early.no_plugin_autoload)
        parser = build_parser(plugins)  # a plugin's broken option model fails here
    except TairOcrError as exc:
        _error(str(exc))
        return exc.exit_code
    args = parser.parse_args(argv)
    # The plugin flags given (their defaults are the models'), and add_options values.
    options = plugins.option_models.values_from(args)
    try:
        scale = None if args.scale == "auto" else float(args.scale)
    except ValueError:
        parser.error(f"--scale must be 'auto' or a number, not {args.scale!r}")

    from tair_ocr.pipeline import Pipeline

    progress = default_progress(args.quiet)
    try:
        pipeline = Pipeline(
            plugin_manager=plugins,
            progress=progress,
            engine=args.engine,
            fusion=args.fusion,
            restore=args.restore,
            restorer=args.restorer,
            output_types=args.output_type,
            languages=args.lang,
            dpi=args.dpi,
            pages=args.pages,
            scale=scale,
            jobs=args.jobs,
            timeout=args.timeout,
            filters=args.filter,
            output_dir=args.output_dir,
            force=args.force,
            save_restored=args.save_restored,
            options=options,
        )
    except TairOcrError as exc:
        progress.close()
        _report(exc, args.verbose)
        return exc.exit_code

    try:
        # Refuse inputs that would write the same outputs before any work starts
        # (existing outputs are checked per input, so the others still run). The
        # plan is made once: each input's run writes where it says.
        plan = plan_outputs(args.inputs, args.output_dir, pipeline.writers, force=True)
    except TairOcrError as exc:
        progress.close()
        _report(exc, args.verbose)
        return exc.exit_code

    outcomes: list[ExitCode] = []
    try:
        for source in args.inputs:
            outcomes.append(_run_one(pipeline, source, args, plan[source]))
    except KeyboardInterrupt:
        outcomes.append(ExitCode.INTERRUPTED)
        _error("interrupted; outputs of unfinished inputs were not written")
    finally:
        progress.close()
    return next(code for code in _SEVERITY if code in outcomes or code == ExitCode.OK)


def _run_one(
    pipeline: Any, source: Path, args: argparse.Namespace, outputs: dict[str, Path]
) -> ExitCode:
    try:
        result = pipeline.run(source, outputs=outputs)
    except TairOcrError as exc:
        _report(exc, args.verbose, source)
        return exc.exit_code
    except Exception as exc:  # a bug: say so, keep going with the other inputs
        _report(exc, args.verbose, source)
        return ExitCode.INTERNAL_ERROR
    failed = result.failed_pages
    for page in failed:
        _error(f"{source}: page {page.page_number}: {page.error.message}")  # type: ignore[union-attr]
    if not args.quiet:
        words = sum(1 for p in result.pages for _ in p.words())
        print(
            f"{source}: {len(result.pages)} page(s), {words} words"
            + (f", {len(failed)} failed" if failed else "")
            + f" in {result.timings.get('total', 0.0):.1f}s",
            file=sys.stderr,
        )
    return ExitCode.PAGES_FAILED if failed else ExitCode.OK


def _report(exc: BaseException, verbose: int, source: Path | None = None) -> None:
    prefix = f"{source}: " if source is not None else ""
    if isinstance(exc, TairOcrError):
        message = str(exc)
        # Loader messages usually start with the path already.
        if source is not None and message.startswith(str(source)):
            prefix = ""
        _error(prefix + message)
    else:
        _error(f"{prefix}internal error: {type(exc).__name__}: {exc} (please report this bug)")
    if verbose:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)


# --------------------------------------------------------------------------- plugins


def _plugins_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="tair-ocr plugins",
        description="List installed plugins and the engines, restorers, writers, loaders and "
        "page filters they provide, with whether each can run here and why not.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE|FILE.py")
    parser.add_argument("--no-plugin-autoload", action="store_true")
    args = parser.parse_args(argv)
    _setup_logging(False, 0)
    try:
        plugins = PluginManager(plugins=args.plugin, autoload=not args.no_plugin_autoload)
        report = plugin_report(plugins)
    except TairOcrError as exc:
        _error(str(exc))
        return exc.exit_code
    if args.json:
        print(json.dumps(report, indent=2))
        return ExitCode.OK
    for kind, rows in report["components"].items():
        print(f"{kind}:")
        for row in rows:
            state = "ok" if row["available"] else "unavailable"
            detail = row["reason"] + (f" ({row['hint']})" if row["hint"] else "")
            print(f"  {row['name']:<12} {state:<12} {row['plugin']:<28} {detail}".rstrip())
    print("plugins:")
    for info in report["plugins"]:
        where = (
            "built-in"
            if info["builtin"]
            else f"{info['distribution'] or '?'} {info['version'] or ''}"
        )
        print(f"  {info['name']:<34} {where}")
    for name, error in report["load_errors"]:
        print(f"  {name:<34} FAILED TO LOAD: {error}")
    return ExitCode.OK


def plugin_report(plugins: PluginManager) -> dict[str, Any]:
    """What ``tair-ocr plugins`` prints, as data."""
    registries = {
        "engines": plugins.engines,
        "restorers": plugins.restorers,
        "writers": plugins.writers,
        "loaders": plugins.loaders,
        "page filters": plugins.page_filters,
    }
    components: dict[str, list[dict[str, Any]]] = {}
    for kind, registry in registries.items():
        rows = []
        for component in registry:
            availability = checked_availability(component)
            ok, reason, hint = availability.ok, availability.reason, availability.hint
            rows.append(
                {
                    "name": component.name,
                    "plugin": registry.plugin_of(component.name),
                    "available": ok,
                    "reason": reason or component.description,
                    "hint": hint,
                }
            )
        components[kind] = rows
    return {
        "version": __version__,
        "components": components,
        "plugins": [vars(info) for info in plugins.plugins()],
        "load_errors": plugins.load_errors,
    }


if __name__ == "__main__":
    raise SystemExit(main())
