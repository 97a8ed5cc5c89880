"""Converting the published TeReDiff checkpoints into the project's weights folder.

The published files, in the published loading order (a later file overrides an
earlier one, as ``initialize.load_model`` does):

============  =================================  ==================================
role          file                               sections (:data:`SOURCE_SECTIONS`)
============  =================================  ==================================
``sd``        ``sd2.1-base-zsnr-laionaes5.ckpt``  ``sd21_ldm``
``diffbir``   ``DiffBIR_v2.1.pt``                 ``controlnet_diffbir_v21``
``swinir``    ``realesrgan_s4_swinir_100k.pth``   ``swinir_realesrgan_s4``
``terediff``  ``terediff_stage3.pt``              ``terediff_stage3.{cldm,swinir,testr}``
============  =================================  ==================================

The conversion, in three steps:

1. **Read** each file with ``torch.load(weights_only=True, mmap=True)``: tensors stay
   in the page cache of the file, nothing is copied. Full unpickling only with
   ``unsafe_pickle``. A damaged zip, an unreadable index or a file of the wrong kind
   stops here with the file named.
2. **Plan** (:func:`plan_conversion`, shapes only, works on ``meta`` tensors): every
   published key is renamed by :mod:`tair_workbench.conversion.key_mapping` and checked against
   the modules built from the configuration on the ``meta`` device. The result says
   where each of our keys comes from (the last file wins), which published keys found
   no home, which were dropped on purpose, and which of our keys stay unfilled.
3. **Write** one component at a time into a temporary folder beside the output, then
   rename it into place: the tensors of one component are renamed, checked against
   their zip CRC-32, cast, written, and freed before the next component.

Peak memory is about the size of the stage-3 file (its pages, shared with the page
cache) plus one component's cast copy.

Checking a written folder is loading-side code and stays in the runtime
(:mod:`tair_ocr.models.weights_check`, ``tair-ocr weights check``); this module and
:mod:`.key_mapping` are only needed to make a folder.
"""

from __future__ import annotations

import contextlib
import ctypes
import gzip
import json
import logging
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tair_ocr.errors import (
    CorruptInputError,
    InputError,
    MissingDependencyError,
    OutputError,
    OutputExistsError,
    UnsupportedInputError,
    UsageError,
)
from tair_ocr.models.configs import COMPONENT_CLASSES, PUBLISHED_CONFIGS, build_component
from tair_ocr.models.loading import save_config, tied_groups, weights_file
from tair_ocr.models.weights_check import REPORT_FILE
from tair_ocr.models.weights_location import INDEX_FILE
from tair_workbench.conversion.key_mapping import (
    SOURCE_SECTIONS,
    CheckpointLayout,
    Target,
    layout_from_configs,
    map_key,
)

__all__ = [
    "DTYPES",
    "MODEL_COMPONENTS",
    "RECOMPUTABLE_BUFFERS",
    "ROLES",
    "SD_SCHEDULE_KEYS",
    "SOURCES",
    "Checkpoint",
    "ConversionPlan",
    "ConversionReport",
    "PublishedKey",
    "Source",
    "convert_checkpoints",
    "expected_shapes",
    "plan_conversion",
    "read_checkpoint",
    "split_checkpoint",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """One published file: its role, command-line option, usual name and description."""

    role: str
    option: str
    file_name: str
    description: str


#: The published files, in loading order (later files override earlier ones).
SOURCES: dict[str, Source] = {
    "sd": Source(
        "sd", "--sd", "sd2.1-base-zsnr-laionaes5.ckpt", "a Stable Diffusion 2.1-base checkpoint"
    ),
    "diffbir": Source(
        "diffbir", "--diffbir", "DiffBIR_v2.1.pt", "a DiffBIR v2.1 ControlNet checkpoint"
    ),
    "swinir": Source(
        "swinir", "--swinir", "realesrgan_s4_swinir_100k.pth", "a SwinIR cleaner checkpoint"
    ),
    "terediff": Source(
        "terediff", "--terediff", "terediff_stage3.pt", "a TeReDiff stage-3 checkpoint"
    ),
}
#: Roles in the published loading order.
ROLES: tuple[str, ...] = tuple(SOURCES)
#: The parts of the stage-3 file.
STAGE3_PARTS: tuple[str, ...] = ("cldm", "swinir", "testr")

#: The model components of a weights folder (the tokenizer and scheduler have none).
MODEL_COMPONENTS: tuple[str, ...] = (
    "cleaner",
    "vae",
    "unet",
    "controlnet",
    "text_encoder",
    "spotter",
)

#: The ldm trainer's DDPM schedule buffers a Stable Diffusion file may hold. The
#: official loader ignores them; our scheduler recomputes the schedule from its config.
SD_SCHEDULE_KEYS: frozenset[str] = frozenset(
    {
        "betas",
        "alphas_cumprod",
        "alphas_cumprod_prev",
        "sqrt_alphas_cumprod",
        "sqrt_one_minus_alphas_cumprod",
        "log_one_minus_alphas_cumprod",
        "sqrt_recip_alphas_cumprod",
        "sqrt_recipm1_alphas_cumprod",
        "posterior_variance",
        "posterior_log_variance_clipped",
        "posterior_mean_coef1",
        "posterior_mean_coef2",
    }
)

#: Buffers our modules compute from their configuration. They are copied from the
#: file when it has them (the official loaders are strict about them); a file without
#: them is not incomplete, and the computed values are written instead.
RECOMPUTABLE_BUFFERS: dict[str, tuple[str, ...]] = {
    "cleaner": (r".+\.attn\.relative_position_index", r".+\.attn_mask"),
    "spotter": (r"text_pos_embed\.inv_freq",),
}

#: ``--dtype`` names.
DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
}

