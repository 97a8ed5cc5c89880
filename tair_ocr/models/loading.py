"""Reading and writing one model component in the project's weights layout.

A component folder holds ``config.json`` and one safetensors file, as diffusers and
transformers write them: ``diffusion_pytorch_model.safetensors`` for diffusers-style
models (ours included), ``model.safetensors`` for transformers models.

Loading is strict: every parameter and persistent buffer must come from the file with
its exact shape, and the file may hold nothing else. A missing or mismatching tensor is
a :class:`~tair_ocr.errors.WeightsNotFoundError`, never a random initialisation.
Modules are built with weight initialisation switched off, so loading costs the file
read, not a random init of 1.7 B parameters.

Tied tensors (the spotter's shared heads) are written once and restored under every
name on load.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from tair_ocr.errors import WeightsNotFoundError

__all__ = [
    "ALLOWED_CLASSES",
    "load_component",
    "move",
    "save_component",
    "save_config",
    "tied_groups",
    "weights_file",
]

DIFFUSERS_WEIGHTS = "diffusion_pytorch_model.safetensors"
TRANSFORMERS_WEIGHTS = "model.safetensors"

#: The only (library, class) pairs a ``model_index.json`` may name. A weights
#: folder is data: it never gets to import arbitrary code.
ALLOWED_CLASSES: frozenset[tuple[str, str]] = frozenset(
    {
        ("tair_ocr.models.swinir", "SwinIR"),
        ("tair_ocr.models.controlnet", "LatentControlNet"),
        ("tair_ocr.models.spotter", "TextSpotter"),
        ("diffusers", "AutoencoderKL"),
        ("diffusers", "UNet2DConditionModel"),
        ("diffusers", "DDPMScheduler"),
        ("transformers", "CLIPTextModel"),
        ("transformers", "CLIPTokenizer"),
    }
)

_CONVERT_HINT = (
    "re-create the folder with `tair-ocr weights convert` from the published checkpoints"
)


def move(
    module: torch.nn.Module,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> torch.nn.Module:
    """Plain ``nn.Module.to``: diffusers' override warns on every dtype cast about
    fp32-pinned modules, which none of these models have."""
    return torch.nn.Module.to(module, device=device, dtype=dtype)


def resolve_class(library: str, class_name: str) -> type:
    """The class a ``model_index.json`` entry names, if it is allowed."""
    if (library, class_name) not in ALLOWED_CLASSES:
        raise WeightsNotFoundError(
            f"model_index.json names an unsupported component class {library}.{class_name}",
            hint=_CONVERT_HINT,
        )
    return getattr(importlib.import_module(library), class_name)


def _is_transformers(module_or_class: Any) -> bool:
    from transformers import PreTrainedModel

    cls = module_or_class if isinstance(module_or_class, type) else type(module_or_class)
    return issubclass(cls, PreTrainedModel)


def weights_file(folder: Path, cls: type) -> Path:
    """The safetensors file a component of class ``cls`` is stored in."""
    return folder / (TRANSFORMERS_WEIGHTS if _is_transformers(cls) else DIFFUSERS_WEIGHTS)


def tied_groups(module: torch.nn.Module) -> list[list[str]]:
    """State-dict keys that name one shared tensor (groups of two or more)."""
    by_tensor: dict[int, list[str]] = {}
    for key, tensor in module.state_dict(keep_vars=True).items():
        by_tensor.setdefault(id(tensor), []).append(key)
    return [keys for keys in by_tensor.values() if len(keys) > 1]


def save_config(module: torch.nn.Module, folder: str | Path) -> None:
    """Write ``module``'s ``config.json`` into ``folder`` (works on ``meta`` modules)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if _is_transformers(module):
        module.config.save_pretrained(folder)
    else:
        module.save_config(folder)


def save_component(module: torch.nn.Module, folder: str | Path) -> None:
    """Write ``module``'s config and weights (tied tensors once) into ``folder``."""
    folder = Path(folder)
    save_config(module, folder)
    aliases = {key for group in tied_groups(module) for key in group[1:]}
    state = {
        key: tensor.detach().to("cpu").contiguous()
        for key, tensor in module.state_dict().items()
        if key not in aliases
    }
    save_file(state, str(weights_file(folder, type(module))), metadata={"format": "pt"})


def _build(cls: type, folder: Path) -> torch.nn.Module:
    from diffusers.models.modeling_utils import no_init_weights

    with no_init_weights():
        if _is_transformers(cls):
            config_cls = cls.config_class
            config = config_cls.from_pretrained(str(folder), local_files_only=True)
            return cls(config)
        return cls.from_config(cls.load_config(str(folder)))


def load_component(
    folder: str | Path,
    cls: type,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.nn.Module:
    """Build ``cls`` from ``folder/config.json`` and load its weights strictly.

    The module comes back in eval mode, without gradients, on ``device`` with floating
    tensors in ``dtype``.

    :raises WeightsNotFoundError: missing files, or tensors that do not match.
    """
    folder = Path(folder)
    path = weights_file(folder, cls)
    if not (folder / "config.json").is_file() or not path.is_file():
        raise WeightsNotFoundError(
            f"{folder} is not a complete {cls.__name__} folder (needs config.json and {path.name})",
            hint=_CONVERT_HINT,
        )
    try:
        model = _build(cls, folder)
    except (OSError, TypeError, ValueError) as exc:
        raise WeightsNotFoundError(
            f"cannot build {cls.__name__} from {folder / 'config.json'}: {exc}", hint=_CONVERT_HINT
        ) from exc

    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    tensors: dict[str, torch.Tensor] = {}
    with safe_open(str(path), framework="pt", device="cpu") as f:
        for key in f.keys():  # noqa: SIM118 - safe_open is not a mapping
            tensors[key] = f.get_tensor(key)
    for group in tied_groups(model):
        present = [k for k in group if k in tensors]
        for key in group:
            if key not in tensors and present:
                tensors[key] = tensors[present[0]]

    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = sorted(k for k in expected if k in tensors and tuple(tensors[k].shape) != expected[k])
    if missing or unexpected or wrong:
        problems = []
        for label, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("wrong shape", wrong),
        ):
            if keys:
                problems.append(f"{len(keys)} {label} (e.g. {keys[0]})")
        raise WeightsNotFoundError(
            f"weights in {path} do not match {cls.__name__}: " + ", ".join(problems),
            hint=_CONVERT_HINT,
        )

    tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    model.load_state_dict(tensors, strict=True, assign=True)
    move(model, device=device, dtype=dtype)
    model.eval()
    model.requires_grad_(False)
    return model
