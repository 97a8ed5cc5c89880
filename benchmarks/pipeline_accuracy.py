"""The default pipeline against each engine alone and against restore-everything,
side by side on the same pages, with honest wall times.

Every page goes through the real :class:`tair_ocr.pipeline.Pipeline` once per
scenario; its text is scored against the ground truth (metrics in
``benchmarks/metrics.py``) and the run is timed:

- ``rapidocr``: ``Pipeline(engine="rapidocr", restorer="none")``, the best engine alone;
- ``tesseract``: ``Pipeline(engine="tesseract", restorer="none")``;
- ``default``: ``Pipeline()``, default settings (every engine here, restorer ``auto``,
  ``restore="auto"``: read first, restore only where the reading is unsure);
- ``tesseract+R`` for each R of ``--restorers``: ``Pipeline(engine="tesseract",
  restorer=R)``;
- ``default:always`` with ``--with-always``: ``Pipeline(restore="always")``.

    python benchmarks/pipeline_accuracy.py --pages-per-kind 2 --dev --real
    python benchmarks/pipeline_accuracy.py --kinds clean,motion_blur --pages-per-kind 1 \\
        --dev --dev-limit 2

Timing: nothing is cached between scenarios (each reads the page itself), the
scenarios of one page run back to back in the same worker (their order rotates from
page to page), and each pipeline is built and warmed up on a small page before it is
timed, so model loading is not counted. ``--jobs`` is 1 by default: with more
workers the pages share the CPU and the times are only roughly comparable.

Synthetic pages use seeds ``PIPELINE_SEED_BASE + 1000 * kind_index + i`` (60 000 and
up), apart from the training and sample seeds, the restorer and fusion benchmarks' and
the confidence calibration's pages (``tair_ocr.calibration``, 40 000 and up).
``benchmarks/README.md`` lists the bar checks this report opens with.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fusion_accuracy import _group_means, _macro
from ocr_accuracy import (
    DEFAULT_REAL_DATA,
    Task,
    _fmt,
    _fonts,
    _init_worker,
    _real_input,
    _restore_seconds,
    _restored_tiles,
    _synthetic_input,
    _table,
    parse_kinds,
    publish,
    real_tasks,
    real_tasks_or_note,
    synthetic_tasks,
)

ROOT = Path(__file__).resolve().parents[1]
#: The real development set beside the repository (absent in a user's clone).
DEFAULT_DEV_DATA = ROOT.parent / "shared" / "data" / "dev"
#: First seed of this benchmark's synthetic pages (kind k, page i: base + 1000 k + i).
PIPELINE_SEED_BASE = 60_000
#: Tolerance of the per-kind CER checks (b) and (c): 0.2 percentage points.
CER_TOLERANCE = 0.002
#: Time budgets of check (d): default against rapidocr, overall and on clean pages.
TIME_RATIO_ALL, TIME_RATIO_CLEAN = 1.5, 1.2
#: The scenarios that read with one engine and no restorer.
SINGLE_ENGINES = ("rapidocr", "tesseract")


@dataclass(frozen=True)
class Scenario:
    """One way of reading a page: a name and the ``Pipeline`` keywords."""

    name: str
    settings: tuple[tuple[str, str], ...] = ()

    @property
    def kwargs(self) -> dict[str, str]:
        return dict(self.settings)


def scenarios(
    restorers: Sequence[str], *, with_always: bool = False, engines: Sequence[str] = SINGLE_ENGINES
) -> list[Scenario]:
    """The scenarios of a run (see the module docstring); ``engines``: the single
    engines installed here."""
    plan = [Scenario(e, (("engine", e), ("restorer", "none"))) for e in engines]
    plan.append(Scenario("default"))
    if "tesseract" in engines:
        plan += [
            Scenario(f"tesseract+{r}", (("engine", "tesseract"), ("restorer", r)))
            for r in restorers
        ]
    if with_always:
        plan.append(Scenario("default:always", (("restore", "always"),)))
    return plan


@dataclass
class Record:
    """One page read in one scenario: scores, wall time and restoration counts."""

    part: str  # "synthetic", "dev" or "real"
    group: str  # degradation kind or dataset
    item: str
    scenario: str
    cer: float | None = None
    wer: float | None = None
    f1: float | None = None
    recall: float | None = None
    #: Wall seconds of ``Pipeline.run`` on the page (load, decide, restore, OCR, fuse).
    seconds: float = 0.0
    restore_seconds: float = 0.0
    ocr_seconds: float = 0.0
    #: Tiles the restoration decision looked at and sent to the restorer.
    tiles_considered: int = 0
    tiles_restored: int = 0
    #: Why regions were restored (``PageResult.decision.reasons``), summed over pages.
    reasons: dict[str, int] = field(default_factory=dict)
    #: Pages whose unsure regions an engine re-read enlarged (``decision.enlarged``).
    enlarged: int = 0
    #: Pages with a motion blur found (``decision.deblurred``), and read deconvolved.
    blur_found: int = 0
    deblurred: int = 0
    engine: str = ""
    restorer: str = ""
    error: str | None = None


# ---------------------------------------------------------------------- workers

_PIPELINES: dict[Scenario, Any] = {}


def _pipeline(scenario: Scenario, options: dict[str, Any]) -> Any:
    """The scenario's pipeline, built once per worker and warmed up untimed."""
    from tair_ocr.pipeline import Pipeline

    if scenario not in _PIPELINES:
        settings: dict[str, Any] = {
            "languages": options["languages"],
            "output_types": ["txt"],
            "options": dict(options.get("plugin_options", {})),
            **scenario.kwargs,
        }
        # autoload: the rapidocr engine is an installed plugin distribution, as a
        # user's would be, whatever TAIR_OCR_DISABLE_PLUGIN_AUTOLOAD says.
        pipeline = Pipeline(autoload=True, **settings)
        pipeline.run(_warmup_image(), write=False)
        _PIPELINES[scenario] = pipeline
    return _PIPELINES[scenario]


