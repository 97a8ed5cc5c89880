"""Fusion and the hallucination guard: accuracy of fused readings against single engines.

Every page goes through the real :class:`tair_ocr.pipeline.Pipeline` once per
scenario and its text is scored against the ground truth (metrics in
``benchmarks/metrics.py``):

- ``tesseract``, ``rapidocr``: one engine, no restorer;
- ``fused``: both engines, readings fused (``--fusion conservative``, the default
  pipeline when both are installed); ``fused-vote`` with ``--modes ...,vote``;
- for each restorer R of ``--restorers``: ``R:tesseract`` (the restored page read by
  tesseract alone, fusion off: what restoration does unguarded), ``R:fused`` (both
  engines on the restored page, both on the unrestored page, guard on) and
  ``R:vote``.

``harmful`` is ``tests/plugins/harmful_restorer.py``: it swaps glyphs, so the
restored page reads wrong letters with good confidence. The guard passes when
``harmful:fused`` is no worse than the unrestored readings.

    python benchmarks/fusion_accuracy.py --pages-per-kind 2 --real
    python benchmarks/fusion_accuracy.py --no-synthetic --real --restorers harmful

Synthetic pages use seeds ``FUSION_SEED_BASE + 1000 * kind_index + i`` (20 000 and
up), apart from the training, sample and restorer-benchmark seeds. Engine outputs
are cached per page within a run (a scenario that reads the same pixels with the
same engine reuses the reading), so the engine seconds below count each distinct
reading once.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ocr_accuracy import (
    DEFAULT_REAL_DATA,
    Task,
    _fmt,
    _init_worker,
    _mean,
    _real_input,
    _synthetic_input,
    _table,
    parse_kinds,
    publish,
    real_tasks_or_note,
)

ROOT = Path(__file__).resolve().parents[1]
HARMFUL = ROOT / "tests" / "plugins" / "harmful_restorer.py"
#: First seed of this benchmark's synthetic pages (kind k, page i: base + 1000 k + i).
FUSION_SEED_BASE = 20_000


@dataclass(frozen=True)
class Scenario:
    """One way of reading a page: engines, restorer and fusion mode."""

    name: str
    engine: str
    restorer: str = "none"
    fusion: str = "conservative"


@dataclass
class Record:
    """One page read in one scenario, and its scores."""

    part: str
    group: str
    item: str
    scenario: str
    cer: float | None = None
    wer: float | None = None
    f1: float | None = None
    recall: float | None = None
    seconds: float = 0.0
    fusion_seconds: float = 0.0
    guard_kept_original: int = 0
    uncertain_words: int = 0
    error: str | None = None
    #: Seconds of engine work this page cost (cache misses only), by engine.
    engine_seconds: dict[str, float] = field(default_factory=dict)


def scenarios(restorers: Sequence[str], modes: Sequence[str]) -> list[Scenario]:
    """The scenarios of a run (see the module docstring)."""
    both = "tesseract,rapidocr"
    out = [Scenario("tesseract", "tesseract"), Scenario("rapidocr", "rapidocr")]
    out += [
        Scenario("fused" if m == "conservative" else f"fused-{m}", both, fusion=m) for m in modes
    ]
    for r in restorers:
        out.append(Scenario(f"{r}:tesseract", "tesseract", restorer=r, fusion="off"))
        out += [
            Scenario(f"{r}:fused" if m == "conservative" else f"{r}:{m}", both, r, m) for m in modes
        ]
    return out


# ---------------------------------------------------------------------- workers

_PIPELINES: dict[Scenario, Any] = {}
#: (engine, pixels, languages, dpi) -> words; cleared after each page.
_READINGS: dict[tuple[Any, ...], list[Any]] = {}
_ENGINE_SECONDS: dict[str, float] = defaultdict(float)
#: Folder that keeps engine readings between runs (``--cache-dir``), or None.
_CACHE_DIR: Path | None = None


def _pipeline(scenario: Scenario, languages: str) -> Any:
    from tair_ocr.pipeline import Pipeline

    if scenario not in _PIPELINES:
        pipeline = Pipeline(
            engine=scenario.engine,
            restorer=scenario.restorer,
            fusion=scenario.fusion,
            languages=languages,
            jobs=1,
            output_types=["txt"],
            plugins=[str(HARMFUL)],
            autoload=True,  # the rapidocr plugin is an installed distribution
        )
        for engine in pipeline.engines:
            _cache_readings(engine)
        _PIPELINES[scenario] = pipeline
    return _PIPELINES[scenario]


def _cache_readings(engine: Any) -> None:
    """Make ``engine.recognize`` reuse readings of identical pixels (engines are
    deterministic), so scenarios that share a reading don't pay for it twice."""
    read = engine.recognize
    version = _code_version(engine)

    def recognize(image: Any, *, languages: list[str], dpi: float, timeout: Any = None) -> Any:
        digest = hashlib.sha1(image.tobytes()).hexdigest()
        pixels = (digest, image.size, image.mode)
        key = (engine.name, version, *pixels, tuple(languages), round(dpi, 3))
        if key not in _READINGS:
            stored = _stored(key)
            if stored is None:
                stored = _store(key, _timed_read(image, languages, dpi, timeout))
            _READINGS[key] = stored
        return [w.model_copy() for w in _READINGS[key]]

    def _timed_read(image: Any, languages: list[str], dpi: float, timeout: Any) -> list[Any]:
        started = time.perf_counter()
        words = read(image, languages=languages, dpi=dpi, timeout=timeout)
        _ENGINE_SECONDS[engine.name] += time.perf_counter() - started
        return words

    engine.recognize = recognize


