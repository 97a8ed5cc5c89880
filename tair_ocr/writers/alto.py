"""ALTO v4 XML output.

``MeasurementUnit`` is ``pixel`` (pixels of the page as loaded). Each processed
page is a ``Page`` (``PHYSICAL_IMG_NR`` is its 1-based number in the source)
holding a ``PrintSpace`` with one ``TextBlock`` per block, ``TextLine`` per
line, ``String`` per word (``CONTENT``, box, ``WC`` confidence 0-1) and ``SP``
between words. A failed page is still a ``Page``, with an empty print space,
so page numbering stays intact.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from tair_ocr._version import __version__
from tair_ocr.components import Writer
from tair_ocr.hookspecs import hookimpl
from tair_ocr.results import BBox, DocumentResult, PageResult
from tair_ocr.writers._xml import px, write_xml, xml_safe

ALTO_NS = "http://www.loc.gov/standards/alto/ns-v4#"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{ALTO_NS} http://www.loc.gov/standards/alto/v4/alto-4-2.xsd"


def _box(box: BBox) -> dict[str, str]:
    x0, y0 = px(box.x0), px(box.y0)
    return {
        "HPOS": str(x0),
        "VPOS": str(y0),
        "WIDTH": str(px(box.x1) - x0),
        "HEIGHT": str(px(box.y1) - y0),
    }


def _confidence(value: float) -> str:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return text or "0"


class AltoWriter(Writer):
    """Writes ``<stem>.alto.xml``: ALTO v4 with word boxes and confidences."""

    name = "alto"
    suffix = ".alto.xml"
    description = "ALTO v4 XML with word boxes and WC confidences"

    def write(self, result: DocumentResult, destination: Path) -> None:
        """Write ``result`` as ALTO to ``destination``."""
        write_xml(build_alto(result), destination)


def build_alto(result: DocumentResult) -> ET.Element:
    """The ALTO ``<alto>`` element of ``result``."""
    # Namespaces go in as plain attributes; registering them with ElementTree
    # would change global state other code may rely on.
    alto = ET.Element(
        "alto", {"xmlns": ALTO_NS, "xmlns:xsi": XSI_NS, "xsi:schemaLocation": SCHEMA_LOCATION}
    )
    description = ET.SubElement(alto, "Description")
    ET.SubElement(description, "MeasurementUnit").text = "pixel"
    image_info = ET.SubElement(description, "sourceImageInformation")
    ET.SubElement(image_info, "fileName").text = xml_safe(result.source)
    processing = ET.SubElement(description, "Processing", {"ID": "OCR_0"})
    ET.SubElement(processing, "processingStepDescription").text = "contentGeneration"
    settings = [f"engine={result.engine}", f"restorer={result.restorer}"]
    if result.languages:
        settings.append("languages=" + "+".join(result.languages))
    ET.SubElement(processing, "processingStepSettings").text = xml_safe("; ".join(settings))
    software = ET.SubElement(processing, "processingSoftware")
    ET.SubElement(software, "softwareName").text = "tair-ocr"
    ET.SubElement(software, "softwareVersion").text = result.tair_ocr_version or __version__
    layout = ET.SubElement(alto, "Layout")
    for page in result.pages:
        _add_page(layout, page)
    return alto


def _add_page(layout: ET.Element, page: PageResult) -> None:
    n = page.page_number
    element = ET.SubElement(
        layout,
        "Page",
        {
            "ID": f"page_{n}",
            "PHYSICAL_IMG_NR": str(n),
            "WIDTH": str(page.width),
            "HEIGHT": str(page.height),
        },
    )
    space = ET.SubElement(
        element,
        "PrintSpace",
        {"HPOS": "0", "VPOS": "0", "WIDTH": str(page.width), "HEIGHT": str(page.height)},
    )
    lines = words = 0
    # A page read turned (the orientation filter): its blocks' text runs at that angle
    # (ALTO's ROTATION: degrees counter-clockwise).
    rotation = page.geometry.rotation % 360 if page.geometry is not None else 0
    turned = {"ROTATION": str(rotation)} if rotation else {}
    for b, block in enumerate(page.blocks, start=1):
        text_block = ET.SubElement(
            space, "TextBlock", {"ID": f"block_{n}_{b}", **_box(block.bbox), **turned}
        )
        for line in block.lines:
            lines += 1
            text_line = ET.SubElement(
                text_block, "TextLine", {"ID": f"line_{n}_{lines}", **_box(line.bbox)}
            )
            for position, word in enumerate(line.words):
                if position:
                    previous = line.words[position - 1].bbox
                    gap_start = px(previous.x1)
                    ET.SubElement(
                        text_line,
                        "SP",
                        {
                            "WIDTH": str(max(0, px(word.bbox.x0) - gap_start)),
                            "HPOS": str(gap_start),
                            "VPOS": str(px(min(previous.y0, word.bbox.y0))),
                        },
                    )
                words += 1
                ET.SubElement(
                    text_line,
                    "String",
                    {
                        "ID": f"string_{n}_{words}",
                        "CONTENT": xml_safe(word.text),
                        **_box(word.bbox),
                        "WC": _confidence(word.confidence),
                    },
                )


@hookimpl
def register_writers() -> list[Writer]:
    return [AltoWriter()]