def _warmup_image() -> Any:
    """A small page of text: loads models and engine sessions before timing starts."""
    from tair_workbench.synthetic import render_page

    page = render_page(0, size_px=(900, 300), dpi=150.0, font_pt=10.0, layout="lines")
    image = page.image.convert("RGB")
    image.info["dpi"] = (150, 150)
    return image


def _evaluate(task: Task, plan: Sequence[Scenario], options: dict[str, Any]) -> list[Record]:
    """Read one page in every scenario, back to back (in a worker process)."""
    pipelines: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for scenario in plan:  # build and warm up before anything is timed
        try:
            pipelines[scenario.name] = _pipeline(scenario, options)
        except Exception as exc:  # a scenario that cannot run must not stop the others
            errors[scenario.name] = f"{type(exc).__name__}: {exc}"
    shift = options.get("rotation", 0) % len(plan)
    order = [*plan[shift:], *plan[:shift]]
    records: dict[str, Record] = {}
    with tempfile.TemporaryDirectory(prefix="tair-pipeline-") as tmp:
        if task.part == "synthetic":
            path, scorer = _synthetic_input(task, Path(tmp))
        else:
            path, scorer = _real_input(task)
        for scenario in order:
            record = Record(task.part, task.group, task.item, scenario.name)
            records[scenario.name] = record
            text = ""
            if scenario.name in errors:
                record.error = errors[scenario.name]
            else:
                try:
                    started = time.perf_counter()
                    result = pipelines[scenario.name].run(path, write=False)
                    record.seconds = time.perf_counter() - started
                except Exception as exc:  # one bad page must not stop the benchmark
                    record.error = f"{type(exc).__name__}: {exc}"
                else:
                    text = result.text
                    _collect(result, record)
            # A failed reading scores as what it delivered (often nothing), so every
            # scenario is scored on the same pages.
            scorer(text, record)
    return [records[s.name] for s in plan]


