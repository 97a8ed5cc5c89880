"""Validate PDF/A output with the real validators that are installed.

    python benchmarks/pdfa_validate.py FILE.pdf...          # validate these files
    python benchmarks/pdfa_validate.py --samples [-o DIR]   # run tair-ocr --output-type pdfa
                                                            # on samples/, then validate

Validators, each used when present:

* **veraPDF** (``verapdf`` on PATH), the reference PDF/A validator, with the
  PDF/A-2b profile. It is not in PyPI, npm or Debian; install it from its own
  distribution where you can.
* **Apache PDFBox Preflight** (Debian ``libpdfbox2-java``; it also needs
  ``libactivation-java``, ``libjaxb-api-java`` and a Java runtime). It validates
  PDF/A-1b only. A file without transparency that is PDF/A-2b differs from
  PDF/A-1b in two things Preflight reports, which are therefore expected
  (:data:`PDFA2_EXPECTED`): ``pdfaid:part`` is 2, and the output intent's ICC
  profile is version 4 (PDF/A-1 wants version 2; PDF/A-2 allows 4). Everything
  else it checks (fonts embedded, no transparency, output intent, colour spaces
  against it, XMP well formed and matching the Info dictionary, trailer ID, no
  encryption, no forbidden actions, annotation flags and appearances) is common
  to both parts, so any other error is a PDF/A-2b error too.

Exit status: 0 when every file passed every validator that ran, 1 when one
failed, 2 when no validator is installed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
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
    done = subprocess.run(
        ["java", "-cp", classpath, _PREFLIGHT_MAIN, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = done.stdout.splitlines()
    if any("is a valid PDF/A-1b file" in line for line in lines):
        return []
    errors = [line.strip() for line in lines if " : " in line and line[:1].isdigit()]
    if not errors:  # it crashed or said something unexpected: report all of it
        errors = [f"preflight exited {done.returncode}: {done.stdout}{done.stderr}".strip()]
    return errors


def run_verapdf(path: Path) -> tuple[bool, str]:
    """veraPDF's PDF/A-2b verdict on ``path`` and its text report."""
    done = subprocess.run(
        ["verapdf", "--flavour", "2b", "--format", "text", str(path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = (done.stdout + done.stderr).strip()
    return report.startswith("PASS"), report


def validate(paths: list[Path]) -> int:
    classpath = preflight_classpath()
    verapdf = shutil.which("verapdf") is not None
    if classpath is None and not verapdf:
        print("no PDF/A validator installed (verapdf, or Debian libpdfbox2-java + Java)")
        return 2
    failed = False
    for path in paths:
        if verapdf:
            ok, report = run_verapdf(path)
            failed |= not ok
            print(f"{'PASS' if ok else 'FAIL'} veraPDF 2b  {path}")
            if not ok:
                print("  " + report.replace("\n", "\n  "))
        if classpath is not None:
            errors = run_preflight(path, classpath)
            unexpected = [e for e in errors if e not in PDFA2_EXPECTED]
            failed |= bool(unexpected)
            expected = len(errors) - len(unexpected)
            note = f" ({expected} expected PDF/A-1-only message(s))" if expected else ""
            print(f"{'FAIL' if unexpected else 'PASS'} Preflight {path}{note}")
            for error in errors:
                print(f"  {'expected: ' if error in PDFA2_EXPECTED else ''}{error}")
    return 1 if failed else 0


def make_samples(out: Path) -> list[Path]:
    """Run ``tair-ocr --output-type pdfa`` on the PDF and an image sample."""
    inputs = [ROOT / "samples" / "letter_scan.pdf", ROOT / "samples" / "faxed_memo.png"]
    subprocess.run(
        [sys.executable, "-m", "tair_ocr", *map(str, inputs), "--output-type", "pdfa",
         "-o", str(out), "--force", "-q"],
        check=True,
    )  # fmt: skip
    return [out / f"{p.stem}.pdfa.pdf" for p in inputs]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--samples", action="store_true", help="make the samples' PDF/A first")
    parser.add_argument("-o", "--out", type=Path, help="where --samples writes (default: temp)")
    args = parser.parse_args(argv)
    if not args.files and not args.samples:
        parser.error("give files, or --samples")
    files = list(args.files)
    with tempfile.TemporaryDirectory() as scratch:
        if args.samples:
            files += make_samples(args.out or Path(scratch))
        return validate(files)


if __name__ == "__main__":
    sys.exit(main())
