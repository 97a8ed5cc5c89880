"""The Ray backend (issue 13) on a local Ray cluster: two CPUs and one logical GPU,
shared by the module's tests (``ray.init(num_cpus=2, num_gpus=1)``), Ray's usage
statistics off. Skipped when Ray Data is not installed (``pip install
"tair-ocr[ray]"``); without it, tests/test_batch.py checks the error."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

from tair_ocr import DocumentResult, ExitCode
from tair_ocr.cli import main

from .batch_helpers import (
    BLUE,
    FAULT_ARGS,
    FAULT_ENGINE,
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
from .conftest import SAMPLES, requires_tesseract

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")


@pytest.fixture(scope="module")
def cluster() -> str:
    """A local cluster for the module's tests; its address, for a second driver."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(
        num_cpus=2,
        num_gpus=1,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
        object_store_memory=300 * 2**20,
    )
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def cli(*args: object) -> int:
    return main([*map(str, args), "--no-plugin-autoload"])


def fault_job(inputs: Path, out: Path, *extra: object) -> int:
    """The batch-fault engine on ``inputs`` with the Ray backend, text out."""
    return cli(inputs, *FAULT_ARGS, "-o", out, "-t", "txt", "--backend", "ray", *extra)


def _results(folder: Path) -> dict[str, DocumentResult]:
    return {
        p.name: DocumentResult.model_validate_json(p.read_text())
        for p in sorted(folder.glob("*.json"))
    }


def _pages(result: DocumentResult) -> list[dict[str, object]]:
    """What a page's outputs are made of (not its timings)."""
    return [page.model_dump(exclude={"timings"}, exclude_none=True) for page in result.pages]


