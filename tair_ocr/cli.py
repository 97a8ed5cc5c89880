"""The ``tair-ocr`` command.

    tair-ocr INPUT... [-o DIR] [--engine NAME] [--restorer NAME] [--output-type pdf,txt,...]
                      [--backend local|ray] [--resume]   (INPUT: files, folders, patterns)
    tair-ocr INPUT OUTPUT.pdf [options]        (OCRmyPDF's form, see _pdf_target)
    tair-ocr plugins [--json]
    tair-ocr weights convert|check|info ...   (see tair_ocr.weights_cli)

Exit codes are :class:`tair_ocr.errors.ExitCode`; with several inputs the most
severe outcome wins (see :data:`tair_ocr.batch.job.SEVERITY`), and every input is
attempted. The inputs are run as a batch job (:mod:`tair_ocr.batch`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tair_ocr._version import __version__
from tair_ocr.batch import (
    BACKENDS,
    LEDGER_NAME,
    DocumentOutcome,
    RayOptions,
    expand_inputs,
    output_suffixes,
    run_job,
    worst,
)
from tair_ocr.components import checked_availability
from tair_ocr.errors import ExitCode, TairOcrError
from tair_ocr.existing_text import EXISTING_TEXT_MODES
from tair_ocr.outputs import named_outputs, plan_outputs
from tair_ocr.plugins import PluginManager
from tair_ocr.progress import default_progress
from tair_ocr.results import DocumentResult
from tair_ocr.settings import FUSION_MODES, RESTORE_MODES, Settings

log = logging.getLogger("tair_ocr")

_EPILOG = """\
outputs (-o DIR, default: current directory), named after each input's stem:
  pdf   <stem>.ocr.pdf   searchable PDF: the original pages with an invisible text layer
  pdfa  <stem>.pdfa.pdf  the searchable PDF as PDF/A-2b (archival; see the README)
  txt   <stem>.txt       plain text, pages separated by form feeds
  hocr  <stem>.hocr      hOCR 1.2 with word boxes and confidences (x_wconf)
  alto  <stem>.alto.xml  ALTO v4 with word confidences (WC)
  json  <stem>.json      the full result: words, boxes, confidences, provenance, timings
When every page of an input fails, none of its outputs is written. A folder INPUT
is every PDF and image file under it (recursively; outputs keep its subfolders), a
quoted pattern ('scans/*.pdf', 'archive/**/*.tif') every file it matches.

batch jobs:
  --resume keeps a ledger in the output folder (.tair-ocr-ledger.jsonl) of the
  documents written; the same command run again (after a crash or Ctrl-C) skips
  those and finishes the rest. --backend ray runs the job on a Ray cluster (pip
  install "tair-ocr[ray]"): a local one on this machine, or --ray-address ADDR.

INPUT OUTPUT.pdf (as in OCRmyPDF; no -o): when the first of two paths is a file and
the second ends in .pdf and does not exist, the second is where the searchable PDF
goes; other output types go beside it, named after its stem (out.pdf: out.txt,
out.json). If it exists, it is that output again when tair-ocr wrote it (replaced with
--force, else exit 5); any other existing PDF is a second input. With -o DIR, both
paths are inputs.

exit codes:
  0 ok   1 internal error   2 bad arguments   3 input error   4 missing dependency
  (tesseract, language data, weights)   5 output error (e.g. exists without --force)
  6 some pages failed (outputs written unless every page failed)   7 plugin error
  130 interrupted

other commands:
  tair-ocr plugins [--json]   list installed plugins, engines, restorers, writers
  tair-ocr weights convert|check|info
                              convert the published TeReDiff checkpoints, check a
                              weights folder, show where weights are looked for