def _collect(result: Any, record: Record) -> None:
    """Timings, tile counts and the restoration decision of a result's pages."""
    record.engine = result.engine or ""
    record.restorer = result.restorer or ""
    for page in result.pages:
        record.restore_seconds += _restore_seconds(page.timings)
        record.ocr_seconds += page.timings.get("ocr", 0.0)
        decision = getattr(page, "decision", None)
        if decision is not None:
            record.tiles_considered += decision.tiles_considered
            record.tiles_restored += decision.tiles_restored
            for reason, count in decision.reasons.items():
                record.reasons[reason] = record.reasons.get(reason, 0) + count
            record.enlarged += bool(decision.enlarged)
            if decision.deblurred is not None:
                record.blur_found += 1
                record.deblurred += decision.deblurred.status == "kept"
        else:
            restored = _restored_tiles(page.counters)
            record.tiles_restored += restored
            record.tiles_considered += restored
        if page.error is not None:
            record.error = page.error.message


def run_tasks(
    tasks: Sequence[Task], plan: Sequence[Scenario], options: dict[str, Any], jobs: int
) -> list[Record]:
    """Evaluate ``tasks`` on ``jobs`` processes, printing progress to stderr."""
    records: list[Record] = []

    def progress(done: int, recs: list[Record]) -> None:
        first = recs[0]
        scores = " ".join(
            f"{r.scenario}={_fmt(r.cer, 3)}/{r.seconds:.1f}s" + ("(ERR)" if r.error else "")
            for r in recs
        )
        print(f"[{done}/{len(tasks)}] {first.group} {first.item}: {scores}", file=sys.stderr)

    def task_options(i: int) -> dict[str, Any]:
        return {**options, "rotation": i}

    if jobs <= 1:
        _init_worker()
        for i, task in enumerate(tasks, 1):
            recs = _evaluate(task, plan, task_options(i - 1))
            records.extend(recs)
            progress(i, recs)
        return records
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker) as pool:
        futures = [pool.submit(_evaluate, t, plan, task_options(i)) for i, t in enumerate(tasks)]
        for i, future in enumerate(futures, 1):
            recs = future.result()
            records.extend(recs)
            progress(i, recs)
    return records


def dev_tasks(data: Path, limit: int | None, notes: list[str]) -> list[Task]:
    """The development set's items as ``<dataset>-dev`` tasks, the first ``limit``
    of each dataset (by file name); a missing folder is a note, not an error."""
    if not data.is_dir():
        notes.append(f"dev data not found at {data}: skipped")
        print(notes[-1], file=sys.stderr)
        return []
    tasks, skipped = real_tasks(data)
    if skipped:
        notes.append(f"{len(skipped)} dev items have no text or word labels: skipped")
    kept: list[Task] = []
    per_dataset: dict[str, int] = defaultdict(int)
    for task in tasks:
        if limit is not None and per_dataset[task.group] >= limit:
            continue
        per_dataset[task.group] += 1
        kept.append(Task("dev", f"{task.group}-dev", task.item, task.spec))
    return kept


# ---------------------------------------------------------------------- report

_METRICS = (("f1", "F1 ↑"), ("cer", "CER ↓"), ("wer", "WER ↓"), ("recall", "recall ↑"))
_TITLES = {
    "dev": "Development set (FUNSD-dev, SROIE-dev)",
    "real": "Real data",
    "synthetic": "Synthetic pages",
}


def _groups(records: Sequence[Record], part: str) -> list[str]:
    return sorted({r.group for r in records if r.part == part}, key=_group_order)


def _group_order(group: str) -> tuple[int, str]:
    """Synthetic kinds in registry order, then datasets by name."""
    from tair_workbench.synthetic import DEGRADATION_KINDS

    kinds = list(DEGRADATION_KINDS)
    return (kinds.index(group) if group in kinds else len(kinds), group)


def _means(records: Sequence[Record], part: str, metric: str) -> dict[str, dict[str, float]]:
    """scenario -> group -> mean of ``metric`` over the group's pages (failed
    readings included, scored as what they delivered)."""
    return _group_means([_ok(r) for r in records], part, metric)


