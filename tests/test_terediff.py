"""TeReDiff on tiny seeded models: scheduler, models, prompt loop, pipeline, restorer.

Every model is the real architecture with tiny widths and random weights
(:mod:`tair_workbench.testing.tiny_models`), run on the CPU for two or three steps.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

# TeReDiff is the terediff extra (torch, diffusers, transformers, safetensors): without
# it this module is skipped. The package's own imports below stay plain imports.
torch = pytest.importorskip("torch")
for _module in ("diffusers", "transformers", "safetensors"):
    pytest.importorskip(_module)
from safetensors import safe_open  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

from tair_ocr.errors import WeightsNotFoundError  # noqa: E402
from tair_ocr.models.configs import PUBLISHED_CONFIGS, build_component  # noqa: E402
from tair_ocr.models.ms_deform_attn import MSDeformAttn, ms_deform_attn_core  # noqa: E402
from tair_ocr.models.pipeline_terediff import (  # noqa: E402
    TeReDiffPipeline,
    _DecoderTaps,
    format_prompt,
    sliding_windows,
)
from tair_ocr.models.scheduling import make_scheduler, reference_alphas_cumprod, respaced_timesteps  # noqa: E402
from tair_ocr.models.spotter import TextSpotter, decode_text  # noqa: E402
from tair_ocr.models.swinir import SwinIR, shifted_window_mask  # noqa: E402
from tair_workbench.testing.tiny_models import TINY_CONFIGS, build_tiny_pipeline, save_tiny_pipeline  # noqa: E402

# The published 50-step timesteps (terediff-facts.md §2.8).
REFERENCE_TIMESTEPS = [
    999, 979, 958, 938, 917, 897, 877, 856, 836, 816, 795, 775, 754, 734, 714, 693, 673,
    652, 632, 612, 591, 571, 550, 530, 510, 489, 469, 449, 428, 408, 387, 367, 347, 326,
    306, 285, 265, 245, 224, 204, 183, 163, 143, 122, 102, 82, 61, 41, 20, 0,
]  # fmt: skip


@pytest.fixture(scope="module")
def pipe(tmp_path_factory: pytest.TempPathFactory) -> TeReDiffPipeline:
    return build_tiny_pipeline(tmp_path_factory.mktemp("tokenizer"), seed=0)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_pipeline(tmp_path_factory.mktemp("weights") / "terediff", seed=1)


def tiles(n: int, size: int = 128, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g)


def gens(*seeds: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(s) for s in seeds]


# --------------------------------------------------------------------------- scheduler


def test_respaced_timesteps_are_the_published_ones() -> None:
    assert respaced_timesteps(50) == REFERENCE_TIMESTEPS
    scheduler = make_scheduler()
    scheduler.set_timesteps(timesteps=respaced_timesteps(50))
    assert scheduler.timesteps.tolist() == REFERENCE_TIMESTEPS
    # Steps go to the next *listed* timestep (979 → 958), not a fixed stride.
    assert scheduler.previous_timestep(979) == 958
    assert respaced_timesteps(2) == [999, 0]


def test_schedule_is_zero_terminal_snr_v_prediction() -> None:
    scheduler = make_scheduler()
    assert scheduler.config.prediction_type == "v_prediction"
    assert scheduler.config.clip_sample is False
    ours = scheduler.alphas_cumprod.double().numpy()
    reference = reference_alphas_cumprod()
    assert ours[-1] == 0.0 == reference[-1]
    assert np.abs(ours - reference).max() < 1e-6
    assert abs(ours[0] - 0.99915) < 1e-6


def test_ddpm_step_matches_the_published_formula() -> None:
    """x̂0 = √ᾱ_t·x − √(1−ᾱ_t)·v; mean and posterior variance of DiffBIR's sampler."""
    scheduler = make_scheduler()
    scheduler.set_timesteps(timesteps=respaced_timesteps(50))
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    v = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    ab = torch.from_numpy(reference_alphas_cumprod()).float()
    t, p = 979, 958
    beta = 1 - ab[t] / ab[p]
    x0 = ab[t].sqrt() * x - (1 - ab[t]).sqrt() * v
    mean = (
        ab[p].sqrt() * beta / (1 - ab[t]) * x0 + (1 - beta).sqrt() * (1 - ab[p]) / (1 - ab[t]) * x
    )
    variance = beta * (1 - ab[p]) / (1 - ab[t])
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    out = scheduler.step(v, t, x, generator=torch.Generator().manual_seed(2)).prev_sample
    torch.testing.assert_close(out, mean + variance.sqrt() * noise, rtol=1e-4, atol=1e-5)
    # The last step returns x̂0 without noise.
    x0_last = ab[0].sqrt() * x - (1 - ab[0]).sqrt() * v
    torch.testing.assert_close(scheduler.step(v, 0, x).prev_sample, x0_last, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- models


def test_swinir_keeps_size_and_pads_odd_sizes() -> None:
    torch.manual_seed(0)
    model = SwinIR.from_config(TINY_CONFIGS["cleaner"]).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, 128, 128)).shape == (2, 3, 128, 128)
        assert model(torch.rand(1, 3, 100, 70)).shape == (1, 3, 100, 70)
    # Shifted blocks carry the precomputed mask for the 64×64 grid; others compute it.
    block = model.layers[0].residual_group.blocks[1]
    assert block.attn_mask.shape == (64, 64, 64)
    assert torch.equal(block._mask(64, 64, torch.device("cpu")), block.attn_mask)
    assert torch.equal(block._mask(16, 8, torch.device("cpu")), shifted_window_mask(16, 8, 8, 4))


