"""The TeReDiff weights converter and the ``tair-ocr weights`` command.

* The manifest of the four published files (``shared/reference``; skipped when absent)
  is planned by the converter itself against the published model on ``meta``.
* Tiny synthetic checkpoints in the published layout
  (:mod:`tair_workbench.testing.checkpoints`) are converted, loaded and run, with the
  stage-3 file overriding base files built from *other* weights.
* Broken inputs fail with one line naming the file and key.
* diffusers' single-file converters are an oracle for the U-Net, VAE and text encoder.
"""

from __future__ import annotations

import argparse
import json
import shutil
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# TeReDiff is the terediff extra (torch, diffusers, transformers, safetensors): without
# it this module is skipped. The package's own imports below stay plain imports.
torch = pytest.importorskip("torch")
for _module in ("diffusers", "transformers", "safetensors"):
    pytest.importorskip(_module)
from safetensors.torch import load_file  # noqa: E402

from tair_ocr.cli import main  # noqa: E402
from tair_ocr.errors import (  # noqa: E402
    CorruptInputError,
    ExitCode,
    InputError,
    MissingDependencyError,
    OutputExistsError,
    UnsupportedInputError,
    UsageError,
)
from tair_ocr.models.configs import PUBLISHED_CONFIGS  # noqa: E402
from tair_ocr.models.pipeline_terediff import TeReDiffPipeline  # noqa: E402
from tair_workbench.conversion.convert import (  # noqa: E402
    MODEL_COMPONENTS,
    ROLES,
    SOURCES,
    convert_checkpoints,
    expected_shapes,
    plan_conversion,
    split_checkpoint,
)
from tair_workbench.conversion.key_mapping import PUBLISHED_LAYOUT  # noqa: E402
from tair_workbench.testing.checkpoints import (  # noqa: E402
    published_checkpoints,
    random_components,
    write_published_checkpoints,
)
from tair_workbench.testing.tiny_models import TINY_CONFIGS, write_tiny_clip_tokenizer  # noqa: E402

MANIFEST = Path(__file__).resolve().parents[2] / "shared" / "reference" / "terediff-manifest.json"

# The stage-3 file comes from these weights, the base files from other ones: what the
# converted folder holds tells which file won.
STAGE3_SEED, BASE_SEED = 3, 4


# --------------------------------------------------------------------------- manifest


@cache
def manifest() -> dict[str, Any]:
    return json.loads(MANIFEST.read_text())["sections"]


@cache
def published_expectations() -> tuple[dict, dict]:
    from tair_ocr.models.configs import build_component

    with torch.device("meta"):
        models = {n: build_component(n, PUBLISHED_CONFIGS[n]) for n in MODEL_COMPONENTS}
    return expected_shapes(models)


def manifest_files() -> dict[str, Any]:
    """The four published files as meta tensors in their published containers."""
    sections = manifest()

    def meta(shapes: dict[str, list[int]]) -> dict[str, torch.Tensor]:
        return {k: torch.empty(s, device="meta") for k, s in shapes.items()}

    return {
        "sd": {"state_dict": meta(sections["sd21_ldm"]["tensors"])},
        "diffbir": meta(sections["controlnet_diffbir_v21"]["tensors"]),
        "swinir": meta(sections["swinir_realesrgan_s4"]["tensors"]),
        "terediff": {p: meta(t) for p, t in sections["terediff_stage3"]["tensors"].items()},
    }


def plan_manifest(roles: tuple[str, ...]):
    files = manifest_files()
    checkpoints = [
        split_checkpoint(r, Path(SOURCES[r].file_name), files[r]) for r in ROLES if r in roles
    ]
    shapes, tied = published_expectations()
    return plan_conversion(checkpoints, shapes, tied, PUBLISHED_LAYOUT), checkpoints


requires_manifest = pytest.mark.shared_data("reference/terediff-manifest.json")  # = MANIFEST