def _code_version(engine: Any) -> str:
    """A hash of the engine's module source: cached readings expire when it changes."""
    import inspect

    try:
        source = inspect.getsource(inspect.getmodule(type(engine)))  # type: ignore[arg-type]
    except (OSError, TypeError):
        return "unknown"
    return hashlib.sha1(source.encode()).hexdigest()[:12]


def _cache_file(key: tuple[Any, ...]) -> Path | None:
    if _CACHE_DIR is None:
        return None
    name = hashlib.sha1(repr(key).encode()).hexdigest()
    return _CACHE_DIR / f"{key[0]}-{name}.json"


def _stored(key: tuple[Any, ...]) -> list[Any] | None:
    """A reading kept by an earlier run with ``--cache-dir``."""
    from tair_ocr.results import Word

    path = _cache_file(key)
    if path is None or not path.is_file():
        return None
    return [Word.model_validate(w) for w in json.loads(path.read_text(encoding="utf-8"))]


def _store(key: tuple[Any, ...], words: list[Any]) -> list[Any]:
    path = _cache_file(key)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps([w.model_dump() for w in words]), encoding="utf-8")
    return words


def _evaluate(task: Task, plan: Sequence[Scenario], options: dict[str, Any]) -> list[Record]:
    """Read one page in every scenario (in a worker process)."""
    global _CACHE_DIR
    _CACHE_DIR = options.get("cache_dir")
    _READINGS.clear()
    _ENGINE_SECONDS.clear()
    records = []
    with tempfile.TemporaryDirectory(prefix="tair-fusion-") as tmp:
        if task.part == "synthetic":
            path, scorer = _synthetic_input(task, Path(tmp))
        else:
            path, scorer = _real_input(task)
        for scenario in plan:
            record = Record(task.part, task.group, task.item, scenario.name)
            try:
                pipeline = _pipeline(scenario, options["languages"])
                started = time.perf_counter()
                result = pipeline.run(path, write=False)
                record.seconds = time.perf_counter() - started
            except Exception as exc:  # one bad page must not stop the benchmark
                record.error = f"{type(exc).__name__}: {exc}"
                records.append(record)
                continue
            for page in result.pages:
                record.fusion_seconds += page.timings.get("fusion", 0.0)
                record.guard_kept_original += page.counters.get("guard_kept_original", 0)
                record.uncertain_words += page.counters.get("uncertain_words", 0)
                if page.error is not None:
                    record.error = page.error.message
            if record.error is None:
                scorer(result.text, record)
            records.append(record)
    if records:
        records[0].engine_seconds = dict(_ENGINE_SECONDS)
    return records