_FP16_MAX = 65504.0
_SHOWN = 5


def _shown(items: Sequence[object]) -> str:
    """The first few items and how many more, for one-line messages."""
    text = ", ".join(str(i) for i in items[:_SHOWN])
    return text + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class PublishedKey:
    """One tensor of a published file: the file, the stage-3 part (or None) and the key."""

    path: Path
    part: str | None
    key: str

    def __str__(self) -> str:
        where = f"{self.path.name}:{self.part}/" if self.part else f"{self.path.name}:"
        return where + self.key


@dataclass
class Checkpoint:
    """A published file, read lazily: its sections (section name → state dict).

    :ivar part_of: section → stage-3 part name (None for the base files).
    :ivar record_crcs: ``(size, CRC-32)`` of every tensor record of a zip checkpoint, to
        check each tensor's bytes against when it is used (None: not a zip file).
    """

    role: str
    path: Path
    sections: dict[str, Mapping[str, torch.Tensor]]
    part_of: dict[str, str | None]
    record_crcs: frozenset[tuple[int, int]] | None = None
    notes: list[str] = field(default_factory=list)


_ZIP_MAGIC = b"PK\x03\x04"
_LEGACY_MAGIC = b"\x80"  # a pickle stream (torch's pre-1.6 format)


def _sniff(path: Path) -> str:
    """``zip``, ``safetensors``, ``legacy`` or ``unknown``, from the first bytes."""
    with path.open("rb") as f:
        head = f.read(9)
    if head.startswith(_ZIP_MAGIC):
        return "zip"
    if len(head) == 9 and head[8:9] == b"{":
        return "safetensors"
    if head.startswith(_LEGACY_MAGIC):
        return "legacy"
    return "unknown"


