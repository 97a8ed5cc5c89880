"""Validate PDF/A output with the real validators that are installed.

    python benchmarks/pdfa_validate.py FILE.pdf...          # validate these files
    python benchmarks/pdfa_validate.py --samples [-o DIR] [--pdfa-version 2b|1b|both]
        # run tair-ocr --output-type pdfa [--pdfa-version V] on samples/, then validate

Each file is validated as the flavour its XMP claims (``pdfaid:part`` 1: PDF/A-1b,
otherwise PDF/A-2b), or as ``--flavour``. Validators, each used when present:

* **veraPDF** (``verapdf`` on PATH), the reference PDF/A validator, with the
  file's flavour (``--flavour 1b`` or ``2b``). It is not in PyPI, npm or Debian;
  install it from its own distribution where you can.
* **Apache PDFBox Preflight** (Debian ``libpdfbox2-java``; it also needs
  ``libactivation-java``, ``libjaxb-api-java`` and a Java runtime). It validates
  PDF/A-1b only. A PDF/A-1b file (``--pdfa-version 1b``) must pass it with no
  message at all. A file without transparency that is PDF/A-2b differs from
  PDF/A-1b in two things Preflight reports, which are therefore expected on
  a PDF/A-2b file (:data:`PDFA2_EXPECTED`): ``pdfaid:part`` is 2, and the output
  intent's ICC profile is version 4 (PDF/A-1 wants version 2; PDF/A-2 allows
  4). Everything else it checks (fonts embedded, no transparency, output intent,
  colour spaces against it, XMP well formed and matching the Info dictionary,
  trailer ID, no encryption, no forbidden actions, annotation flags and
  appearances) is common to both parts, so any other error is a PDF/A-2b error
  too, except on a 2b file that keeps what PDF/A-2 allows and PDF 1.4 lacks (a
  JPEG 2000 image, optional content, an ICC profile of version 4 in the page
  content, annotation types of PDF 1.5 and later): Preflight reports those
  as well, and they fail it here.

Exit status: 0 when every file passed every validator that ran, 1 when one
failed, 2 when no validator is installed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Preflight's messages that a PDF/A-2b file without transparency gets as PDF/A-1b.
PDFA2_EXPECTED = frozenset(
    {
        "2.1.6 : Invalid graphics object, Invalid version of the ICCProfile",
        "7.11.2 : Error on MetaData, part must be 1",
    }
)

_PREFLIGHT_JARS = (
    "preflight.jar",
    "pdfbox2.jar",
    "fontbox2.jar",
    "xmpbox.jar",
    "commons-logging.jar",
    ("javax.activation.jar", "activation.jar"),
    "jaxb-api.jar",
)
_PREFLIGHT_MAIN = "org.apache.pdfbox.preflight.Validator_A1b"


def preflight_classpath() -> str | None:
    """The class path for Preflight (``$TAIR_OCR_PREFLIGHT_CP``, else Debian's
    jars in /usr/share/java), or None when it or Java is missing."""
    if shutil.which("java") is None:
        return None
    if os.environ.get("TAIR_OCR_PREFLIGHT_CP"):
        return os.environ["TAIR_OCR_PREFLIGHT_CP"]
    jars = []
    for names in _PREFLIGHT_JARS:
        candidates = (names,) if isinstance(names, str) else names
        found = next(
            (
                Path("/usr/share/java", n)
                for n in candidates
                if Path("/usr/share/java", n).is_file()
            ),
            None,
        )
        if found is None:
            return None
        jars.append(str(found))
    return os.pathsep.join(jars)


def run_preflight(path: Path, classpath: str) -> list[str]:
    """Preflight's error lines for ``path`` ([] when it says the file is PDF/A-1b)."""
    return run_preflight_many([path], classpath)[0]


def run_preflight_many(paths: list[Path], classpath: str) -> list[list[str]]:
    """Preflight's error lines for each of ``paths`` (in order; [] for a file it
    says is PDF/A-1b), from one Java process (its ``xml group`` mode). The lines
    read as its text mode prints them: ``CODE : DETAILS[ on page N]``."""
    with tempfile.TemporaryDirectory(prefix="tair-ocr-preflight-") as scratch:
        listing = Path(scratch, "files.txt")
        listing.write_text("".join(f"{p.resolve()}\n" for p in paths), encoding="utf-8")
        done = subprocess.run(
            ["java", "-cp", classpath, _PREFLIGHT_MAIN, "xml", "group", str(listing)],
            capture_output=True,
            text=True,
            timeout=300 + 60 * len(paths),
            check=False,
        )
        report = Path(f"{listing}.preflight.xml")
        try:
            results = ET.parse(report).getroot().findall("preflight")
        except (OSError, ET.ParseError):
            results = []
    if len(results) != len(paths):  # it crashed or said something unexpected
        failure = f"preflight exited {done.returncode}: {done.stdout}{done.stderr}".strip()
        return [[failure] for _ in paths]
    found = []
    for result in results:
        if result.findtext("isValid") == "true":
            found.append([])
            continue
        errors = []
        for error in result.iter("error"):
            line = f"{error.findtext('code', '')} : {error.findtext('details', '')}"
            page = error.findtext("page")
            errors.append(f"{line} on page {int(page) + 1}" if page else line)
        found.append(errors or [ET.tostring(result, encoding="unicode")])
    return found


