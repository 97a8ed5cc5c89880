"""The in-memory page that flows through the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from PIL import Image

from tair_ocr.existing_text import ExistingText
from tair_ocr.geometry import Affine
from tair_ocr.results import PageGeometry

#: DPI assumed for images whose file carries no credible resolution.
DEFAULT_IMAGE_DPI = 300.0


@dataclass
class Page:
    """One page image plus what the framework knows about it.

    ``image`` is RGB or L (8-bit). Filters and the working-scale step replace
    ``image`` with a transformed copy and compose the change into
    ``to_original``, which maps working-image pixels to the pixels of the page
    as loaded (``original_size``).
    """

    source: Path
    #: 0-based index of the page in its source document.
    index: int
    image: Image.Image
    #: Resolution of the page as loaded.
    dpi: float
    #: False when the DPI is a guess (an image with no or an implausible DPI tag).
    dpi_trusted: bool = True
    #: Size of the page as loaded, in pixels.
    original_size: tuple[int, int] = (0, 0)
    #: Working-image pixels -> original page pixels.
    to_original: Affine = field(default_factory=Affine)
    warnings: list[str] = field(default_factory=list)
    #: The text a PDF page already has (born-digital text, OCR layers), in pixels
    #: of the page as loaded; None where the loader does not look (images).
    existing_text: ExistingText | None = None
    #: What the page geometry filters found and did (orientation, deskew); None
    #: until one runs. Filters record it on the page they return.
    geometry: PageGeometry | None = None

    def __post_init__(self) -> None:
        if self.original_size == (0, 0):
            self.original_size = self.image.size

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height

    @property
    def working_dpi(self) -> float:
        """The DPI of the working image (the load DPI times the working scale)."""
        scale = (self.to_original.a**2 + self.to_original.d**2) ** 0.5
        return self.dpi / scale if scale else self.dpi

    def transformed(self, image: Image.Image, working_to_previous: Affine) -> Page:
        """A copy holding ``image``, where ``working_to_previous`` maps the new
        image's pixels to the current working image's pixels."""
        return replace(
            self,
            image=image,
            to_original=self.to_original @ working_to_previous,
            warnings=list(self.warnings),
        )
