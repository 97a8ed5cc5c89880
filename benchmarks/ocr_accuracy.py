"""OCR accuracy and speed of restorers, on synthetic degraded pages and real data.

Every page goes through the real :class:`tair_ocr.pipeline.Pipeline` (loader, working
scale, tile stage, engine) once per restorer, and its text is scored against the
ground truth. ``none`` is plain OCR of the page as loaded.

    python benchmarks/ocr_accuracy.py --restorers none,classical --pages-per-kind 3
    python benchmarks/ocr_accuracy.py --restorers none,classical --real --no-synthetic

Synthetic pages use the evaluation seeds ``EVAL_SEED_BASE + kind_index * 1000 + i``
(10 000 and up), which the samples and the training data never use. See
``benchmarks/README.md`` for the metrics and the latest results.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from metrics import bag_f1, cer, listed_word_recall, wer

ROOT = Path(__file__).resolve().parents[1]
#: Real evaluation data beside the repository (absent in a user's clone).
DEFAULT_REAL_DATA = ROOT.parent / "shared" / "data" / "real"
#: First seed of the synthetic evaluation pages; kind k, page i uses
#: ``EVAL_SEED_BASE + 1000 * k + i``. Samples and training use seeds below 10 000.
EVAL_SEED_BASE = 10_000
#: The kinds the classical restorer's acceptance bar names (phone photos, 75-dpi
#: scans, defocus, fax); reported as their own mean.
ISSUE_KINDS = ("shaded_photo", "lowres_75dpi", "defocus", "fax")
#: Synthetic page size (inches): half an A4 sheet, to keep the benchmark fast.
HALF_A4 = (210 / 25.4, 148.5 / 25.4)
#: Body text sizes (pt), cycled over a kind's pages: small print included.
FONT_SIZES = (10.0, 8.0, 12.0, 9.0, 11.0)


def font_sizes(kind: str) -> tuple[float, ...]:
    """The body sizes cycled over ``kind``'s pages: :data:`FONT_SIZES`, or those of
    them inside the kind's ``font_pt`` render hint (e.g. 8-10 pt for small print)."""
    from tair_workbench.synthetic import DEGRADATION_KINDS

    hint = DEGRADATION_KINDS[kind].render_hints.get("font_pt")
    if hint is None:
        return FONT_SIZES
    low, high = hint
    return tuple(s for s in FONT_SIZES if low <= s <= high) or ((low + high) / 2,)


@dataclass
class Record:
    """One page read with one restorer, and its scores."""

    part: str  # "synthetic" or "real"
    group: str  # degradation kind or dataset
    item: str  # seed or file name
    restorer: str
    cer: float | None = None
    wer: float | None = None
    f1: float | None = None
    recall: float | None = None
    seconds: float = 0.0
    restore_seconds: float = 0.0
    ocr_seconds: float = 0.0
    tiles: int = 0
    scale: float = 1.0
    error: str | None = None


@dataclass
class Task:
    """One page to read with every restorer."""

    part: str
    group: str
    item: str
    #: Synthetic: render arguments; real: the JSON record path.
    spec: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------- workers

_PIPELINES: dict[str, Any] = {}


def _init_worker() -> None:
    from tair_workbench.calibration.fit import limit_threads

    limit_threads()


def _pipeline(restorer: str, options: dict[str, Any]) -> Any:
    from tair_ocr.pipeline import Pipeline

    key = f"{restorer}|{sorted(options.items())}"
    if key not in _PIPELINES:
        _PIPELINES[key] = Pipeline(
            engine=options["engine"],
            restorer=restorer,
            languages=options["languages"],
            scale=options["scale"],
            fusion=options["fusion"],
            options=dict(options.get("plugin_options", {})),
            jobs=1,
            output_types=["txt"],
        )
    return _PIPELINES[key]