examples:
  tair-ocr scan.pdf --engine tesseract
  tair-ocr scan.pdf scan-searchable.pdf
  tair-ocr scan.pdf --engine tesseract,rapidocr --restorer auto --fusion vote
  tair-ocr photo.jpg -o out --output-type pdf,txt,json --lang eng+deu
  tair-ocr book.pdf --pages 1-10 --restorer auto -j 2
  tair-ocr scans/ -o out --resume --backend ray --ray-address auto
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
        help="PDF or image files (PNG, JPEG, TIFF incl. multi-page), folders (every such "
        "file under them) or quoted glob patterns; INPUT OUTPUT.pdf writes the searchable "
        "PDF to OUTPUT.pdf (see below)",
    )
    parser.add_argument(
        "-o",
        "--output-dir",
        type=Path,
        default=None,  # None: not given (INPUT OUTPUT.pdf is allowed); see _run
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
        "--no-deblur",
        dest="deblur",
        action="store_false",
        help="do not undo camera shake: by default a page with a linear motion blur (found in "
        "its spectrum) is read deconvolved when that reads better, with restoration on",
    )
    existing = parser.add_mutually_exclusive_group()
    existing.add_argument(
        "--existing-text",
        choices=EXISTING_TEXT_MODES,
        default=_default("existing_text"),
        help="PDF pages that already have text: auto (born-digital pages pass through "
        "untouched; an invisible OCR layer is replaced by a new one; a scan with some typed "
        "text gets OCR only where the typed text is not), skip (every page with text passes "
        "through), redo (drop invisible OCR layers, keep born-digital text, OCR the rest), "
        "force (rasterise the page and OCR all of it: born-digital text becomes pixels) "
        "(default: %(default)s)",
    )
    existing.add_argument(
        "--skip-text",
        dest="existing_text",
        action="store_const",
        const="skip",
        help="same as --existing-text skip (as in OCRmyPDF)",
    )
    existing.add_argument(
        "--redo-ocr",
        dest="existing_text",
        action="store_const",
        const="redo",
        help="same as --existing-text redo",
    )
    existing.add_argument(
        "--force-ocr",
        dest="existing_text",
        action="store_const",
        const="force",
        help="same as --existing-text force",
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
        "--save-restored",
        action="store_true",
        help="also write the restored (or deconvolved) page images as PNG",
    )
    parser.add_argument("-f", "--force", action="store_true", help="overwrite existing outputs")
    batch = parser.add_argument_group("batch jobs")
    batch.add_argument(
        "--resume",
        action="store_true",
        help=f"keep a ledger of the documents written ({LEDGER_NAME} in the output folder) "
        "and skip those it shows done with the same source and options: run the same "
        "command again to finish an interrupted job",
    )
    batch.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="where the job runs: local (this process, --jobs threads) or ray (a Ray "
        'cluster; pip install "tair-ocr[ray]") (default: local, or ray with --ray-address)',
    )
    batch.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="the Ray cluster to join (host:6379, ray://host:10001, auto); without it "
        "--backend ray starts a local cluster on this machine",
    )
    batch.add_argument(
        "--gpus",
        type=int,
        metavar="N",
        help="ray: GPUs for the restorer when it runs on CUDA (default: all of the cluster's)",
    )
    batch.add_argument(
        "--restorers-per-gpu",
        type=int,
        default=1,
        metavar="K",
        help="ray: restorer workers sharing one GPU (default: %(default)s)",
    )
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
    _say(f"tair-ocr: error: {message}")


def _say(message: str) -> None:
    """Print ``message`` to stderr; once its reader has gone (``2>&1 | head``),
    say nothing more, and go on: the outputs are files."""
    try:
        print(message, file=sys.stderr, flush=True)
    except BrokenPipeError:
        _silence(sys.stderr)


def _silence(stream: Any) -> None:
    """Point ``stream``'s file descriptor at the null device after a broken pipe,
    so later writes, and the flush at exit, do not raise again."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a file (a test's capture): nothing is flushed at exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``tair-ocr`` command; returns its exit code (:class:`ExitCode`)."""
    code: int = ExitCode.OK
    try:
        code = _command(argv)
        # A reader that went away (``| head``) shows here rather than at exit.
        sys.stdout.flush()
    except BrokenPipeError:
        # What was printed went as far as it was read: stop quietly, as other
        # tools do, with the command's exit code where it is known.
        _silence(sys.stdout)
        _silence(sys.stderr)
    return code