def _zip_crcs(path: Path) -> frozenset[tuple[int, int]] | None:
    """Check the zip directory and the pickled index; return the tensor records' CRCs
    (None when the file was saved without them: ``compute_crc32=False`` writes zeros)."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            index = [i for i in infos if i.filename.rpartition("/")[2] == "data.pkl"]
            if not index:
                raise CorruptInputError(f"{path}: no data.pkl record: not a PyTorch checkpoint")
            if index[0].CRC == 0:
                log.warning("%s was saved without CRC-32s; its data cannot be verified", path)
                return None
            archive.read(index[0])  # verifies its CRC-32
    except zipfile.BadZipFile as exc:
        raise CorruptInputError(
            f"{path}: damaged or truncated PyTorch zip file ({exc})",
            hint="download the file again",
        ) from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    return frozenset((i.file_size, i.CRC) for i in infos if "/data/" in f"/{i.filename}")


def _torch_load(path: Path, *, mmap: bool, unsafe_pickle: bool) -> Any:
    return torch.load(path, map_location="cpu", mmap=mmap, weights_only=not unsafe_pickle)


def read_checkpoint(role: str, path: str | Path, *, unsafe_pickle: bool = False) -> Checkpoint:
    """Read one published file (memory-mapped when it is a zip checkpoint).

    :param role: one of :data:`ROLES`; says which layout to expect.
    :param unsafe_pickle: allow full unpickling (runs code from the file; only for
        files you trust). Logged as a warning.
    :raises InputError: missing file; :class:`CorruptInputError` for a damaged or
        truncated file; :class:`UnsupportedInputError` for a file of another kind or
        one that needs full unpickling.
    """
    if role not in SOURCES:
        raise UsageError(f"unknown checkpoint role {role!r}; known: {', '.join(ROLES)}")
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"{path}: no such file ({SOURCES[role].option})")
    try:
        kind = _sniff(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    if kind == "unknown":
        raise UnsupportedInputError(
            f"{path}: not a PyTorch checkpoint (expected {SOURCES[role].description}, "
            f"usually named {SOURCES[role].file_name})"
        )
    crcs = _zip_crcs(path) if kind == "zip" else None
    if unsafe_pickle:
        log.warning(
            "%s: loading with full unpickling (--unsafe-pickle): this runs code stored "
            "in the file; use it only for files you trust",
            path,
        )
    try:
        try:
            obj = _torch_load(path, mmap=kind != "legacy", unsafe_pickle=unsafe_pickle)
        except RuntimeError as exc:
            if "mmap" not in str(exc):
                raise
            # Old or unaligned files cannot be memory-mapped: read them into memory.
            log.warning("%s cannot be memory-mapped; reading it whole (%s)", path, exc)
            obj = _torch_load(path, mmap=False, unsafe_pickle=unsafe_pickle)
    except Exception as exc:  # torch raises many kinds for bad files
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if not unsafe_pickle and "Weights only load failed" in str(exc):
            raise UnsupportedInputError(
                f"{path}: holds pickled objects other than tensors and plain containers",
                hint=f"pass --unsafe-pickle to load it anyway, only if you trust the file "
                f"({_unsafe_detail(exc)})",
            ) from exc
        raise CorruptInputError(
            f"{path}: cannot be read as a PyTorch checkpoint: {message}"
        ) from exc
    checkpoint = split_checkpoint(role, path, obj)
    checkpoint.record_crcs = crcs
    return checkpoint


def _unsafe_detail(exc: BaseException) -> str:
    """The 'Unsupported global' line of torch's weights-only error, if any."""
    for line in str(exc).splitlines():
        if "Unsupported global" in line or "GLOBAL" in line:
            return line.strip().rstrip(".")
    return "weights-only unpickling refused it"


def _guess_role(obj: Any) -> str | None:
    """What kind of published file ``obj`` looks like (for 'did you mean' hints)."""
    if not isinstance(obj, Mapping):
        return None
    if any(isinstance(obj.get(p), Mapping) for p in STAGE3_PARTS):
        return "terediff"
    inner = obj.get("state_dict", obj)
    if not isinstance(inner, Mapping):
        return None
    keys = [str(k) for k in inner]
    if any(k.startswith("model.diffusion_model.") for k in keys):
        return "sd"
    if "time_embed.0.weight" in inner and any(k.startswith("zero_convs.") for k in keys):
        return "diffbir"
    if any("residual_group" in k for k in keys):
        return "swinir"
    return None


def _wrong_kind(role: str, path: Path, obj: Any, detail: str) -> UnsupportedInputError:
    guess = _guess_role(obj)
    hint = None
    if guess is not None and guess != role:
        hint = f"it looks like {SOURCES[guess].description}; pass it as {SOURCES[guess].option}"
    return UnsupportedInputError(
        f"{path}: not {SOURCES[role].description} ({SOURCES[role].option}): {detail}", hint=hint
    )


def _state_dict(
    role: str, path: Path, obj: Any, part: str | None, notes: list[str]
) -> dict[str, torch.Tensor]:
    """The tensors of one state dict; non-tensor entries are noted and skipped."""
    if not isinstance(obj, Mapping):
        where = f"entry {part!r}" if part else "the file"
        raise _wrong_kind(
            role, path, obj, f"{where} holds a {type(obj).__name__}, not a state dict"
        )
    tensors: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        if isinstance(value, torch.Tensor):
            tensors[str(key)] = value
        elif isinstance(value, Mapping):
            name = f"{part}/{key}" if part else str(key)
            raise _wrong_kind(role, path, obj, f"key {name!r} holds a nested dict, not a tensor")
        else:
            notes.append(f"{path.name}: skipped non-tensor entry {key!r}")
    if not tensors:
        where = f"entry {part!r}" if part else "the file"
        raise _wrong_kind(role, path, obj, f"{where} holds no tensors")
    return tensors