def _read(path: Path, restorer: str, options: dict[str, Any]) -> tuple[str, Record]:
    """Run the pipeline on ``path``; return its text and a record with timings."""
    record = Record(part="", group="", item="", restorer=restorer)
    pipeline = _pipeline(restorer, options)
    started = time.perf_counter()
    result = pipeline.run(path, write=False)
    record.seconds = time.perf_counter() - started
    for page in result.pages:
        record.restore_seconds += _restore_seconds(page.timings)
        record.ocr_seconds += page.timings.get("ocr", 0.0)
        record.tiles += _restored_tiles(page.counters)
        record.scale = page.scale
        if page.error is not None:
            record.error = page.error.message
    return result.text, record


def _restore_seconds(timings: dict[str, float]) -> float:
    if "restore" in timings:
        return timings["restore"]
    return sum(v for k, v in timings.items() if k.startswith("restore"))


def _restored_tiles(counters: dict[str, int]) -> int:
    for key in ("tiles_restored", "tiles_processed"):
        if key in counters:
            return counters[key]
    return max(0, counters.get("tiles_total", 0) - counters.get("tiles_skipped", 0))


def _evaluate(task: Task, restorers: Sequence[str], options: dict[str, Any]) -> list[Record]:
    """Read one page with every restorer (in a worker process)."""
    with tempfile.TemporaryDirectory(prefix="tair-bench-") as tmp:
        if task.part == "synthetic":
            path, scorer = _synthetic_input(task, Path(tmp))
        else:
            path, scorer = _real_input(task)
        records = []
        for restorer in restorers:
            try:
                if restorer == UNPAPER:
                    started = time.perf_counter()
                    cleaned = _unpaper(path, Path(tmp))
                    text, record = _read(cleaned, "none", options)
                    record.restorer = UNPAPER
                    record.restore_seconds = time.perf_counter() - started - record.seconds
                    record.seconds += record.restore_seconds
                else:
                    text, record = _read(path, restorer, options)
            except Exception as exc:  # one bad page must not stop the benchmark
                record = Record("", "", "", restorer, error=f"{type(exc).__name__}: {exc}")
                text = ""
            record.part, record.group, record.item = task.part, task.group, task.item
            if record.error is None:
                scorer(text, record)
            records.append(record)
        return records


Scorer = Callable[[str, Record], None]

#: Pseudo-restorer: OCRmyPDF-style preprocessing (``ocrmypdf --clean --deskew``
#: approximated with the ``unpaper`` binary and the arguments OCRmyPDF passes to it
#: for ``--clean``, with unpaper's own deskew in place of OCRmyPDF's Leptonica
#: deskew), then plain OCR of the cleaned page. Needs ``apt-get install unpaper``.
UNPAPER = "ocrmypdf-style"
UNPAPER_ARGS = (
    "--layout",
    "none",
    "--mask-scan-size",
    "100",
    "--no-border-align",
    "--no-mask-center",
    "--no-grayfilter",
    "--no-blackfilter",
)


def _unpaper(path: Path, tmp: Path) -> Path:
    """``path`` cleaned by unpaper (as a PNG with the same DPI tag)."""
    import subprocess

    from PIL import Image

    with Image.open(path) as image:
        dpi = image.info.get("dpi", (300, 300))
        gray = image.mode in ("1", "L", "I;16", "LA")
        image.convert("L" if gray else "RGB").save(tmp / "unpaper_in.pnm")
    out = tmp / "unpaper_out.pnm"
    done = subprocess.run(
        ["unpaper", "--overwrite", "-q", *UNPAPER_ARGS, str(tmp / "unpaper_in.pnm"), str(out)],
        capture_output=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"unpaper failed: {done.stderr.decode(errors='replace').strip()}")
    cleaned = tmp / f"{path.stem}.unpaper.png"
    with Image.open(out) as image:
        image.save(cleaned, dpi=dpi)
    return cleaned