def run_tasks(
    tasks: Sequence[Task], plan: Sequence[Scenario], options: dict[str, Any], jobs: int
) -> list[Record]:
    """Evaluate ``tasks`` on ``jobs`` processes, printing progress to stderr."""
    records: list[Record] = []

    def progress(done: int, recs: list[Record]) -> None:
        first = recs[0]
        scores = " ".join(
            f"{r.scenario}={_fmt(r.wer if r.wer is not None else r.cer, 3)}"
            + ("(ERR)" if r.error else "")
            for r in recs
        )
        print(f"[{done}/{len(tasks)}] {first.group} {first.item}: {scores}", file=sys.stderr)

    if jobs <= 1:
        _init_worker()
        for i, task in enumerate(tasks, 1):
            recs = _evaluate(task, plan, options)
            records.extend(recs)
            progress(i, recs)
        return records
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker) as pool:
        futures = [pool.submit(_evaluate, t, plan, options) for t in tasks]
        for i, future in enumerate(futures, 1):
            recs = future.result()
            records.extend(recs)
            progress(i, recs)
    return records


def synthetic_tasks(
    kinds: Sequence[str],
    pages_per_kind: int,
    all_kinds: Sequence[str],
    render: dict[str, Any] | None = None,
) -> list[Task]:
    """One task per (kind, page), with seeds from this benchmark's range;
    ``render`` holds extra :func:`tair_workbench.synthetic.render_page` arguments."""
    tasks = []
    for kind in kinds:
        k = list(all_kinds).index(kind)
        for i in range(pages_per_kind):
            seed = FUSION_SEED_BASE + 1000 * k + i
            spec = {"seed": seed, "render": dict(render or {})}
            tasks.append(Task("synthetic", kind, str(seed), spec))
    return tasks


# ---------------------------------------------------------------------- report


def _group_means(records: list[Record], part: str, metric: str) -> dict[str, dict[str, float]]:
    """scenario -> group -> mean of ``metric`` over the group's pages."""
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        value = getattr(r, metric)
        if r.part == part and value is not None and r.error is None:
            values[r.scenario][r.group].append(value)
    return {s: {g: statistics.fmean(v) for g, v in gs.items()} for s, gs in values.items()}


def _macro(
    means: dict[str, dict[str, float]], scenario: str, groups: Sequence[str]
) -> float | None:
    return _mean(means.get(scenario, {}).get(g) for g in groups)


def part_report(records: list[Record], plan: Sequence[Scenario], part: str) -> list[str]:
    """Per-group CER/WER/F1 tables (percent), macro means, and the bar checks."""
    mine = [r for r in records if r.part == part]
    if not mine:
        return []
    names = [s.name for s in plan]
    title = "Synthetic pages" if part == "synthetic" else "Real data"
    out = [f"### {title}: WER / word F1 / CER in % (macro mean over groups)", ""]
    groups = sorted({r.group for r in mine})
    metrics = {m: _group_means(records, part, m) for m in ("wer", "f1", "cer", "recall")}
    rows = []
    for group in groups:
        n = len({r.item for r in mine if r.group == group})
        for metric, label in (
            ("wer", "WER ↓"),
            ("f1", "F1 ↑"),
            ("cer", "CER ↓"),
            ("recall", "recall ↑"),
        ):
            vals = [metrics[metric].get(s, {}).get(group) for s in names]
            if all(v is None for v in vals):
                continue
            rows.append([group, str(n), label] + [_fmt(v, 1, 100) for v in vals])
    for metric, label in (("wer", "WER ↓"), ("f1", "F1 ↑"), ("cer", "CER ↓")):
        scored = [g for g in groups if metrics[metric].get("tesseract", {}).get(g) is not None]
        rows.append(
            [f"**macro ({len(scored)} groups)**", "", label]
            + [_fmt(_macro(metrics[metric], s, scored), 2, 100) for s in names]
        )
    out += [*_table(["group", "pages", "metric", *names], rows), ""]
    out += _bar_checks(metrics, names, groups)
    return out


