"""Checking a TeReDiff weights folder without loading it: ``tair-ocr weights check``.

A weights folder (``model_index.json``, one sub-folder per component) is what the
``terediff`` restorer loads (``TeReDiffPipeline.from_pretrained``).
:func:`check_weights_folder` reads every component's ``config.json`` and safetensors
*header* and compares them with the module the config builds on the ``meta`` device,
so a damaged, truncated or mismatched folder is reported before a restorer tries it.

This is loading-side code: it needs no conversion internals. The folder is written
by the checkpoint converter of the workbench (``tair-ocr weights convert``), which
leaves its report in :data:`REPORT_FILE`; the check shows what it says.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tair_ocr.errors import WeightsNotFoundError
from tair_ocr.models.loading import resolve_class, tied_groups, weights_file
from tair_ocr.models.weights_location import INDEX_FILE

__all__ = ["REPORT_FILE", "ComponentStatus", "FolderCheck", "check_weights_folder"]

#: The converter's report, written into the weights folder it makes.
REPORT_FILE = "conversion.json"
_SHOWN = 5


def _shown(items: Sequence[object]) -> str:
    """The first few items and how many more, for one-line messages."""
    text = ", ".join(str(i) for i in items[:_SHOWN])
    return text + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


@dataclass
class ComponentStatus:
    """One component of a weights folder: complete? dtypes, tensors, size."""

    name: str
    problems: list[str] = field(default_factory=list)
    dtypes: list[str] = field(default_factory=list)
    tensors: int = 0
    elements: int = 0
    bytes: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class FolderCheck:
    """The result of :func:`check_weights_folder`."""

    folder: Path
    components: list[ComponentStatus]
    problems: list[str]
    conversion: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and all(c.ok for c in self.components)

    @property
    def bytes(self) -> int:
        return sum(c.bytes for c in self.components)

    @property
    def dtypes(self) -> list[str]:
        return sorted({d for c in self.components for d in c.dtypes})

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return {
            "folder": str(self.folder),
            "ok": self.ok,
            "dtypes": self.dtypes,
            "bytes": self.bytes,
            "problems": self.problems,
            "components": [dict(vars(c), ok=c.ok) for c in self.components],
            "conversion": self.conversion,
        }


def _meta_from_folder(cls: type, folder: Path) -> torch.nn.Module:
    """``cls`` built from ``folder/config.json`` on the ``meta`` device."""
    from transformers import PreTrainedModel

    with torch.device("meta"):
        if issubclass(cls, PreTrainedModel):
            config = cls.config_class.from_pretrained(str(folder), local_files_only=True)
            return cls(config)
        return cls.from_config(cls.load_config(str(folder)))  # type: ignore[attr-defined]


def _check_model(name: str, cls: type, folder: Path, status: ComponentStatus) -> Any:
    """Compare the safetensors header of one component with its config; return the config."""
    from safetensors import safe_open

    path = weights_file(folder, cls)
    if not (folder / "config.json").is_file():
        status.problems.append(f"{folder / 'config.json'} is missing")
        return None
    if not path.is_file():
        status.problems.append(f"{path} is missing")
        return None
    status.bytes = path.stat().st_size
    try:
        module = _meta_from_folder(cls, folder)
    except (OSError, TypeError, ValueError) as exc:
        status.problems.append(f"cannot build {cls.__name__} from {folder / 'config.json'}: {exc}")
        return None
    try:
        header: dict[str, tuple[list[int], str]] = {}
        with safe_open(str(path), framework="pt", device="cpu") as f:
            for key in f.keys():  # noqa: SIM118 - safe_open is not a mapping
                piece = f.get_slice(key)
                header[key] = (list(piece.get_shape()), str(piece.get_dtype()))
    except Exception as exc:  # safetensors raises its own error type for damaged files
        status.problems.append(f"{path}: damaged or truncated: {exc}")
        return module.config
    expected = {k: list(v.shape) for k, v in module.state_dict().items()}
    status.tensors = len(header)
    status.elements = sum(torch.Size(shape).numel() for shape, _ in header.values())
    for group in tied_groups(module):
        if any(k in header for k in group):
            header.update({k: header[next(g for g in group if g in header)] for k in group})
    missing = sorted(set(expected) - set(header))
    unexpected = sorted(set(header) - set(expected))
    wrong = sorted(k for k in expected if k in header and header[k][0] != expected[k])
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if keys:
            status.problems.append(f"{path}: {len(keys)} {label}: {_shown(keys)}")
    floats = {d for _, d in header.values() if d in ("F32", "F16", "BF16", "F64")}
    status.dtypes = sorted(
        {"F32": "fp32", "F16": "fp16", "BF16": "bf16", "F64": "fp64"}[d] for d in floats
    )
    return module.config


def check_weights_folder(folder: str | Path) -> FolderCheck:
    """Is ``folder`` a complete, consistent weights folder? Reads headers only.

    Checks ``model_index.json``, every component's config and safetensors header
    against the module its config builds (on ``meta``), the tokenizer and scheduler,
    and that the components fit each other (text width, latent channels).
    """
    from tair_ocr.models.pipeline_terediff import TeReDiffPipeline

    folder = Path(folder).expanduser()
    result = FolderCheck(folder=folder, components=[], problems=[])
    index_path = folder / INDEX_FILE
    if not index_path.is_file():
        result.problems.append(f"{index_path} not found")
        return result
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError) as exc:
        result.problems.append(f"cannot read {index_path}: {exc}")
        return result
    report = folder / REPORT_FILE
    if report.is_file():
        with contextlib.suppress(OSError, ValueError):
            result.conversion = json.loads(report.read_text())

    configs: dict[str, Any] = {}
    for name in TeReDiffPipeline.components:
        status = ComponentStatus(name)
        result.components.append(status)
        entry = index.get(name)
        if not (isinstance(entry, list) and len(entry) == 2):
            status.problems.append(f"{index_path} does not name the {name!r} component")
            continue
        try:
            cls = resolve_class(*entry)
        except WeightsNotFoundError as exc:
            status.problems.append(exc.message)
            continue
        sub = folder / name
        if name == "tokenizer":
            from tair_ocr.models.text_encoder import load_tokenizer

            try:
                configs[name] = len(load_tokenizer(sub))
            except (OSError, ValueError) as exc:
                status.problems.append(f"cannot load the tokenizer from {sub}: {exc}")
            status.bytes = sum(p.stat().st_size for p in sub.glob("*") if p.is_file())
        elif name == "scheduler":
            try:
                cls.load_config(str(sub))  # type: ignore[attr-defined]
            except (OSError, ValueError) as exc:
                status.problems.append(f"cannot load the scheduler config from {sub}: {exc}")
        else:
            configs[name] = _check_model(name, cls, sub, status)
    result.problems.extend(_consistency(configs))
    return result


def _consistency(configs: Mapping[str, Any]) -> list[str]:
    """Problems between components (only where both configs were read)."""
    problems = []
    text, unet, vae, cn = (configs.get(k) for k in ("text_encoder", "unet", "vae", "controlnet"))
    if text is not None and unet is not None and text.hidden_size != unet.cross_attention_dim:
        problems.append(
            f"text encoder width {text.hidden_size} != U-Net cross-attention width "
            f"{unet.cross_attention_dim}"
        )
    if cn is not None and unet is not None and cn.cross_attention_dim != unet.cross_attention_dim:
        problems.append("ControlNet and U-Net cross-attention widths differ")
    if vae is not None and unet is not None and vae.latent_channels != unet.in_channels:
        problems.append(
            f"VAE latent channels {vae.latent_channels} != U-Net input channels {unet.in_channels}"
        )
    tokens = configs.get("tokenizer")
    if tokens is not None and text is not None and tokens > text.vocab_size:
        problems.append(f"tokenizer has {tokens} tokens, the text encoder {text.vocab_size}")
    return problems