def _ok(r: Record) -> Record:
    # fusion_accuracy's _group_means drops records with an error; here a failed page
    # counts with the score of its (empty) reading, so hide the error from it.
    if r.error is None:
        return r
    copy = Record(**{**r.__dict__})
    copy.error = None
    return copy


def accuracy_report(records: Sequence[Record], names: Sequence[str], part: str) -> list[str]:
    """One table for the part: every group × metric, every scenario, macro means."""
    groups = _groups(records, part)
    if not groups:
        return []
    metrics = {m: _means(records, part, m) for m, _ in _METRICS}
    rows = []
    for group in groups:
        n = len({r.item for r in records if r.part == part and r.group == group})
        for metric, label in _METRICS:
            vals = [metrics[metric].get(s, {}).get(group) for s in names]
            if all(v is None for v in vals):
                continue
            rows.append([group, str(n), label] + [_fmt(v, 2, 100) for v in vals])
    for metric, label in _METRICS[:3]:
        scored = [g for g in groups if metrics[metric].get(names[0], {}).get(g) is not None]
        if not scored:
            continue
        rows.append(
            [f"**macro ({len(scored)})**", "", label]
            + [_fmt(_macro(metrics[metric], s, scored), 2, 100) for s in names]
        )
    title = _TITLES.get(part, part)
    return [f"### {title}: in % (macro mean over groups)", "", *_table(
        ["group", "pages", "metric", *names], rows
    ), ""]  # fmt: skip


def speed_report(records: Sequence[Record], names: Sequence[str]) -> list[str]:
    """Wall seconds per scenario over the same pages, and the ratio to ``rapidocr``."""
    pages = _page_keys(records)
    clean = {p for p in pages if p[0] == "synthetic" and p[1] == "clean"}
    total = _seconds(records, pages)
    clean_total = _seconds(records, clean)
    base, base_clean = total.get("rapidocr"), clean_total.get("rapidocr")
    rows = []
    for s in names:
        mine = [r for r in records if r.scenario == s]
        considered = statistics.fmean(r.tiles_considered for r in mine) if mine else 0.0
        restored = statistics.fmean(r.tiles_restored for r in mine) if mine else 0.0
        rows.append(
            [
                s,
                str(len(pages)),
                f"{total[s]:.1f}",
                f"{total[s] / len(pages):.2f}" if pages else "–",
                _ratio(total[s], base),
                f"{clean_total[s]:.1f}" if clean else "–",
                _ratio(clean_total[s], base_clean) if clean else "–",
                f"{statistics.fmean(r.restore_seconds for r in mine):.2f}" if mine else "–",
                f"{considered:.1f}",
                f"{restored:.1f}",
            ]
        )
    header = [
        "scenario",
        "pages",
        "wall s",
        "s/page",
        "× rapidocr",
        "wall s, clean",
        "× rapidocr, clean",
        "restore s/page",
        "tiles considered/page",
        "tiles restored/page",
    ]
    return ["### Wall time (same pages for every scenario)", "", *_table(header, rows), ""]


def decision_report(records: Sequence[Record], scenario: str = "default") -> list[str]:
    """Per group: how many tiles the default pipeline considered and restored, and why;
    on how many pages an engine re-read the unsure regions enlarged, and on how many a
    motion blur was found (and the page read deconvolved)."""
    mine = [r for r in records if r.scenario == scenario]
    if not mine:
        return []
    rows = []
    for part in ("dev", "real", "synthetic"):
        for group in _groups(records, part):
            rs = [r for r in mine if r.part == part and r.group == group]
            reasons: dict[str, int] = defaultdict(int)
            for r in rs:
                for reason, count in r.reasons.items():
                    reasons[reason] += count
            rows.append(
                [
                    group,
                    str(len(rs)),
                    f"{statistics.fmean(r.tiles_considered for r in rs):.1f}",
                    f"{statistics.fmean(r.tiles_restored for r in rs):.1f}",
                    str(sum(r.enlarged for r in rs)),
                    f"{sum(r.deblurred for r in rs)} of {sum(r.blur_found for r in rs)}",
                    ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) or "–",
                ]
            )
    header = [
        "group",
        "pages",
        "tiles considered/page",
        "tiles restored/page",
        "pages re-read enlarged",
        "pages deconvolved, of blurred",
        "reasons",
    ]
    return [f"### Restoration in `{scenario}`", "", *_table(header, rows), ""]