def _synthetic_input(task: Task, tmp: Path) -> tuple[Path, Scorer]:
    from tair_workbench.synthetic import degrade, render_page

    spec = task.spec
    page = render_page(seed=spec["seed"], **spec.get("render", {}))
    degraded = degrade(page, task.group, seed=spec["seed"])
    path = tmp / f"{task.group}_{spec['seed']}.png"
    degraded.image.save(path, dpi=(degraded.dpi, degraded.dpi))
    reference = degraded.text

    def score(text: str, record: Record) -> None:
        record.cer = cer(reference, text)
        record.wer = wer(reference, text)
        record.f1 = bag_f1(reference, text).f1

    return path, score


def _real_input(task: Task) -> tuple[Path, Scorer]:
    meta_path = Path(task.spec["json"])
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    path = meta_path.parent / meta["image"]
    reference: str | None = meta.get("text")
    dataset = task.group

    def score(text: str, record: Record) -> None:
        if dataset == "WildReceipt" and reference:
            # Its transcriptions drop the spaces inside segments.
            record.cer = cer(reference, text, strip_spaces=True)
        elif reference:
            record.cer = cer(reference, text)
            record.wer = wer(reference, text)
            record.f1 = bag_f1(reference, text).f1
        elif meta.get("words"):
            # Partial labels (SVT): recall of the listed words only.
            record.recall = listed_word_recall([w["text"] for w in meta["words"]], text)

    return path, score


# ---------------------------------------------------------------------- tasks


def synthetic_tasks(
    kinds: Sequence[str],
    pages_per_kind: int,
    all_kinds: Sequence[str],
    fonts: Sequence[str] = (),
    seed_base: int = EVAL_SEED_BASE,
) -> list[Task]:
    """One task per (kind, page), with seeds ``seed_base + 1000 * kind_index + i``
    (default: the evaluation range).

    Body sizes cycle through :func:`font_sizes` of the kind. With ``fonts``, page ``i``
    is typeset in ``fonts[i % len(fonts)]`` instead of a font drawn from the seed (e.g.
    the fonts a learned restorer never saw in training).
    """
    tasks = []
    for kind in kinds:
        k = list(all_kinds).index(kind)
        for i in range(pages_per_kind):
            seed = seed_base + 1000 * k + i
            sizes = font_sizes(kind)
            render = {"size": HALF_A4, "font_pt": sizes[i % len(sizes)]}
            if fonts:
                render["font"] = fonts[i % len(fonts)]
            tasks.append(Task("synthetic", kind, str(seed), {"seed": seed, "render": render}))
    return tasks


#: Short dataset names for the real data (``dataset`` field prefixes).
_DATASETS = {
    "FUNSD": "FUNSD",
    "SROIE": "SROIE",
    "SVT": "SVT",
    "tesseract-ocr/test": "tesseract-test",
    "Noisy OCR Dataset": "NOD",
    "WildReceipt": "WildReceipt",
}


def real_tasks(data: Path) -> tuple[list[Task], list[str]]:
    """Tasks for the items that have text or word labels; and notes on skipped ones."""
    tasks: list[Task] = []
    skipped = []
    for meta_path in sorted(data.glob("*.json")):
        if meta_path.name == "manifest.json":
            continue
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        dataset = next(
            (short for prefix, short in _DATASETS.items() if meta["dataset"].startswith(prefix)),
            meta["dataset"].split(" ")[0],
        )
        if not meta.get("text") and not meta.get("words"):
            skipped.append(meta["image"])
            continue
        tasks.append(Task("real", dataset, meta["image"], {"json": str(meta_path)}))
    return tasks, skipped


def run_in_workers(
    tasks: Sequence[Any],
    evaluate: Callable[..., list[Any]],
    args: tuple[Any, ...],
    jobs: int,
    init: Callable[[], None],
    progress: Callable[[int, int, list[Any]], None],
) -> list[Any]:
    """``evaluate(task, *args)`` for every task, in this process (``jobs`` ≤ 1) or
    on ``jobs`` worker processes started with ``init``; the records in task order,
    ``progress(done, total, records)`` after each task."""
    records: list[Any] = []
    if jobs <= 1:
        init()
        results: Iterable[list[Any]] = (evaluate(t, *args) for t in tasks)
        for i, recs in enumerate(results, 1):
            records.extend(recs)
            progress(i, len(tasks), recs)
        return records
    with ProcessPoolExecutor(max_workers=jobs, initializer=init) as pool:
        futures = [pool.submit(evaluate, t, *args) for t in tasks]
        for i, future in enumerate(futures, 1):
            recs = future.result()
            records.extend(recs)
            progress(i, len(tasks), recs)
    return records