def _bar_checks(
    metrics: dict[str, dict[str, dict[str, float]]], names: Sequence[str], groups: Sequence[str]
) -> list[str]:
    out = []

    def macro(metric: str, scenario: str) -> float | None:
        scored = [g for g in groups if metrics[metric].get("tesseract", {}).get(g) is not None]
        return _macro(metrics[metric], scenario, scored)

    if {"fused", "tesseract", "rapidocr"} <= set(names):
        wer = {s: macro("wer", s) for s in ("fused", "tesseract", "rapidocr")}
        f1 = {s: macro("f1", s) for s in ("fused", "tesseract", "rapidocr")}
        if all(v is not None for v in (*wer.values(), *f1.values())):
            best_wer = min(wer["tesseract"] or 0.0, wer["rapidocr"] or 0.0)
            best_f1 = max(f1["tesseract"] or 0.0, f1["rapidocr"] or 0.0)
            fused_wer, fused_f1 = wer["fused"] or 0.0, f1["fused"] or 0.0
            out.append(
                f"- fused vs best single engine: WER {fused_wer * 100:.2f} vs "
                f"{best_wer * 100:.2f} % ({_verdict(best_wer - fused_wer)}), word F1 "
                f"{fused_f1 * 100:.2f} vs {best_f1 * 100:.2f} % ({_verdict(fused_f1 - best_f1)})"
            )
    for name in names:
        if not name.endswith(":fused"):
            continue
        restorer = name.split(":")[0]
        checks = []
        for base in ("tesseract", "fused"):
            mine, ref = macro("wer", name), macro("wer", base)
            if mine is None or ref is None:
                continue
            checks.append(
                f"{mine * 100:.2f} vs unrestored `{base}` {ref * 100:.2f} "
                f"({'≤' if mine <= ref + 1e-9 else '>'})"
            )
        unguarded = macro("wer", f"{restorer}:tesseract")
        if checks:
            out.append(
                f"- `{name}` WER: "
                + "; ".join(checks)
                + (f"; unguarded `{restorer}:tesseract` {unguarded * 100:.2f}" if unguarded else "")
            )
    return [*out, ""] if out else []


def _verdict(gain: float) -> str:
    return "better" if gain > 1e-9 else "equal" if gain > -1e-9 else "**worse**"


def guard_report(records: list[Record], plan: Sequence[Scenario]) -> list[str]:
    """Words the guard kept from the unrestored page / flagged uncertain, and speed."""
    rows = []
    for s in plan:
        mine = [r for r in records if r.scenario == s.name and r.error is None]
        if not mine:
            continue
        rows.append(
            [
                s.name,
                str(len(mine)),
                str(sum(r.guard_kept_original for r in mine)),
                str(sum(r.uncertain_words for r in mine)),
                f"{statistics.fmean(r.fusion_seconds for r in mine):.3f}",
            ]
        )
    header = ["scenario", "pages", "kept original", "uncertain", "fusion s/page"]
    engine: dict[str, list[float]] = defaultdict(list)
    for r in records:
        for name, seconds in r.engine_seconds.items():
            engine[name].append(seconds)
    pages = len({(r.part, r.group, r.item) for r in records})
    lines = ["### Guard counters and speed", "", *_table(header, rows), ""]
    if engine and pages:
        per_page = ", ".join(f"{n} {sum(v) / pages:.1f} s" for n, v in sorted(engine.items()))
        lines += [f"Engine time per page (all distinct readings of the page): {per_page}.", ""]
    failed = [r for r in records if r.error]
    if failed:
        lines += ["Failed:", ""] + [
            f"- {r.group} {r.item} [{r.scenario}]: {r.error}" for r in failed
        ]
        lines.append("")
    return lines


