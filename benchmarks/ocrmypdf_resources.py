"""tair-ocr over OCRmyPDF's test resources: a peer suite of awkward inputs.

OCRmyPDF ships about 50 small PDFs and images that broke OCR tools before
(damaged files, odd colour spaces, huge pages, forms, pages that already have
text, ...) in its source distribution. This runs ``tair-ocr`` on each, in a
process of its own, the way a user would, and checks what the project promises:

- no traceback and no timeout on any file; only ``invalid.pdf`` is refused;
- no page comes out with its existing words twice (a word of the input page
  that two output words with the same text sit on);
- the peak memory of each run (the process and the engines it ran), which must
  stay under 2 GB.

It fetches nothing: get the files once and pass their folder::

    pip download --no-deps --no-binary :all: ocrmypdf==17.13.0 -d /tmp/omp
    tar xzf /tmp/omp/ocrmypdf-17.13.0.tar.gz -C /tmp/omp
    python benchmarks/ocrmypdf_resources.py /tmp/omp/ocrmypdf-17.13.0/tests/resources \\
        --out benchmarks/results/ocrmypdf_resources.md

Extra ``tair-ocr`` arguments go after ``--`` (e.g. ``-- --engine tesseract``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Inputs tair-ocr reads (the folder also holds hOCR, fonts and ODT files).
SUFFIXES = {".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff"}
#: The files tair-ocr may refuse: they are not readable documents.
MAY_REFUSE = {"invalid.pdf"}
#: Peak memory allowed per file.
MEMORY_LIMIT_MB = 2048


@dataclass
class Run:
    """One input file: how the run ended and what came out."""

    name: str
    code: int | None = None
    seconds: float = 0.0
    peak_mb: float = 0.0
    pages: int = 0
    failed_pages: int = 0
    traceback: bool = False
    timed_out: bool = False
    words_in: int = 0
    words_out: int = 0
    doubled_pages: list[int] = field(default_factory=list)
    actions: dict[str, int] = field(default_factory=dict)
    message: str = ""


def run_one(path: Path, out: Path, extra: list[str], timeout: float) -> Run:
    """``tair-ocr path`` in a child process, its exit code, time and peak memory."""
    run = Run(path.name)
    command = [sys.executable, "-m", "tair_ocr", str(path), "-o", str(out), "-t", "pdf,json"]
    command += ["-q", "--force", *extra]
    started = time.perf_counter()
    with tempfile.TemporaryFile() as stderr:
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = started + timeout
        status, usage = 0, None
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                child.kill()
                _, status, usage = os.wait4(child.pid, 0)
                run.timed_out = True
                break
            time.sleep(0.05)
        child.returncode = os.waitstatus_to_exitcode(status)
        run.seconds = time.perf_counter() - started
        run.code = child.returncode
        # ru_maxrss (KiB on Linux): the child, or the largest of the processes it
        # waited for (tesseract).
        run.peak_mb = usage.ru_maxrss / 1024 if usage is not None else 0.0
        stderr.seek(0)
        text = stderr.read().decode("utf-8", "replace")
    run.traceback = "Traceback (most recent call last)" in text
    lines = [line for line in text.splitlines() if line.strip()]
    run.message = lines[-1][:160] if lines and run.code not in (0, None) else ""
    report = out / f"{path.stem}.json"
    if report.is_file():
        data = json.loads(report.read_text(encoding="utf-8"))
        run.pages = len(data["pages"])
        run.failed_pages = sum(1 for p in data["pages"] if p.get("error"))
        for page in data["pages"]:
            action = (page.get("existing_text") or {}).get("action")
            if action:
                run.actions[action] = run.actions.get(action, 0) + 1
    pdf = out / f"{path.stem}.ocr.pdf"
    if path.suffix.lower() == ".pdf" and pdf.is_file():
        _count_doubles(path, pdf, run)
    return run


def _count_doubles(source: Path, output: Path, run: Run) -> None:
    """Fill ``words_in``, ``words_out`` and ``doubled_pages`` from the two PDFs."""
    import pymupdf

    with pymupdf.open(source) as before, pymupdf.open(output) as after:
        for number, (page_in, page_out) in enumerate(zip(before, after, strict=False)):
            words_in = page_in.get_text("words")
            words_out = page_out.get_text("words")
            run.words_in += len(words_in)
            run.words_out += len(words_out)
            if not words_in:
                continue
            doubled = False
            for x0, y0, x1, y1, text, *_ in words_in:
                on_it = [
                    w
                    for w in words_out
                    if w[4] == text
                    and x0 - 2 <= (w[0] + w[2]) / 2 <= x1 + 2
                    and y0 - 2 <= (w[1] + w[3]) / 2 <= y1 + 2
                ]
                if len(on_it) > 1:
                    doubled = True
                    break
            if doubled:
                run.doubled_pages.append(number + 1)


def report(runs: list[Run], command: str) -> list[str]:
    """The markdown table and the bar's checks."""
    lines = [
        "## tair-ocr on OCRmyPDF's test resources",
        "",
        f"`{command}`",
        "",
        "| file | exit | s | peak MB | pages (failed) | words in → out | doubled "
        "| existing text | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        actions = ", ".join(f"{k} {v}" for k, v in sorted(r.actions.items()))
        flags = " TRACEBACK" if r.traceback else ""
        flags += " TIMEOUT" if r.timed_out else ""
        lines.append(
            f"| {r.name} | {r.code}{flags} | {r.seconds:.1f} | {r.peak_mb:.0f} | {r.pages}"
            f" ({r.failed_pages}) | {r.words_in} → {r.words_out} |"
            f" {', '.join(map(str, r.doubled_pages)) or '-'} | {actions or '-'} |"
            f" {r.message.replace('|', '/')} |"
        )
    refused = sorted(r.name for r in runs if r.code not in (0, 6))
    biggest = max(runs, key=lambda r: r.peak_mb)
    checks = [
        ("no traceback", not any(r.traceback for r in runs), ""),
        ("no timeout", not any(r.timed_out for r in runs), ""),
        ("only invalid.pdf refused", set(refused) <= MAY_REFUSE, ", ".join(refused) or "none"),
        (
            "no page with its words doubled",
            not any(r.doubled_pages for r in runs),
            ", ".join(r.name for r in runs if r.doubled_pages) or "none",
        ),
        (
            f"peak memory under {MEMORY_LIMIT_MB} MB",
            biggest.peak_mb < MEMORY_LIMIT_MB,
            f"largest {biggest.peak_mb:.0f} MB ({biggest.name})",
        ),
    ]
    lines += ["", "### Checks", ""]
    lines += [
        f"- {'PASS' if ok else 'FAIL'}: {name}" + (f" ({detail})" if detail else "")
        for name, ok, detail in checks
    ]
    seconds = sum(r.seconds for r in runs)
    pages = sum(r.pages for r in runs)
    lines += ["", f"{len(runs)} files, {pages} pages, {seconds:.0f} s in all.", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("resources", type=Path, help="OCRmyPDF's tests/resources folder")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per file")
    parser.add_argument("--only", default="", help="comma-separated file names")
    parser.add_argument("--out", type=Path, help="write the markdown report here")
    args = parser.parse_args(argv)
    if not args.resources.is_dir():
        print(f"no such folder: {args.resources} (see the module docstring)", file=sys.stderr)
        return 2
    names = {n.strip() for n in args.only.split(",") if n.strip()}
    files = sorted(
        p
        for p in args.resources.iterdir()
        if p.suffix.lower() in SUFFIXES and (not names or p.name in names)
    )
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, path in enumerate(files, 1):
            run = run_one(path, Path(tmp), extra, args.timeout)
            runs.append(run)
            print(
                f"[{i}/{len(files)}] {path.name}: exit {run.code}, {run.seconds:.1f}s, "
                f"{run.peak_mb:.0f} MB, words {run.words_in} -> {run.words_out}"
                + (f", doubled on {run.doubled_pages}" if run.doubled_pages else ""),
                file=sys.stderr,
            )
    command = "python benchmarks/ocrmypdf_resources.py RESOURCES" + (
        " -- " + " ".join(extra) if extra else ""
    )
    text = "\n".join(report(runs, command))
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