@requires_tesseract
def test_outputs_are_those_of_the_local_backend(cluster, tmp_path):
    """The samples (a 2-page PDF, a photo, a fax: restored where unsure by the
    cleaner) read by tesseract: the same text and words as the local backend."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("letter_scan.pdf", "receipt_photo.jpg", "faxed_memo.png"):
        shutil.copy(SAMPLES / name, inputs / name)
    args = (inputs, "--engine", "tesseract", "--restorer", "cleaner", "-t", "txt,json", "-q")
    assert cli(*args, "-o", tmp_path / "local", "--jobs", "2") == ExitCode.OK
    assert cli(*args, "-o", tmp_path / "ray", "--backend", "ray") == ExitCode.OK
    local, distributed = texts(tmp_path / "local"), texts(tmp_path / "ray")
    assert sorted(local) == ["faxed_memo.txt", "letter_scan.txt", "receipt_photo.txt"]
    assert distributed == local
    local_json, ray_json = _results(tmp_path / "local"), _results(tmp_path / "ray")
    for name, result in local_json.items():
        assert _pages(ray_json[name]) == _pages(result), name
    # The cleaner restored somewhere: the restorer actors did work.
    assert any(p.counters.get("tiles_restored", 0) for r in ray_json.values() for p in r.pages)


def test_a_failing_page_and_a_killed_worker_do_not_stop_the_job(cluster, tmp_path, capsys):
    inputs = tmp_path / "in"
    make_pdf(inputs / "a.pdf", [gray(10), RED, gray(30)])  # page 2 raises
    make_png(inputs / "b.png", BLUE)  # its reader's process dies, once
    make_pdf(inputs / "c.pdf", [gray(50), gray(60)])
    marker = tmp_path / "died"
    out = tmp_path / "out"
    code = fault_job(inputs, out, "--batchfault-marker", marker)
    assert code == ExitCode.PAGES_FAILED
    assert marker.exists()  # a worker died reading b.png's page...
    # ... and every page but the failing one was read.
    assert texts(out) == {"a.txt": "p10\f\fp30\n", "b.txt": "p0\n", "c.txt": "p50\fp60\n"}
    err = capsys.readouterr().err
    assert "a.pdf: page 2: ocr: RuntimeError: engine crashed (injected)" in err
    assert "3 documents, 6 pages" in err and "1 failed page" in err


def test_a_page_whose_worker_always_dies_is_lost_and_the_job_goes_on(cluster, tmp_path, capsys):
    inputs = tmp_path / "in"
    make_png(inputs / "a.png", BLUE)  # its reader dies every time
    # Enough pages beside it that some are queued on the dying actor: none is lost.
    make_pdf(inputs / "b.pdf", [gray(10 * n) for n in range(1, 9)])
    deaths = tmp_path / "deaths"
    out = tmp_path / "out"
    code = fault_job(
        inputs,
        out,
        "--batchfault-always-die",
        "--batchfault-marker",
        deaths,
        "--batchfault-delay",
        "0.3",  # pages wait in the actors' queues as one dies
    )
    assert code == ExitCode.PAGES_FAILED
    assert len(deaths.read_text().split()) == 4  # the first try and 3 retries
    # a.png: no page read, nothing written; every page of b.pdf read.
    assert texts(out) == {"b.txt": "\f".join(f"p{10 * n}" for n in range(1, 9)) + "\n"}
    err = capsys.readouterr().err
    assert "a.png: page 1: lost: the worker processing it died 4 times" in err
    assert "Traceback" not in err


def test_restorer_actors_get_a_gpu_when_the_restorer_wants_one(cluster, tmp_path):
    inputs = tmp_path / "in"
    make_pdf(inputs / "a.pdf", [gray(10), gray(20)])
    log = tmp_path / "gpus.log"
    out = tmp_path / "out"
    args = (inputs, *FAULT_ENGINE)
    code = cli(
        *args,
        "--restorer",
        "gpu-copy",
        "--restore",
        "always",
        "--gpucopy-log",
        log,
        "-o",
        out,
        "-t",
        "txt,json",
        "--backend",
        "ray",
        "-q",
    )
    assert code == ExitCode.OK
    # Every batch of tiles went to an actor holding the cluster's (logical) GPU.
    given = log.read_text().split()
    assert given and set(given) == {"0"}
    (result,) = _results(out).values()
    assert all(p.counters["tiles_restored"] > 0 for p in result.pages)
    assert texts(out) == {"a.txt": "p10\fp20\n"}


def test_a_killed_driver_resumes_on_the_cluster(cluster, tmp_path):
    """Run on the cluster from a second driver, kill it (SIGKILL) once a document is
    written, run the same command again: nothing written is redone, every document
    ends complete, no temporary file is left."""
    inputs = tmp_path / "in"
    for n in range(4):
        make_pdf(inputs / f"d{n}.pdf", [gray(10 * n + 1), gray(10 * n + 2)])
    out = tmp_path / "out"
    args = job_args(
        inputs, out, "--backend", "ray", "--ray-address", cluster, "--batchfault-delay", "1"
    )
    driver = start_job(args)
    wait_for(out / "d0.json", driver, timeout=120)
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=60)
    before = mtimes(out)
    assert 0 < len(before) < 8, before

    assert main(args) == ExitCode.OK
    after = mtimes(out)
    for name, written in before.items():
        assert after[name] == written, f"{name} was written again"
    assert texts(out) == {f"d{n}.txt": f"p{10 * n + 1}\fp{10 * n + 2}\n" for n in range(4)}
    assert leftovers(out) == []


def test_the_pages_in_flight_get_the_plans_object_store_budget(cluster, tmp_path):
    """Loading must not run hundreds of pages ahead of the readers: the dataset's
    object store limit is the plan's page budget, not Ray Data's share of the
    whole store."""
    from tair_ocr.batch.job import Job
    from tair_ocr.batch.ray_backend import RayOptions, _dataset, _plan
    from tair_ocr.batch.stages import PipelineSpec, document_rows

    pipeline = fault_pipeline()
    plan = _plan(ray, Job(pipeline, {}), RayOptions(page_budget=64 * 2**20))
    rows = document_rows(0, make_pdf(tmp_path / "a.pdf", [gray(10)]), None)
    _dataset(ray, rows, PipelineSpec.of(pipeline), plan)
    limits = ray.data.DataContext.get_current().execution_options.resource_limits
    assert limits.object_store_memory == 64 * 2**20
