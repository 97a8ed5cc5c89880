"""The command line as people use it (issue 14, smaller items): OCRmyPDF's
``INPUT OUTPUT.pdf``, output cut short by ``| head``, page warnings on the
terminal, missing language data found before anything is written, no empty
outputs from a run whose every page failed, and the DPI of restored PNGs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pymupdf
import pytest
from PIL import Image, ImageDraw

from tair_ocr import DocumentResult, ExitCode, Pipeline
from tair_ocr.cli import main
from tair_ocr.components import Writer
from tair_ocr.errors import MissingDependencyError, UsageError
from tair_ocr.outputs import named_outputs
from tair_ocr.pipeline import NOTHING_WRITTEN

from .conftest import ROOT, TEST_PLUGINS, requires_tesseract

FAULTS = str(TEST_PLUGINS / "fault_engines.py")
#: A run with the fault-injecting engine ("hello" on unmarked pages), no restorer.
FAULT_RUN = ("--plugin", FAULTS, "--engine", "crash-marked", "--restorer", "none")
NO_DPI = "the file records no resolution; assuming 300 dpi"


def make_png(path: Path, *, marked: bool = False, dpi: float | None = 150.0) -> Path:
    """A small page; ``marked`` paints the mark that makes the fault engines fail
    on it; ``dpi`` None stores no resolution (the loader then warns)."""
    image = Image.new("RGB", (240, 160), "white")
    draw = ImageDraw.Draw(image)
    draw.text((30, 70), "hello", fill="black")
    if marked:
        draw.rectangle((0, 0, 3, 3), fill=(255, 0, 0))
    image.save(path, **({"dpi": (dpi, dpi)} if dpi is not None else {}))
    return path


def cli(*args: object) -> int:
    return main([*map(str, args), "--no-plugin-autoload"])


def pdf_text(path: Path) -> str:
    with pymupdf.open(path) as doc:
        return "".join(page.get_text() for page in doc)


# ---------------------------------------------------------------- INPUT OUTPUT.pdf


def test_input_and_output_pdf_as_ocrmypdf_users_type_it(tmp_path, monkeypatch):
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    source = make_png(tmp_path / "scan.png")
    target = tmp_path / "out" / "searchable.pdf"

    assert cli(source, target, *FAULT_RUN, "-q", "-t", "pdf,txt,json") == ExitCode.OK
    # The PDF goes to exactly that path, the other outputs beside it, named after it.
    assert sorted(p.name for p in target.parent.iterdir()) == [
        "searchable.json",
        "searchable.pdf",
        "searchable.txt",
    ]
    assert "hello" in pdf_text(target)
    assert (target.parent / "searchable.txt").read_text().strip() == "hello"
    assert list(work.iterdir()) == []  # nothing in the current directory

    # Run again: the PDF is the output it wrote, so it is kept without --force...
    before = target.read_bytes()
    assert cli(source, target, *FAULT_RUN, "-q", "-t", "pdf") == ExitCode.OUTPUT_ERROR
    assert target.read_bytes() == before
    # ... and replaced with it.
    assert cli(source, target, *FAULT_RUN, "-q", "-t", "pdf", "--force") == ExitCode.OK
    assert "hello" in pdf_text(target)


def test_two_existing_inputs_stay_two_inputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = make_png(tmp_path / "first.png")
    second = tmp_path / "second.pdf"  # a PDF tair-ocr did not write: an input
    with pymupdf.open() as doc:
        doc.new_page(width=200, height=150).draw_rect(pymupdf.Rect(20, 60, 120, 80), fill=(0, 0, 0))
        doc.save(second)
    before = second.read_bytes()
    assert cli(first, second, *FAULT_RUN, "-q", "-t", "txt") == ExitCode.OK
    assert (tmp_path / "first.txt").is_file() and (tmp_path / "second.txt").is_file()
    assert second.read_bytes() == before


def test_output_pdf_form_needs_no_o_and_a_pdf_output(tmp_path, capsys):
    source = make_png(tmp_path / "scan.png")
    # With -o both paths are inputs, as before: the second does not exist.
    code = cli(source, tmp_path / "new.pdf", *FAULT_RUN, "-q", "-o", tmp_path / "o", "-t", "txt")
    assert code == ExitCode.INPUT_ERROR
    assert "new.pdf: no such file" in capsys.readouterr().err
    # A PDF path with no pdf among the output types is a usage error.
    code = cli(source, tmp_path / "new.pdf", *FAULT_RUN, "-q", "-t", "txt")
    assert code == ExitCode.BAD_ARGS
    assert "add pdf (or pdfa) to --output-type" in capsys.readouterr().err
    assert not (tmp_path / "new.txt").exists()


class _Writes(Writer):
    """A writer stub: only its name and suffix matter here."""

    def __init__(self, name: str, suffix: str) -> None:
        self.name, self.suffix = name, suffix  # type: ignore[misc]

    def write(self, result: DocumentResult, destination: Path) -> None:
        raise AssertionError("not written")


def test_output_pdf_takes_the_pdf_output_else_pdfa(tmp_path):
    source, target = tmp_path / "in.png", tmp_path / "out.pdf"
    pdf, pdfa = _Writes("pdf", ".ocr.pdf"), _Writes("pdfa", ".pdfa.pdf")
    txt = _Writes("txt", ".txt")
    assert named_outputs(source, target, [txt, pdfa, pdf]) == {
        "txt": tmp_path / "out.txt",
        "pdfa": tmp_path / "out.pdfa.pdf",
        "pdf": target,
    }
    assert named_outputs(source, target, [txt, pdfa]) == {
        "txt": tmp_path / "out.txt",
        "pdfa": target,
    }
    with pytest.raises(UsageError, match="would overwrite"):
        named_outputs(tmp_path / "out.txt", target, [pdf, txt])


def test_help_documents_the_output_pdf_form(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli("--help")
    assert exit_info.value.code == 0
    assert "INPUT OUTPUT.pdf" in capsys.readouterr().out


# ---------------------------------------------------------------- broken pipes


def _command(*args: object) -> list[str]:
    return [sys.executable, "-m", "tair_ocr", *map(str, args), "--no-plugin-autoload"]


def _environment() -> dict[str, str]:
    return {**os.environ, "TAIR_OCR_DISABLE_PLUGIN_AUTOLOAD": "1"}


def test_stdout_closed_by_its_reader_ends_quietly():
    """``tair-ocr plugins --json | head -1``: the reader is gone before the output."""
    proc = subprocess.Popen(
        _command("plugins", "--json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=_environment(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # no reader left: every write fails with EPIPE
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == ExitCode.OK, err
    assert err == ""


def test_stderr_closed_by_its_reader_does_not_stop_the_run(tmp_path):
    """Warnings and the summary go to stderr; a reader that went away stops them,
    not the work: every input is still processed."""
    first = make_png(tmp_path / "first.png", dpi=None)  # warns: no resolution
    second = make_png(tmp_path / "second.png")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        _command(first, second, *FAULT_RUN, "-o", out, "-t", "txt"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=_environment(),
    )
    assert proc.stderr is not None
    proc.stderr.close()
    assert proc.wait(timeout=120) == ExitCode.OK
    assert sorted(p.name for p in out.iterdir()) == ["first.txt", "second.txt"]


# ---------------------------------------------------------------- page warnings


def _warning_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if NO_DPI in line]


@pytest.mark.parametrize("verbosity", [[], ["-v"]], ids=["default", "verbose"])
def test_page_warnings_are_printed_once(tmp_path, capsys, verbosity):
    source = make_png(tmp_path / "scan.png", dpi=None)
    code = cli(source, *FAULT_RUN, "-o", tmp_path / "out", "-t", "txt", *verbosity)
    assert code == ExitCode.OK
    assert _warning_lines(capsys.readouterr().err) == [
        f"tair-ocr: warning: {source}: page 1: {NO_DPI}"
    ]


def test_quiet_prints_no_warnings(tmp_path, capsys):
    source = make_png(tmp_path / "scan.png", dpi=None)
    assert cli(source, *FAULT_RUN, "-o", tmp_path / "out", "-t", "txt", "-q") == ExitCode.OK
    assert capsys.readouterr().err == ""


def test_a_warning_of_many_pages_is_one_line(tmp_path, capsys):
    source = tmp_path / "three.tiff"
    frames = [Image.new("L", (240, 160), "white") for _ in range(3)]
    frames[0].save(source, save_all=True, append_images=frames[1:])  # no resolution
    assert cli(source, *FAULT_RUN, "-o", tmp_path / "out", "-t", "txt") == ExitCode.OK
    assert _warning_lines(capsys.readouterr().err) == [
        f"tair-ocr: warning: {source}: pages 1-3: {NO_DPI}"
    ]


def test_a_failed_page_is_reported_once(tmp_path, capsys):
    """The pipeline logs page failures too; the command line prints them from the
    result only, at every verbosity."""
    source = make_png(tmp_path / "bad.png", marked=True)
    good = make_png(tmp_path / "good.png")
    code = cli(source, good, *FAULT_RUN, "-o", tmp_path / "out", "-t", "txt", "-v")
    assert code == ExitCode.PAGES_FAILED
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if "engine crashed" in line] == [
        f"tair-ocr: error: {source}: page 1: ocr: RuntimeError: engine crashed (injected)"
    ]


# ---------------------------------------------------------------- languages, failed documents

#: A plugin whose engine has no German.
NO_GERMAN_PLUGIN = textwrap.dedent(
    """
    import tair_ocr
    from tair_ocr.results import BBox, Word


    class NoGerman(tair_ocr.OcrEngine):
        name = "no-german"

        def check_languages(self, languages):
            if "deu" in languages:
                raise tair_ocr.MissingDependencyError(
                    "no-german: language data missing: deu", hint="install no-german-deu"
                )

        def recognize(self, image, *, languages, dpi, timeout=None):
            box = BBox(x0=10, y0=10, x1=50, y1=30)
            return [Word(text="hallo", confidence=0.9, bbox=box, source=self.name)]


    @tair_ocr.hookimpl
    def register_engines():
        return [NoGerman()]
    """
)


def test_missing_language_data_stops_the_run_before_any_output(tmp_path, capsys):
    plugin = tmp_path / "no_german.py"
    plugin.write_text(NO_GERMAN_PLUGIN)
    source = make_png(tmp_path / "scan.png")
    out = tmp_path / "out"
    run = (source, "--plugin", plugin, "--engine", "no-german", "--restorer", "none", "-o", out)
    assert cli(*run, "--lang", "eng+deu") == ExitCode.MISSING_DEPENDENCY
    assert "language data missing: deu (install no-german-deu)" in capsys.readouterr().err
    assert not out.exists()
    assert cli(*run, "--lang", "eng", "-q") == ExitCode.OK  # a rerun needs no --force
    assert (out / "scan.txt").read_text().strip() == "hallo"


@requires_tesseract
def test_missing_tesseract_language_names_the_package(tmp_path, capsys):
    source = make_png(tmp_path / "scan.png")
    out = tmp_path / "out"
    code = cli(source, "--engine", "tesseract", "--restorer", "none", "-o", out, "-l", "eng+xyz")
    assert code == ExitCode.MISSING_DEPENDENCY
    err = capsys.readouterr().err
    assert "tesseract language data missing: xyz" in err
    assert "apt-get install tesseract-ocr-xyz" in err
    assert not out.exists()
    with pytest.raises(MissingDependencyError, match="xyz"):
        Pipeline(engine="tesseract", restorer="none", languages=["xyz"], autoload=False)


def test_a_document_whose_every_page_failed_writes_no_outputs(tmp_path, capsys):
    source = make_png(tmp_path / "bad.png", marked=True)
    out = tmp_path / "out"
    code = cli(source, *FAULT_RUN, "-o", out, "-t", "pdf,txt,json")
    assert code == ExitCode.PAGES_FAILED
    assert not out.exists()
    assert f"tair-ocr: warning: {source}: {NOTHING_WRITTEN}" in capsys.readouterr().err
    # An output of an earlier run is kept, even with --force.
    out.mkdir()
    (out / "bad.txt").write_text("earlier")
    assert cli(source, *FAULT_RUN, "-o", out, "-t", "txt", "--force") == ExitCode.PAGES_FAILED
    assert (out / "bad.txt").read_text() == "earlier"
    # The Python API says so in the result.
    result = Pipeline(
        engine="crash-marked",
        restorer="none",
        plugins=[FAULTS],
        autoload=False,
        output_types=["txt"],
    ).run(source, output_dir=tmp_path / "api")
    assert result.warnings == [NOTHING_WRITTEN]
    assert not (tmp_path / "api").exists()


# ---------------------------------------------------------------- restored PNGs


def test_restored_png_records_the_working_dpi(tmp_path):
    source = make_png(tmp_path / "scan.png", dpi=150.0)
    pipeline = Pipeline(
        engine="crash-marked",
        restorer="classical",
        restore="always",
        plugins=[FAULTS],
        autoload=False,
        save_restored=True,
        output_types=["json"],
    )
    result = pipeline.run(source, output_dir=tmp_path / "out")
    page = result.pages[0]
    assert page.ok and page.restored_image is not None
    with Image.open(page.restored_image) as restored:
        dpi = restored.info.get("dpi")
        # The restored image is the page at the working scale: its DPI scales too.
        assert restored.width == pytest.approx(240 * page.scale, abs=1)
    assert dpi is not None
    assert dpi == pytest.approx((150.0 * page.scale,) * 2, abs=0.1)
    saved = DocumentResult.model_validate_json((tmp_path / "out" / "scan.json").read_text())
    assert saved.pages[0].restored_image == page.restored_image