# ---------------------------------------------------------------------- CLI


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Accuracy of fused readings and of the hallucination guard.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--restorers",
        default="harmful,classical",
        help="restorers to read the pages through (comma-separated; '' for none)",
    )
    parser.add_argument(
        "--modes", default="conservative", help="fusion modes, e.g. conservative,vote"
    )
    parser.add_argument("--lang", default="eng")
    parser.add_argument("--kinds", default="all", help="degradation kinds, comma-separated")
    parser.add_argument("--pages-per-kind", type=int, default=2)
    parser.add_argument(
        "--page-size", default=None, help="synthetic page size (a4, letter, a5...; default: random)"
    )
    parser.add_argument("--no-synthetic", dest="synthetic", action="store_false")
    parser.add_argument("--real", action="store_true", help="also score the real data")
    parser.add_argument("--data", type=Path, default=DEFAULT_REAL_DATA, help="real data folder")
    parser.add_argument("--jobs", type=int, default=1, help="pages evaluated at once")
    parser.add_argument("--out", type=Path, default=None, help="write the markdown report here")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="keep engine readings here between runs (re-running after a fusion change "
        "then costs only restoration and fusion); engine seconds count cache misses only",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the markdown report (and write it with ``--out``)."""
    args = _parse(argv)
    from tair_ocr.plugins import PluginManager

    plugins = PluginManager(plugins=[str(HARMFUL)], autoload=True)
    missing = [e for e in ("tesseract", "rapidocr") if e not in plugins.engines.names()]
    if missing:
        print(f"engines not installed: {', '.join(missing)} (pip install -e "
              "plugins/tair-ocr-rapidocr)", file=sys.stderr)  # fmt: skip
        return 1
    notes = []
    restorers = [r.strip() for r in args.restorers.split(",") if r.strip()]
    try:
        import tair_ocr.restoration  # noqa: F401 - the tile stage restorers need
    except ImportError:
        notes.append("the tile stage (tair_ocr.restoration) is missing: restorer scenarios skipped")
        restorers = []
    for name in list(restorers):
        if name not in plugins.restorers.names():
            notes.append(f"restorer {name!r} is not installed: skipped")
            restorers.remove(name)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    plan = scenarios(restorers, modes)

    tasks: list[Task] = []
    if args.synthetic:
        all_kinds, kinds = parse_kinds(args.kinds)
        if not kinds:
            return 2
        render = {"size": args.page_size} if args.page_size else {}
        tasks += synthetic_tasks(kinds, args.pages_per_kind, all_kinds, render)
    if args.real:
        tasks += real_tasks_or_note(args.data, notes)
    if not tasks:
        print("nothing to do", file=sys.stderr)
        return 1

    started = time.perf_counter()
    options = {"languages": args.lang, "cache_dir": args.cache_dir}
    records = run_tasks(tasks, plan, options, max(1, args.jobs))
    wall = time.perf_counter() - started
    command = "python benchmarks/fusion_accuracy.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    lines = [
        "## Fusion benchmark: " + ", ".join(s.name for s in plan),
        "",
        f"Command: `{command}`  ",
        f"Wall time: {wall / 60:.1f} min with {args.jobs} job(s); {len(tasks)} pages.",
        "",
    ]
    lines += [f"Note: {n}  " for n in notes]
    lines += part_report(records, plan, "synthetic")
    lines += part_report(records, plan, "real")
    lines += guard_report(records, plan)
    publish(lines, records, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