def _naive_deform_attn(value, shapes, locations, weights) -> torch.Tensor:
    """Bilinear sampling written out (pixel = location·size − 0.5, zeros outside)."""
    n, _, heads, dim = value.shape
    _, q, _, _, points, _ = locations.shape
    out = torch.zeros(n, q, heads, dim)
    starts = np.cumsum([0] + [h * w for h, w in shapes])
    for b in range(n):
        for i in range(q):
            for m in range(heads):
                for lvl, (h, w) in enumerate(shapes):
                    fmap = value[b, starts[lvl] : starts[lvl + 1], m].view(h, w, dim)
                    for p in range(points):
                        x = locations[b, i, m, lvl, p, 0] * w - 0.5
                        y = locations[b, i, m, lvl, p, 1] * h - 0.5
                        x0, y0 = math.floor(x), math.floor(y)
                        acc = torch.zeros(dim)
                        for yy, xx in ((y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1)):
                            if 0 <= yy < h and 0 <= xx < w:
                                acc += (1 - abs(x - xx)) * (1 - abs(y - yy)) * fmap[yy, xx]
                        out[b, i, m] += weights[b, i, m, lvl, p] * acc
    return out.flatten(2)


def test_deformable_attention_matches_explicit_bilinear_sampling() -> None:
    g = torch.Generator().manual_seed(0)
    shapes = [(4, 5), (2, 3)]
    value = torch.randn(2, 26, 2, 3, generator=g)
    locations = torch.rand(2, 3, 2, 2, 2, 2, generator=g) * 1.2 - 0.1  # some outside
    weights = torch.rand(2, 3, 2, 2, 2, generator=g)
    ours = ms_deform_attn_core(value, shapes, locations, weights)
    torch.testing.assert_close(ours, _naive_deform_attn(value, shapes, locations, weights))
    # The module accepts point and box references.
    attn = MSDeformAttn(d_model=8, n_levels=2, n_heads=2, n_points=2)
    query, src = torch.randn(1, 5, 8), torch.randn(1, 26, 8)
    assert attn(query, torch.rand(1, 5, 2, 2), src, shapes).shape == (1, 5, 8)
    assert attn(query, torch.rand(1, 5, 2, 4), src, shapes).shape == (1, 5, 8)


def test_decode_text_stops_at_the_first_non_character() -> None:
    assert decode_text([33, 34, 0, 40, 95, 41]) == "AB H"
    assert decode_text([96, 33]) == ""


def test_controlnet_takes_the_condition_latent_and_feeds_every_skip(pipe) -> None:
    x, cond = torch.randn(2, 4, 16, 16), torch.randn(2, 4, 16, 16)
    states = pipe.encode_prompt(["", "a"])
    with torch.no_grad():
        out = pipe.controlnet(x, cond, 999, states)
        other = pipe.controlnet(x, cond + 1, 999, states)
        half = pipe.controlnet(x, cond, 999, states, control_scales=0.5)
    assert pipe.controlnet.conv_in.in_channels == 8
    # One residual per U-Net skip tensor, same shapes, and the middle one.
    with torch.no_grad():
        skips = []
        hidden = pipe.unet.conv_in(x)
        skips.append(hidden)
        emb = pipe.unet.time_embedding(pipe.unet.time_proj(torch.tensor([999, 999])))
        for block in pipe.unet.down_blocks:
            cross = getattr(block, "has_cross_attention", False)
            kwargs = {"encoder_hidden_states": states} if cross else {}
            hidden, res = block(hidden_states=hidden, temb=emb, **kwargs)
            skips.extend(res)
    assert [r.shape for r in out.down_block_res_samples] == [s.shape for s in skips]
    assert out.mid_block_res_sample.shape == hidden.shape
    assert not torch.allclose(out.mid_block_res_sample, other.mid_block_res_sample)
    torch.testing.assert_close(half.mid_block_res_sample, out.mid_block_res_sample * 0.5)


