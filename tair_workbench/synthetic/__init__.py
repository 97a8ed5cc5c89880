"""Synthetic document pages with ground truth, and a model of how documents degrade.

Used for the bundled samples, the per-degradation OCR benchmarks and training data::

    from tair_workbench.synthetic import render_page, degrade
    page = render_page(seed=3, layout="paragraphs")      # clean page + text + word boxes
    bad = degrade(page, "shaded_photo", seed=3)          # phone-photo look, same size
    bad.image, bad.dpi, bad.text, bad.words              # words mapped into bad.image
    bad = synthesize("lowres_jpeg", seed=3)              # page suited to the kind, degraded

``python -m tair_workbench.synthetic preview -o grid.png`` shows every degradation kind.
"""

from tair_workbench.synthetic.degrade import (
    ALIASES,
    DEGRADATION_KINDS,
    DegradationKind,
    Degraded,
    degrade,
    synthesize,
)
from tair_workbench.synthetic.render import (
    LAYOUTS,
    PAGE_SIZES,
    FontFamily,
    RenderedPage,
    WordBox,
    available_fonts,
    render_page,
)
from tair_workbench.synthetic.text import sample_paragraphs, sample_text

__all__ = [
    "ALIASES",
    "DEGRADATION_KINDS",
    "LAYOUTS",
    "PAGE_SIZES",
    "DegradationKind",
    "Degraded",
    "FontFamily",
    "RenderedPage",
    "WordBox",
    "available_fonts",
    "degrade",
    "render_page",
    "sample_paragraphs",
    "sample_text",
    "synthesize",
]