@requires_manifest
def test_every_published_key_has_a_home_and_every_parameter_a_source() -> None:
    """The proof that the published weights load: all four files, planned by the
    converter against the published model on ``meta``."""
    plan, _ = plan_manifest(ROLES)
    shapes = published_expectations()[0]
    assert plan.unused == []
    assert plan.unfilled == {}
    # Every buffer is in the files (the official loaders are strict): nothing recomputed.
    assert plan.recomputed == {}
    for component, ours in shapes.items():
        assert set(plan.assignments[component]) == set(ours), component
        for key, assignment in plan.assignments[component].items():
            assert assignment.target.take(assignment.tensor).shape == ours[key], key
    # The stage-3 file wins every key (it is complete); the base files are superseded.
    winners = [a for comp in plan.assignments.values() for a in comp.values()]
    assert {a.checkpoint.role for a in winners} == {"terediff"}
    assert len({a.source for a in winners}) == 1552 - 14 + 732 + 542
    assert plan.superseded == {"sd": 686 + 248 + 372, "diffbir": 324, "swinir": 732}
    assert plan.ignored == []  # the manifest lists no schedule buffers
    dropped = {(k.path.name, k.part, k.key) for k in plan.dropped}
    unused_clip = manifest()["sd21_ldm"]["keys_loaded_but_unused_by_terediff_compute"]["keys"]
    assert dropped == {(SOURCES["sd"].file_name, None, k) for k in unused_clip} | {
        ("terediff_stage3.pt", "cldm", k.replace("cond_stage_model.", "clip.")) for k in unused_clip
    }


@requires_manifest
def test_stage3_file_alone_is_complete_and_base_files_alone_lack_the_spotter() -> None:
    plan, _ = plan_manifest(("terediff",))
    assert (plan.unused, plan.unfilled, plan.recomputed) == ([], {}, {})

    plan, _ = plan_manifest(("sd", "diffbir", "swinir"))
    shapes, tied = published_expectations()
    assert plan.unused == []
    # The spotter lives only in the stage-3 file; its one buffer is recomputable.
    aliases = {k for group in tied["spotter"] for k in group[1:]}
    assert set(plan.unfilled) == {"spotter"}
    assert set(plan.unfilled["spotter"]) == set(shapes["spotter"]) - {"text_pos_embed.inv_freq"}
    assert aliases <= set(plan.unfilled["spotter"])
    assert plan.recomputed == {"spotter": ["text_pos_embed.inv_freq"]}


