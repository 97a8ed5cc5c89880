"""The pipeline and CLI end to end, with fault-injection engines (tests/plugins)."""

from __future__ import annotations

import json

import pymupdf
import pytest
from PIL import Image

from tair_ocr import DocumentResult, ExitCode, Pipeline
from tair_ocr.cli import main
from tair_ocr.errors import MissingDependencyError, UsageError

from .conftest import TEST_PLUGINS

FAULTS = str(TEST_PLUGINS / "fault_engines.py")


def make_pdf(path, pages=3, marked=(), text="page"):
    """A PDF whose pages in ``marked`` (0-based) carry the red fault mark."""
    doc = pymupdf.open()
    for i in range(pages):
        page = doc.new_page(width=200, height=150)
        page.insert_text((20, 80), f"{text} {i + 1}", fontsize=20)
        if i in marked:
            page.draw_rect(pymupdf.Rect(0, 0, 3, 3), color=(1, 0, 0), fill=(1, 0, 0), width=0)
    doc.save(path)
    return path


#: CLI arguments of a run with the fault-injecting engine at a small DPI.
FAULT_RUN = ("--plugin", FAULTS, "--engine", "crash-marked", "--dpi", "72")


def run_cli(*args):
    return main([*map(str, args), "--no-plugin-autoload", "-q", "--restorer", "none"])


def test_failing_page_is_recorded_and_job_goes_on(tmp_path):
    src = make_pdf(tmp_path / "doc.pdf", pages=3, marked={1})
    pipeline = Pipeline(
        restorer="none",
        engine="crash-marked",
        plugins=[FAULTS],
        autoload=False,
        output_types=["json", "txt"],
        dpi=72,
        jobs=2,
    )
    result = pipeline.run(src, output_dir=tmp_path / "out")
    assert [p.ok for p in result.pages] == [True, False, True]
    assert "engine crashed (injected)" in result.pages[1].error.message
    assert [w.text for w in result.pages[0].words()] == ["hello"]
    saved = DocumentResult.model_validate_json((tmp_path / "out" / "doc.json").read_text())
    assert saved == result
    # Failed pages keep their place in the text output (form feeds between pages).
    assert (tmp_path / "out" / "doc.txt").read_text().count("\f") == 2


@pytest.mark.parametrize(
    ("engine", "message"), [("oom-marked", "out of memory"), ("slow-marked", "limit")]
)
def test_oom_and_timeout_fail_only_their_page(tmp_path, engine, message):
    src = make_pdf(tmp_path / "doc.pdf", pages=2, marked={0})
    result = Pipeline(
        restorer="none", engine=engine, plugins=[FAULTS], autoload=False, dpi=72, timeout=0.05
    ).run(src, write=False)
    assert message in result.pages[0].error.message
    assert result.pages[1].ok


def test_cli_exit_code_for_failed_pages(tmp_path):
    src = make_pdf(tmp_path / "doc.pdf", pages=2, marked={0})
    code = run_cli(src, *FAULT_RUN, "-o", tmp_path, "-t", "txt")
    assert code == ExitCode.PAGES_FAILED
    assert (tmp_path / "doc.txt").exists()


def test_missing_engine_is_a_dependency_error(tmp_path, capsys):
    with pytest.raises(MissingDependencyError, match="binary not found"):
        Pipeline(restorer="none", engine="missing", plugins=[FAULTS], autoload=False)
    code = run_cli(tmp_path / "x.pdf", "--plugin", FAULTS, "--engine", "missing")
    assert code == ExitCode.MISSING_DEPENDENCY
    err = capsys.readouterr().err
    assert "apt-get install nothing" in err and "Traceback" not in err


def test_unknown_names_are_usage_errors(capsys):
    with pytest.raises(UsageError, match=r"installed: .*tesseract"):
        Pipeline(restorer="none", engine="nope", autoload=False)
    assert run_cli("x.pdf", "--output-type", "docx") == ExitCode.BAD_ARGS
    assert "unknown output type 'docx'" in capsys.readouterr().err


def test_multi_file_run_continues_after_a_bad_input(tmp_path, capsys):
    good = make_pdf(tmp_path / "good.pdf", pages=1)
    bad = tmp_path / "bad.pdf"
    bad.write_text("this is not a pdf")
    missing = tmp_path / "missing.png"
    code = run_cli(bad, missing, good, *FAULT_RUN, "-o", tmp_path / "out", "-t", "txt")
    assert code == ExitCode.INPUT_ERROR
    assert (tmp_path / "out" / "good.txt").read_text().strip() == "hello"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("tair-ocr: error: ") for line in err)
    assert "bad.pdf" in err[0] and "missing.png" in err[1]


def test_existing_output_needs_force(tmp_path):
    src = make_pdf(tmp_path / "doc.pdf", pages=1)
    out = tmp_path / "doc.txt"
    out.write_text("keep me")
    args = [src, *FAULT_RUN, "-o", tmp_path, "-t", "txt"]
    assert run_cli(*args) == ExitCode.OUTPUT_ERROR
    assert out.read_text() == "keep me"
    assert run_cli(*args, "--force") == ExitCode.OK
    assert out.read_text().strip() == "hello"


def test_input_is_never_modified(tmp_path):
    src = make_pdf(tmp_path / "doc.pdf", pages=2)
    before = src.read_bytes()
    assert run_cli(src, *FAULT_RUN, "-o", tmp_path, "-t", "pdf,txt,json") == ExitCode.OK
    assert src.read_bytes() == before
    assert (tmp_path / "doc.ocr.pdf").exists()


def test_page_selection_and_order(tmp_path):
    src = make_pdf(tmp_path / "doc.pdf", pages=5)
    result = Pipeline(
        restorer="none",
        engine="crash-marked",
        plugins=[FAULTS],
        autoload=False,
        dpi=72,
        pages="4-,2",
        jobs=3,
    ).run(src, write=False)
    assert [p.page_number for p in result.pages] == [4, 5, 2]


def test_in_memory_image(tmp_path):
    image = Image.new("RGB", (120, 80), "white")
    result = Pipeline(restorer="none", engine="crash-marked", plugins=[FAULTS], autoload=False).run(
        image
    )
    assert result.source == "<image>" and result.pages[0].width == 120
    assert list(tmp_path.iterdir()) == []


def test_plugins_command_lists_availability(capsys):
    assert main(["plugins", "--json", "--no-plugin-autoload", "--plugin", FAULTS]) == 0
    report = json.loads(capsys.readouterr().out)
    engines = {row["name"]: row for row in report["components"]["engines"]}
    assert engines["missing"]["available"] is False
    assert engines["missing"]["hint"] == "apt-get install nothing"
    assert engines["crash-marked"]["available"] is True
    assert {"pdf", "txt", "hocr", "alto", "json"} <= {
        row["name"] for row in report["components"]["writers"]
    }