def split_checkpoint(role: str, path: Path, obj: Any) -> Checkpoint:
    """Split a loaded file into its sections, checking its top-level layout.

    Works on any mapping of tensors (``meta`` tensors included), so the manifest can be
    planned without files.

    :raises UnsupportedInputError: the layout is not that of ``role``'s file.
    """
    notes: list[str] = []
    sections: dict[str, Mapping[str, torch.Tensor]] = {}
    part_of: dict[str, str | None] = {}
    if not isinstance(obj, Mapping):
        raise _wrong_kind(role, path, obj, f"the file holds a {type(obj).__name__}")
    if role == "terediff":
        parts = [p for p in STAGE3_PARTS if p in obj]
        if not parts:
            first = next(iter(obj), None)
            raise _wrong_kind(
                role,
                path,
                obj,
                f"top-level key {first!r} is not one of {', '.join(STAGE3_PARTS)}",
            )
        for key in obj:
            if key not in STAGE3_PARTS:
                notes.append(f"{path.name}: skipped top-level entry {key!r}")
        for part in parts:
            section = f"terediff_stage3.{part}"
            sections[section] = _state_dict(role, path, obj[part], part, notes)
            part_of[section] = part
    else:
        # The SD and SwinIR files may wrap their state dict (official loaders unwrap it).
        inner = obj["state_dict"] if isinstance(obj.get("state_dict"), Mapping) else obj
        if inner is not obj:
            notes.extend(f"{path.name}: skipped entry {k!r}" for k in obj if k != "state_dict")
        section = {
            "sd": "sd21_ldm",
            "diffbir": "controlnet_diffbir_v21",
            "swinir": "swinir_realesrgan_s4",
        }[role]
        sections[section] = _state_dict(role, path, inner, None, notes)
        part_of[section] = None
    assert set(sections) <= set(SOURCE_SECTIONS)
    return Checkpoint(role=role, path=path, sections=sections, part_of=part_of, notes=notes)


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Assignment:
    """Where one of our tensors comes from."""

    source: PublishedKey
    tensor: torch.Tensor
    target: Target
    checkpoint: Checkpoint = field(compare=False, repr=False)


@dataclass
class ConversionPlan:
    """Where every tensor goes (see :func:`plan_conversion`).

    :ivar assignments: component → our key → its source (the last file wins).
    :ivar superseded: role → number of its tensors overridden by a later file.
    :ivar dropped: published keys unused on purpose (the text tower's last block,
        ``text_projection``, ``logit_scale``).
    :ivar ignored: published keys recomputed elsewhere (SD schedule buffers).
    :ivar unused: published keys that found no home (an error unless allowed).
    :ivar unfilled: component → our parameters/buffers with no source (an error unless
        allowed).
    :ivar recomputed: component → buffers with no source that the model computes
        (:data:`RECOMPUTABLE_BUFFERS`).
    """

    assignments: dict[str, dict[str, Assignment]]
    superseded: dict[str, int]
    dropped: list[PublishedKey]
    ignored: list[PublishedKey]
    unused: list[PublishedKey]
    unfilled: dict[str, list[str]]
    recomputed: dict[str, list[str]]


def expected_shapes(
    models: Mapping[str, torch.nn.Module],
) -> tuple[dict[str, dict[str, torch.Size]], dict[str, list[list[str]]]]:
    """Per component: state-dict key → shape, and the groups of tied keys."""
    shapes = {n: {k: v.shape for k, v in m.state_dict().items()} for n, m in models.items()}
    return shapes, {n: tied_groups(m) for n, m in models.items()}


def _recomputable(component: str, key: str) -> bool:
    return any(re.fullmatch(p, key) for p in RECOMPUTABLE_BUFFERS.get(component, ()))