def test_feature_taps_are_the_decoder_level_outputs(pipe) -> None:
    latents = torch.randn(2, 4, 16, 16)
    states = pipe.encode_prompt(["x", "y"])
    inputs: dict[int, torch.Tensor] = {}

    def keep_input(index: int):
        def hook(module, args, kwargs) -> None:
            inputs[index] = kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]

        return hook

    hooks = [
        pipe.unet.up_blocks[i].register_forward_pre_hook(keep_input(i), with_kwargs=True)
        for i in range(1, 4)
    ]
    try:
        v, taps = pipe.predict(latents, latents, 500, states)
    finally:
        for h in hooks:
            h.remove()
    # Tiny U-Net: channels (16, 16, 16, 8) at latent/4, /2, ×1, ×1 (published: see below).
    assert [tuple(t.shape) for t in taps] == [
        (2, 16, 4, 4), (2, 16, 8, 8), (2, 16, 16, 16), (2, 8, 16, 16)
    ]  # fmt: skip
    # Taps 0-2 are what the next decoder level receives; tap 3 is what conv_out reads.
    for i in range(3):
        assert torch.equal(taps[i], inputs[i + 1])
    unet = pipe.unet
    out = unet.conv_out(unet.conv_act(unet.conv_norm_out(taps[3])))
    torch.testing.assert_close(out.float(), v)


def test_published_taps_and_spotter_outputs_on_meta() -> None:
    """The published U-Net taps 1280@16², 1280@32², 640@64², 320@64² for a 512² tile, and
    the spotter maps them to 100×16 points, 100×25×97 characters, 9472 proposals."""
    with torch.device("meta"):
        unet = build_component("unet", PUBLISHED_CONFIGS["unet"])
        controlnet = build_component("controlnet", PUBLISHED_CONFIGS["controlnet"])
        spotter = build_component("spotter", PUBLISHED_CONFIGS["spotter"])
        x, states, t = torch.randn(1, 4, 64, 64), torch.randn(1, 77, 1024), torch.tensor([999])
        control = controlnet(x, x, t, states)
        with _DecoderTaps(unet, TeReDiffPipeline.tap_blocks) as taps:
            unet(
                x,
                t,
                encoder_hidden_states=states,
                down_block_additional_residuals=control.down_block_res_samples,
                mid_block_additional_residual=control.mid_block_res_sample,
            )
        out = spotter(taps.features)
    assert len(control.down_block_res_samples) + 1 == 13
    assert [tuple(f.shape) for f in taps.features] == [
        (1, 1280, 16, 16), (1, 1280, 32, 32), (1, 640, 64, 64), (1, 320, 64, 64)
    ]  # fmt: skip
    assert out.pred_logits.shape == (1, 100, 16, 1)
    assert out.pred_ctrl_points.shape == (1, 100, 16, 2)
    assert out.pred_texts.shape == (1, 100, 25, 97)
    assert out.enc_logits.shape == (1, 9472, 1)
    assert out.enc_boxes.shape == (1, 9472, 4)


def test_text_encoder_tokenizes_like_openclip(pipe) -> None:
    ids = pipe.tokenizer([""], padding="max_length", max_length=77, return_tensors="pt").input_ids
    assert ids[0, :3].tolist() == [515, 516, 0]  # start, end, padding with id 0
    long = pipe.tokenizer(["word " * 200], padding="max_length", max_length=77, truncation=True)
    assert len(long.input_ids[0]) == 77 and long.input_ids[0][-1] == 516
    states = pipe.encode_prompt(["The", "the"])  # lower-cased like OpenCLIP
    assert states.shape == (2, 77, 16)
    torch.testing.assert_close(states[0], states[1])


# --------------------------------------------------------------------------- pipeline


