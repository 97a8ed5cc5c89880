"""A plugin with typed options (an options model) and one with untyped argparse
options (the ``add_options`` escape hatch), for the option tests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

import tair_ocr
from tair_ocr.options import Flag, OptionSet, PluginOptions
from tair_ocr.results import BBox, Word


class ShoutOptions(PluginOptions):
    """Options of the shout engine."""

    namespace: ClassVar[str] = "shout"

    volume: int = Field(3, ge=1, le=11, description="how loud")
    case: Literal["upper", "lower"] = Field("upper", description="letter case of the word")
    echo: bool = Field(False, description="say it twice")
    word_list: Annotated[Path | None, Flag(metavar="FILE", aliases=("--shout-words",))] = Field(
        None, description="words to shout (default: HELLO)"
    )
    ratio: float = Field(0.5, gt=0, lt=1, description="share of the page (default: {default})")

    @model_validator(mode="after")
    def _quiet_echo(self) -> ShoutOptions:
        if self.echo and self.volume > 10:
            raise ValueError("an echo at volume 11 is too loud")
        return self


class ShoutEngine(tair_ocr.OcrEngine):
    name = "shout"
    description = "test engine: reads every page as one word, as its options say"
    options_model = ShoutOptions

    def __init__(self) -> None:
        self.received: Any = None

    def configure(self, options: ShoutOptions) -> None:
        self.received = options

    def recognize(self, image, *, languages, dpi, timeout=None):
        options = self.received or ShoutOptions()
        text = "hello" if options.case == "lower" else "HELLO"
        box = BBox(x0=10, y0=10, x1=10 + 10 * options.volume, y1=30)
        return [Word(text=text, confidence=0.99, bbox=box, source=self.name)]


class LegacyEngine(tair_ocr.OcrEngine):
    """An engine configured the old way: argparse options, no model."""

    name = "legacy"
    description = "test engine with argparse options"

    def __init__(self) -> None:
        self.received: Any = None

    def configure(self, options: Any) -> None:
        self.received = options

    def recognize(self, image, *, languages, dpi, timeout=None):
        return []


SHOUT = ShoutEngine()
LEGACY = LegacyEngine()
#: What check_options received, (options, settings) per call.
CHECKED: list[tuple[OptionSet, Any]] = []


@tair_ocr.hookimpl
def register_engines():
    return [SHOUT, LEGACY]


@tair_ocr.hookimpl
def add_options(parser):
    group = parser.add_argument_group("legacy", "Options of the legacy engine")
    group.add_argument("--legacy-level", type=int, default=1, help="how much")


@tair_ocr.hookimpl
def check_options(options, settings):
    CHECKED.append((options, settings))
    if options["shout"].volume > 5 and options.extra.get("legacy_level", 1) > 1:
        raise tair_ocr.UsageError("--shout-volume above 5 needs --legacy-level 1")