def run_tasks(
    tasks: Sequence[Task], restorers: Sequence[str], options: dict[str, Any], jobs: int
) -> list[Record]:
    """Evaluate ``tasks`` on ``jobs`` processes, printing progress to stderr."""
    return run_in_workers(tasks, _evaluate, (restorers, options), jobs, _init_worker, _progress)


def _progress(done: int, total: int, records: list[Record]) -> None:
    first = records[0]
    scores = " ".join(
        f"{r.restorer}={_fmt(r.cer if r.cer is not None else r.recall, 3)}"
        + (f"(ERR {r.error})" if r.error else "")
        for r in records
    )
    print(f"[{done}/{total}] {first.part} {first.group} {first.item}: {scores}", file=sys.stderr)


# ---------------------------------------------------------------------- report


def _mean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.fmean(vals) if vals else None


def _fmt(value: float | None, digits: int = 1, scale: float = 1.0) -> str:
    return "–" if value is None else f"{value * scale:.{digits}f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def synthetic_report(
    records: list[Record], restorers: Sequence[str], kinds: Sequence[str]
) -> list[str]:
    """CER and WER tables (percent) by kind, and the bar checks against ``none``."""
    syn = [r for r in records if r.part == "synthetic"]
    if not syn:
        return []
    by = defaultdict(list)
    for r in syn:
        by[(r.group, r.restorer)].append(r)
    out = []
    degraded = [k for k in kinds if k != "clean"]
    groups = [("mean, degraded kinds", degraded), ("mean, all kinds", kinds)]
    issue = [k for k in ISSUE_KINDS if k in kinds]
    if issue:
        groups.insert(0, ("mean, " + ", ".join(issue), issue))
    for metric, title in (("cer", "CER %"), ("wer", "WER %")):
        rows = []
        for kind in kinds:
            n = len(by[(kind, restorers[0])])
            rows.append(
                [kind, str(n)]
                + [
                    _fmt(_mean(getattr(r, metric) for r in by[(kind, x)]), 2, 100)
                    for x in restorers
                ]
            )
        for label, group in groups:
            rows.append(
                [f"**{label}**", ""]
                + [
                    _fmt(
                        _mean(_mean(getattr(r, metric) for r in by[(k, x)]) for k in group), 2, 100
                    )
                    for x in restorers
                ]
            )
        out += [f"### Synthetic pages: {title} (lower is better)", ""]
        out += [*_table(["kind", "pages", *restorers], rows), ""]
    if "none" in restorers:
        out += ["### Against plain OCR (`none`)", ""]
        rows = []
        for x in restorers:
            if x == "none":
                continue
            base = {k: _mean(r.cer for r in by[(k, "none")]) for k in kinds}
            mine = {k: _mean(r.cer for r in by[(k, x)]) for k in kinds}

            def cut(group: Sequence[str], base=base, mine=mine) -> float | None:
                before = _mean(base[k] for k in group)
                after = _mean(mine[k] for k in group)
                return 1 - after / before if before and after is not None else None

            worse = [
                f"{k} (+{(mine[k] - base[k]) * 100:.2f} pp)"
                for k in kinds
                if base[k] is not None and mine[k] is not None and mine[k] > base[k] + 1e-9
            ]
            clean_cost = None
            if "clean" in kinds and base["clean"] is not None and mine["clean"] is not None:
                clean_cost = (mine["clean"] - base["clean"]) * 100
            rows.append(
                [
                    x,
                    _fmt(cut(issue), 1, 100) if issue else "–",
                    _fmt(cut(degraded), 1, 100),
                    ", ".join(worse) or "none",
                    _fmt(clean_cost, 2),
                ]
            )
        header = [
            "restorer",
            "CER cut, issue kinds %",
            "CER cut, degraded kinds %",
            "kinds worse than `none`",
            "clean Δ pp",
        ]
        out += [*_table(header, rows), ""]
        if issue:
            out += [f"Issue kinds (the acceptance bar's): {', '.join(issue)}.", ""]
    return out


