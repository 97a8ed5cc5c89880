"""The cleaner network (torch): training data, training loop, the torch backend of the
restorer and the ONNX export. (The shipped ONNX model at run time: test_cleaner_runtime.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

# The network, its training and its export are the workbench's (the train extra):
# without torch this module is skipped. Everything below imports as usual.
torch = pytest.importorskip("torch")

from tair_ocr.cleaner.model import (  # noqa: E402
    CleanerConfig,
    CleanerNet,
    load_model,
    local_contrast,
    save_model,
)
from tair_ocr.errors import UsageError  # noqa: E402
from tair_ocr.geometry import Affine  # noqa: E402
from tair_ocr.restorers.cleaner import TORCH_WEIGHTS, CleanerOptions, CleanerRestorer  # noqa: E402
from tair_workbench.cleaner.data import (  # noqa: E402
    HELD_OUT_FONTS,
    TRAIN_SEEDS,
    PatchPool,
    make_pair,
    page_patches,
    sample_patches,
    train_fonts,
    warp_to,
)
from tair_workbench.cleaner.train import (  # noqa: E402
    TrainOptions,
    ink_weighted_l1,
    parse_kind_weights,
    train,
    with_contrast_input,
)

TINY = CleanerConfig(channels=(8, 16), blocks=(1, 1))


# ---------------------------------------------------------------------- torch backend, export


def test_torch_backend_matches_the_onnx_model() -> None:
    """The shipped .safetensors on torch (float32) and the shipped ONNX model (int8)
    on onnxruntime restore alike, within the int8 model's rounding; bf16 (the torch
    backend's choice on CPUs with native bfloat16) stays close too."""
    from tests.test_cleaner_runtime import pattern

    x = pattern()
    onnx = CleanerRestorer(threads=1).restore(x).images
    fp32 = CleanerRestorer(weights=TORCH_WEIGHTS, threads=1, precision="fp32")
    assert fp32.backend == "torch" and isinstance(fp32.model(), CleanerNet)
    assert fp32.arithmetic == "fp32"
    out = fp32.restore(x).images
    assert isinstance(out, np.ndarray) and out.shape == onnx.shape == (1, 1, 96, 96)
    # int8 against float32 on this pattern: mean 0.003, largest 0.063 (16 gray levels).
    assert np.abs(out - onnx).mean() < 0.008 and np.abs(out - onnx).max() < 0.15
    bf16 = CleanerRestorer(weights=TORCH_WEIGHTS, threads=1, precision="bf16")
    assert np.abs(bf16.restore(x).images - out).mean() < 0.02
    # --cleaner-weights takes .safetensors where torch is installed.
    configured = CleanerRestorer(threads=1)
    configured.configure(CleanerOptions(weights=TORCH_WEIGHTS, precision="fp32"))
    assert configured.backend == "torch" and configured.availability().ok