def test_format_prompt_uses_the_published_template() -> None:
    assert format_prompt(["OPEN", "24h"]) == (
        'A realistic scene where the texts "OPEN", "24h" appear clearly on signs, boards, '
        "buildings, or other objects."
    )
    assert "texts  appear" in format_prompt([])
    assert format_prompt(["a", "a", ""], "tag") == '"a", "a", ""'
    assert format_prompt(["a"], "none") == ""
    with pytest.raises(ValueError, match="prompt style"):
        format_prompt([], "poem")


def test_output_shapes_dtypes_and_trace(pipe) -> None:
    out = pipe(tiles(2), num_inference_steps=3, generator=gens(1, 2), return_trace=True)
    assert out.images.shape == (2, 3, 128, 128)
    assert out.images.dtype == torch.float32
    assert out.images.min() >= 0 and out.images.max() <= 1
    assert [s.timestep for s in out.trace] == [999, 500, 0]
    assert len(out.words) == 2
    for word in out.words[0]:
        assert 0.5 <= word.score <= 1
        assert len(word.polygon) == 16
        assert set(word.text) <= {chr(c) for c in range(32, 127)}


def test_prompt_loop_feeds_each_steps_reading_into_the_next_prompt(pipe, monkeypatch) -> None:
    """Record what really reaches the text encoder and what the spotter really
    returned; decode the spotter outputs independently and check the template."""
    encoded: list[list[str]] = []
    spotter_outputs = []
    real_encode = pipe.encode_prompt

    def recording_encode(prompts: list[str]) -> torch.Tensor:
        encoded.append(list(prompts))
        return real_encode(prompts)

    monkeypatch.setattr(pipe, "encode_prompt", recording_encode)
    hook = pipe.spotter.register_forward_hook(lambda m, a, out: spotter_outputs.append(out))
    try:
        pipe(tiles(2), num_inference_steps=4, generator=gens(3, 4), score_threshold=0.5)
    finally:
        hook.remove()

    assert len(encoded) == 4 and len(spotter_outputs) == 4
    assert encoded[0] == ["", ""]
    read_something = False
    for step in range(3):
        readings = TextSpotter.postprocess(spotter_outputs[step], (128, 128), threshold=0.5)
        expected = [format_prompt([d.text for d in r], "caption") for r in readings]
        assert encoded[step + 1] == expected
        read_something |= any(readings)
    assert read_something, "the random spotter should read something in 3 steps"


def test_batch_of_n_equals_n_single_runs(pipe) -> None:
    batch = tiles(2, seed=5)
    together = pipe(batch, num_inference_steps=2, generator=gens(7, 8))
    for i, seed in enumerate((7, 8)):
        alone = pipe(batch[i : i + 1], num_inference_steps=2, generator=gens(seed))
        torch.testing.assert_close(together.images[i], alone.images[0], atol=1e-4, rtol=1e-4)
        assert [w.text for w in together.words[i]] == [w.text for w in alone.words[0]]


def test_same_seed_same_output_other_seed_other_output(pipe) -> None:
    a = pipe(tiles(1), num_inference_steps=2, generator=gens(11))
    b = pipe(tiles(1), num_inference_steps=2, generator=gens(11))
    c = pipe(tiles(1), num_inference_steps=2, generator=gens(12))
    assert torch.equal(a.images, b.images)
    assert a.words == b.words
    assert not torch.allclose(a.images, c.images)