# --------------------------------------------------------------------------- tiny files


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Published-layout files: base files from one set of weights, the stage-3 file
    from another; a tokenizer; the tiny configuration as JSON; one conversion."""
    root = tmp_path_factory.mktemp("tiny")
    stage3 = random_components(TINY_CONFIGS, seed=STAGE3_SEED)
    base = random_components(TINY_CONFIGS, seed=BASE_SEED)
    files = write_published_checkpoints(root / "base", base, TINY_CONFIGS, roles=ROLES[:3])
    files.update(
        write_published_checkpoints(root / "stage3", stage3, TINY_CONFIGS, roles=["terediff"])
    )
    tokenizer = write_tiny_clip_tokenizer(root / "tokenizer")
    config = root / "tiny.json"
    config.write_text(json.dumps(TINY_CONFIGS))
    out = root / "weights"
    report = convert_checkpoints(files, out, tokenizer=tokenizer, configs=TINY_CONFIGS)
    return {
        "root": root,
        "files": files,
        "stage3": stage3,
        "base": base,
        "tokenizer": tokenizer,
        "config": config,
        "out": out,
        "report": report,
    }


def convert(tiny: dict[str, Any], files: dict[str, Path], out: Path, **kwargs: Any):
    return convert_checkpoints(
        files, out, tokenizer=tiny["tokenizer"], configs=TINY_CONFIGS, **kwargs
    )


def assert_same_weights(pipe: TeReDiffPipeline, components: dict[str, torch.nn.Module]) -> None:
    for name, module in components.items():
        ours = getattr(pipe, name).state_dict()
        theirs = module.state_dict()
        assert ours.keys() == theirs.keys(), name
        for key in theirs:
            assert torch.equal(ours[key], theirs[key]), f"{name}.{key}"


def test_conversion_loads_exactly_the_stage3_weights(tiny: dict[str, Any]) -> None:
    pipe = TeReDiffPipeline.from_pretrained(tiny["out"])
    assert_same_weights(pipe, tiny["stage3"])
    report = tiny["report"]
    # The base files were read, and overridden tensor by tensor.
    assert report.superseded == {"sd": 284 + 180 + 20, "diffbir": 144, "swinir": 51}
    assert report.unused == [] and report.unfilled == {} and report.recomputed == {}
    assert len(report.dropped) == 2 * 14  # the unused text block etc., in two files
    assert sorted(report.ignored) == [
        f"{SOURCES['sd'].file_name}:alphas_cumprod",
        f"{SOURCES['sd'].file_name}:betas",
    ]
    written = json.loads((tiny["out"] / "conversion.json").read_text())
    assert written["superseded"] == report.superseded
    assert not list(tiny["out"].parent.glob(".weights.converting-*")), "staging folder left"


def test_the_restorer_runs_on_the_converted_folder(tiny: dict[str, Any]) -> None:
    from tair_ocr.restorers.terediff import TeReDiffOptions, TeReDiffRestorer

    restorer = TeReDiffRestorer()
    restorer.configure(TeReDiffOptions(weights=tiny["out"], device="cpu", steps=1))
    assert restorer.availability().ok
    assert restorer.weights_folder()[0] == tiny["out"]
    tile = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(5)).numpy()
    result = restorer.restore(tile)
    assert result.images.shape == (2, 3, 64, 64) and np.isfinite(result.images).all()
    assert len(result.words) == 2
    assert_same_weights(restorer.pipeline(), tiny["stage3"])


@pytest.mark.slow
def test_pruned_stage3_file_falls_back_to_the_base_files(
    tiny: dict[str, Any], tmp_path: Path
) -> None:
    """A stage-3 file with only the trained parts (U-Net, ControlNet, spotter) takes the
    frozen parts from the base files, as the official loader does."""
    full = published_checkpoints(tiny["stage3"], TINY_CONFIGS)["terediff"]
    cldm = {k: v for k, v in full["cldm"].items() if k.startswith(("unet.", "controlnet."))}
    pruned = tmp_path / "terediff_stage3.pt"
    torch.save({"cldm": cldm, "testr": full["testr"]}, pruned)
    report = convert(tiny, {**tiny["files"], "terediff": pruned}, tmp_path / "out")
    pipe = TeReDiffPipeline.from_pretrained(tmp_path / "out")
    mixed = {
        **{n: tiny["base"][n] for n in ("vae", "text_encoder", "cleaner")},
        **{n: tiny["stage3"][n] for n in ("unet", "controlnet", "spotter")},
    }
    assert_same_weights(pipe, mixed)
    assert report.superseded == {"sd": 284, "diffbir": 144}


def test_missing_buffers_are_recomputed_and_listed(tiny: dict[str, Any], tmp_path: Path) -> None:
    full = published_checkpoints(tiny["stage3"], TINY_CONFIGS)["terediff"]
    swinir = {k: v for k, v in full["swinir"].items() if not k.endswith("attn_mask")}
    testr = {k: v for k, v in full["testr"].items() if "inv_freq" not in k}
    path = tmp_path / "terediff_stage3.pt"
    torch.save({**full, "swinir": swinir, "testr": testr}, path)
    report = convert(tiny, {"terediff": path}, tmp_path / "out")
    masks = sorted(k for k in full["swinir"] if k.endswith("attn_mask"))
    assert masks and report.recomputed == {
        "cleaner": masks,
        "spotter": ["text_pos_embed.inv_freq"],
    }
    assert_same_weights(TeReDiffPipeline.from_pretrained(tmp_path / "out"), tiny["stage3"])


@pytest.mark.parametrize("dtype", [pytest.param("fp16", marks=pytest.mark.slow), "bf16"])
def test_half_precision_folders(tiny: dict[str, Any], tmp_path: Path, dtype: str) -> None:
    from tair_ocr.models.weights_check import check_weights_folder

    convert(tiny, {"terediff": tiny["files"]["terediff"]}, tmp_path / "out", dtype=dtype)
    check = check_weights_folder(tmp_path / "out")
    assert check.ok and check.dtypes == [dtype]
    fp32 = check_weights_folder(tiny["out"])
    assert 0.45 < check.bytes / fp32.bytes < 0.55
    torch_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[dtype]
    pipe = TeReDiffPipeline.from_pretrained(tmp_path / "out", dtype=torch_dtype)
    unet = tiny["stage3"]["unet"].state_dict()
    for key, value in pipe.unet.state_dict().items():
        assert value.dtype == torch_dtype
        assert torch.equal(value, unet[key].to(torch_dtype)), key


@pytest.mark.slow
def test_fp16_overflow_is_refused(tiny: dict[str, Any], tmp_path: Path) -> None:
    files = published_checkpoints(tiny["stage3"], TINY_CONFIGS)["terediff"]
    files["cldm"]["unet.out.2.bias"] = torch.full_like(files["cldm"]["unet.out.2.bias"], 1e6)
    path = tmp_path / "terediff_stage3.pt"
    torch.save(files, path)
    with pytest.raises(UsageError, match=r"terediff_stage3.pt:cldm/unet\.out\.2\.bias.*fp16"):
        convert(tiny, {"terediff": path}, tmp_path / "out", dtype="fp16")
    convert(tiny, {"terediff": path}, tmp_path / "out", dtype="bf16")


# --------------------------------------------------------------------------- bad inputs


def saved(tmp_path: Path, obj: Any, name: str = "terediff_stage3.pt") -> Path:
    path = tmp_path / name
    torch.save(obj, path)
    return path


def stage3(tiny: dict[str, Any]) -> dict[str, Any]:
    return published_checkpoints(tiny["stage3"], TINY_CONFIGS)["terediff"]


def record_of(path: Path, tensor: torch.Tensor) -> tuple[int, int]:
    """(data offset, size) of the zip record holding ``tensor``'s bytes."""
    raw = tensor.contiguous().numpy().tobytes()
    data = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if "/data/" in info.filename and info.file_size == len(raw):
                start = data.index(raw, info.header_offset)
                if start < info.header_offset + 200:
                    return start, len(raw)
    raise AssertionError("record not found")


