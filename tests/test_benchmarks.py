"""The side-by-side pipeline benchmark's bookkeeping: scenarios, task selection, report
and bar checks (on made-up records; no OCR runs here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from .conftest import ROOT, SHARED

sys.path.insert(0, str(ROOT / "benchmarks"))

import pipeline_accuracy as pa

DEV_DATA = SHARED / "data" / "dev"


def test_scenarios() -> None:
    plan = pa.scenarios(["cleaner", "classical"], with_always=True)
    assert [s.name for s in plan] == [
        "rapidocr",
        "tesseract",
        "default",
        "tesseract+cleaner",
        "tesseract+classical",
        "default:always",
    ]
    assert plan[0].kwargs == {"engine": "rapidocr", "restorer": "none"}
    assert plan[2].kwargs == {}  # default settings
    assert plan[3].kwargs == {"engine": "tesseract", "restorer": "cleaner"}
    assert plan[-1].kwargs == {"restore": "always"}
    # Without the rapidocr plugin, its scenario is left out.
    assert [s.name for s in pa.scenarios([], engines=["tesseract"])] == ["tesseract", "default"]


def _records(default_cer: float, default_seconds: float) -> list[pa.Record]:
    """Two kinds and one dataset, four scenarios."""
    cer = {"rapidocr": 0.02, "tesseract": 0.05, "default": default_cer, "tesseract+cleaner": 0.04}
    f1 = {"rapidocr": 0.80, "tesseract": 0.70, "default": 0.82, "tesseract+cleaner": 0.72}
    seconds = {"rapidocr": 1.0, "tesseract": 2.0, "default": default_seconds}
    out = []
    for scenario in cer:
        for kind in ("clean", "motion_blur"):
            out.append(
                pa.Record(
                    "synthetic",
                    kind,
                    "1",
                    scenario,
                    cer=cer[scenario],
                    f1=f1[scenario],
                    seconds=seconds.get(scenario, 3.0),
                    tiles_restored=2 if scenario == "default" else 0,
                )
            )
        out.append(
            pa.Record(
                "dev",
                "FUNSD-dev",
                "f.json",
                scenario,
                cer=cer[scenario],
                f1=f1[scenario],
                seconds=seconds.get(scenario, 3.0),
            )
        )
    return out


def test_bar_checks_pass_and_fail() -> None:
    names = ["rapidocr", "tesseract", "default", "tesseract+cleaner"]
    good = pa.bar_checks(_records(default_cer=0.01, default_seconds=1.1), names)
    checks = [line for line in good if line.startswith("- (")]
    assert [line[:4] for line in checks] == ["- (a", "- (b", "- (c", "- (d"]
    assert all("PASS" in line for line in checks), checks

    bad = pa.bar_checks(_records(default_cer=0.03, default_seconds=1.6), names)
    verdicts = {line[3]: line for line in bad if line.startswith("- (")}
    assert "PASS" in verdicts["a"]
    assert "FAIL" in verdicts["b"] and "clean 3.00 > rapidocr 2.00" in verdicts["b"]
    assert "FAIL" in verdicts["d"] and "1.60×" in verdicts["d"]


def test_report_has_every_scenario_per_group() -> None:
    plan = pa.scenarios(["cleaner"])
    records = _records(default_cer=0.01, default_seconds=1.1)
    lines = pa.report(records, plan)
    text = "\n".join(lines)
    assert "| motion_blur | 1 | CER ↓ | 2.00 | 5.00 | 1.00 | 4.00 |" in text
    assert "| FUNSD-dev | 1 | F1 ↑ | 80.00 | 70.00 | 82.00 | 72.00 |" in text
    # Wall time over the same pages, with the ratio to rapidocr (3 pages of 1.1 s / 1 s).
    assert "| default | 3 | 3.3 | 1.10 | 1.10 |" in text
    assert "### Restoration in `default`" in text


def test_decision_report_counts_pages_reread_enlarged_and_deconvolved() -> None:
    def record(item: str, enlarged: int, blur: int, reasons: dict[str, int]) -> pa.Record:
        return pa.Record(
            "synthetic",
            "lowres_jpeg",
            item,
            "default",
            tiles_considered=2,
            enlarged=enlarged,
            blur_found=int(blur > 0),
            deblurred=int(blur > 1),
            reasons=reasons,
        )

    records = [
        record("1", 1, 2, {"low_confidence": 3, "no_engine_gains": 1}),
        record("2", 0, 1, {"low_confidence": 1}),
        record("3", 1, 0, {"unread_ink": 2}),
    ]
    text = "\n".join(pa.decision_report(records))
    assert "pages re-read enlarged" in text and "pages deconvolved, of blurred" in text
    row = (
        "| lowres_jpeg | 3 | 2.0 | 0.0 | 2 | 1 of 2 "
        "| low_confidence 4, no_engine_gains 1, unread_ink 2 |"
    )
    assert row in text


@pytest.mark.shared_data("data/dev")
def test_dev_tasks_take_n_per_dataset() -> None:
    notes: list[str] = []
    tasks = pa.dev_tasks(DEV_DATA, 2, notes)
    groups = [t.group for t in tasks]
    assert groups.count("FUNSD-dev") == 2 and groups.count("SROIE-dev") == 2
    assert all(t.part == "dev" and Path(t.spec["json"]).is_file() for t in tasks)
    assert len(pa.dev_tasks(DEV_DATA, None, notes)) == 80


def test_missing_dev_data_is_a_note(tmp_path: Path) -> None:
    notes: list[str] = []
    assert pa.dev_tasks(tmp_path / "absent", 2, notes) == []
    assert notes and "not found" in notes[0]
