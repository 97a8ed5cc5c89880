"""The published TeReDiff checkpoints fit our modules: names, shapes, parameter counts.

Everything is built with the published configuration on the ``meta`` device (no
memory). The expected keys/shapes come from ``shared/reference/terediff-manifest.json``
(skipped when absent). diffusers' single-file converters serve as an independent
oracle for the ldm → diffusers renaming.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

# TeReDiff is the terediff extra (torch, diffusers, transformers, safetensors): without
# it this module is skipped. The package's own imports below stay plain imports.
torch = pytest.importorskip("torch")
for _module in ("diffusers", "transformers", "safetensors"):
    pytest.importorskip(_module)

from tair_ocr.models.configs import PUBLISHED_CONFIGS, build_component  # noqa: E402
from tair_workbench.conversion.key_mapping import convert_state_dict, map_key, map_unet_key  # noqa: E402

MANIFEST = Path(__file__).resolve().parents[2] / "shared" / "reference" / "terediff-manifest.json"

pytestmark = pytest.mark.shared_data("reference/terediff-manifest.json")  # = MANIFEST

MODEL_COMPONENTS = ("cleaner", "vae", "unet", "controlnet", "text_encoder", "spotter")


@cache
def manifest() -> dict:
    return json.loads(MANIFEST.read_text())


@cache
def meta_models() -> dict[str, torch.nn.Module]:
    with torch.device("meta"):
        return {name: build_component(name, PUBLISHED_CONFIGS[name]) for name in MODEL_COMPONENTS}


def section_tensors(section: str) -> dict[str, list[int]]:
    sections = manifest()["sections"]
    if section.startswith("terediff_stage3."):
        return sections["terediff_stage3"]["tensors"][section.split(".", 1)[1]]
    return sections[section]["tensors"]


def meta_tensors(shapes: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    return {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}


def unique_parameter_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())  # parameters() skips tied duplicates


def converted(section: str) -> dict[str, dict[str, torch.Tensor]]:
    return convert_state_dict(section, meta_tensors(section_tensors(section)))


def assert_fills(component: str, tensors: dict[str, torch.Tensor]) -> None:
    """Every converted tensor lands on one of our keys with its shape, and every key
    of our state dict (parameters and persistent buffers) is filled."""
    ours = {k: tuple(v.shape) for k, v in meta_models()[component].state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in tensors.items()}
    assert sorted(set(theirs) - set(ours)) == [], f"{component}: keys we do not have"
    assert sorted(set(ours) - set(theirs)) == [], f"{component}: keys left unfilled"
    mismatched = {k: (theirs[k], ours[k]) for k in ours if ours[k] != theirs[k]}
    assert mismatched == {}, f"{component}: shape mismatches"


# --------------------------------------------------------------------------- stage 3


def test_stage3_cldm_fills_unet_vae_text_encoder_controlnet() -> None:
    parts = converted("terediff_stage3.cldm")
    assert sorted(parts) == ["controlnet", "text_encoder", "unet", "vae"]
    for component, tensors in parts.items():
        assert_fills(component, tensors)


def test_stage3_swinir_and_testr_use_published_names() -> None:
    cleaner = converted("terediff_stage3.swinir")
    assert list(cleaner) == ["cleaner"]
    assert set(cleaner["cleaner"]) == set(section_tensors("terediff_stage3.swinir"))
    assert_fills("cleaner", cleaner["cleaner"])

    spotter = converted("terediff_stage3.testr")
    assert list(spotter) == ["spotter"]
    published = {k.removeprefix("testr.") for k in section_tensors("terediff_stage3.testr")}
    assert set(spotter["spotter"]) == published
    assert_fills("spotter", spotter["spotter"])


def test_only_the_unused_clip_tensors_are_dropped() -> None:
    shapes = section_tensors("terediff_stage3.cldm")
    dropped = sorted(k for k in shapes if map_key("terediff_stage3.cldm", k) == [])
    expected = manifest()["sections"]["sd21_ldm"]["keys_loaded_but_unused_by_terediff_compute"]
    expected = sorted(k.replace("cond_stage_model.", "clip.") for k in expected["keys"])
    assert dropped == expected


def test_parameter_counts_match_manifest() -> None:
    counts = manifest()["parameter_counts"]
    models = meta_models()
    unused = manifest()["sections"]["sd21_ldm"]["keys_loaded_but_unused_by_terediff_compute"]
    sd_shapes = section_tensors("sd21_ldm")
    dropped = sum(torch.Size(sd_shapes[k]).numel() for k in unused["keys"])
    cldm = manifest()["sections"]["terediff_stage3"]["counts"]["cldm"]["by_prefix"]
    assert unique_parameter_count(models["unet"]) == counts["sd21_ldm.unet"] == 865_910_724
    assert unique_parameter_count(models["vae"]) == counts["sd21_ldm.vae"]
    assert unique_parameter_count(models["text_encoder"]) == counts["sd21_ldm.clip_text"] - dropped
    assert unique_parameter_count(models["controlnet"]) == cldm["controlnet."]["parameter_count"]
    assert unique_parameter_count(models["cleaner"]) == counts["terediff_stage3.swinir"]
    assert unique_parameter_count(models["spotter"]) == counts["terediff_stage3.testr"]


def test_tied_spotter_heads_match_alias_groups() -> None:
    """The published file saves each shared head under several names; ours shares them too."""
    spotter = meta_models()["spotter"]
    state = spotter.state_dict(keep_vars=True)
    for group in manifest()["sections"]["terediff_stage3"]["alias_groups_testr"]:
        tensors = {id(state[k.removeprefix("testr.")]) for k in group}
        assert len(tensors) == 1, group


def test_swinir_buffers_are_the_published_buffers() -> None:
    persistent = manifest()["sections"]["terediff_stage3"]["persistent_buffers"]["swinir"]
    cleaner = meta_models()["cleaner"]
    assert sorted(name for name, _ in cleaner.named_buffers()) == sorted(persistent)


# --------------------------------------------------------------------------- base files


def test_base_files_convert_too() -> None:
    sd = converted("sd21_ldm")
    assert sorted(sd) == ["text_encoder", "unet", "vae"]
    for component, tensors in sd.items():
        assert_fills(component, tensors)
    assert_fills("controlnet", converted("controlnet_diffbir_v21")["controlnet"])
    assert_fills("cleaner", converted("swinir_realesrgan_s4")["cleaner"])
    assert meta_models()["controlnet"].conv_in.weight.shape == (320, 8, 3, 3)


def test_unknown_keys_are_an_error() -> None:
    with pytest.raises(KeyError, match="unexpected keys"):
        convert_state_dict("terediff_stage3.cldm", {"unet.bogus.weight": torch.empty(1)})


# --------------------------------------------------------------------------- oracle


def _diffusers_renaming(convert, checkpoint: dict[str, torch.Tensor], **kwargs) -> dict[str, str]:
    """Run a diffusers converter on meta tensors and read back which source key each
    output key came from (by tensor identity; renamed tensors are the same objects)."""
    source_of = {id(t): k for k, t in checkpoint.items()}
    out = convert(checkpoint, **kwargs)
    return {new: source_of[id(t)] for new, t in out.items() if id(t) in source_of}


def test_unet_and_controlnet_renaming_agree_with_diffusers_converters() -> None:
    single_file = pytest.importorskip("diffusers.loaders.single_file_utils")
    unet_config = {**PUBLISHED_CONFIGS["unet"], "num_class_embeds": None}
    sd = meta_tensors(section_tensors("sd21_ldm"))
    unet_ckpt = {k: v for k, v in sd.items() if k.startswith("model.diffusion_model.")}
    renaming = _diffusers_renaming(
        single_file.convert_ldm_unet_checkpoint, unet_ckpt, config=unet_config
    )
    assert len(renaming) == 686
    for new, old in renaming.items():
        assert map_unet_key(old.removeprefix("model.diffusion_model.")) == new, old

    cn_ckpt = meta_tensors(section_tensors("controlnet_diffbir_v21"))
    renaming = _diffusers_renaming(
        single_file.convert_controlnet_checkpoint,
        cn_ckpt,
        config={**PUBLISHED_CONFIGS["controlnet"], "addition_embed_type": None},
    )
    assert len(renaming) == 324
    for new, old in renaming.items():
        assert map_key("controlnet_diffbir_v21", old)[0].key == new, old


def test_vae_renaming_agrees_with_diffusers_converter() -> None:
    single_file = pytest.importorskip("diffusers.loaders.single_file_utils")
    sd = meta_tensors(section_tensors("sd21_ldm"))
    vae_ckpt = {k: v for k, v in sd.items() if k.startswith("first_stage_model.")}
    out = single_file.convert_ldm_vae_checkpoint(vae_ckpt, PUBLISHED_CONFIGS["vae"])
    ours = convert_state_dict("sd21_ldm", vae_ckpt)["vae"]
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        k: tuple(v.shape) for k, v in ours.items()
    }
    # Same tensors for the plain renames (the attention weights are reshaped copies).
    source_of = {id(t): k for k, t in vae_ckpt.items()}
    for key, tensor in out.items():
        if id(tensor) in source_of:
            assert ours[key] is tensor, key