def damaged(path: Path, offset: int, size: int) -> Path:
    data = bytearray(path.read_bytes())
    data[offset : offset + size] = bytes(255 - b for b in data[offset : offset + size])
    path.write_bytes(bytes(data))
    return path


def test_damaged_tensor_data_names_the_file_and_key(tiny: dict[str, Any], tmp_path: Path) -> None:
    files = stage3(tiny)
    path = saved(tmp_path, files)
    offset, size = record_of(path, files["cldm"]["unet.input_blocks.0.0.weight"])
    damaged(path, offset + size // 2, 8)
    with pytest.raises(CorruptInputError) as err:
        convert(tiny, {"terediff": path}, tmp_path / "out")
    assert str(path) in str(err.value)
    assert "'unet.input_blocks.0.0.weight' is damaged" in str(err.value)
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == [path]


def test_files_saved_without_crcs_are_not_called_damaged(
    tiny: dict[str, Any], tmp_path: Path
) -> None:
    from torch.utils.serialization import config

    before = config.save.compute_crc32
    config.save.compute_crc32 = False
    try:
        path = saved(tmp_path, stage3(tiny))
    finally:
        config.save.compute_crc32 = before
    with zipfile.ZipFile(path) as archive:
        assert {i.CRC for i in archive.infolist()} == {0}
    convert(tiny, {"terediff": path}, tmp_path / "out")
    assert_same_weights(TeReDiffPipeline.from_pretrained(tmp_path / "out"), tiny["stage3"])


def test_damaged_index_and_truncated_files_name_the_file(
    tiny: dict[str, Any], tmp_path: Path
) -> None:
    path = saved(tmp_path, stage3(tiny))
    with zipfile.ZipFile(path) as archive:
        index = next(i for i in archive.infolist() if i.filename.endswith("data.pkl"))
    damaged(path, index.header_offset + 60, 16)
    with pytest.raises(CorruptInputError, match=f"{path}: damaged .*data.pkl"):
        convert(tiny, {"terediff": path}, tmp_path / "out")

    path = saved(tmp_path, stage3(tiny))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CorruptInputError, match=f"{path}: damaged or truncated"):
        convert(tiny, {"terediff": path}, tmp_path / "out")

    path.write_bytes(b"<html>not a checkpoint</html>")
    with pytest.raises(UnsupportedInputError, match=f"{path}: not a PyTorch checkpoint"):
        convert(tiny, {"terediff": path}, tmp_path / "out")
    with pytest.raises(InputError, match=r"nothing\.pt: no such file"):
        convert(tiny, {"terediff": tmp_path / "nothing.pt"}, tmp_path / "out")


