"""Batch-job throughput: the local backend against the Ray backend, same machine,
same pages, same command (issue 13).

The pages are the synthetic evaluation pages of ``ocr_accuracy.py`` (``--kinds``,
``--pages-per-kind``; seeds ``10000 + 1000·k + i``; pages of one resolution are
bundled into multi-page TIFF documents of up to ``--per-document`` pages, the
others stay single PNGs) plus ``samples/`` (a 2-page PDF, a photo, a fax). Each
backend runs the whole folder as one ``tair-ocr`` command in a fresh process, so
its start-up (imports, models, for Ray the local cluster and its workers) is
counted:

    local:  tair-ocr IN -o OUT --jobs 2 ...
    ray:    tair-ocr IN -o OUT --backend ray ...   (a local cluster of this machine's CPUs)

It reports wall seconds, pages per second and their ratio, and checks that the two
backends wrote the same text for every document. From the local run's JSON it also
reports what each stage costs per page (seconds of one thread: page filters, OCR,
restoration, decision and fusion; tiles restored), and it times loading on its own
(every document rasterised or decoded once, in this process): the per-stage costs
``docs/scale-out.md`` plans a cluster from. ``--memory-pages N`` adds a run
of the Ray backend on one N-page PDF (the same synthetic page repeated, at
``--memory-dpi``) sampling the memory of the driver and of all of its processes:
resident (shared pages counted once per process: an upper bound), private (USS:
each process's own pages) and the shared memory in ``/dev/shm`` (Ray's object
store), each at its peak.

    python benchmarks/backend_throughput.py                       # 13 kinds x 2 + samples
    python benchmarks/backend_throughput.py --repeat 2 --out benchmarks/results/backends.md
    python benchmarks/backend_throughput.py --memory-pages 500 --memory-dpi 100 --skip-throughput
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"


@dataclass
class StageCosts:
    """Seconds of one thread per page, by stage, from a run's JSON outputs."""

    pages: int
    per_page: dict[str, float]
    tiles_restored: float
    load_seconds_per_page: float | None = None


@dataclass
class Run:
    backend: str
    seconds: float
    code: int
    pages: int
    texts: dict[str, str] = field(default_factory=dict)
    peak_driver_mb: float | None = None
    peak_tree_mb: float | None = None
    peak_private_mb: float | None = None
    peak_shm_mb: float | None = None
    out: Path | None = None
    #: The machine's 1-minute load average when the run ended (other work shows).
    load: float = 0.0

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds if self.seconds else 0.0


def make_inputs(folder: Path, kinds: Sequence[str], pages_per_kind: int, per_document: int) -> int:
    """Write the benchmark's documents into ``folder``; returns their page count."""
    from ocr_accuracy import _synthetic_input, synthetic_tasks
    from PIL import Image

    from tair_workbench.synthetic import DEGRADATION_KINDS

    folder.mkdir(parents=True, exist_ok=True)
    tasks = synthetic_tasks(kinds, pages_per_kind, list(DEGRADATION_KINDS))
    staging = folder / ".staging"
    staging.mkdir()
    by_dpi: dict[float, list[Path]] = {}
    for task in tasks:
        path, _ = _synthetic_input(task, staging)
        with Image.open(path) as image:
            dpi = round(float(image.info.get("dpi", (300, 300))[0]), 3)
        by_dpi.setdefault(dpi, []).append(path)
    pages = 0
    for dpi, paths in sorted(by_dpi.items()):
        for start in range(0, len(paths), per_document):
            chunk = paths[start : start + per_document]
            pages += len(chunk)
            if len(chunk) == 1:
                shutil.copy(chunk[0], folder / chunk[0].name)
                continue
            images = [Image.open(p) for p in chunk]
            target = folder / f"{chunk[0].stem}+{len(chunk) - 1}.tif"
            images[0].save(
                target,
                save_all=True,
                append_images=images[1:],
                dpi=(dpi, dpi),
                compression="tiff_lzw",
            )
            for image in images:
                image.close()
    shutil.rmtree(staging)
    for name in ("letter_scan.pdf", "receipt_photo.jpg", "faxed_memo.png"):
        shutil.copy(SAMPLES / name, folder / name)
    return pages + 4  # the samples: 2 + 1 + 1


def run_backend(
    backend: str, inputs: Path, out: Path, args: Sequence[str], pages: int, sample: bool = False
) -> Run:
    command = [sys.executable, "-m", "tair_ocr", str(inputs), "-o", str(out), "-q", *args]
    command += ["--backend", backend] if backend == "ray" else ["--jobs", "2"]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, env=env)
    peaks = _sample_memory(proc) if sample else None
    code = proc.wait()
    seconds = time.perf_counter() - started
    run = Run(backend, seconds, code, pages, load=os.getloadavg()[0])
    if peaks is not None:
        peaks.stop()
        run.peak_driver_mb, run.peak_tree_mb = peaks.driver / 2**20, peaks.tree / 2**20
        run.peak_private_mb, run.peak_shm_mb = peaks.private / 2**20, peaks.shm / 2**20
    run.texts = {str(p.relative_to(out)): p.read_text() for p in sorted(out.rglob("*.txt"))}
    run.out = out
    return run