def _page_keys(records: Iterable[Record]) -> set[tuple[str, str, str]]:
    return {(r.part, r.group, r.item) for r in records}


def _seconds(records: Iterable[Record], pages: set[tuple[str, str, str]]) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for r in records:
        if (r.part, r.group, r.item) in pages:
            out[r.scenario] += r.seconds
    return out


def _ratio(value: float, base: float | None) -> str:
    return f"{value / base:.2f}" if base else "–"


# ---------------------------------------------------------------------- bar checks


def bar_checks(records: Sequence[Record], names: Sequence[str]) -> list[str]:
    """The four bars (see benchmarks/README.md), one line each: PASS, FAIL or n/a."""
    singles = [s for s in SINGLE_ENGINES if s in names]
    lines = ["### Bar checks", ""]
    if "default" not in names or not singles:
        return [*lines, "- n/a: needs the `default` scenario and a single engine", ""]
    lines.append(_check_a(records, singles))
    lines.append(_check_b(records, singles))
    lines += _check_c(records, names)
    lines.append(_check_d(records, names))
    return [*lines, ""]


def _line(label: str, ok: bool | None, detail: str) -> str:
    verdict = "n/a" if ok is None else "PASS" if ok else "**FAIL**"
    return f"- ({label}) {verdict}: {detail}"


def _check_a(records: Sequence[Record], singles: Sequence[str]) -> str:
    """default F1 ≥ best single engine on every dataset, strictly higher on the macro."""
    f1: dict[str, dict[str, float]] = {}
    for part in ("dev", "real"):
        for scenario, groups in _means(records, part, "f1").items():
            f1.setdefault(scenario, {}).update(groups)
    datasets = sorted(g for g in f1.get("default", {}) if all(g in f1.get(s, {}) for s in singles))
    label = "a"
    if not datasets:
        return _line(label, None, "no dataset with word F1 (run with --dev or --real)")
    worse = []
    for g in datasets:
        best = max(singles, key=lambda s: f1[s][g])
        if f1["default"][g] < f1[best][g] - 1e-9:
            worse.append(f"{g} {f1['default'][g] * 100:.2f} < {best} {f1[best][g] * 100:.2f}")
    macro = {s: statistics.fmean(f1[s][g] for g in datasets) for s in (*singles, "default")}
    best = max(singles, key=lambda s: macro[s])
    strictly = macro["default"] > macro[best] + 1e-9
    detail = (
        f"default word F1 ≥ best single engine on every dataset ({len(datasets)}): "
        + ("yes" if not worse else "no, " + "; ".join(worse))
        + f"; macro {macro['default'] * 100:.2f} vs {best} {macro[best] * 100:.2f} %"
        + (" (higher)" if strictly else " (not higher)")
    )
    return _line(label, not worse and strictly, detail)


def _kind_cer(records: Sequence[Record]) -> dict[str, dict[str, float]]:
    return _means(records, "synthetic", "cer")


def _check_b(records: Sequence[Record], singles: Sequence[str]) -> str:
    """Every kind: default CER ≤ best single engine + 0.2 pp; the mean strictly lower."""
    cer = _kind_cer(records)
    kinds = [k for k in cer.get("default", {}) if all(k in cer.get(s, {}) for s in singles)]
    if not kinds:
        return _line("b", None, "no synthetic pages")
    kinds.sort(key=_group_order)
    worse = []
    for k in kinds:
        best = min(singles, key=lambda s: cer[s][k])
        if cer["default"][k] > cer[best][k] + CER_TOLERANCE + 1e-12:
            worse.append(f"{k} {cer['default'][k] * 100:.2f} > {best} {cer[best][k] * 100:.2f}")
    mean = {s: statistics.fmean(cer[s][k] for k in kinds) for s in (*singles, "default")}
    best = min(singles, key=lambda s: mean[s])
    strictly = mean["default"] < mean[best] - 1e-12
    detail = (
        f"default CER ≤ best single engine + 0.2 pp on every kind ({len(kinds)}): "
        + ("yes" if not worse else "no, " + "; ".join(worse))
        + f"; mean {mean['default'] * 100:.2f} vs {best} {mean[best] * 100:.2f} %"
        + (" (lower)" if strictly else " (not lower)")
    )
    return _line("b", not worse and strictly, detail)


