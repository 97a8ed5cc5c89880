"""Run settings, validated once at the boundary (CLI or Python API)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    ValidationInfo,
    field_serializer,
    field_validator,
)

from tair_ocr.errors import EmptyInputError, UsageError
from tair_ocr.existing_text import EXISTING_TEXT_MODES
from tair_ocr.options import OptionSet

#: Values of ``Settings.fusion`` (kept equal to ``tair_ocr.fusion.FUSION_MODES``).
FUSION_MODES = ("off", "conservative", "vote")

#: Values of ``Settings.restore``.
RESTORE_MODES = ("auto", "always", "never")

#: Output types written when none are asked for.
DEFAULT_OUTPUT_TYPES = ("pdf", "txt")


class Settings(BaseModel):
    """Everything that shapes a run. Plugin options live in ``options``."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    #: OCR engine name, a comma list of engines whose readings are fused
    #: (``"tesseract,rapidocr"``), or ``"auto"``: every engine available here.
    engine: str = "auto"
    #: How several readings are fused: ``off`` (the first engine only),
    #: ``conservative`` (best-supported reading, guard keeps the unrestored reading
    #: where restoration changed a word on weak evidence) or ``vote``.
    fusion: str = "conservative"
    restorer: str = "auto"
    #: When the restorer runs: ``auto`` (read first, restore only the regions whose
    #: reading is unsure, re-read them), ``always`` (every non-blank tile, the page
    #: re-read whole) or ``never`` (read the page as loaded).
    restore: str = "auto"
    #: Read a page smeared by camera shake (a linear motion blur, measured on it)
    #: deconvolved, when that reads better (with restoration only; see
    #: :mod:`tair_ocr.motion_blur`).
    deblur: bool = True
    #: Pages that already have text (PDF): ``auto`` (born-digital pages pass
    #: through, OCR layers are replaced, scans with some typed text get OCR where
    #: the typed text is not), ``skip``, ``redo`` or ``force``
    #: (see :mod:`tair_ocr.existing_text`).
    existing_text: str = "auto"
    output_types: list[str] = Field(default_factory=lambda: list(DEFAULT_OUTPUT_TYPES))
    languages: list[str] = Field(default_factory=lambda: ["eng"])
    #: Rasterisation DPI for PDF pages.
    dpi: float = Field(default=300.0, gt=0, le=1200)
    #: Page selection like ``"1-3,7"`` (1-based, inclusive); None for all pages.
    pages: str | None = None
    #: Working scale: None for automatic, or a fixed factor.
    scale: float | None = Field(default=None, gt=0, le=8)
    #: Parallel OCR workers (pages read at once).
    jobs: int = Field(default_factory=lambda: max(1, os.cpu_count() or 1), ge=1, le=256)
    #: Seconds per page for the OCR engine; None for no limit.
    timeout: float | None = Field(default=180.0, gt=0)
    #: Page filters to run in addition to the ones enabled by default.
    filters: list[str] = Field(default_factory=list)
    output_dir: Path = Path(".")
    force: bool = False
    #: Write the restored page images as PNG next to the outputs.
    save_restored: bool = False
    #: Plugin options, validated into the installed plugins' option models (see
    #: :mod:`tair_ocr.options`). Given nested by namespace
    #: (``{"tesseract": {"psm": 6}}``) or flat (``{"tesseract_psm": 6}``); held as an
    #: :class:`~tair_ocr.options.OptionSet`.
    options: OptionSet = Field(default_factory=OptionSet)

    @field_validator("options", mode="before")
    @classmethod
    def _typed_options(cls, value: Any, info: ValidationInfo) -> OptionSet:
        """Validate plugin options against the models in the validation context
        (``{"option_models": PluginManager.option_models}``, as the Pipeline passes);
        without one, against those of a default :class:`PluginManager`. Raises
        :class:`UsageError` (not wrapped by pydantic) naming a bad option."""
        models = (info.context or {}).get("option_models")
        if models is None:
            # The models belong to the installed plugins, which this data layer
            # does not load: the Pipeline (or a caller holding a PluginManager)
            # validates options with them.
            if isinstance(value, OptionSet) or not value:
                return value if isinstance(value, OptionSet) else OptionSet()
            raise UsageError(
                "plugin options are validated against the installed plugins: pass them "
                "to Pipeline(options=...), or validate Settings with "
                "context={'option_models': PluginManager().option_models}"
            )
        return models.parse(value)

    @field_serializer("options")
    def _dump_options(self, options: OptionSet, info: SerializationInfo) -> dict[str, Any]:
        return options.nested(mode="json" if info.mode_is_json() else "python")

    @field_validator("engine", mode="before")
    @classmethod
    def _normalize_engine(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            value = ",".join(value)
        if isinstance(value, str):
            names = [v.strip() for v in value.split(",") if v.strip()]
            if not names:
                raise ValueError("no engine given")
            if "auto" in names and len(names) > 1:
                raise ValueError("engine 'auto' cannot be combined with other engines")
            value = ",".join(dict.fromkeys(names))  # drop repeats, keep order
        return value

    @field_validator("fusion")
    @classmethod
    def _check_fusion(cls, value: str) -> str:
        if value not in FUSION_MODES:
            raise ValueError(f"fusion must be one of {', '.join(FUSION_MODES)}, not {value!r}")
        return value

    @field_validator("restore")
    @classmethod
    def _check_restore(cls, value: str) -> str:
        if value not in RESTORE_MODES:
            raise ValueError(f"restore must be one of {', '.join(RESTORE_MODES)}, not {value!r}")
        return value

    @field_validator("existing_text")
    @classmethod
    def _check_existing_text(cls, value: str) -> str:
        if value not in EXISTING_TEXT_MODES:
            raise ValueError(
                f"existing_text must be one of {', '.join(EXISTING_TEXT_MODES)}, not {value!r}"
            )
        return value

    @property
    def engines(self) -> list[str]:
        """The engine names of ``engine`` (``["auto"]`` for every available engine)."""
        return self.engine.split(",")

    @field_validator("languages", mode="before")
    @classmethod
    def _split_languages(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v for v in value.split("+") if v]
        if not value:
            raise ValueError("at least one language is needed")
        for lang in value:
            if not re.fullmatch(r"[A-Za-z0-9_]+", lang):
                raise ValueError(f"invalid language code {lang!r}")
        return value

    @field_validator("output_types", mode="before")
    @classmethod
    def _split_types(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("pages")
    @classmethod
    def _check_pages(cls, value: str | None) -> str | None:
        if value is not None:
            parse_page_ranges(value, page_count=None)
        return value


_RANGE = re.compile(r"^\s*(\d+)?\s*(-)?\s*(\d+)?\s*$")


def parse_page_ranges(spec: str, page_count: int | None) -> list[int]:
    """Turn ``"1-3,7,9-"`` into 0-based page indices, in the order given.

    Pages past ``page_count`` are dropped; a selection that leaves nothing is an
    :class:`EmptyInputError`. With ``page_count=None`` only the syntax is checked.
    """
    indices: list[int] = []
    for part in spec.split(","):
        match = _RANGE.match(part)
        if not part.strip() or not match or (match[1] is None and match[3] is None):
            raise UsageError(f"invalid page range {part!r} in {spec!r} (use e.g. 1-3,7,9-)")
        first = int(match[1]) if match[1] else 1
        last_given = int(match[3]) if match[3] else None
        if match[2] is None:
            last_given = first
        if first < 1 or (last_given is not None and last_given < first):
            raise UsageError(f"invalid page range {part!r}: pages count from 1, low to high")
        if page_count is None:
            continue
        last = page_count if last_given is None else min(last_given, page_count)
        indices.extend(i - 1 for i in range(first, last + 1) if i - 1 not in indices)
    if page_count is not None and not indices:
        raise EmptyInputError(f"page selection {spec!r} matches none of the {page_count} pages")
    return indices