def claimed_flavour(path: Path) -> str:
    """The flavour the file's XMP claims: ``1b`` for ``pdfaid:part`` 1, else ``2b``
    (also for a file that claims none: it is held to PDF/A-2b)."""
    import pymupdf

    try:
        with pymupdf.open(path) as doc:
            xmp = doc.get_xml_metadata()
    except (RuntimeError, ValueError):
        return "2b"
    part = re.search(r"pdfaid:part(?:>|=[\"'])\s*(\d)", xmp)
    return "1b" if part and part.group(1) == "1" else "2b"


def run_verapdf(path: Path, flavour: str = "2b") -> tuple[bool, str]:
    """veraPDF's verdict on ``path`` as ``flavour`` (``2b``, ``1b``) and its text report."""
    done = subprocess.run(
        ["verapdf", "--flavour", flavour, "--format", "text", str(path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = (done.stdout + done.stderr).strip()
    return report.startswith("PASS"), report


def validate(paths: list[Path], flavour: str | None = None) -> int:
    """Validate ``paths``, each as ``flavour`` (``2b``, ``1b``) or, when None, as
    the flavour it claims (:func:`claimed_flavour`); print the verdicts and return
    the exit status (see the module docstring)."""
    classpath = preflight_classpath()
    verapdf = shutil.which("verapdf") is not None
    if classpath is None and not verapdf:
        print("no PDF/A validator installed (verapdf, or Debian libpdfbox2-java + Java)")
        return 2
    failed = False
    preflight = run_preflight_many(paths, classpath) if classpath is not None else []
    for number, path in enumerate(paths):
        as_flavour = flavour or claimed_flavour(path)
        if verapdf:
            ok, report = run_verapdf(path, as_flavour)
            failed |= not ok
            print(f"{'PASS' if ok else 'FAIL'} veraPDF {as_flavour}  {path}")
            if not ok:
                print("  " + report.replace("\n", "\n  "))
        if classpath is not None:
            errors = preflight[number]
            allowed = PDFA2_EXPECTED if as_flavour == "2b" else frozenset()
            unexpected = [e for e in errors if e not in allowed]
            failed |= bool(unexpected)
            expected = len(errors) - len(unexpected)
            note = f" ({expected} expected PDF/A-1-only message(s))" if expected else ""
            verdict = "FAIL" if unexpected else "PASS"
            print(f"{verdict} Preflight (as {as_flavour}) {path}{note}")
            for error in errors:
                print(f"  {'expected: ' if error in allowed else ''}{error}")
    return 1 if failed else 0


def make_samples(out: Path, version: str = "2b") -> list[Path]:
    """Run ``tair-ocr --output-type pdfa --pdfa-version VERSION`` on the PDF and an
    image sample, into ``out/VERSION``."""
    inputs = [ROOT / "samples" / "letter_scan.pdf", ROOT / "samples" / "faxed_memo.png"]
    folder = out / version
    subprocess.run(
        [sys.executable, "-m", "tair_ocr", *map(str, inputs), "--output-type", "pdfa",
         "--pdfa-version", version, "-o", str(folder), "--force", "-q"],
        check=True,
    )  # fmt: skip
    return [folder / f"{p.stem}.pdfa.pdf" for p in inputs]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--samples", action="store_true", help="make the samples' PDF/A first")
    parser.add_argument("-o", "--out", type=Path, help="where --samples writes (default: temp)")
    parser.add_argument(
        "--pdfa-version",
        choices=("2b", "1b", "both"),
        default="both",
        help="the flavour(s) --samples makes (default: both)",
    )
    parser.add_argument(
        "--flavour",
        choices=("2b", "1b"),
        help="validate every file as this flavour (default: the one its XMP claims)",
    )
    args = parser.parse_args(argv)
    if not args.files and not args.samples:
        parser.error("give files, or --samples")
    files = list(args.files)
    with tempfile.TemporaryDirectory() as scratch:
        if args.samples:
            versions = ("2b", "1b") if args.pdfa_version == "both" else (args.pdfa_version,)
            for version in versions:
                files += make_samples(args.out or Path(scratch), version)
        return validate(files, args.flavour)


if __name__ == "__main__":
    sys.exit(main())