#: The page timings :func:`stage_costs` adds up, by the stage they belong to.
_STAGES = {
    "filters": ("filters",),
    "ocr": ("ocr",),
    "restore": ("prepare", "restore"),
    "decide + fusion": ("decide", "fusion"),
}


def stage_costs(out: Path) -> StageCosts | None:
    """Per-page stage seconds and tiles restored, from the JSON outputs in ``out``."""
    from tair_ocr import DocumentResult

    pages = [
        page
        for path in sorted(out.rglob("*.json"))
        for page in DocumentResult.model_validate_json(path.read_text()).pages
        if page.ok
    ]
    if not pages:
        return None
    per_page = {
        stage: sum(p.timings.get(k, 0.0) for p in pages for k in keys) / len(pages)
        for stage, keys in _STAGES.items()
    }
    tiles = sum(p.counters.get("tiles_restored", 0) for p in pages) / len(pages)
    return StageCosts(len(pages), per_page, tiles)


def load_seconds_per_page(inputs: Path, options: Sequence[str]) -> float:
    """Seconds to load (rasterise or decode) a page, in this process, one thread:
    every document of ``inputs`` once, at the run's ``--dpi`` if it sets one."""
    from tair_ocr import Pipeline

    dpi = float(options[options.index("--dpi") + 1]) if "--dpi" in options else 300.0
    pipeline = Pipeline(engine="tesseract", restorer="none", autoload=False, dpi=dpi)
    pages = 0
    started = time.perf_counter()
    for path in sorted(p for p in inputs.iterdir() if not p.name.startswith(".")):
        with pipeline.open(path) as document:
            for page in document.pages(pipeline.page_indices(document)):
                page.image.load()
                pages += 1
    return (time.perf_counter() - started) / max(1, pages)