def test_files_of_the_wrong_kind_name_the_file_key_and_the_right_option(
    tiny: dict[str, Any],
) -> None:
    files = tiny["files"]
    out = tiny["root"] / "never"
    with pytest.raises(UnsupportedInputError) as err:
        convert(tiny, {"terediff": files["swinir"]}, out)
    message = str(err.value)
    assert str(files["swinir"]) in message and "'state_dict'" in message
    assert "not a TeReDiff stage-3 checkpoint" in message and "pass it as --swinir" in message

    with pytest.raises(UnsupportedInputError, match="key 'cldm' holds a nested dict") as err:
        convert(tiny, {"sd": files["terediff"]}, out)
    assert "pass it as --terediff" in str(err.value)

    with pytest.raises(UnsupportedInputError, match=r"none of its keys.*model\.diffusion_model"):
        convert(tiny, {"diffbir": files["sd"], "terediff": files["terediff"]}, out)
    with pytest.raises(UnsupportedInputError, match=r"DiffBIR_v2\.1\.pt: not a SwinIR") as err:
        convert(tiny, {"swinir": files["diffbir"], "terediff": files["terediff"]}, out)
    assert "pass it as --diffbir" in str(err.value)
    assert not out.exists()


def test_shape_mismatch_names_the_file_key_and_both_shapes(
    tiny: dict[str, Any], tmp_path: Path
) -> None:
    files = stage3(tiny)
    files["cldm"]["unet.out.2.weight"] = torch.zeros(4, 9, 3, 3)
    path = saved(tmp_path, files)
    with pytest.raises(UnsupportedInputError) as err:
        convert(tiny, {"terediff": path}, tmp_path / "out")
    assert str(err.value).startswith(
        f"{path}: 1 tensor(s) do not fit the model, e.g. key 'cldm/unet.out.2.weight' "
        "has shape [4, 9, 3, 3] but unet.conv_out.weight needs [4, 8, 3, 3]"
    )


def test_unused_keys_and_unfilled_parameters_need_an_explicit_allowance(
    tiny: dict[str, Any], tmp_path: Path
) -> None:
    from tair_ocr.models.weights_check import check_weights_folder

    files = stage3(tiny)
    files["cldm"]["unet.bogus.weight"] = torch.zeros(2)
    files["testr"] = {k: v for k, v in files["testr"].items() if "text_embed" not in k}
    path = saved(tmp_path, files)
    with pytest.raises(InputError) as err:
        convert(tiny, {"terediff": path}, tmp_path / "out")
    message = str(err.value)
    assert "1 published key(s) found no home: terediff_stage3.pt:cldm/unet.bogus.weight" in message
    assert "parameter(s) of ours left unfilled: spotter.text_embed.weight" in message
    assert "--allow-unused" in message and "--allow-missing" in message

    report = convert(
        tiny, {"terediff": path}, tmp_path / "out", allow_unused=True, allow_missing=True
    )
    assert report.unused == ["terediff_stage3.pt:cldm/unet.bogus.weight"]
    assert report.unfilled == {"spotter": ["text_embed.weight"]}
    check = check_weights_folder(tmp_path / "out")
    assert check.ok and check.conversion["unfilled"] == {"spotter": ["text_embed.weight"]}
    pipe = TeReDiffPipeline.from_pretrained(tmp_path / "out")
    assert not torch.equal(  # default initialisation, not the original weights
        pipe.spotter.text_embed.weight, tiny["stage3"]["spotter"].text_embed.weight
    )