def _check_c(records: Sequence[Record], names: Sequence[str]) -> list[str]:
    """``tesseract+R`` never worse than ``tesseract`` by more than 0.2 pp CER on a kind."""
    cer = _kind_cer(records)
    restored = [s for s in names if s.startswith("tesseract+")]
    if not restored or "tesseract" not in cer:
        need = "needs `tesseract` and a `tesseract+R` scenario on synthetic pages"
        return [_line("c", None, need)]
    lines = []
    for s in restored:
        kinds = sorted((k for k in cer.get(s, {}) if k in cer["tesseract"]), key=_group_order)
        worse = [
            f"{k} +{(cer[s][k] - cer['tesseract'][k]) * 100:.2f} pp"
            for k in kinds
            if cer[s][k] > cer["tesseract"][k] + CER_TOLERANCE + 1e-12
        ]
        detail = f"`{s}` within 0.2 pp CER of `tesseract` on every kind ({len(kinds)}): " + (
            "yes" if not worse else "no, worse on " + ", ".join(worse)
        )
        lines.append(_line("c", (not worse) if kinds else None, detail))
    return lines


def _check_d(records: Sequence[Record], names: Sequence[str]) -> str:
    """default wall time ≤ 1.5× rapidocr overall and ≤ 1.2× on the clean kind."""
    if "rapidocr" not in names:
        return _line("d", None, "needs the `rapidocr` scenario")
    pages = _page_keys(records)
    clean = {p for p in pages if p[0] == "synthetic" and p[1] == "clean"}
    total = _seconds(records, pages)
    ratio = total["default"] / total["rapidocr"] if total["rapidocr"] else None
    ok_all = ratio is not None and ratio <= TIME_RATIO_ALL
    detail = (
        f"default wall time {total['default']:.1f} s = "
        f"{_ratio(total['default'], total['rapidocr'])}× rapidocr {total['rapidocr']:.1f} s "
        f"over {len(pages)} pages (≤ {TIME_RATIO_ALL}×)"
    )
    ok_clean: bool | None = None
    if clean:
        ct = _seconds(records, clean)
        clean_ratio = ct["default"] / ct["rapidocr"] if ct["rapidocr"] else None
        ok_clean = clean_ratio is not None and clean_ratio <= TIME_RATIO_CLEAN
        detail += (
            f"; clean kind {ct['default']:.1f} s = {_ratio(ct['default'], ct['rapidocr'])}× "
            f"{ct['rapidocr']:.1f} s over {len(clean)} pages (≤ {TIME_RATIO_CLEAN}×)"
        )
    else:
        detail += "; clean kind not run (n/a)"
    return _line("d", ok_all and ok_clean is not False, detail)


def error_report(records: Sequence[Record]) -> list[str]:
    failed = [r for r in records if r.error]
    if not failed:
        return []
    lines = ["### Failed readings (scored as what they delivered)", ""]
    lines += [f"- {r.part} {r.group} {r.item} [{r.scenario}]: {r.error}" for r in failed]
    return [*lines, ""]


def report(records: Sequence[Record], plan: Sequence[Scenario]) -> list[str]:
    """The markdown report: accuracy per part, wall time, restoration, bar checks."""
    names = [s.name for s in plan]
    lines: list[str] = []
    lines += bar_checks(records, names)
    for part in ("dev", "real", "synthetic"):
        lines += accuracy_report(records, names, part)
    lines += speed_report(records, names)
    lines += decision_report(records)
    lines += error_report(records)
    return lines