class _Peaks:
    """The largest memory of a process and of its whole tree, sampled: resident,
    private (USS) and the growth of ``/dev/shm`` (where Ray keeps its object store)."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.process = psutil.Process(pid)
        self.driver = self.tree = self.private = self.shm = 0
        self._shm_base = _shm_used()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                own = self.process.memory_info().rss
                total, private = own, self.process.memory_full_info().uss
                for child in self.process.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        total += child.memory_info().rss
                        private += child.memory_full_info().uss
            except psutil.Error:
                break
            self.driver, self.tree = max(self.driver, own), max(self.tree, total)
            self.private = max(self.private, private)
            self.shm = max(self.shm, _shm_used() - self._shm_base)
            self._stop.wait(0.5)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _shm_used() -> int:
    try:
        return shutil.disk_usage("/dev/shm").used
    except OSError:
        return 0


def _sample_memory(proc: subprocess.Popen[bytes]) -> _Peaks | None:
    try:
        return _Peaks(proc.pid)
    except ImportError:
        return None


def make_long_pdf(path: Path, pages: int) -> None:
    """A PDF of ``pages`` pages, each the same synthetic scan (an evaluation page)."""
    import io

    import pymupdf
    from ocr_accuracy import _synthetic_input, synthetic_tasks
    from PIL import Image

    from tair_workbench.synthetic import DEGRADATION_KINDS

    (task,) = synthetic_tasks(["scan"], 1, list(DEGRADATION_KINDS))
    with tempfile.TemporaryDirectory() as tmp:
        png, _ = _synthetic_input(task, Path(tmp))
        with Image.open(png) as image:
            buffer = io.BytesIO()
            image.convert("L").save(buffer, format="JPEG", quality=85)
            dpi = float(image.info.get("dpi", (300, 300))[0])
            width, height = image.width * 72 / dpi, image.height * 72 / dpi
    data = buffer.getvalue()
    with pymupdf.open() as doc:
        for _ in range(pages):
            page = doc.new_page(width=width, height=height)
            page.insert_image(page.rect, stream=data)
        doc.save(path)


def _report(
    runs: list[Run],
    pages: int,
    documents: int,
    args: argparse.Namespace,
    memory: Run | None,
    costs: StageCosts | None = None,
) -> list[str]:
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.node() or 'this machine'}: "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"`{' '.join(['python', 'benchmarks/backend_throughput.py', *sys.argv[1:]])}`; "
        f"{documents} documents, {pages} pages; tair-ocr options `{' '.join(args.options)}`.",
        "",
    ]
    if runs:
        lines += [
            "| backend | run | wall s | pages/s | exit | load average at the end |",
            "|---|---|---|---|---|---|",
        ]
        counts: dict[str, int] = {}
        for run in runs:
            counts[run.backend] = counts.get(run.backend, 0) + 1
            lines.append(
                f"| {run.backend} | {counts[run.backend]} | {run.seconds:.1f} | "
                f"{run.pages_per_second:.3f} | {run.code} | {run.load:.1f} |"
            )
        local = [r.seconds for r in runs if r.backend == "local"]
        ray = [r.seconds for r in runs if r.backend == "ray"]
        if local and ray:
            ratio = min(ray) / min(local)
            lines += [
                "",
                f"Ray's wall time over the local backend's (best runs): **{ratio:.2f}x** "
                f"({'within' if ratio <= 1.5 else 'over'} the 1.5x bar).",
            ]
        reference = runs[0].texts
        same = all(r.texts == reference for r in runs)
        differing = sorted(
            name
            for r in runs
            for name in set(r.texts) | set(reference)
            if r.texts.get(name) != reference.get(name)
        )
        lines.append(
            f"Text outputs identical across backends and runs: {'yes' if same else 'NO'}"
            + (f" ({len(reference)} documents)" if same else f" (differ: {', '.join(differing)})")
        )
    if costs is not None:
        lines += [
            "",
            f"Stage costs (local backend, {costs.pages} pages read, seconds of one thread "
            "per page):",
            "",
            "| load | " + " | ".join(costs.per_page) + " | tiles restored/page |",
            "|---" * (len(costs.per_page) + 2) + "|",
            f"| {costs.load_seconds_per_page or 0:.2f} | "
            + " | ".join(f"{v:.2f}" for v in costs.per_page.values())
            + f" | {costs.tiles_restored:.1f} |",
        ]
    if memory is not None:
        lines += [
            "",
            f"Memory, Ray backend, one {memory.pages}-page PDF at {args.memory_dpi:g} dpi: "
            f"{memory.seconds:.1f} s ({memory.pages_per_second:.2f} pages/s, exit {memory.code}); "
            f"peaks: the driver {memory.peak_driver_mb or 0:.0f} MB resident; all its processes "
            f"{memory.peak_private_mb or 0:.0f} MB private (USS), "
            f"{memory.peak_tree_mb or 0:.0f} MB resident (shared pages counted per process); "
            f"/dev/shm (Ray's object store) {memory.peak_shm_mb or 0:.0f} MB.",
        ]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", default="all", help="synthetic kinds, comma-separated")
    parser.add_argument("--pages-per-kind", type=int, default=2)
    parser.add_argument("--per-document", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=1, help="runs per backend, alternating")
    parser.add_argument(
        "--options",
        nargs=argparse.REMAINDER,
        default=["--engine", "tesseract", "-t", "txt,json", "--no-plugin-autoload"],
        help="tair-ocr options for both backends (last; default: %(default)s)",
    )
    parser.add_argument("--memory-pages", type=int, default=0)
    parser.add_argument("--memory-dpi", type=float, default=100.0)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--out", type=Path, help="also write the report here (Markdown)")
    args = parser.parse_args(argv)

    from tair_workbench.synthetic import DEGRADATION_KINDS

    kinds = list(DEGRADATION_KINDS) if args.kinds == "all" else args.kinds.split(",")
    runs: list[Run] = []
    memory = None
    costs = None
    pages = documents = 0
    with tempfile.TemporaryDirectory(prefix="backends-") as tmp:
        work = Path(tmp)
        if not args.skip_throughput:
            inputs = work / "in"
            pages = make_inputs(inputs, kinds, args.pages_per_kind, args.per_document)
            documents = len([p for p in inputs.iterdir() if not p.name.startswith(".")])
            print(f"{documents} documents, {pages} pages in {inputs}", file=sys.stderr)
            for i in range(args.repeat):
                order = ("local", "ray") if i % 2 == 0 else ("ray", "local")
                for backend in order:
                    out = work / f"out-{backend}-{i}"
                    run = run_backend(backend, inputs, out, args.options, pages)
                    print(
                        f"{backend}: {run.seconds:.1f} s, {run.pages_per_second:.3f} pages/s, "
                        f"exit {run.code}",
                        file=sys.stderr,
                    )
                    runs.append(run)
            local = next((r for r in runs if r.backend == "local" and r.out), None)
            costs = stage_costs(local.out) if local and local.out else None
            if costs is not None:
                costs.load_seconds_per_page = load_seconds_per_page(inputs, args.options)
        if args.memory_pages:
            pdf = work / "long" / "long.pdf"
            pdf.parent.mkdir()
            make_long_pdf(pdf, args.memory_pages)
            options = [*args.options, "--dpi", f"{args.memory_dpi:g}"]
            memory = run_backend(
                "ray", pdf.parent, work / "out-long", options, args.memory_pages, sample=True
            )
            print(f"memory run: {memory.seconds:.1f} s, exit {memory.code}", file=sys.stderr)
    lines = _report(runs, pages, documents, args, memory, costs)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    failed = any(r.code not in (0, 6) for r in runs) or (memory is not None and memory.code != 0)
    same = all(r.texts == runs[0].texts for r in runs) if runs else True
    return 0 if same and not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