def test_inputs_are_checked(pipe) -> None:
    with pytest.raises(ValueError, match="N×3×H×W"):
        pipe(torch.rand(3, 64, 64))
    with pytest.raises(ValueError, match="float"):
        pipe(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
    # Sizes that are not multiples of 64 are padded, and cropped back.
    out = pipe(torch.rand(1, 3, 100, 90), num_inference_steps=1, generator=gens(0))
    assert out.images.shape == (1, 3, 100, 90)


def test_save_and_load_round_trip(pipe, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    pipe.save_pretrained(folder)
    index = json.loads((folder / "model_index.json").read_text())
    assert index["unet"] == ["diffusers", "UNet2DConditionModel"]
    assert index["spotter"] == ["tair_ocr.models.spotter", "TextSpotter"]
    assert (folder / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    assert (folder / "text_encoder" / "model.safetensors").is_file()
    assert (folder / "scheduler" / "scheduler_config.json").is_file()
    # Tied spotter heads are stored once.
    with safe_open(str(folder / "spotter" / "diffusion_pytorch_model.safetensors"), "pt") as f:
        keys = set(f.keys())
    assert "ctrl_point_class.0.weight" in keys and "ctrl_point_class.1.weight" not in keys

    loaded = TeReDiffPipeline.from_pretrained(folder)
    for name in ("cleaner", "vae", "unet", "controlnet", "text_encoder", "spotter"):
        ours, theirs = getattr(pipe, name).state_dict(), getattr(loaded, name).state_dict()
        assert ours.keys() == theirs.keys(), name
        assert all(torch.equal(ours[k], theirs[k]) for k in ours), name
    assert loaded.spotter.ctrl_point_class[-1] is loaded.spotter.ctrl_point_class[0]
    a = pipe(tiles(1), num_inference_steps=2, generator=gens(5))
    b = loaded(tiles(1), num_inference_steps=2, generator=gens(5))
    # The weights are equal bit for bit (above); the outputs agree to float noise
    # (diffusers 0.42 / transformers 5 build some layers differently on loading).
    torch.testing.assert_close(a.images, b.images, rtol=0, atol=1e-5)


def test_loading_never_falls_back_to_random_weights(weights: Path, tmp_path: Path) -> None:
    with pytest.raises(WeightsNotFoundError, match=r"model_index\.json"):
        TeReDiffPipeline.from_pretrained(tmp_path / "nothing")
    # Copy the folder and drop one tensor from the U-Net.
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(weights, broken)
    path = broken / "unet" / "diffusion_pytorch_model.safetensors"
    state = load_file(str(path))
    state.pop("conv_in.weight")
    save_file(state, str(path))
    with pytest.raises(WeightsNotFoundError, match=r"1 missing \(e.g. conv_in.weight\)"):
        TeReDiffPipeline.from_pretrained(broken)
    # A model_index.json may not name arbitrary classes.
    index = json.loads((broken / "model_index.json").read_text())
    index["unet"] = ["os", "system"]
    (broken / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(WeightsNotFoundError, match="unsupported component class"):
        TeReDiffPipeline.from_pretrained(broken)


# --------------------------------------------------------------------------- latent fusion


def test_sliding_windows_cover_the_length() -> None:
    assert sliding_windows(64, 64, 48) == [0]
    assert sliding_windows(100, 64, 48) == [0, 36]
    assert sliding_windows(160, 64, 48) == [0, 48, 96]


def test_restore_region_blends_windows_in_latent_space(pipe) -> None:
    region = tiles(1, size=192, seed=3)[:, :, :128, :]  # 128×192
    out = pipe.restore_region(
        region,
        window=128,
        overlap=64,
        num_inference_steps=2,
        generator=gens(1)[0],
        batch_size=2,
        return_trace=True,
    )
    assert out.images.shape == (1, 3, 128, 192)
    # Two windows of 128 px (16 latent px), stride 64 px; one prompt per window.
    assert len(out.trace[0].prompts) == 2
    assert out.trace[0].prompts == ["", ""]
    assert len(out.words) == 1
    for word in out.words[0]:  # in region pixels, centres inside the region
        xs = [p[0] for p in word.polygon]
        ys = [p[1] for p in word.polygon]
        assert (min(xs) + max(xs)) / 2 < 192 and (min(ys) + max(ys)) / 2 < 128
    # Windows batched differently give the same result.
    again = pipe.restore_region(
        region, window=128, overlap=64, num_inference_steps=2, generator=gens(1)[0], batch_size=1
    )
    torch.testing.assert_close(out.images, again.images, atol=1e-4, rtol=1e-4)


# --------------------------------------------------------------------------- restorer


@pytest.fixture
def no_default_weights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No $TAIR_OCR_WEIGHTS and an empty user cache."""
    monkeypatch.delenv("TAIR_OCR_WEIGHTS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "tair-ocr" / "terediff"


def restorer_with(**options):
    """A restorer configured with ``TeReDiffOptions`` fields (``device="cpu"``)."""
    from tair_ocr.restorers.terediff import TeReDiffOptions, TeReDiffRestorer

    restorer = TeReDiffRestorer()
    restorer.configure(TeReDiffOptions.parse(options))
    return restorer


def test_restorer_without_weights_is_unavailable_with_a_hint(no_default_weights: Path) -> None:
    restorer = restorer_with(device="cpu")
    availability = restorer.availability()
    assert not availability.ok
    assert "weights not found in" in availability.reason
    assert str(no_default_weights) in availability.reason
    assert "tair-ocr weights convert" in availability.hint
    with pytest.raises(WeightsNotFoundError, match="weights not found"):
        restorer.pipeline()


def test_restorer_finds_weights_in_order(
    weights: Path, no_default_weights: Path, monkeypatch
) -> None:
    # $TAIR_OCR_WEIGHTS may name the folder or its parent (…/terediff).
    monkeypatch.setenv("TAIR_OCR_WEIGHTS", str(weights.parent))
    assert restorer_with().weights_folder()[0] == weights
    # --weights wins, even when it is wrong.
    folder, searched = restorer_with(weights=weights.parent / "elsewhere").weights_folder()
    assert folder is None and searched == [weights.parent / "elsewhere"]
    monkeypatch.delenv("TAIR_OCR_WEIGHTS")
    assert restorer_with().weights_folder() == (None, [no_default_weights])


def test_restorer_needs_cuda_unless_cpu_is_asked_for(weights: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    auto = restorer_with(weights=weights).availability()
    assert not auto.ok and "--terediff-device cpu" in auto.hint
    assert not restorer_with(weights=weights, device="cuda").availability().ok
    cpu = restorer_with(weights=weights, device="cpu")
    assert cpu.availability().ok and "slow" in cpu.availability().reason
    assert cpu.device == "cpu" and cpu.dtype == torch.float32


def test_restorer_rejects_bad_options() -> None:
    from tair_ocr.errors import UsageError

    for bad in (
        {"dtype": "fp8"},
        {"steps": 0},
        {"batch_size": 0},
        {"prompt_style": "poem"},
        {"fusion_region": 500},
        {"spotter_threshold": 2.0},
    ):
        with pytest.raises(UsageError):
            restorer_with(**bad)
    with pytest.raises(UsageError, match=r"terediff\.steps \(--terediff-steps\)"):
        restorer_with(steps=0)


def test_restorer_restores_tiles_and_returns_spotted_words(weights: Path) -> None:
    from tair_ocr.components import RestoredTiles, SpottedWord

    restorer = restorer_with(weights=weights, device="cpu", steps=1, batch_size=2)
    # The framework sends 512² tiles (numpy); any size works.
    batch = tiles(2, size=256, seed=9).numpy()
    result = restorer.restore(batch)
    assert isinstance(result, RestoredTiles)
    assert isinstance(result.images, np.ndarray)
    assert result.images.shape == (2, 3, 256, 256) and result.images.dtype == np.float32
    assert len(result.words) == 2
    words = [w for tile_words in result.words for w in tile_words]
    assert words, "the random spotter reads something at threshold 0.5"
    for word in words:
        assert isinstance(word, SpottedWord) and word.text.strip()
        assert len(word.polygon) == 16
    # Each tile's noise depends on the seed and its pixels, not on its batch.
    alone = restorer.restore(batch[1:])
    np.testing.assert_allclose(alone.images[0], result.images[1], atol=1e-4, rtol=1e-4)
    assert [w.text for w in alone.words[0]] == [w.text for w in result.words[1]]


def test_restorer_latent_fusion_takes_regions(weights: Path) -> None:
    restorer = restorer_with(
        weights=weights,
        device="cpu",
        steps=1,
        latent_fusion=True,
        fusion_region=576,
    )
    assert (restorer.tile_size, restorer.batch_size) == (576, 1)
    result = restorer.restore(tiles(1, size=576, seed=2).numpy())
    assert result.images.shape == (1, 3, 576, 576)
    assert restorer_with(batch_size=3).tile_size == 512


def test_cli_runs_terediff_end_to_end(weights: Path, tmp_path: Path) -> None:
    """Plumbing with a tiny random model: the output text is meaningless."""
    from PIL import Image, ImageDraw

    from tair_ocr.cli import main

    image = Image.new("RGB", (400, 300), "white")
    ImageDraw.Draw(image).text((40, 120), "Hello TeReDiff 2026", fill="black")
    source = tmp_path / "sample.png"
    image.save(source, dpi=(300, 300))
    out = tmp_path / "out"
    code = main(
        [
            str(source),
            "--restorer", "terediff",
            "--weights", str(weights),
            "--terediff-device", "cpu",
            "--terediff-steps", "2",
            "--scale", "1",
            "-t", "json",
            "-o", str(out),
            "--no-plugin-autoload",
            "-q",
        ]
    )  # fmt: skip
    assert code == 0
    document = json.loads((out / "sample.json").read_text())
    assert len(document["pages"]) == 1
    page = document["pages"][0]
    assert page.get("error") in (None, {})
    assert page["counters"]["tiles_restored"] >= 1