def test_export_writes_a_model_the_runtime_runs_like_torch(tmp_path: Path) -> None:
    """python -m tair_workbench.cleaner.export: dynamic batch and sides, checked
    against torch; the restorer pads odd sides as the network does."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    from tair_workbench.cleaner.export import main

    torch.manual_seed(0)
    model = CleanerNet(CleanerConfig(channels=(8, 16), blocks=(1, 1), contrast_input=True))
    torch.nn.init.normal_(model.tail.weight, std=0.05)
    files = save_model(model, tmp_path / "tiny.safetensors", metadata={"steps": 7})
    out = tmp_path / "export" / "tiny-model.onnx"
    assert main(["--weights", str(files.weights), "-o", str(out)]) == 0
    config = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert config["steps"] == 7 and config["architecture"]["contrast_input"] is True
    assert config["onnx"]["multiple"] == model.multiple == 8
    assert config["onnx"]["max_abs_diff_to_torch"] < 1e-4

    loaded, _ = load_model(files.weights)
    onnx = CleanerRestorer(weights=out, threads=1)
    rng = np.random.default_rng(1)
    for shape in ((3, 1, 40, 24), (1, 1, 37, 50), (2, 1, 5, 3)):
        x = rng.random(shape, dtype=np.float32)
        with torch.inference_mode():
            expected = loaded(torch.from_numpy(x)).clamp(0, 1).numpy()
        got = onnx.restore(x).images
        assert got.shape == shape and np.abs(got - expected).max() < 1e-5, shape
    assert config["onnx"]["precision"] == "fp32" and onnx.arithmetic == "fp32"


def test_export_quantizes_to_int8_close_to_float32(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--quantize int8: a static int8 model (QDQ, first and last convolution kept in
    float32) calibrated on training-page tiles, checked against float32; the runtime
    runs it like the float32 export, within the rounding, and refuses another
    precision for it."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    import onnx as onnx_lib

    import tair_workbench.cleaner.export as export_module
    from tair_workbench.cleaner.export import export_onnx, quantize_int8

    torch.manual_seed(0)
    model = CleanerNet(CleanerConfig(channels=(8, 16), blocks=(1, 1), contrast_input=True))
    torch.nn.init.normal_(model.tail.weight, std=0.05)
    files = save_model(model, tmp_path / "tiny.safetensors", metadata={"steps": 7})
    fp32 = tmp_path / "fp32" / "tiny.onnx"
    export_onnx(files.weights, fp32)
    int8 = tmp_path / "int8" / "tiny.onnx"
    section = quantize_int8(fp32, int8, calibration_seeds=range(9_000, 9_003), check_seeds=[560])
    assert section["calibration"]["tiles"] == 6 and section["check"]["tiles"] == 2
    assert section["check"]["mean_abs_diff_to_float32"] < 0.005
    graph = onnx_lib.load(str(int8)).graph
    convs = [n for n in graph.node if n.op_type == "Conv"]
    initializers = {i.name for i in graph.initializer}
    # Float32 weights feed the first and last convolution; the others take int8
    # weights through DequantizeLinear.
    assert {n.input[1] for n in convs if n.input[1] in initializers} == {
        "net.head.weight",
        "net.tail.weight",
    }
    assert sum(n.op_type == "DequantizeLinear" for n in graph.node) > len(convs)
    # Too strict a tolerance: an error, and nothing written.
    with pytest.raises(ValueError, match="int8 model differs"):
        quantize_int8(fp32, tmp_path / "no.onnx", calibration_seeds=[9_000], tolerance=0.0)
    assert not (tmp_path / "no.onnx").exists()

    # Through the command: the config says int8 and how it was calibrated.
    out = tmp_path / "cmd" / "tiny.onnx"
    monkeypatch.setattr(export_module, "CALIBRATION_SEEDS", range(9_000, 9_002))
    monkeypatch.setattr(export_module, "INT8_CHECK_SEEDS", range(560, 561))
    argv = ["--weights", str(files.weights), "-o", str(out), "--quantize", "int8"]
    assert export_module.main(argv) == 0
    config = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))["onnx"]
    assert config["precision"] == "int8" and config["quantization"]["calibration"]["tiles"] == 4
    assert config["command"].endswith("--quantize int8")

    restorer = CleanerRestorer(weights=out, threads=1)
    assert restorer.arithmetic == "int8"
    reference = CleanerRestorer(weights=fp32, threads=1)
    x = np.random.default_rng(3).random((2, 1, 37, 50), dtype=np.float32)
    got = restorer.restore(x).images
    assert got.shape == x.shape and np.abs(got - reference.restore(x).images).mean() < 0.01
    with pytest.raises(UsageError, match="computes in int8"):
        restorer.configure(CleanerOptions(precision="fp32"))


# ---------------------------------------------------------------------- data


def test_pairs_are_deterministic_per_seed_and_aligned() -> None:
    kwargs = {"size_in": (2.0, 1.5), "layout": "paragraphs"}
    a = make_pair(TRAIN_SEEDS[0], kind="lowres_jpeg", **kwargs)
    b = make_pair(TRAIN_SEEDS[0], kind="lowres_jpeg", **kwargs)
    c = make_pair(TRAIN_SEEDS[1], kind="lowres_jpeg", **kwargs)
    assert np.array_equal(a.input, b.input) and np.array_equal(a.target, b.target)
    assert a.input.shape != c.input.shape or not np.array_equal(a.input, c.input)
    # A resolution kind: the working scale enlarged the 60-dpi page, and the target
    # has the working resolution, not the clean page's.
    assert a.dpi == pytest.approx(60, abs=1) and a.working_scale > 2
    assert a.input.shape == a.target.shape
    assert a.working_dpi == pytest.approx(a.dpi * a.working_scale, rel=0.02)
    # Pixel-aligned: the ink of input and target overlaps best without a shift.
    ink_in, ink_tg = 1 - a.input, 1 - a.target
    scores = {
        (dx, dy): float((np.roll(ink_tg, (dy, dx), axis=(0, 1)) * ink_in).sum())
        for dx in (-2, 0, 2)
        for dy in (-2, 0, 2)
    }
    assert max(scores, key=scores.get) == (0, 0)


def test_patches_and_pool_are_deterministic() -> None:
    pair = make_pair(TRAIN_SEEDS[2], kind="defocus", size_in=(2.0, 1.5), layout="paragraphs")
    p1 = sample_patches(pair, np.random.default_rng(3), 5, 64)
    p2 = sample_patches(pair, np.random.default_rng(3), 5, 64)
    assert p1[0].shape == (5, 64, 64) and p1[0].dtype == np.uint8
    assert np.array_equal(p1[0], p2[0]) and np.array_equal(p1[1], p2[1])
    assert (p1[1] < 128).any(), "most patches are centred on ink"

    seeds = range(TRAIN_SEEDS[0], TRAIN_SEEDS[0] + 50)
    pool = PatchPool(8, 48, patches_per_page=4, seed=1, seeds=seeds)
    pool.fill()
    pool.refresh(1)
    state = pool.state_dict()
    x1, y1 = pool.batch(6)
    copy = PatchPool(8, 48, patches_per_page=4, seed=1, seeds=seeds)
    copy.load_state_dict(state)
    assert np.array_equal(copy.inputs, pool.inputs) and copy.pages_made == 3
    x2, y2 = copy.batch(6)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2), "a resumed pool draws the same"
    x3, _ = pool.batch(6)
    assert not np.array_equal(x1, x3)


def test_training_fonts_hold_some_out() -> None:
    fonts = train_fonts()
    assert fonts and not set(fonts) & set(HELD_OUT_FONTS)


def test_page_patches_match_inline_pairs() -> None:
    seed, kind, inp, tgt = page_patches(TRAIN_SEEDS[3], None, 32, 2)
    assert seed == TRAIN_SEEDS[3] and inp.shape == tgt.shape == (2, 32, 32)
    assert kind == make_pair(TRAIN_SEEDS[3]).kind


def test_warp_to_shrinks_by_area_and_rotates() -> None:
    image = np.ones((40, 40), np.float32)
    image[:, ::2] = 0.0  # one-pixel stripes: area averaging gives flat grey
    half = warp_to(image, Affine.scaling(0.5), (20, 20))
    assert half.shape == (20, 20) and np.allclose(half, 0.5, atol=1e-3)
    turned = warp_to(image, Affine.rotation(10, center=(20, 20)), (40, 40))
    assert turned.shape == (40, 40) and turned[0, 0] == pytest.approx(1.0)  # white fill


def test_make_pair_rejects_bad_arguments() -> None:
    with pytest.raises(UsageError):
        make_pair(-1)
    with pytest.raises(UsageError):
        make_pair(1, kind="sunburn")


# ---------------------------------------------------------------------- model and training


def test_model_pads_any_size_and_starts_as_identity() -> None:
    model = CleanerNet(TINY).eval()
    x = torch.rand(2, 1, 37, 50)
    with torch.inference_mode():
        y = model(x)
    assert y.shape == x.shape
    assert torch.allclose(y, x), "the correction starts at zero"


def test_local_contrast_makes_faded_ink_look_black_and_leaves_paper_alone() -> None:
    page = torch.full((1, 1, 96, 96), 0.95)
    page[..., 40:44, 8:88] = 0.6  # a faded stroke
    blocks = torch.nn.PixelUnshuffle(4)(page - 0.5)
    stretched = local_contrast(blocks) + 0.5
    folded = torch.nn.PixelShuffle(4)(stretched)
    assert folded[..., 40:44, 20:70].max() < 0.01
    assert folded[..., 46:50, 20:70].min() > 0.99
    # Far from ink, paper with faint noise is not stretched into black and white.
    noisy = 0.9 + 0.02 * torch.rand(1, 1, 96, 96)
    spread = local_contrast(torch.nn.PixelUnshuffle(4)(noisy - 0.5))
    assert float(spread.max() - spread.min()) <= 0.02 / 0.15 + 1e-4


def test_growing_the_contrast_input_keeps_what_the_model_computes() -> None:
    torch.manual_seed(0)
    model = CleanerNet(TINY).eval()
    torch.nn.init.normal_(model.tail.weight, std=0.05)
    grown = with_contrast_input(model).eval()
    assert grown.config.contrast_input and grown.head.in_channels == 2 * model.head.in_channels
    x = torch.rand(1, 1, 64, 64)
    with torch.inference_mode():
        assert torch.allclose(grown(x), model(x), atol=1e-6)
        assert not torch.allclose(model(x), x)


def test_training_lowers_the_loss_on_a_tiny_batch() -> None:
    torch.manual_seed(0)
    pair = make_pair(TRAIN_SEEDS[4], kind="motion_blur", size_in=(2.0, 1.5), layout="paragraphs")
    x, y = sample_patches(pair, np.random.default_rng(0), 4, 64)
    xt = torch.from_numpy(x.astype(np.float32) / 255)[:, None]
    yt = torch.from_numpy(y.astype(np.float32) / 255)[:, None]
    model = CleanerNet(TINY)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = ink_weighted_l1(model(xt), yt, 4.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.8 * losses[0]


def test_ink_weighted_l1_weights_the_strokes() -> None:
    target = torch.ones(1, 1, 8, 8)
    target[..., 4, 4] = 0.0
    near = target.clone()
    near[..., 4, 4] = 0.5  # an error on the ink
    far = target.clone()
    far[..., 0, 0] = 0.5  # the same error on the paper
    assert ink_weighted_l1(near, target, 4.0) > ink_weighted_l1(far, target, 4.0)


def test_train_script_checkpoints_resumes_and_exports(tmp_path: Path) -> None:
    options = TrainOptions(
        out=tmp_path / "run",
        steps=3,
        batch=2,
        patch=48,
        pool_pages=1,
        patches_per_page=4,
        refresh_every=2,
        warmup=1,
        val_pages=0,
        checkpoint_every=2,
        workers=0,
        bf16="off",
        channels=TINY.channels,
        blocks=TINY.blocks,
    )
    train(options)
    state = torch.load(options.out / "checkpoint.pt", weights_only=False)
    assert state["step"] == 3 and state["pool"]["pages_made"] == 3
    options.steps = 5
    exported = tmp_path / "w" / "cleaner.safetensors"
    train(options, export=exported, command="python -m tair_workbench.cleaner.train --steps 5")
    log = [json.loads(line) for line in (options.out / "log.jsonl").read_text().splitlines()]
    assert {"event": "resumed", "step": 3} in log
    model, meta = load_model(exported)
    assert meta["steps"] == 5 and meta["architecture"]["channels"] == list(TINY.channels)
    again = CleanerNet(TINY)
    again.load_state_dict(state["model"])
    assert not all(
        torch.equal(a, b)
        for a, b in zip(again.state_dict().values(), model.state_dict().values(), strict=True)
    ), "the resumed run trained further"


def test_fine_tuning_from_a_grown_run_keeps_its_architecture(tmp_path: Path) -> None:
    """A run that grew the contrast input from --init weights stores the grown
    architecture in its checkpoint, so a later --init from that checkpoint builds
    the same network (its own options never said --contrast-input)."""
    common = {
        "steps": 1,
        "batch": 2,
        "patch": 48,
        "pool_pages": 1,
        "patches_per_page": 4,
        "warmup": 1,
        "val_pages": 0,
        "workers": 0,
        "bf16": "off",
    }
    first = tmp_path / "first.safetensors"
    save_model(CleanerNet(TINY), first)
    grown = TrainOptions(out=tmp_path / "grown", init=str(first), contrast_input=True, **common)
    assert train(grown).config.contrast_input
    state = torch.load(grown.out / "checkpoint.pt", weights_only=False)
    assert state["architecture"]["contrast_input"] is True
    again = TrainOptions(out=tmp_path / "again", init=str(grown.out / "checkpoint.pt"), **common)
    model = train(again)
    assert model.config.contrast_input and model.config.channels == TINY.channels


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = CleanerNet(TINY)
    torch.nn.init.normal_(model.tail.weight, std=0.01)
    files = save_model(model, tmp_path / "m.safetensors", metadata={"steps": 1})
    loaded, meta = load_model(files.weights)
    from safetensors.torch import load_file

    assert {t.dtype for t in load_file(str(files.weights)).values()} == {torch.float16}
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = torch.rand(1, 1, 32, 32)
    with torch.inference_mode():
        assert torch.allclose(model.eval()(x), loaded(x), atol=2e-3)
    assert meta["steps"] == 1


def test_kind_weights_steer_the_degradations_drawn() -> None:
    from tair_workbench.cleaner.data import TRAIN_KINDS

    weights = parse_kind_weights("lowres_jpeg=0.3, clean=0")
    assert weights is not None
    assert weights["lowres_jpeg"] == 0.3 and weights["clean"] == 0.0
    assert weights["scan"] == TRAIN_KINDS["scan"]
    assert parse_kind_weights("  ") is None
    for bad in ("bogus=1", "fax", "fax=-1"):
        with pytest.raises(UsageError):
            parse_kind_weights(bad)
    only_fax = {name: 0.0 for name in TRAIN_KINDS} | {"fax": 1.0}
    kinds = {page_patches(seed, None, 64, 2, only_fax)[1] for seed in (1000, 1001)}
    assert kinds == {"fax"}
