"""Photographed pages: the pipeline with the ``perspective`` filter off against on.

Synthetic phone photos (``tair_workbench.synthetic.photo.photograph``: a rendered
page tilted up to 25° about both axes and up to 12° in its plane, on a dark, wooden
or coloured surface, unevenly lit, blurred σ 0.5-1.2 px, JPEG q 65-90), saved as
JPEG files and read by the real :class:`tair_ocr.pipeline.Pipeline` per scenario:

- ``default``: ``Pipeline()`` (every engine here, restorer ``auto``);
- ``tesseract``: ``Pipeline(engine="tesseract")``;

each with ``perspective`` off (``--no-perspective``: today's pipeline) and on (the
default). CER is after whitespace normalisation (``benchmarks/metrics.py``); seconds
are the wall time of ``Pipeline.run`` per page (outputs not written). Real phone
photos with ground truth text are scored too when present: ``samples/receipt_photo.jpg``
and the ``wildreceipt_*`` items of ``../shared/data/real`` (evaluated where they lie,
never copied; skipped when absent).

    python benchmarks/photo_accuracy.py --pages 8

Seeds: ``PHOTO_SEED_BASE + i`` (70 000 and up), apart from the other benchmarks'.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from metrics import cer

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"
PHOTO_SEED_BASE = 70_000
SCENARIOS = {"default": {}, "tesseract": {"engine": "tesseract"}}


def synthetic_photos(count: int, folder: Path) -> list[tuple[str, Path, str]]:
    from tair_workbench.synthetic import render_page
    from tair_workbench.synthetic.photo import BACKGROUNDS, photograph

    items = []
    for i in range(count):
        seed = PHOTO_SEED_BASE + i
        page = render_page(seed, dpi=150)
        shot = photograph(page, seed=seed, background=BACKGROUNDS[i % len(BACKGROUNDS)])
        path = folder / f"photo_{seed}.jpg"
        shot.image.save(path, quality=92)
        p = shot.params
        label = (
            f"{seed} {page.layout} {p['background']} "
            f"tilt {p['tilt_x']:+.0f}/{p['tilt_y']:+.0f} turn {p['turn']:+.0f}"
        )
        items.append((label, path, page.text))
    return items


def real_photos() -> tuple[list[tuple[str, Path, str]], list[str]]:
    items, notes = [], []
    sample = ROOT / "samples" / "receipt_photo.jpg"
    if sample.exists():
        items.append(
            (
                "samples/receipt_photo.jpg",
                sample,
                sample.with_name("receipt_photo.gt.txt").read_text(),
            )
        )
    if not REAL.is_dir():
        notes.append(f"{REAL} is absent: real photos skipped")
        return items, notes
    for record_path in sorted(REAL.glob("wildreceipt_*.json")):
        record = json.loads(record_path.read_text())
        text = record.get("text")
        if not text:
            text = "\n".join(line["text"] for line in record.get("lines", []))
        if text:
            items.append((f"real/{record['image']}", REAL / record["image"], text))
    return items, notes


def run(items: list[tuple[str, Path, str]], scenarios: list[str]) -> list[dict[str, object]]:
    from tair_ocr.pipeline import Pipeline

    rows = []
    pipelines = {}
    for name in scenarios:
        for on in (False, True):
            pipelines[(name, on)] = Pipeline(
                **SCENARIOS[name], options={"perspective": {"enabled": on}}
            )
    for label, path, text in items:
        row: dict[str, object] = {"page": label}
        for (name, on), pipeline in pipelines.items():
            started = time.perf_counter()
            result = pipeline.run(path, write=False)
            seconds = time.perf_counter() - started
            key = f"{name}:{'on' if on else 'off'}"
            row[key] = cer(text, result.text)
            row[key + ":s"] = seconds
            if on:
                record = result.pages[0].geometry.perspective if result.pages[0].geometry else None
                row[key + ":status"] = record.status if record is not None else "-"
        rows.append(row)
        print(_row(row, scenarios), flush=True)
    return rows


def _row(row: dict[str, object], scenarios: list[str]) -> str:
    cells = [str(row["page"])]
    for name in scenarios:
        cells += [
            f"{row[f'{name}:off']:.3f}",
            f"{row[f'{name}:on']:.3f} ({row[f'{name}:on:status']})",
            f"{row[f'{name}:off:s']:.1f} / {row[f'{name}:on:s']:.1f}",
        ]
    return "| " + " | ".join(cells) + " |"


def table(rows: list[dict[str, object]], scenarios: list[str], title: str) -> str:
    head = ["page"]
    for name in scenarios:
        head += [f"{name} CER off", f"{name} CER on", f"{name} s off / on"]
    lines = [f"**{title}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += [_row(r, scenarios) for r in rows]
    if rows:
        mean = {"page": f"mean of {len(rows)}"}
        for name in scenarios:
            for suffix in ("off", "on", "off:s", "on:s"):
                mean[f"{name}:{suffix}"] = statistics.mean(
                    float(r[f"{name}:{suffix}"])
                    for r in rows  # type: ignore[arg-type]
                )
            kept = sum(r[f"{name}:on:status"] == "kept" for r in rows)
            mean[f"{name}:on:status"] = f"{kept} kept"
        lines.append(_row(mean, scenarios))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=8, help="synthetic photos (default 8)")
    parser.add_argument("--scenarios", default="default,tesseract")
    parser.add_argument("--no-real", action="store_true", help="skip the real photos")
    args = parser.parse_args(argv)
    scenarios = [s for s in args.scenarios.split(",") if s]
    with tempfile.TemporaryDirectory() as tmp:
        items = synthetic_photos(args.pages, Path(tmp))
        synthetic = run(items, scenarios)
    print()
    print(table(synthetic, scenarios, "synthetic photos"))
    bar_ok = True
    for name in scenarios:
        off = statistics.mean(float(r[f"{name}:off"]) for r in synthetic)  # type: ignore[arg-type]
        on = statistics.mean(float(r[f"{name}:on"]) for r in synthetic)  # type: ignore[arg-type]
        ok = on <= off / 2
        bar_ok &= ok
        verdict = "yes" if ok else "NO"
        print(f"bar ({name}): mean CER on {on:.3f} <= half of off {off / 2:.3f}: {verdict}")
    if not args.no_real:
        real, notes = real_photos()
        for note in notes:
            print(note)
        if real:
            print()
            print(table(run(real, scenarios), scenarios, "real photos"))
    return 0 if bar_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