def plan_conversion(
    checkpoints: Sequence[Checkpoint],
    shapes: Mapping[str, Mapping[str, torch.Size]],
    tied: Mapping[str, Sequence[Sequence[str]]],
    layout: CheckpointLayout,
) -> ConversionPlan:
    """Map every published key of ``checkpoints`` (in loading order) onto our keys.

    Reads shapes only: no tensor data is touched, so it runs on ``meta`` tensors.

    :param shapes: component → key → shape of our modules (:func:`expected_shapes`).
    :param tied: component → groups of keys that are one tensor.
    :raises UnsupportedInputError: a shape mismatch (naming the published key and ours),
        or a file none of whose keys has a home here (a file of the wrong kind).
    """
    assignments: dict[str, dict[str, Assignment]] = {c: {} for c in shapes}
    superseded: dict[str, int] = {}
    dropped: list[PublishedKey] = []
    ignored: list[PublishedKey] = []
    unused: list[PublishedKey] = []
    mismatches: list[str] = []
    for checkpoint in checkpoints:
        homed = 0
        for section, tensors in checkpoint.sections.items():
            part = checkpoint.part_of[section]
            for key, tensor in tensors.items():
                published = PublishedKey(checkpoint.path, part, key)
                if section == "sd21_ldm" and key in SD_SCHEDULE_KEYS:
                    ignored.append(published)
                    continue
                try:
                    targets = map_key(section, key, layout)
                except KeyError:
                    unused.append(published)
                    continue
                if not targets:
                    dropped.append(published)
                    continue
                for target in targets:
                    ours = shapes.get(target.component, {})
                    if target.key not in ours:
                        unused.append(published)
                        break
                    shape = target.take(tensor).shape
                    if shape != ours[target.key]:
                        name = f"{part}/{key}" if part else key
                        mismatches.append(
                            f"key {name!r} has shape {list(tensor.shape)} but "
                            f"{target.component}.{target.key} needs {list(ours[target.key])}"
                        )
                        continue
                    previous = assignments[target.component].get(target.key)
                    if previous is not None and previous.checkpoint is not checkpoint:
                        role = previous.checkpoint.role
                        superseded[role] = superseded.get(role, 0) + 1
                    assignments[target.component][target.key] = Assignment(
                        published, tensor, target, checkpoint
                    )
                else:
                    homed += 1
        if mismatches:
            raise UnsupportedInputError(
                f"{checkpoint.path}: {len(mismatches)} tensor(s) do not fit the model, e.g. "
                f"{mismatches[0]}",
                hint="the file is of another model variant, or the configuration does not match it",
            )
        if homed == 0:
            first = next(
                (
                    PublishedKey(checkpoint.path, checkpoint.part_of[s], k)
                    for s, t in checkpoint.sections.items()
                    for k in t
                ),
                None,
            )
            raise _wrong_kind(
                checkpoint.role,
                checkpoint.path,
                _first_section(checkpoint),
                f"none of its keys has a place in the model (e.g. {first.key if first else '?'})",
            )

    unfilled: dict[str, list[str]] = {}
    recomputed: dict[str, list[str]] = {}
    for component, ours in shapes.items():
        have = set(assignments[component])
        for group in tied.get(component, ()):
            if have & set(group):
                have |= set(group)
        for key in ours:
            if key in have:
                continue
            bucket = recomputed if _recomputable(component, key) else unfilled
            bucket.setdefault(component, []).append(key)
    return ConversionPlan(assignments, superseded, dropped, ignored, unused, unfilled, recomputed)


def _first_section(checkpoint: Checkpoint) -> Mapping[str, Any]:
    """The state dict to guess the kind of a wrongly passed file from."""
    if checkpoint.role == "terediff":
        return {p: {} for p in checkpoint.part_of.values() if p}
    return next(iter(checkpoint.sections.values()), {})


# --------------------------------------------------------------------------- writing


@dataclass
class ConversionReport:
    """What a conversion did (also written as ``conversion.json`` in the folder)."""

    output: Path
    dtype: str
    sources: dict[str, str]
    components: dict[str, dict[str, int]]
    superseded: dict[str, int]
    dropped: list[str]
    ignored: list[str]
    unused: list[str]
    unfilled: dict[str, list[str]]
    recomputed: dict[str, list[str]]
    notes: list[str]

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        data = dict(vars(self))
        data["output"] = str(self.output)
        return data


def _storage_crc(tensor: torch.Tensor) -> tuple[int, int]:
    """``(bytes, CRC-32)`` of the whole storage behind ``tensor`` (no copy)."""
    storage = tensor.untyped_storage()
    size = storage.nbytes()
    if size == 0:
        return 0, 0
    view = (ctypes.c_char * size).from_address(storage.data_ptr())
    return size, zlib.crc32(view)


def _verified(assignment: Assignment, seen: dict[int, bool]) -> None:
    """Check the tensor's bytes against the zip record CRCs of its file."""
    crcs = assignment.checkpoint.record_crcs
    tensor = assignment.tensor
    if crcs is None or tensor.device.type != "cpu":
        return
    ptr = tensor.untyped_storage().data_ptr()
    if ptr not in seen:
        seen[ptr] = _storage_crc(tensor) in crcs
    if not seen[ptr]:
        raise CorruptInputError(
            f"{assignment.checkpoint.path}: the data of key "
            f"{assignment.source.key!r} is damaged (CRC-32 mismatch)",
            hint="download the file again",
        )


