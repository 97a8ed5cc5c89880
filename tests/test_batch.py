"""Batch jobs on the local backend (issue 13): folders and glob patterns as inputs,
the job ledger and ``--resume`` (a rerun after a crash or a kill skips what is
done and finishes the rest), job progress and summary, and the ray backend's
missing-dependency error. The ray backend itself: tests/test_ray_backend.py."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from tair_ocr import DocumentResult, ExitCode, PageResult, run_batch
from tair_ocr.batch import LEDGER_NAME, Ledger, expand_inputs
from tair_ocr.batch.ledger import document_key, fingerprint, remove_stale_temporaries, stamp
from tair_ocr.cli import main
from tair_ocr.errors import InputError, MissingDependencyError

from .batch_helpers import (
    BATCH_FAULTS,
    BLUE,
    FAULT_ARGS,
    RED,
    fault_pipeline,
    gray,
    job_args,
    leftovers,
    make_pdf,
    make_png,
    mtimes,
    start_job,
    texts,
    wait_for,
)


def cli(*args: object) -> int:
    return main([*map(str, args), "--no-plugin-autoload"])


# ---------------------------------------------------------------- inputs


def test_folders_are_expanded_recursively_in_a_stable_order(tmp_path):
    scans = tmp_path / "scans"
    for name in ("b.pdf", "a.PNG", "sub/c.tif", "sub/deeper/d.jpeg", "z/e.pdf"):
        (scans / name).parent.mkdir(parents=True, exist_ok=True)
        (scans / name).write_bytes(b"x")
    # Not inputs: other suffixes, hidden files and folders, earlier outputs.
    for name in ("notes.txt", ".hidden.pdf", ".cache/f.pdf", "b.ocr.pdf", "x.p0001.restored.png"):
        (scans / name).parent.mkdir(parents=True, exist_ok=True)
        (scans / name).write_bytes(b"x")
    expansion = expand_inputs([scans], output_suffixes=[".ocr.pdf", ".restored.png"])
    assert [p.relative_to(scans).as_posix() for p in expansion.sources] == [
        "a.PNG",
        "b.pdf",
        "sub/c.tif",
        "sub/deeper/d.jpeg",
        "z/e.pdf",
    ]
    assert expansion.folders[scans / "sub/deeper/d.jpeg"] == Path("sub/deeper")
    assert expansion.folders[scans / "a.PNG"] == Path(".")
    assert expansion.errors == []
    # The output folder inside an input folder is never read.
    assert scans / "z/e.pdf" not in expand_inputs([scans], exclude=[scans / "z"]).sources


def test_patterns_files_and_duplicates(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("in/a.pdf", "in/b.png", "in/deep/c.pdf", "in/b.ocr.pdf", "odd[1].pdf"):
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        Path(name).write_bytes(b"x")
    expansion = expand_inputs(
        ["in/*.pdf", "in/**/*.pdf", "in/a.pdf", "odd[1].pdf", "in/nothing-*.tif", "missing.pdf"],
        output_suffixes=[".ocr.pdf"],
    )
    # Sorted per pattern, each document once (at its first place), an existing
    # path with glob characters taken as it is, a missing file left to its loader.
    assert [p.as_posix() for p in expansion.sources] == [
        "in/a.pdf",
        "in/deep/c.pdf",
        "odd[1].pdf",
        "missing.pdf",
    ]
    assert expansion.folders[Path("in/deep/c.pdf")] == Path("deep")
    ((given, error),) = expansion.errors
    assert given == "in/nothing-*.tif" and isinstance(error, InputError)
    assert "no file matches this pattern" in str(error)


def test_folder_inputs_write_beside_each_other_in_subfolders(tmp_path):
    scans = tmp_path / "scans"
    make_pdf(scans / "x.pdf", [gray(10), gray(20)])
    make_png(scans / "2024" / "x.png", gray(30))  # the same stem: its own subfolder
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out"
    code = cli(scans, tmp_path / "empty", *FAULT_ARGS, "-o", out, "-t", "txt", "-q")
    assert code == ExitCode.INPUT_ERROR  # the empty folder: an input error of its own
    assert texts(out) == {"x.txt": "p10\fp20\n", "2024/x.txt": "p30\n"}


# ---------------------------------------------------------------- ledger


def test_ledger_records_survive_a_torn_line_and_check_outputs(tmp_path):
    out = tmp_path / "out"
    source = make_png(tmp_path / "a.png", gray(10))
    outputs = {"txt": out / "a.txt"}
    assert not Ledger(out).owns("k1", out / "a.txt")
    out.mkdir()
    (out / "a.txt").write_text("p10\n")
    done = DocumentResult(
        source=str(source), kind="image", pages=[PageResult(index=0, width=1, height=1, dpi=1)]
    )
    Ledger(out).entry("k1", source, stamp(source)).written(outputs, outputs, done)
    with (out / LEDGER_NAME).open("a") as fh:
        fh.write('{"v": 1, "event": "done", "key": "k2", "outp')  # killed mid-line
    ledger = Ledger(out)
    assert ledger.is_done("k1", source, outputs) and ledger.done_pages("k1") == 1
    assert ledger.owns("k1", out / "a.txt") and not ledger.owns("k2", out / "a.txt")
    assert not ledger.is_done("k2", source, outputs)
    assert not ledger.is_done("k1", source, {"txt": out / "a.txt", "json": out / "a.json"})
    # The source changed since: not done (the outputs are still the job's own).
    os.utime(source, ns=(0, 12345))
    assert not Ledger(out).is_done("k1", source, outputs) and Ledger(out).owns("k1", out / "a.txt")
    # Recorded again (after the torn line: on a line of its own), then an output edited.
    Ledger(out).entry("k1", source, stamp(source)).written(outputs, outputs, done)
    assert Ledger(out).is_done("k1", source, outputs)
    (out / "a.txt").write_text("edited\n")
    assert not Ledger(out).is_done("k1", source, outputs)


def test_outputs_are_recorded_before_they_are_in_place(tmp_path):
    """The ledger's record is made while the outputs are still temporary files, and a
    writer that fails leaves no output of the document."""
    source = make_png(tmp_path / "a.png", gray(10))
    pipeline = fault_pipeline(output_types=["txt", "json"])
    seen: list[tuple[bool, list[str], bool]] = []

    def on_written(result, staged):
        in_place = (tmp_path / "out" / "a.txt").exists() or (tmp_path / "out" / "a.json").exists()
        temporary = all(p.is_file() and p.name.endswith(".tmp") for p in staged.values())
        seen.append((in_place, sorted(staged), temporary))

    pipeline.run(source, output_dir=tmp_path / "out", on_written=on_written)
    assert seen == [(False, ["json", "txt"], True)]
    assert (tmp_path / "out" / "a.json").exists() and (tmp_path / "out" / "a.txt").exists()

    class Broken(Exception):
        pass

    def broken(result, staged):
        raise Broken

    with pytest.raises(Broken):
        pipeline.run(source, output_dir=tmp_path / "other", on_written=broken)
    assert list((tmp_path / "other").iterdir()) == []  # nothing in place, no temporary file


def test_the_key_follows_the_source_and_the_options(tmp_path):
    source = make_png(tmp_path / "a.png", gray(10))
    settings = fault_pipeline().settings
    options = fingerprint(settings, engine="batch-fault", restorer="none")
    key = document_key(source, options)
    # Not the speed, the overwriting or the output folder...
    same = settings.model_copy(update={"jobs": 7, "force": True, "timeout": 3.0})
    assert fingerprint(same, engine="batch-fault", restorer="none") == options
    # ... but what is read and written.
    other = settings.model_copy(update={"dpi": 150.0})
    assert fingerprint(other, engine="batch-fault", restorer="none") != options
    assert fingerprint(settings, engine="batch-fault", restorer="cleaner") != options
    assert document_key(tmp_path / "b.png", options) != key


def test_stale_temporaries_are_removed(tmp_path):
    (tmp_path / ".a.txt.abc123.tmp").write_text("half")
    (tmp_path / ".other.txt.abc123.tmp").write_text("not ours")
    assert remove_stale_temporaries({"txt": tmp_path / "a.txt"}) == 1
    assert [p.name for p in leftovers(tmp_path)] == [".other.txt.abc123.tmp"]


# ---------------------------------------------------------------- resume


def test_resume_skips_done_documents_and_redoes_changed_ones(tmp_path, capsys):
    inputs = tmp_path / "in"
    make_pdf(inputs / "a.pdf", [gray(10), gray(20)])
    make_png(inputs / "b.png", gray(30))
    out = tmp_path / "out"
    args = (inputs, *FAULT_ARGS, "-o", out, "-t", "txt,json", "--resume")
    assert cli(*args) == ExitCode.OK
    first = mtimes(out)
    assert sorted(first) == ["a.json", "a.txt", "b.json", "b.txt"]
    capsys.readouterr()

    assert cli(*args) == ExitCode.OK  # the same command again: nothing to do
    assert mtimes(out) == first
    err = capsys.readouterr().err
    assert err.count("done earlier (ledger), skipped") == 2
    assert "0 documents, 0 pages" in err and "2 skipped (done earlier)" in err

    # A deleted output, and a changed source: those documents are done again.
    (out / "b.json").unlink()
    os.utime(inputs / "a.pdf", ns=(10**9, 10**9))
    assert cli(*args, "-q") == ExitCode.OK
    again = mtimes(out)
    assert sorted(again) == sorted(first) and all(again[k] != first[k] for k in again)

    # Other options are another job: its existing outputs are refused (not its own).
    assert cli(*args, "--dpi", "100", "-q") == ExitCode.OUTPUT_ERROR
    assert mtimes(out) == again
    assert "use --force" in capsys.readouterr().err
    # Without --resume nothing changes: existing outputs are refused as always.
    assert cli(inputs, *FAULT_ARGS, "-o", out, "-t", "txt,json", "-q") == ExitCode.OUTPUT_ERROR


def test_a_document_with_failed_pages_is_done_again_on_resume(tmp_path, capsys):
    source = make_pdf(tmp_path / "a.pdf", [gray(10), RED])
    out = tmp_path / "out"
    args = (source, *FAULT_ARGS, "-o", out, "-t", "txt", "--resume", "-q")
    assert cli(*args) == ExitCode.PAGES_FAILED
    written = (out / "a.txt").stat().st_mtime_ns
    # Its outputs are the job's own (the ledger says so): replaced without --force,
    # and the exit code still says that a page fails.
    assert cli(*args) == ExitCode.PAGES_FAILED
    assert (out / "a.txt").stat().st_mtime_ns != written
    assert "page 2: ocr: RuntimeError: engine crashed (injected)" in capsys.readouterr().err


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_an_interrupted_job_resumes_where_it_stopped(tmp_path, how):
    """Run, kill the driver (or Ctrl-C) after the first document is written, run
    again: nothing written is redone, every document ends complete, no temporary
    file is left."""
    inputs = tmp_path / "in"
    for n in range(4):
        make_pdf(inputs / f"d{n}.pdf", [gray(10 * n + 1), gray(10 * n + 2)])
    out = tmp_path / "out"
    proc = start_job(job_args(inputs, out, "--batchfault-delay", "0.4", "--jobs", "1"))
    wait_for(out / "d0.json", proc)
    proc.send_signal(how)
    code = proc.wait(timeout=60)
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert code == (-signal.SIGKILL if how == signal.SIGKILL else ExitCode.INTERRUPTED), err
    before = mtimes(out)
    assert "d0.txt" in before and "d3.txt" not in before

    rerun = start_job(job_args(inputs, out, "--batchfault-delay", "0.4", "--jobs", "1"))
    assert rerun.wait(timeout=120) == ExitCode.OK
    after = mtimes(out)
    for name in ("d0.txt", "d0.json"):
        assert after[name] == before[name], f"{name} was written again"
    assert texts(out) == {f"d{n}.txt": f"p{10 * n + 1}\fp{10 * n + 2}\n" for n in range(4)}
    for n in range(4):
        saved = DocumentResult.model_validate_json((out / f"d{n}.json").read_text())
        assert [p.ok for p in saved.pages] == [True, True]
    assert leftovers(out) == []


# ---------------------------------------------------------------- the API, progress


class _Recorder:
    wants_page_total = True

    def __init__(self) -> None:
        self.jobs: list[tuple[int, int | None]] = []
        self.pages = self.found = 0

    def start_job(self, documents: int, pages: int | None) -> None:
        self.jobs.append((documents, pages))

    def pages_found(self, pages: int) -> None:
        self.found += pages

    def start_document(self, name: str, pages: int) -> None:
        pass

    def page_done(self) -> None:
        self.pages += 1

    def end_document(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_run_batch_reports_the_whole_job(tmp_path):
    inputs = tmp_path / "in"
    make_pdf(inputs / "a.pdf", [gray(10), RED, gray(30)])
    make_png(inputs / "b.png", BLUE)  # no marker option: read as a page
    (inputs / "c.pdf").write_text("not a pdf")
    progress = _Recorder()
    seen: list[str] = []
    job = run_batch(
        [inputs],
        output_dir=tmp_path / "out",
        engine="batch-fault",
        restorer="none",
        plugins=[BATCH_FAULTS],
        autoload=False,
        output_types=["txt"],
        dpi=72,
        progress=progress,
        on_document=lambda outcome, result: seen.append(outcome.source.name),
    )
    assert seen == ["a.pdf", "b.png", "c.pdf"]
    a, b, c = job.documents
    assert (a.pages, a.failed_pages, a.written, a.exit_code) == (3, 1, True, ExitCode.PAGES_FAILED)
    assert (b.pages, b.words, b.exit_code) == (1, 1, ExitCode.OK)
    assert c.exit_code == ExitCode.INPUT_ERROR and c.pages == 0
    assert job.exit_code == ExitCode.INPUT_ERROR and job.pages == 4 and job.failed_pages == 1
    assert progress.jobs == [(3, 4)] and progress.pages == 4  # c.pdf cannot be counted
    assert "2 documents, 4 pages" in job.summary() and "1 failed page" in job.summary()


def test_ray_backend_without_ray_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    source = make_png(tmp_path / "a.png", gray(10))
    with pytest.raises(MissingDependencyError, match=r"tair-ocr\[ray\]"):
        run_batch(
            [source],
            output_dir=tmp_path,
            backend="ray",
            engine="batch-fault",
            restorer="none",
            plugins=[BATCH_FAULTS],
            autoload=False,
        )
    code = cli(source, *FAULT_ARGS, "-o", tmp_path, "--backend", "ray", "-t", "txt")
    assert code == ExitCode.MISSING_DEPENDENCY
    err = capsys.readouterr().err
    assert 'pip install "tair-ocr[ray]"' in err and "Traceback" not in err
    assert not (tmp_path / "a.txt").exists()
    # Ray's own options without the ray backend are a usage error.
    for extra in (["--gpus", "1"], ["--backend", "local", "--ray-address", "auto"]):
        with pytest.raises(SystemExit) as exit_info:
            cli(source, *FAULT_ARGS, *extra)
        assert exit_info.value.code == ExitCode.BAD_ARGS


def test_log_progress_tells_pages_done_of_the_total_and_their_rate(caplog):
    from tair_ocr.progress import JobProgressReporter, LogProgress, RichProgress

    progress = LogProgress(interval=0.0)
    assert isinstance(progress, JobProgressReporter)
    assert isinstance(RichProgress, type) and hasattr(RichProgress, "pages_found")
    progress.start_job(documents=2, pages=None)
    progress.pages_found(3)
    progress.pages_found(2)
    with caplog.at_level("INFO", logger="tair_ocr.progress"):
        progress.page_done()
    (record,) = caplog.records
    assert record.getMessage().startswith("1/5 pages, ") and "pages/s" in record.getMessage()


@pytest.mark.parametrize(
    ("cpus", "gpus", "restorer", "per_gpu"),
    [(2, 0, "classical", 1), (2, 1, "gpu-copy", 1), (64, 8, "gpu-copy", 2), (96, 0, "none", 1)],
)
def test_ray_pools_fit_the_cluster(tmp_path, cpus, gpus, restorer, per_gpu):
    """The Ray backend's workers all fit at once, under half of the cluster's CPUs
    (Ray Data keeps the other half for its operators' budgets: an actor pool that
    takes more can leave a task stage waiting forever)."""
    from types import SimpleNamespace

    from tair_ocr.batch.job import Job
    from tair_ocr.batch.ray_backend import (
        MIN_PAGE_BUDGET,
        PAGE_BUDGET_PER_WORKER,
        RayOptions,
        _plan,
    )

    pipeline = fault_pipeline(restorer, require_restorer=False)
    cluster = SimpleNamespace(cluster_resources=lambda: {"CPU": cpus, "GPU": gpus})
    plan = _plan(cluster, Job(pipeline, {}), RayOptions(restorers_per_gpu=per_gpu))
    workers = 2 * plan.load + plan.read + plan.restore + plan.finish + plan.writes
    assert workers * plan.cpus <= 0.45 * cpus + 1e-9
    assert plan.read == cpus
    if restorer == "none":
        assert plan.restore == plan.finish == 0
    elif restorer == "gpu-copy":
        assert plan.restore == gpus * per_gpu and plan.restorer_gpus == 1 / per_gpu
    else:
        assert plan.restore >= 1 and plan.restorer_gpus == 0
    # Pages in flight get an object store budget that grows with the workers.
    assert plan.page_budget == max(MIN_PAGE_BUDGET, PAGE_BUDGET_PER_WORKER * workers)
    chosen = _plan(cluster, Job(pipeline, {}), RayOptions(restorers_per_gpu=per_gpu, page_budget=7))
    assert chosen.page_budget == 7


def test_a_gpu_restorer_on_a_cluster_without_gpus_is_a_clear_error():
    from types import SimpleNamespace

    from tair_ocr.batch.job import Job
    from tair_ocr.batch.ray_backend import RayOptions, _plan

    pipeline = fault_pipeline("gpu-copy", require_restorer=False)
    cluster = SimpleNamespace(cluster_resources=lambda: {"CPU": 8})
    with pytest.raises(MissingDependencyError, match="runs on a CUDA GPU"):
        _plan(cluster, Job(pipeline, {}), RayOptions())


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_ctrl_c_that_a_finalizer_swallows_still_stops_the_job():
    """Python drops a KeyboardInterrupt raised while a ``__del__`` runs; the
    command remembers Ctrl-C and raises it again after the document."""
    from tair_ocr.cli import _CtrlC

    class Finalised:
        def __del__(self) -> None:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, while the finaliser runs
            for _ in range(1000):  # the handler runs between these bytecodes
                pass

    # As in a terminal (a test run started in the background ignores SIGINT).
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    ctrl_c = _CtrlC.install()
    try:
        assert ctrl_c.previous is signal.default_int_handler
        Finalised()  # collected at once: the interrupt is lost inside __del__
        with pytest.raises(KeyboardInterrupt):
            ctrl_c.check()
    finally:
        ctrl_c.uninstall()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        signal.signal(signal.SIGINT, outer)