def real_report(records: list[Record], restorers: Sequence[str]) -> list[str]:
    """Per-dataset macro CER, bag-of-words F1 and listed-word recall."""
    real = [r for r in records if r.part == "real"]
    if not real:
        return []
    by = defaultdict(list)
    for r in real:
        by[(r.group, r.restorer)].append(r)
    datasets = sorted({r.group for r in real})
    header = ["dataset", "items", "metric", *restorers]
    rows = []
    for ds in datasets:
        n = len(by[(ds, restorers[0])])
        for metric, label, sign in (
            ("cer", "CER % ↓", 100),
            ("f1", "bag F1 % ↑", 100),
            ("recall", "listed-word recall % ↑", 100),
        ):
            values = [_mean(getattr(r, metric) for r in by[(ds, x)]) for x in restorers]
            if all(v is None for v in values):
                continue
            rows.append([ds, str(n), label] + [_fmt(v, 1, sign) for v in values])
    return ["### Real data (macro mean per dataset)", "", *_table(header, rows), ""]


def speed_report(records: list[Record], restorers: Sequence[str]) -> list[str]:
    """Seconds per page, restore share, tiles/s and pages/min per restorer."""
    rows = []
    for x in restorers:
        mine = [r for r in records if r.restorer == x and r.error is None]
        if not mine:
            continue
        total = sum(r.seconds for r in mine)
        restore = sum(r.restore_seconds for r in mine)
        ocr = sum(r.ocr_seconds for r in mine)
        tiles = sum(r.tiles for r in mine)
        rows.append(
            [
                x,
                str(len(mine)),
                f"{total / len(mine):.2f}",
                f"{restore / len(mine):.2f}",
                f"{ocr / len(mine):.2f}",
                f"{tiles / len(mine):.1f}",
                f"{tiles / restore:.1f}" if restore > 0 and tiles else "–",
                f"{60 * len(mine) / total:.1f}" if total > 0 else "–",
            ]
        )
    header = [
        "restorer",
        "pages",
        "s/page",
        "restore s/page",
        "OCR s/page",
        "tiles/page",
        "tiles/s",
        "pages/min",
    ]
    return ["### Speed (one worker per page)", "", *_table(header, rows), ""]


def error_report(records: list[Record]) -> list[str]:
    failed = [r for r in records if r.error]
    if not failed:
        return []
    lines = ["### Failed pages", ""]
    lines += [f"- {r.part} {r.group} {r.item} [{r.restorer}]: {r.error}" for r in failed]
    return [*lines, ""]


# ---------------------------------------------------------------------- CLI


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="OCR accuracy and speed of tair-ocr restorers.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--restorers", default="none,classical", help="comma-separated names")
    parser.add_argument("--engine", default="tesseract")
    parser.add_argument("--lang", default="eng", help="OCR languages, e.g. eng+deu")
    parser.add_argument("--kinds", default="all", help="degradation kinds, comma-separated")
    parser.add_argument("--pages-per-kind", type=int, default=3)
    parser.add_argument(
        "--fonts",
        default="",
        help="typeset synthetic pages in these fonts (comma-separated), or 'held-out' "
        "for the fonts the cleaner never saw in training (default: drawn per seed)",
    )
    parser.add_argument(
        "--no-synthetic", dest="synthetic", action="store_false", help="skip synthetic pages"
    )
    parser.add_argument("--real", action="store_true", help="also score the real data")
    parser.add_argument("--data", type=Path, default=DEFAULT_REAL_DATA, help="real data folder")
    parser.add_argument("--scale", type=float, default=None, help="fixed working scale")
    parser.add_argument(
        "--fusion",
        default="off",
        help="fusion mode; 'off' scores the restored page's reading alone",
    )
    parser.add_argument("--jobs", type=int, default=2, help="pages evaluated at once")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a plugin option for every pipeline, as its argparse name "
        "(e.g. cleaner_weights=run/export/cleaner.safetensors); repeatable",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the markdown report here")
    return parser.parse_args(argv)