def _default_init(name: str, config: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """A CPU build's state dict (seeded), for recomputed buffers and allowed gaps."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return build_component(name, dict(config)).state_dict()


def _component_state(
    name: str,
    config: Mapping[str, Any],
    plan: ConversionPlan,
    groups: Sequence[Sequence[str]],
    keys: Sequence[str],
    dtype: torch.dtype,
    seen: dict[int, bool],
) -> dict[str, torch.Tensor]:
    """The tensors to write for one component (tied aliases once, cast to ``dtype``)."""
    assignments = plan.assignments.get(name, {})
    aliases = {key: group[0] for group in groups for key in group[1:]}
    gaps = plan.unfilled.get(name, []) + plan.recomputed.get(name, [])
    fallback = _default_init(name, config) if gaps else {}
    state: dict[str, torch.Tensor] = {}
    for group in groups:  # the file stores each alias: they must agree
        present = [assignments[k] for k in group if k in assignments]
        for other in present[1:]:
            a, b = present[0], other
            if not torch.equal(a.target.take(a.tensor), b.target.take(b.tensor)):
                raise UnsupportedInputError(
                    f"{a.source.path}: tied tensors differ: {a.source.key!r} and {b.source.key!r}"
                )
    for key in keys:
        if key in aliases:
            continue
        group = next((g for g in groups if g[0] == key), [key])
        source = next((assignments[k] for k in group if k in assignments), None)
        if source is None:
            tensor = fallback[key]
        else:
            _verified(source, seen)
            tensor = source.target.take(source.tensor)
        if tensor.is_floating_point() and tensor.dtype != dtype:
            cast = tensor.to(dtype)
            overflow = dtype == torch.float16 and not torch.isfinite(cast).all()
            if overflow and torch.isfinite(tensor).all():
                where = source.source if source else f"{name}.{key}"
                raise UsageError(
                    f"{where} has values beyond the fp16 range (±{_FP16_MAX:g})",
                    hint="convert with --dtype bf16 or fp32",
                )
            tensor = cast
        state[key] = tensor
    # safetensors refuses overlapping tensors: a file that stores one tensor under two
    # names we do not tie gets a copy. (Disjoint views, like OpenCLIP's q/k/v split of
    # one fused projection, are fine as they are.)
    starts: set[int] = set()
    for key, tensor in state.items():
        tensor = tensor.contiguous()
        if tensor.numel() and tensor.data_ptr() in starts:
            tensor = tensor.clone()
        starts.add(tensor.data_ptr())
        state[key] = tensor
    return state


def _check_output(output: Path, force: bool) -> None:
    if output.exists() and not output.is_dir():
        raise OutputError(f"{output} exists and is not a folder")
    if output.is_dir() and any(output.iterdir()):
        if not (output / INDEX_FILE).is_file():
            raise OutputExistsError(
                f"{output} exists and is not a TeReDiff weights folder; not overwriting it",
                hint="choose a new or empty folder with -o",
            )
        if not force:
            raise OutputExistsError(
                f"weights folder exists: {output}", hint="use --force to replace it"
            )


@contextlib.contextmanager
def _staging(output: Path, force: bool) -> Iterator[Path]:
    """A temporary folder beside ``output``, renamed into place on success."""
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.converting-", dir=output.parent))
    except OSError as exc:
        raise OutputError(f"cannot create a folder beside {output}: {exc}") from exc
    try:
        yield staging
        _check_output(output, force)
        old = None
        if output.exists():
            old = output.with_name(f".{output.name}.replaced-{os.getpid()}")
            output.rename(old)
        staging.rename(output)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _tokenizer_source(explicit: str | Path | None) -> Path:
    """The CLIP BPE to use: ``explicit``, or OpenCLIP's file if ``open_clip`` is installed."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.exists():
            raise InputError(f"{path}: no such file or folder (--tokenizer)")
        return path
    import importlib.util

    spec = importlib.util.find_spec("open_clip")
    if spec is not None and spec.origin:
        bpe = Path(spec.origin).parent / "bpe_simple_vocab_16e6.txt.gz"
        if bpe.is_file():
            return bpe
    raise MissingDependencyError(
        "no CLIP tokenizer: the published checkpoints do not include it",
        hint="pass --tokenizer with OpenCLIP's bpe_simple_vocab_16e6.txt.gz (in the open_clip "
        "folder of the TAIR repository or the open_clip_torch package) or a folder holding "
        "vocab.json and merges.txt",
    )


def _byte_symbols() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for bytes, in CLIP's order."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    extra = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(len(extra))]


def _bpe_to_vocab(bpe: Path, folder: Path) -> None:
    """Write ``vocab.json`` + ``merges.txt`` from OpenCLIP's gzipped merge list, building
    the vocabulary the way CLIP does (bytes, bytes + end-of-word, merges, start, end)."""
    try:
        lines = gzip.decompress(bpe.read_bytes()).decode("utf-8").split("\n")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise CorruptInputError(f"{bpe}: not a gzipped CLIP BPE merge list: {exc}") from exc
    merges = [line for line in lines[1 : 49152 - 256 - 2 + 1] if line.strip()]
    if not merges or any(len(m.split()) != 2 for m in merges):
        raise UnsupportedInputError(f"{bpe}: not a CLIP BPE merge list (bad merge lines)")
    symbols = _byte_symbols()
    vocab = symbols + [s + "</w>" for s in symbols]
    vocab += ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")


def _write_tokenizer(source: Path, folder: Path, vocab_size: int) -> int:
    """Write the tokenizer into ``folder``; return its size (checked against the model)."""
    from tair_ocr.models.text_encoder import load_tokenizer

    with tempfile.TemporaryDirectory() as scratch:
        if source.is_dir():
            where = source
        else:
            where = Path(scratch)
            _bpe_to_vocab(source, where)
        try:
            tokenizer = load_tokenizer(where)
        except (OSError, ValueError) as exc:
            raise UnsupportedInputError(f"{source}: cannot load a CLIP tokenizer: {exc}") from exc
    if len(tokenizer) > vocab_size:
        raise UnsupportedInputError(
            f"{source}: tokenizer has {len(tokenizer)} tokens but the text encoder only "
            f"{vocab_size}: not the OpenCLIP tokenizer"
        )
    tokenizer.save_pretrained(str(folder))
    return len(tokenizer)


def _meta_models(configs: Mapping[str, Mapping[str, Any]]) -> dict[str, torch.nn.Module]:
    models = {}
    for name in MODEL_COMPONENTS:
        try:
            with torch.device("meta"):
                models[name] = build_component(name, dict(configs[name]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageError(f"cannot build the {name} from its configuration: {exc}") from exc
    return models


def _merged_configs(
    configs: Mapping[str, Mapping[str, Any]] | None,
) -> dict[str, dict[str, Any]]:
    merged = {k: dict(v) for k, v in PUBLISHED_CONFIGS.items()}
    for name, config in (configs or {}).items():
        if name not in merged:
            raise UsageError(f"unknown component {name!r} in the configuration")
        merged[name] = dict(config)
    return merged


def _write_index(folder: Path) -> None:
    """``model_index.json`` as :meth:`TeReDiffPipeline.save_pretrained` writes it."""
    from tair_ocr._version import __version__
    from tair_ocr.models.pipeline_terediff import TeReDiffPipeline

    index: dict[str, Any] = {"_class_name": "TeReDiffPipeline", "_tair_ocr_version": __version__}
    for name in TeReDiffPipeline.components:
        index[name] = list(COMPONENT_CLASSES[name])
    (folder / INDEX_FILE).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")


def convert_checkpoints(
    sources: Mapping[str, str | Path],
    output: str | Path,
    *,
    tokenizer: str | Path | None = None,
    configs: Mapping[str, Mapping[str, Any]] | None = None,
    dtype: str = "fp32",
    allow_missing: bool = False,
    allow_unused: bool = False,
    unsafe_pickle: bool = False,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ConversionReport:
    """Convert published checkpoints into a weights folder at ``output``.

    :param sources: role (:data:`ROLES`) → file; at least one.
    :param tokenizer: OpenCLIP's ``bpe_simple_vocab_16e6.txt.gz`` or a folder with
        ``vocab.json`` + ``merges.txt`` (default: the installed ``open_clip`` package's).
    :param configs: component configurations replacing the published ones.
    :param dtype: ``fp32``, ``fp16`` or ``bf16`` for floating tensors.
    :param allow_missing: write our default initialisation for parameters no file fills
        (listed in the report) instead of failing.
    :param allow_unused: go on when published keys find no home (listed in the report).
    :param unsafe_pickle: allow full unpickling of the files (see :func:`read_checkpoint`).
    :param force: replace an existing weights folder.
    :param progress: called with one line per step.
    :raises TairOcrError: every failure, naming the file and key involved.
    """
    say = progress or (lambda _: None)
    unknown = sorted(set(sources) - set(ROLES))
    if unknown:
        raise UsageError(f"unknown checkpoint roles {unknown}; known: {', '.join(ROLES)}")
    if not sources:
        raise UsageError("no checkpoint given; pass at least --terediff")
    if dtype not in DTYPES:
        raise UsageError(f"--dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    output = Path(output).expanduser()
    _check_output(output, force)
    merged = _merged_configs(configs)
    models = _meta_models(merged)
    shapes, tied = expected_shapes(models)
    try:
        layout = layout_from_configs(merged)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"incomplete U-Net/VAE/text-encoder configuration: {exc}") from exc
    tokenizer_source = _tokenizer_source(tokenizer)

    checkpoints = []
    for role in ROLES:  # the published loading order
        if role in sources:
            say(f"reading {sources[role]}")
            checkpoints.append(read_checkpoint(role, sources[role], unsafe_pickle=unsafe_pickle))

    plan = plan_conversion(checkpoints, shapes, tied, layout)
    problems = []
    if plan.unused and not allow_unused:
        problems.append(
            f"{len(plan.unused)} published key(s) found no home: {_shown(plan.unused)} "
            "(--allow-unused to drop them)"
        )
    missing = [f"{c}.{k}" for c, keys in plan.unfilled.items() for k in keys]
    if missing and not allow_missing:
        problems.append(
            f"{len(missing)} parameter(s) of ours left unfilled: {_shown(missing)} "
            "(--allow-missing to keep their default initialisation)"
        )
    if problems:
        raise InputError("; ".join(problems))

    target_dtype = DTYPES[dtype]
    need = sum(
        t.numel() * (target_dtype.itemsize if t.is_floating_point() else t.element_size())
        for m in models.values()
        for t in m.state_dict().values()
    )
    existing = output.parent
    while not existing.exists():
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    if need > free:
        raise OutputError(
            f"not enough disk space beside {output}: need {need / 2**30:.1f} GiB, "
            f"{free / 2**30:.1f} GiB free"
        )

    try:
        return _write_folder(
            output, force, checkpoints, plan, models, merged, dtype, tokenizer_source, say
        )
    except OSError as exc:
        raise OutputError(f"cannot write {output}: {exc}") from exc


def _write_folder(
    output: Path,
    force: bool,
    checkpoints: Sequence[Checkpoint],
    plan: ConversionPlan,
    models: Mapping[str, torch.nn.Module],
    configs: Mapping[str, Mapping[str, Any]],
    dtype: str,
    tokenizer_source: Path,
    say: Callable[[str], None],
) -> ConversionReport:
    """Step 3 of :func:`convert_checkpoints`: write the folder, one component at a time."""
    from safetensors.torch import save_file

    shapes, tied = expected_shapes(models)
    target_dtype = DTYPES[dtype]
    summary: dict[str, dict[str, int]] = {}
    seen: dict[int, bool] = {}
    with _staging(output, force) as staging:
        for name in MODEL_COMPONENTS:
            module = models[name]
            folder = staging / name
            say(f"writing {name}")
            save_config(module, folder)
            state = _component_state(
                name, configs[name], plan, tied[name], list(shapes[name]), target_dtype, seen
            )
            path = weights_file(folder, type(module))
            save_file(state, str(path), metadata={"format": "pt"})
            summary[name] = {
                "tensors": len(state),
                "elements": sum(t.numel() for t in state.values()),
                "bytes": path.stat().st_size,
            }
            del state  # free this component's copies before the next
        say("writing tokenizer and scheduler")
        size = _write_tokenizer(
            tokenizer_source, staging / "tokenizer", int(configs["text_encoder"]["vocab_size"])
        )
        build_component("scheduler", configs["scheduler"]).save_config(str(staging / "scheduler"))
        _write_index(staging)
        report = ConversionReport(
            output=output,
            dtype=dtype,
            sources={c.role: str(c.path) for c in checkpoints},
            components=summary,
            superseded=plan.superseded,
            dropped=[str(k) for k in plan.dropped],
            ignored=[str(k) for k in plan.ignored],
            unused=[str(k) for k in plan.unused],
            unfilled=plan.unfilled,
            recomputed=plan.recomputed,
            notes=[n for c in checkpoints for n in c.notes] + [f"tokenizer: {size} tokens"],
        )
        (staging / REPORT_FILE).write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return report