# ---------------------------------------------------------------------- CLI


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="The default pipeline against single engines and restorers, "
        "side by side on the same pages, with wall times.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--restorers",
        default="cleaner,classical",
        help="R of the tesseract+R scenarios (comma-separated; '' for none)",
    )
    parser.add_argument(
        "--with-always",
        action="store_true",
        help="add `default:always` (Pipeline(restore='always'))",
    )
    parser.add_argument("--lang", default="eng", help="OCR languages, e.g. eng+deu")
    parser.add_argument("--kinds", default="all", help="degradation kinds, comma-separated")
    parser.add_argument("--pages-per-kind", type=int, default=2)
    parser.add_argument(
        "--fonts",
        default="",
        help="typeset synthetic pages in these fonts (comma-separated), or 'held-out' "
        "for the fonts the cleaner never saw in training (default: drawn per seed)",
    )
    parser.add_argument("--no-synthetic", dest="synthetic", action="store_false")
    parser.add_argument("--real", action="store_true", help="also score the real data")
    parser.add_argument("--data", type=Path, default=DEFAULT_REAL_DATA, help="real data folder")
    parser.add_argument(
        "--dev", action="store_true", help="also score the development set (FUNSD, SROIE)"
    )
    parser.add_argument("--dev-data", type=Path, default=DEFAULT_DEV_DATA, help="dev folder")
    parser.add_argument(
        "--dev-limit", type=int, default=None, help="take the first N items of each dev dataset"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="pages evaluated at once (more than 1 makes the wall times share the CPU)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a plugin option for every pipeline, as its argparse name; repeatable",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the markdown report here")
    return parser.parse_args(argv)


def _plan(args: argparse.Namespace, notes: list[str]) -> list[Scenario]:
    from tair_ocr.plugins import PluginManager

    plugins = PluginManager(autoload=True)
    engines = [e for e in SINGLE_ENGINES if e in plugins.engines.names()]
    for missing in sorted(set(SINGLE_ENGINES) - set(engines)):
        hint = " (pip install -e plugins/tair-ocr-rapidocr)" if missing == "rapidocr" else ""
        notes.append(f"engine {missing!r} is not installed: its scenarios are skipped{hint}")
    restorers = [r.strip() for r in args.restorers.split(",") if r.strip()]
    for name in list(restorers):
        if name not in plugins.restorers.names():
            notes.append(f"restorer {name!r} is not installed: skipped")
            restorers.remove(name)
    return scenarios(restorers, with_always=args.with_always, engines=engines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the markdown report (and write it with ``--out``)."""
    from ocr_accuracy import _plugin_options

    args = _parse(argv)
    notes: list[str] = []
    plan = _plan(args, notes)
    tasks: list[Task] = []
    if args.synthetic:
        all_kinds, kinds = parse_kinds(args.kinds)
        if not kinds:
            return 2
        tasks += synthetic_tasks(
            kinds, args.pages_per_kind, all_kinds, _fonts(args.fonts), PIPELINE_SEED_BASE
        )
    if args.dev:
        tasks += dev_tasks(args.dev_data, args.dev_limit, notes)
    if args.real:
        tasks += real_tasks_or_note(args.data, notes)
    if not tasks:
        print("nothing to do", file=sys.stderr)
        return 1

    options = {"languages": args.lang, "plugin_options": _plugin_options(args.set)}
    started = time.perf_counter()
    records = run_tasks(tasks, plan, options, max(1, args.jobs))
    wall = time.perf_counter() - started
    command = "python benchmarks/pipeline_accuracy.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    lines = [
        "## Pipeline benchmark: " + ", ".join(s.name for s in plan),
        "",
        f"Command: `{command}`  ",
        f"Wall time: {wall / 60:.1f} min with {args.jobs} job(s); {len(tasks)} pages × "
        f"{len(plan)} scenarios; {os.cpu_count()} CPUs.",
        "",
    ]
    lines += [f"Note: {n}  " for n in notes]
    if notes:
        lines.append("")
    lines += report(records, plan)
    publish(lines, records, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
