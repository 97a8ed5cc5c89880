"""Page geometry (orientation and deskew filters): do turned and skewed pages read as
well as upright ones?

Each page is read by the real :class:`tair_ocr.pipeline.Pipeline` in several
**variants** of the same pixels, and every reading is scored against the page's
ground truth (CER, ``benchmarks/metrics.py``):

- ``upright:off``: the page as it is, with both geometry filters off (the reference
  of "did the filters change anything on an upright page");
- ``upright``: the page as it is, default settings (filters on);
- ``turn90``, ``turn180``, ``turn270``: the page turned counter-clockwise by that
  many degrees (as a page fed sideways or upside down comes out of a scanner); the
  orientation filter must turn it back clockwise by the same amount;
- ``skew+2``, ``skew-5``: the page rotated by that many degrees (counter-clockwise
  positive) onto a larger canvas, the corners in the colour along its edges (paper,
  or the table a photographed page lies on);
- ``skew-5:off`` (with ``--with-off``): the same 5° page with the filters off (what
  deskew buys).

Scenarios: ``tesseract`` (``Pipeline(engine="tesseract")``) and ``default``
(``Pipeline()``: every installed engine, the installed ``tair_ocr`` entry points
included, as a user's install has them), both with ``--restorer`` (default
``none``: the geometry filters run before restoration, and restoring every variant
would triple the run time without telling more about them; ``auto`` is the default
pipeline's restorer).

Pages:

- synthetic: ``--synthetic N`` pages (half an A4 sheet at 300 dpi, or the kind's own
  resolution) cycling over :data:`KINDS`, seeds ``GEOMETRY_SEED_BASE + i``
  (70 000 and up: apart from the other benchmarks' and the calibration's seeds);
- the bundled samples (``samples/``; the PDF's pages rasterised at 300 dpi);
- ``--real``: the pages of ``../shared/data/real`` with a page transcription
  (``text``); skipped, with a note, when that folder is absent.

Also reported: whether each turned page was turned back right, the skew the deskew
filter measured against the skew applied, and the filters' seconds per page.

    python benchmarks/geometry_accuracy.py --synthetic 10 --jobs 2 \\
        --out benchmarks/results/geometry.md
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from metrics import cer
from ocr_accuracy import run_in_workers

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
#: The real evaluation pages beside the repository (absent in a user's clone).
DEFAULT_REAL_DATA = ROOT.parent / "shared" / "data" / "real"
#: First seed of this benchmark's synthetic pages (page i: base + i).
GEOMETRY_SEED_BASE = 70_000
#: Degradation kinds the synthetic pages cycle over.
KINDS = (
    "clean",
    "scan",
    "shaded_photo",
    "fax",
    "jpeg",
    "noise",
    "faded_ink",
    "defocus",
    "lowres_75dpi",
    "mixed",
)
#: Body text sizes (pt) cycled over the synthetic pages.
FONT_SIZES = (10.0, 8.0, 12.0, 9.0, 11.0)
#: Synthetic page size (inches): half an A4 sheet.
HALF_A4 = (210 / 25.4, 148.5 / 25.4)
#: Largest CER increase (absolute) of a turned or skewed page over the upright one.
CER_BAR = 0.01


@dataclass(frozen=True)
class Variant:
    """One way of presenting a page: turned (counter-clockwise), skewed, filters on/off."""

    name: str
    turn: int = 0
    skew: float = 0.0
    filters: bool = True


VARIANTS = (
    Variant("upright:off", filters=False),
    Variant("upright"),
    Variant("turn90", turn=90),
    Variant("turn180", turn=180),
    Variant("turn270", turn=270),
    Variant("skew+2", skew=2.0),
    Variant("skew-5", skew=-5.0),
)
#: With ``--with-off``: what the filters buy on a skewed page.
SKEW_OFF = Variant("skew-5:off", skew=-5.0, filters=False)
SCENARIOS = ("tesseract", "default")


@dataclass
class Task:
    """One page: where it comes from and its ground truth."""

    part: str  # "synthetic", "samples" or "real"
    group: str  # degradation kind, sample or dataset
    item: str
    spec: dict[str, Any] = field(default_factory=dict)


@dataclass
class Record:
    """One page read in one variant and scenario."""

    part: str
    group: str
    item: str
    scenario: str
    variant: str
    cer: float | None = None
    #: What the filters recorded (PageResult.geometry).
    rotation: int | None = None
    orientation: str | None = None
    osd_confidence: float | None = None
    skew: float | None = None
    skew_corrected: float = 0.0
    #: The turn that was expected back (the variant's turn).
    expected_rotation: int = 0
    seconds: float = 0.0
    filter_seconds: dict[str, float] = field(default_factory=dict)
    error: str | None = None


# ---------------------------------------------------------------------- pages


def synthetic_tasks(n: int) -> list[Task]:
    tasks = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        seed = GEOMETRY_SEED_BASE + i
        render = {"size": HALF_A4, "font_pt": FONT_SIZES[i % len(FONT_SIZES)]}
        tasks.append(Task("synthetic", kind, str(seed), {"seed": seed, "render": render}))
    return tasks


def sample_tasks() -> list[Task]:
    """The bundled samples: each page with its ground truth."""
    tasks = []
    for path in sorted(SAMPLES.glob("*.gt.txt")):
        stem = path.name.removesuffix(".gt.txt")
        source = next((p for p in SAMPLES.glob(stem + ".*") if not p.name.endswith(".txt")), None)
        if source is None:
            continue
        pages = path.read_text(encoding="utf-8").split("\f")
        for index, text in enumerate(pages):
            item = f"{source.name}" + (f" p{index + 1}" if len(pages) > 1 else "")
            spec = {"path": str(source), "page": index, "text": text}
            tasks.append(Task("samples", stem, item, spec))
    return tasks


def real_tasks(data: Path, notes: list[str]) -> list[Task]:
    """The real pages with a page transcription (CER needs one)."""
    if not data.is_dir():
        notes.append(f"real data not found at {data}: skipped")
        return []
    tasks = []
    for meta_path in sorted(data.glob("*.json")):
        if meta_path.name == "manifest.json":
            continue
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if not meta.get("text"):
            continue
        dataset = meta["dataset"].split(" ")[0]
        spec = {"path": str(meta_path.parent / meta["image"]), "page": 0, "text": meta["text"]}
        tasks.append(Task("real", dataset, meta["image"], spec))
    return tasks


def _load(task: Task) -> tuple[Any, float, str]:
    """The page image (as the loader would deliver it), its DPI and its ground truth."""
    from PIL import Image

    if task.part == "synthetic":
        from tair_workbench.synthetic import degrade, render_page

        spec = task.spec
        page = render_page(seed=spec["seed"], **spec["render"])
        degraded = degrade(page, task.group, seed=spec["seed"])
        return degraded.image, degraded.dpi, degraded.text or ""
    path = Path(task.spec["path"])
    if path.suffix.lower() == ".pdf":
        import pymupdf

        with pymupdf.open(path) as doc:
            pix = doc[task.spec["page"]].get_pixmap(dpi=300, colorspace=pymupdf.csRGB)
            image = Image.frombytes("RGB", (pix.width, pix.height), pix.samples)
        return image, 300.0, task.spec["text"]
    with Image.open(path) as opened:
        dpi = opened.info.get("dpi", (300.0, 300.0))[0] or 300.0
        image = opened.convert("RGB")
    return image, float(dpi), task.spec["text"]


def present(image: Any, variant: Variant) -> Any:
    """``image`` turned counter-clockwise by ``variant.turn`` and rotated by
    ``variant.skew`` degrees (counter-clockwise positive) onto a larger canvas, the
    corners in the median colour along its edges."""
    import cv2
    import numpy as np
    from PIL import Image

    turns = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180}
    turns[270] = Image.Transpose.ROTATE_270
    if variant.turn:
        image = image.transpose(turns[variant.turn])
    if variant.skew:
        pixels = np.asarray(image)
        h, w = pixels.shape[:2]
        t = math.radians(variant.skew)
        nw = math.ceil(w * abs(math.cos(t)) + h * abs(math.sin(t)))
        nh = math.ceil(w * abs(math.sin(t)) + h * abs(math.cos(t)))
        m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), variant.skew, 1.0)
        m[0, 2] += (nw - w) / 2
        m[1, 2] += (nh - h) / 2
        # The corners take the colour along the edges: paper, or a photo's surround.
        h_band, w_band = max(1, h // 100), max(1, w // 100)
        channels = pixels.shape[2] if pixels.ndim == 3 else 1
        edges = [
            pixels[:h_band].reshape(-1, channels),
            pixels[-h_band:].reshape(-1, channels),
            pixels[:, :w_band].reshape(-1, channels),
            pixels[:, -w_band:].reshape(-1, channels),
        ]
        paper = np.median(np.concatenate(edges), axis=0)
        pixels = cv2.warpAffine(
            pixels,
            m,
            (nw, nh),
            flags=cv2.INTER_CUBIC,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=tuple(float(v) for v in paper),
        )
        image = Image.fromarray(pixels, image.mode)
    return image


# ---------------------------------------------------------------------- workers

_PIPELINES: dict[tuple[str, bool], Any] = {}


def _init_worker() -> None:
    from tair_workbench.calibration.fit import limit_threads

    limit_threads()


def _pipeline(scenario: str, filters: bool, options: dict[str, Any]) -> Any:
    from tair_ocr.pipeline import Pipeline

    key = (scenario, filters)
    if key not in _PIPELINES:
        settings: dict[str, Any] = {
            "languages": options["languages"],
            "restorer": options["restorer"],
            "output_types": ["txt"],
        }
        if scenario != "default":
            settings["engine"] = scenario
        if not filters:
            settings["options"] = {"orientation": {"enabled": False}, "deskew": {"enabled": False}}
        # autoload: the rapidocr engine is an installed plugin, as a user's would be.
        _PIPELINES[key] = Pipeline(autoload=True, **settings)
    return _PIPELINES[key]


def _evaluate(task: Task, scenarios: Sequence[str], options: dict[str, Any]) -> list[Record]:
    """Read one page in every variant and scenario (in a worker process)."""
    image, dpi, text = _load(task)
    records = []
    with tempfile.TemporaryDirectory(prefix="tair-geometry-") as tmp:
        for variant in options["variants"]:
            path = Path(tmp) / f"{variant.name.replace(':', '_')}.png"
            present(image, variant).save(path, dpi=(dpi, dpi))
            for scenario in scenarios:
                record = Record(task.part, task.group, task.item, scenario, variant.name)
                record.expected_rotation = variant.turn  # turned back clockwise as much
                records.append(record)
                try:
                    pipeline = _pipeline(scenario, variant.filters, options)
                    started = time.perf_counter()
                    result = pipeline.run(path, write=False)
                    record.seconds = time.perf_counter() - started
                except Exception as exc:  # one bad page must not stop the benchmark
                    record.error = f"{type(exc).__name__}: {exc}"
                    continue
                page = result.pages[0]
                if page.error is not None:
                    record.error = page.error.message
                record.cer = cer(text, result.text)
                geometry = page.geometry
                if geometry is not None:
                    record.rotation = geometry.rotation
                    record.orientation = geometry.orientation
                    record.osd_confidence = geometry.osd_confidence
                    record.skew = geometry.skew
                    record.skew_corrected = geometry.skew_corrected
                record.filter_seconds = {
                    k.removeprefix("filter:"): v
                    for k, v in page.timings.items()
                    if k.startswith("filter:")
                }
    return records


def run_tasks(
    tasks: Sequence[Task], scenarios: Sequence[str], options: dict[str, Any], jobs: int
) -> list[Record]:
    return run_in_workers(tasks, _evaluate, (scenarios, options), jobs, _init_worker, _progress)


def _progress(done: int, total: int, records: list[Record]) -> None:
    first = records[0]
    scores = " ".join(
        f"{r.scenario}/{r.variant}={_fmt(r.cer, 2, 100)}" + (" ERR" if r.error else "")
        for r in records
    )
    print(f"[{done}/{total}] {first.part} {first.group} {first.item}: {scores}", file=sys.stderr)


# ---------------------------------------------------------------------- report


def _mean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.fmean(vals) if vals else None


def _fmt(value: float | None, digits: int = 1, scale: float = 1.0, sign: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value * scale:+.{digits}f}" if sign else f"{value * scale:.{digits}f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _by_page(records: Sequence[Record]) -> dict[tuple[str, str, str], dict[str, Record]]:
    pages: dict[tuple[str, str, str], dict[str, Record]] = defaultdict(dict)
    for r in records:
        pages[(r.scenario, r.part, r.item)][r.variant] = r
    return pages


def accuracy_report(
    records: Sequence[Record], scenarios: Sequence[str], variants: Sequence[Variant]
) -> list[str]:
    """Mean CER per variant, its increase over ``upright`` (mean and worst page), and
    the bar check, per scenario; then per part."""
    pages = _by_page(records)
    lines = [
        "### CER by variant (percent; Δ: the variant's CER minus the upright page's, "
        "percentage points, mean and worst page)",
        "",
    ]
    rows = []
    verdicts = []
    for scenario in scenarios:
        mine = {k: v for k, v in pages.items() if k[0] == scenario}
        for variant in variants:
            deltas, cers = [], []
            for page in mine.values():
                r, up = page.get(variant.name), page.get("upright")
                if r is None or r.cer is None:
                    continue
                cers.append(r.cer)
                if up is not None and up.cer is not None:
                    deltas.append(r.cer - up.cer)
            mean_delta = _mean(deltas)
            worst = max(deltas) if deltas else None
            bar = ""
            if variant.filters and variant.name != "upright" and mean_delta is not None:
                ok = mean_delta <= CER_BAR
                bar = "yes" if ok else "**no**"
                verdicts.append((scenario, variant.name, ok))
            rows.append(
                [
                    scenario,
                    variant.name,
                    str(len(cers)),
                    _fmt(_mean(cers), 2, 100),
                    _fmt(mean_delta, 2, 100, sign=True),
                    _fmt(worst, 2, 100, sign=True),
                    bar,
                ]
            )
    header = ["scenario", "variant", "pages", "CER %", "Δ mean", "Δ worst", "≤ +1 pp"]
    lines += [*_table(header, rows), ""]
    failed = [f"{s} {v}" for s, v, ok in verdicts if not ok]
    lines.append(
        "Bar (turned and skewed pages within +1 pp of the upright page, mean): "
        + ("met." if not failed else "**not met**: " + ", ".join(failed))
    )
    lines.append("")
    # Per part (synthetic, samples, real).
    parts = [p for p in ("synthetic", "samples", "real") if any(r.part == p for r in records)]
    for part in parts:
        rows = []
        for scenario in scenarios:
            row = [scenario]
            for variant in variants:
                vals = [
                    r.cer
                    for r in records
                    if r.part == part and r.scenario == scenario and r.variant == variant.name
                ]
                row.append(_fmt(_mean(vals), 2, 100))
            rows.append(row)
        n = len({r.item for r in records if r.part == part})
        lines += [f"#### {part} ({n} pages): mean CER %", ""]
        lines += [*_table(["scenario", *(v.name for v in variants)], rows), ""]
    return lines


def geometry_report(records: Sequence[Record], variants: Sequence[Variant]) -> list[str]:
    """Orientation found (right, wrong, missed), skew measured against applied, and
    the filters' cost."""
    lines = ["### What the filters found", ""]
    rows = []
    for variant in variants:
        if not variant.filters:
            continue
        mine = [r for r in records if r.variant == variant.name and r.error is None]
        right = sum(r.rotation == r.expected_rotation for r in mine)
        wrong = sum(r.rotation not in (None, 0, r.expected_rotation) for r in mine)
        missed = sum(r.rotation == 0 and r.expected_rotation != 0 for r in mine)
        rows.append([variant.name, str(len(mine)), str(right), str(wrong), str(missed)])
    header = ["variant", "readings", "turned right", "turned wrong", "not turned"]
    lines += [*_table(header, rows), ""]
    # Skew: measured on the skewed variant against the upright page's own measurement.
    pages = _by_page(records)
    rows = []
    for variant in variants:
        if not variant.skew or not variant.filters:
            continue
        errors = []
        corrected = 0
        for page in pages.values():
            r, up = page.get(variant.name), page.get("upright")
            if r is None or up is None or r.skew is None or up.skew is None:
                continue
            errors.append(abs(r.skew - up.skew - variant.skew))
            corrected += bool(r.skew_corrected)
        rows.append(
            [
                variant.name,
                str(len(errors)),
                str(corrected),
                _fmt(_mean(errors), 3),
                _fmt(max(errors) if errors else None, 3),
                str(sum(e > 0.3 for e in errors)),
            ]
        )
    header = ["variant", "readings", "levelled", "|error| mean °", "|error| max °", "> 0.3°"]
    lines += [
        "Skew measured on the skewed page minus the upright page's own skew, against "
        "the skew applied:",
        "",
        *_table(header, rows),
        "",
    ]
    # Cost: seconds per page of each filter, upright pages and turned pages apart.
    rows = []
    for label, names in (
        ("upright", ("upright",)),
        ("turned", ("turn90", "turn180", "turn270")),
        ("skewed", ("skew+2", "skew-5")),
    ):
        mine = [r for r in records if r.variant in names and r.error is None]
        for name in ("orientation", "deskew"):
            vals = [r.filter_seconds.get(name) for r in mine]
            vals = [v for v in vals if v is not None]
            if vals:
                vals.sort()
                rows.append(
                    [
                        label,
                        name,
                        str(len(vals)),
                        _fmt(_mean(vals), 3),
                        _fmt(vals[len(vals) // 2], 3),
                        _fmt(vals[-1], 3),
                    ]
                )
        total = [r.seconds for r in mine]
        rows.append([label, "whole pipeline", str(len(total)), _fmt(_mean(total), 2), "", ""])
    lines += [
        "Seconds per page (`PageResult.timings['filter:<name>']`):",
        "",
        *_table(["pages", "filter", "readings", "mean s", "median s", "max s"], rows),
        "",
    ]
    osd = [r for r in records if r.orientation is not None]
    asked = sum(r.orientation not in ("upright", "no-text", "no-osd") for r in osd)
    lines.append(
        f"OSD was asked on {asked} of {len(osd)} readings with the orientation filter on "
        "(the others: the text-line check found the page upright, or no text)."
    )
    lines.append("")
    return lines


def error_report(records: Sequence[Record]) -> list[str]:
    failed = [r for r in records if r.error]
    if not failed:
        return []
    lines = ["### Failed readings", ""]
    lines += [f"- {r.part} {r.item} [{r.scenario} {r.variant}]: {r.error}" for r in failed]
    return [*lines, ""]


# ---------------------------------------------------------------------- CLI


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Turned and skewed pages against upright ones (orientation and deskew).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--synthetic", type=int, default=10, help="synthetic pages")
    parser.add_argument("--no-samples", dest="samples", action="store_false")
    parser.add_argument("--real", action="store_true", help="also the real pages with text")
    parser.add_argument("--data", type=Path, default=DEFAULT_REAL_DATA, help="real data folder")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="tesseract and/or default")
    parser.add_argument("--restorer", default="none", help="the pipelines' restorer")
    parser.add_argument(
        "--with-off", action="store_true", help="add skew-5:off (the 5° page, filters off)"
    )
    parser.add_argument("--lang", default="eng", help="OCR languages, e.g. eng+deu")
    parser.add_argument("--jobs", type=int, default=1, help="pages evaluated at once")
    parser.add_argument("--out", type=Path, default=None, help="write the markdown report here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    notes: list[str] = []
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    tasks = synthetic_tasks(args.synthetic)
    if args.samples:
        tasks += sample_tasks()
    if args.real:
        tasks += real_tasks(args.data, notes)
    for note in notes:
        print(note, file=sys.stderr)
    if not tasks:
        print("nothing to do", file=sys.stderr)
        return 1
    variants = [*VARIANTS, SKEW_OFF] if args.with_off else list(VARIANTS)
    options = {"languages": args.lang, "restorer": args.restorer, "variants": variants}
    started = time.perf_counter()
    records = run_tasks(tasks, scenarios, options, max(1, args.jobs))
    wall = time.perf_counter() - started
    command = "python benchmarks/geometry_accuracy.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    lines = [
        "## Page geometry benchmark: orientation and deskew",
        "",
        f"Command: `{command}`  ",
        f"Wall time: {wall / 60:.1f} min with {args.jobs} job(s); {len(tasks)} pages × "
        f"{len(variants)} variants × {len(scenarios)} scenarios, restorer "
        f"`{args.restorer}`; {os.cpu_count()} CPUs.",
        "",
    ]
    lines += [f"Note: {n}  " for n in notes]
    if notes:
        lines.append("")
    lines += accuracy_report(records, scenarios, variants)
    lines += geometry_report(records, variants)
    lines += error_report(records)
    report = "\n".join(lines)
    print(report)
    if args.out is not None:
        from dataclasses import asdict

        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report + "\n", encoding="utf-8")
        args.out.with_suffix(".json").write_text(
            json.dumps([asdict(r) for r in records], indent=1), encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