def _command(argv: Sequence[str] | None) -> int:
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
    # ``tair-ocr in.pdf out.pdf``, as OCRmyPDF users type it.
    pdf_target = _pdf_target(args)
    if pdf_target is not None:
        args.inputs = args.inputs[:1]
    if args.output_dir is None:
        args.output_dir = pdf_target.parent if pdf_target is not None else _default("output_dir")
    # The plugin flags given (their defaults are the models'), and add_options values.
    options = plugins.option_models.values_from(args)
    try:
        scale = None if args.scale == "auto" else float(args.scale)
    except ValueError:
        parser.error(f"--scale must be 'auto' or a number, not {args.scale!r}")

    from tair_ocr.pipeline import RECORDED_IN_RESULT, Pipeline

    # Page warnings and failures are printed from the results (_report_document), not
    # logged too.
    for handler in logging.getLogger("tair_ocr").handlers:
        handler.addFilter(lambda record: not getattr(record, RECORDED_IN_RESULT, False))
    backend = args.backend or ("ray" if args.ray_address else "local")
    if backend != "ray" and (
        args.ray_address or args.gpus is not None or args.restorers_per_gpu != 1
    ):
        parser.error("--ray-address, --gpus and --restorers-per-gpu are for --backend ray")
    progress = default_progress(args.quiet, args.verbose)
    try:
        ray_options = RayOptions(
            address=args.ray_address, gpus=args.gpus, restorers_per_gpu=args.restorers_per_gpu
        )
        pipeline = Pipeline(
            plugin_manager=plugins,
            progress=progress,
            # On Ray the restorer runs on the cluster's workers (its GPUs), not here.
            require_restorer=backend == "local",
            engine=args.engine,
            fusion=args.fusion,
            restore=args.restore,
            deblur=args.deblur,
            existing_text=args.existing_text,
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

    outcomes: list[ExitCode] = []
    ctrl_c = _CtrlC.install()

    def report(outcome: DocumentOutcome, result: DocumentResult | None) -> None:
        outcomes.append(outcome.exit_code)
        _report_document(outcome, result, args)
        ctrl_c.check()

    try:
        # Refuse inputs that would write the same outputs before any work starts
        # (existing outputs are checked per input, so the others still run). The
        # plan is made once: each input's run writes where it says.
        input_errors: list[tuple[str, BaseException]] = []
        if pdf_target is not None:
            source = args.inputs[0]
            plan = {source: named_outputs(source, pdf_target, pipeline.writers)}
        else:
            expansion = expand_inputs(
                args.inputs, exclude=[args.output_dir], output_suffixes=output_suffixes(pipeline)
            )
            input_errors = expansion.errors
            plan = plan_outputs(
                expansion.sources,
                args.output_dir,
                pipeline.writers,
                force=True,
                folders=expansion.folders,
            )
        job = run_job(
            pipeline,
            plan,
            backend=backend,
            resume=args.resume,
            ledger_dir=args.output_dir,
            ray=ray_options,
            on_document=report,
            input_errors=input_errors,
        )
    except KeyboardInterrupt:
        outcomes.append(ExitCode.INTERRUPTED)
        _error("interrupted; outputs of unfinished inputs were not written")
    except TairOcrError as exc:
        _report(exc, args.verbose)
        outcomes.append(exc.exit_code)
    except Exception as exc:  # a bug (or the cluster's): say so, with the documents' codes
        _report(exc, args.verbose)
        outcomes.append(ExitCode.INTERNAL_ERROR)
    else:
        if not args.quiet and (len(job.documents) > 1 or backend != "local"):
            _say(f"tair-ocr: job: {job.summary()}")
    finally:
        ctrl_c.uninstall()
        progress.close()
    return worst(outcomes)


class _CtrlC:
    """Ctrl-C raises :class:`KeyboardInterrupt` as usual, and is remembered:
    Python drops an exception raised while a finalizer runs (the ``__del__`` of a
    PDF page or an image, at any moment), so the job would go on as if nothing had
    happened. :meth:`check`, after each document, raises it again."""

    def __init__(self, previous: Any = None) -> None:
        self.pressed = False
        self.previous = previous

    @classmethod
    def install(cls) -> _CtrlC:
        """Handle SIGINT, unless this is not the main thread or someone else (an
        application embedding the command) already does."""
        if threading.current_thread() is not threading.main_thread():
            return cls()
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return cls()
        ctrl_c = cls(signal.default_int_handler)
        signal.signal(signal.SIGINT, ctrl_c._handle)
        return ctrl_c

    def _handle(self, signum: int, frame: Any) -> None:
        self.pressed = True
        raise KeyboardInterrupt

    def check(self) -> None:
        if self.pressed:
            raise KeyboardInterrupt

    def uninstall(self) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None


def _report_document(
    outcome: DocumentOutcome, result: DocumentResult | None, args: argparse.Namespace
) -> None:
    """Print how a document ended: its error, or its failed pages (always), then,
    unless ``-q``, its warnings and a summary line."""
    source = outcome.source
    if outcome.error is not None:
        _report(outcome.error, args.verbose, source)
        return
    if outcome.skipped:
        if not args.quiet:
            _say(f"{source}: done earlier (ledger), skipped ({outcome.pages} page(s))")
        return
    if result is None:
        return
    failed = result.failed_pages
    for page in failed:
        _error(f"{source}: page {page.page_number}: {page.error.message}")  # type: ignore[union-attr]
    if not args.quiet:
        _print_warnings(source, result)
        _say(
            f"{source}: {len(result.pages)} page(s), {outcome.words} words"
            + (f", {len(failed)} failed" if failed else "")
            + existing_text_note(result)
            + f" in {result.timings.get('total', 0.0):.1f}s",
        )


#: How the summary line names each existing-text action.
_ACTIONS = {
    "skip": "kept as they were (had text)",
    "redo": "had text, OCR redone",
    "force": "rasterised and OCRed (had text)",
}


def existing_text_note(result: Any) -> str:
    """``", 2 pages kept as they were (had text)"``: what the summary line says about
    pages that already had text (see :mod:`tair_ocr.existing_text`); empty when none."""
    counts: dict[str, int] = {}
    for page in result.pages:
        if page.existing_text is not None and page.existing_text.action in _ACTIONS:
            counts[page.existing_text.action] = counts.get(page.existing_text.action, 0) + 1
    return "".join(
        f", {n} page{'s' if n > 1 else ''} {_ACTIONS[action]}"
        for action, n in sorted(counts.items())
    )


def _print_warnings(source: Path, result: Any) -> None:
    """Print ``result``'s warnings to stderr, one line each, prefixed with the file
    and the page: each page's (a message several pages share once, naming them),
    then the document's."""
    pages: dict[str, dict[int, None]] = {}
    for page in result.pages:
        for message in page.warnings:
            pages.setdefault(message, {})[page.page_number] = None
    for message, numbers in pages.items():
        label = "page" if len(numbers) == 1 else "pages"
        _say(f"tair-ocr: warning: {source}: {label} {_page_list(list(numbers))}: {message}")
    for message in result.warnings:
        _say(f"tair-ocr: warning: {source}: {message}")


def _page_list(numbers: list[int]) -> str:
    """``[1, 2, 3, 7]`` as ``"1-3,7"`` (the --pages syntax)."""
    runs: list[list[int]] = []
    for number in sorted(numbers):
        if runs and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _pdf_target(args: argparse.Namespace) -> Path | None:
    """Where the searchable PDF goes when the command line reads ``INPUT
    OUTPUT.pdf``, as OCRmyPDF's does; None when the paths are all inputs.

    That is two paths and no ``-o``, the first an existing file, the second ending
    in ``.pdf`` and either not existing or a searchable PDF tair-ocr wrote (the
    command run again: like any existing output, it is replaced with ``--force``
    and refused without). Any other existing second path is a second input.
    """
    if args.output_dir is not None or len(args.inputs) != 2:
        return None
    source, target = args.inputs
    if not source.is_file() or target.suffix.lower() != ".pdf":
        return None
    if not target.exists():
        return target
    return target if _written_by_tair_ocr(target) else None


def _written_by_tair_ocr(path: Path) -> bool:
    """Whether ``path`` is a searchable PDF tair-ocr wrote: a page of it uses the
    invisible font of tair-ocr's text layer."""
    import pymupdf

    from tair_ocr.writers._glyphless import FONT_NAME

    try:
        with pymupdf.open(path, filetype="pdf") as doc:
            return any(font[3] == FONT_NAME for page in doc for font in page.get_fonts())
    except Exception:  # unreadable: not an output of ours; read as an input, it is reported
        return False


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

        try:
            traceback.print_exception(exc, file=sys.stderr)
        except BrokenPipeError:
            _silence(sys.stderr)


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