def parse_kinds(spec: str) -> tuple[list[str], list[str]]:
    """Every degradation kind, and those ``spec`` names (``"all"`` or a comma list);
    the second list is empty, with a message on stderr, when a name is unknown."""
    from tair_workbench.synthetic import DEGRADATION_KINDS

    all_kinds = list(DEGRADATION_KINDS)
    kinds = all_kinds if spec == "all" else [k.strip() for k in spec.split(",")]
    unknown = [k for k in kinds if k not in all_kinds]
    if unknown:
        print(f"unknown kinds {unknown}; known: {', '.join(all_kinds)}", file=sys.stderr)
        return all_kinds, []
    return all_kinds, kinds


def real_tasks_or_note(data: Path, notes: list[str]) -> list[Task]:
    """The real-data tasks of ``data``; what was skipped (or the folder missing)
    goes to ``notes``."""
    if not data.is_dir():
        notes.append(f"real data not found at {data}: skipped")
        print(notes[-1], file=sys.stderr)
        return []
    real, skipped = real_tasks(data)
    if skipped:
        notes.append(f"{len(skipped)} real items have no text or word labels (pixel-only): skipped")
    return real


def publish(lines: list[str], records: Sequence[Any], out: Path | None) -> None:
    """Print the markdown report; with ``out``, also write it there and every
    record (a dataclass per page and restorer or scenario) to ``out`` as .json."""
    report = "\n".join(lines)
    print(report)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report + "\n", encoding="utf-8")
        out.with_suffix(".json").write_text(
            json.dumps([asdict(r) for r in records], indent=1), encoding="utf-8"
        )


def _plugin_options(pairs: Sequence[str]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise SystemExit(f"--set {pair!r}: expected NAME=VALUE")
        options[name.strip()] = value
    return options


def _fonts(spec: str) -> list[str]:
    if spec == "held-out":
        from tair_workbench.cleaner.data import HELD_OUT_FONTS

        return list(HELD_OUT_FONTS)
    return [f.strip() for f in spec.split(",") if f.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the markdown report (and write it with ``--out``)."""
    args = _parse(argv)
    os.environ.setdefault("TAIR_OCR_DISABLE_PLUGIN_AUTOLOAD", "1")
    restorers = [r.strip() for r in args.restorers.split(",") if r.strip()]
    options = {
        "engine": args.engine,
        "languages": args.lang,
        "scale": args.scale,
        "fusion": args.fusion,
        "plugin_options": _plugin_options(args.set),
    }
    tasks: list[Task] = []
    kinds: list[str] = []
    notes: list[str] = []
    if args.synthetic:
        all_kinds, kinds = parse_kinds(args.kinds)
        if not kinds:
            return 2
        tasks += synthetic_tasks(kinds, args.pages_per_kind, all_kinds, _fonts(args.fonts))
    if args.real:
        tasks += real_tasks_or_note(args.data, notes)
    if not tasks:
        print("nothing to do", file=sys.stderr)
        return 1

    started = time.perf_counter()
    records = run_tasks(tasks, restorers, options, max(1, args.jobs))
    wall = time.perf_counter() - started

    command = "python benchmarks/ocr_accuracy.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    lines = [
        f"## OCR benchmark: {', '.join(restorers)} (engine {args.engine})",
        "",
        f"Command: `{command}`  ",
        f"Wall time: {wall / 60:.1f} min with {args.jobs} job(s); "
        f"{len(tasks)} pages × {len(restorers)} restorers.",
        "",
    ]
    lines += [f"Note: {n}  " for n in notes]
    lines += synthetic_report(records, restorers, kinds)
    lines += real_report(records, restorers)
    lines += speed_report(records, restorers)
    lines += error_report(records)
    publish(lines, records, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