def test_full_unpickling_only_when_asked(
    tiny: dict[str, Any],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import logging

    # A CLI run earlier in the session (-q) may have raised the level or stopped propagation.
    monkeypatch.setattr(logging.getLogger("tair_workbench"), "propagate", True)
    caplog.set_level(logging.WARNING, logger="tair_workbench")
    path = saved(tmp_path, {**stage3(tiny), "args": argparse.Namespace(lr=1e-5)})
    with pytest.raises(UnsupportedInputError, match=f"{path}: holds pickled objects") as err:
        convert(tiny, {"terediff": path}, tmp_path / "out")
    assert "--unsafe-pickle" in str(err.value) and "argparse.Namespace" in str(err.value)
    report = convert(tiny, {"terediff": path}, tmp_path / "out", unsafe_pickle=True)
    assert "terediff_stage3.pt: skipped top-level entry 'args'" in report.notes
    assert "runs code stored in the file" in caplog.text


def test_existing_output_is_kept_unless_forced(tiny: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(tiny["out"], out)
    (out / "marker").write_text("old")
    files = {"terediff": tiny["files"]["terediff"]}
    with pytest.raises(OutputExistsError, match="use --force"):
        convert(tiny, files, out)
    assert (out / "marker").is_file()
    convert(tiny, files, out, force=True)
    assert not (out / "marker").exists() and (out / "model_index.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]

    other = tmp_path / "documents"
    other.mkdir()
    (other / "thesis.txt").write_text("precious")
    with pytest.raises(OutputExistsError, match="not a TeReDiff weights folder"):
        convert(tiny, files, other, force=True)
    assert (other / "thesis.txt").read_text() == "precious"


def test_a_tokenizer_is_required(
    tiny: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "open_clip" else real(name, *a),
    )
    with pytest.raises(MissingDependencyError, match="no CLIP tokenizer"):
        convert_checkpoints({"terediff": tiny["files"]["terediff"]}, tmp_path / "out")


@pytest.mark.slow
def test_openclip_bpe_file_becomes_the_tokenizer(tiny: dict[str, Any], tmp_path: Path) -> None:
    """OpenCLIP ships merges only; the vocabulary is built the way CLIP builds it."""
    import gzip

    merges = (tiny["tokenizer"] / "merges.txt").read_text().splitlines()[1:]
    bpe = tmp_path / "bpe_simple_vocab_16e6.txt.gz"
    bpe.write_bytes(
        gzip.compress(
            ('"bpe_simple_vocab_16e6.txt#version: 0.2\n' + "\n".join(merges) + "\n").encode()
        )
    )
    convert_checkpoints(
        {"terediff": tiny["files"]["terediff"]},
        tmp_path / "out",
        tokenizer=bpe,
        configs=TINY_CONFIGS,
    )
    from tair_ocr.models.text_encoder import load_tokenizer

    ours = load_tokenizer(tmp_path / "out" / "tokenizer")
    reference = load_tokenizer(tiny["tokenizer"])
    assert ours.get_vocab() == reference.get_vocab() and len(ours) == 517
    assert ours("the answer").input_ids == reference("the answer").input_ids


# --------------------------------------------------------------------------- command line


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["weights", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_convert_check_info(
    tiny: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = tiny["files"]
    out = tmp_path / "weights"
    args = ["convert", "--terediff", str(files["terediff"]), "--sd", str(files["sd"])]
    args += ["--tokenizer", str(tiny["tokenizer"]), "--config", str(tiny["config"])]
    code, stdout, stderr = run_cli([*args, "-o", str(out)], capsys)
    assert code == ExitCode.OK, stderr
    assert f"converted into {out} (fp32)" in stdout
    assert "484 tensors of the sd file were overridden" in stdout
    assert "reading" in stderr
    assert_same_weights(TeReDiffPipeline.from_pretrained(out), tiny["stage3"])

    code, stdout, stderr = run_cli([*args, "-o", str(out)], capsys)
    assert code == ExitCode.OUTPUT_ERROR and "use --force" in stderr

    code, stdout, _ = run_cli(["check", str(out), "--json"], capsys)
    assert code == ExitCode.OK
    report = json.loads(stdout)
    assert report["ok"] and report["dtypes"] == ["fp32"]
    rows = {c["name"]: c for c in report["components"]}
    assert rows["unet"]["tensors"] == 284 and rows["spotter"]["tensors"] == 190  # aliases once
    assert (
        rows["unet"]["bytes"]
        == (out / "unet" / "diffusion_pytorch_model.safetensors").stat().st_size
    )

    # One resolver for the restorer, `weights info` and the converter's default output.
    monkeypatch.setenv("TAIR_OCR_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    code, stdout, _ = run_cli(["info", "--json"], capsys)
    info = json.loads(stdout)
    # tmp_path holds 'weights', not 'terediff': nothing found, exit code 4.
    assert code == ExitCode.MISSING_DEPENDENCY and info["found"] is None
    assert [r["source"] for r in info["searched"]] == ["$TAIR_OCR_WEIGHTS", "user cache"]
    monkeypatch.setenv("TAIR_OCR_WEIGHTS", str(out))
    code, stdout, _ = run_cli(["info"], capsys)
    assert code == ExitCode.OK and f"the terediff restorer uses: {out}" in stdout
    from tair_ocr.restorers.terediff import TeReDiffRestorer

    assert TeReDiffRestorer().weights_folder()[0] == out
    code, stdout, _ = run_cli(["check"], capsys)  # no DIR: the resolver's folder
    assert code == ExitCode.OK and stdout.startswith(f"{out}: complete")

    monkeypatch.delenv("TAIR_OCR_WEIGHTS")
    code, stdout, _ = run_cli([*args[:3], *args[5:], "-q"], capsys)  # no -o: the user cache
    assert code == ExitCode.OK
    assert TeReDiffRestorer().weights_folder()[0] == tmp_path / "cache" / "tair-ocr" / "terediff"


def test_cli_errors_are_one_line_with_exit_codes(
    tiny: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = tiny["files"]
    common = ["--tokenizer", str(tiny["tokenizer"]), "--config", str(tiny["config"]), "-q"]
    code, _, err = run_cli(["convert", "--terediff", str(files["swinir"]), *common], capsys)
    assert code == ExitCode.INPUT_ERROR
    assert err.count("\n") == 1 and err.startswith(f"tair-ocr: error: {files['swinir']}: not a")

    broken = tmp_path / "weights"
    shutil.copytree(tiny["out"], broken)
    weights = broken / "vae" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    code, out, err = run_cli(["check", str(broken)], capsys)
    assert code == ExitCode.MISSING_DEPENDENCY
    assert "NOT USABLE" in out and "damaged or truncated" in err and str(weights) in err
    code, out, err = run_cli(["info", "--weights", str(tmp_path / "nowhere")], capsys)
    assert code == ExitCode.MISSING_DEPENDENCY and "does not exist" in out

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"unet": {"block_out_channels": [8]}}))
    code, _, err = run_cli(
        ["convert", "--terediff", str(files["terediff"]), "--config", str(bad), "-q"], capsys
    )
    assert code == ExitCode.BAD_ARGS and "cannot build the unet from its configuration" in err

    with pytest.raises(SystemExit) as exit_:
        main(["weights", "convert", "--sd", str(files["sd"])])  # --terediff is required
    assert exit_.value.code == ExitCode.BAD_ARGS
    capsys.readouterr()


def test_check_finds_missing_and_mismatching_tensors(tiny: dict[str, Any], tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from tair_ocr.models.weights_check import check_weights_folder

    folder = tmp_path / "weights"
    shutil.copytree(tiny["out"], folder)
    path = folder / "unet" / "diffusion_pytorch_model.safetensors"
    tensors = load_file(path)
    del tensors["conv_in.bias"]
    tensors["conv_out.weight"] = torch.zeros(1)
    save_file(tensors, path)
    config = json.loads((folder / "text_encoder" / "config.json").read_text())
    (folder / "text_encoder" / "config.json").write_text(
        json.dumps({**config, "hidden_size": 32, "intermediate_size": 32})
    )
    result = check_weights_folder(folder)
    unet = next(c for c in result.components if c.name == "unet")
    assert not result.ok
    assert any("1 missing: conv_in.bias" in p for p in unet.problems)
    assert any("1 wrong shape: conv_out.weight" in p for p in unet.problems)
    assert any(
        "text encoder width 32 != U-Net cross-attention width 16" in p for p in result.problems
    )


# --------------------------------------------------------------------------- oracle


def _single_file() -> Any:
    return pytest.importorskip(
        "diffusers.loaders.single_file_utils",
        reason="diffusers' single-file converters are not available",
    )


def ldm_checkpoint(tiny: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The stage-3 ``cldm`` part, re-prefixed the way diffusers' converters expect."""
    cldm = stage3(tiny)["cldm"]
    renamed = {}
    for key, value in cldm.items():
        for ours, theirs in (
            ("unet.", "model.diffusion_model."),
            ("vae.", "first_stage_model."),
            ("clip.", "cond_stage_model."),
        ):
            if key.startswith(ours):
                renamed[theirs + key[len(ours) :]] = value
    return renamed


def converted_state(tiny: dict[str, Any], component: str) -> dict[str, torch.Tensor]:
    folder = tiny["out"] / component
    name = (
        "model.safetensors"
        if component == "text_encoder"
        else "diffusion_pytorch_model.safetensors"
    )
    return load_file(folder / name)


def assert_equal_states(ours: dict[str, torch.Tensor], oracle: dict[str, torch.Tensor]) -> None:
    assert sorted(ours) == sorted(oracle)
    for key in oracle:
        assert torch.equal(ours[key], oracle[key].contiguous()), key


def test_unet_and_vae_agree_with_diffusers_converters(tiny: dict[str, Any]) -> None:
    single_file = _single_file()
    checkpoint = ldm_checkpoint(tiny)
    unet_config = {**TINY_CONFIGS["unet"], "num_class_embeds": None}
    unet = single_file.convert_ldm_unet_checkpoint(
        {k: v for k, v in checkpoint.items() if k.startswith("model.diffusion_model.")},
        unet_config,
    )
    assert_equal_states(converted_state(tiny, "unet"), unet)
    vae = single_file.convert_ldm_vae_checkpoint(
        {k: v for k, v in checkpoint.items() if k.startswith("first_stage_model.")},
        TINY_CONFIGS["vae"],
    )
    assert_equal_states(converted_state(tiny, "vae"), vae)


def test_text_encoder_agrees_with_diffusers_converter(tiny: dict[str, Any]) -> None:
    single_file = _single_file()
    checkpoint = ldm_checkpoint(tiny)
    oracle = single_file.convert_open_clip_checkpoint(
        tiny["stage3"]["text_encoder"], checkpoint, prefix="cond_stage_model.model."
    )
    oracle = {k.removeprefix("text_model."): v for k, v in oracle.items()}
    ours = converted_state(tiny, "text_encoder")
    # diffusers drops the unused block by its published index (23); the tiny tower's
    # unused block is number 1, which diffusers converts, and its projection.
    extra = sorted(set(oracle) - set(ours))
    assert extra and all(
        k.startswith("encoder.layers.1.") or k == "text_projection.weight" for k in extra
    )
    assert_equal_states(ours, {k: v for k, v in oracle.items() if k not in extra})


# --------------------------------------------------------------------------- slow


@pytest.mark.slow
def test_cli_runs_a_scan_with_converted_weights(
    tiny: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = Path(__file__).resolve().parents[1] / "samples" / "letter_scan.pdf"
    code = main(
        [str(sample), "--restorer", "terediff", "--weights", str(tiny["out"]),
         "--terediff-device", "cpu", "--terediff-steps", "1", "--dpi", "100", "--scale", "1",
         "-t", "json", "-o", str(tmp_path), "--no-plugin-autoload", "-q"]
    )  # fmt: skip
    assert code == ExitCode.OK, capsys.readouterr().err
    page = json.loads((tmp_path / "letter_scan.json").read_text())["pages"][0]
    assert page["counters"]["tiles_restored"] >= 1
