"""hOCR 1.2 output (XHTML).

One ``ocr_page`` per processed page, an ``ocr_carea`` holding one ``ocr_par``
per block, ``ocr_line`` per line and ``ocrx_word`` per word. Word titles carry
``bbox`` (page pixels, integers), ``x_wconf`` (confidence 0-100) and
``x_source``, the reading that produced the word (an engine, a spotter or
``fused``); hOCR allows such ``x_`` properties. Example::

    <span class="ocrx_word" id="word_1_3" title="bbox 120 80 190 104; x_wconf 93;
     x_source tesseract">Invoice</span>
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from tair_ocr._version import __version__
from tair_ocr.components import Writer
from tair_ocr.hookspecs import hookimpl
from tair_ocr.results import BBox, DocumentResult, PageResult
from tair_ocr.writers._xml import px, write_xml, xml_safe

XHTML_NS = "http://www.w3.org/1999/xhtml"
DOCTYPE = (
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
    '    "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">'
)
CAPABILITIES = "ocr_page ocr_carea ocr_par ocr_line ocrx_word ocrp_wconf"


def _bbox(box: BBox) -> str:
    return f"bbox {px(box.x0)} {px(box.y0)} {px(box.x1)} {px(box.y1)}"


def _token(value: str) -> str:
    """A title property value without the separators of the title syntax."""
    return re.sub(r"[\s;\"]+", "_", value) or "_"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class HocrWriter(Writer):
    """Writes ``<stem>.hocr``: hOCR 1.2 with word boxes, confidences and provenance."""

    name = "hocr"
    suffix = ".hocr"
    description = "hOCR 1.2 (XHTML) with word boxes, x_wconf confidences and x_source"

    def write(self, result: DocumentResult, destination: Path) -> None:
        """Write ``result`` as hOCR to ``destination``."""
        write_xml(build_hocr(result), destination, doctype=DOCTYPE)


def build_hocr(result: DocumentResult) -> ET.Element:
    """The hOCR ``<html>`` element of ``result``."""
    # The default namespace goes in as a plain attribute: registering it with
    # ElementTree would change global state other code may rely on.
    html = ET.Element("html", {"xmlns": XHTML_NS})
    head = ET.SubElement(html, "head")
    ET.SubElement(head, "title").text = xml_safe(Path(result.source).name)
    ET.SubElement(
        head, "meta", {"http-equiv": "Content-Type", "content": "text/html;charset=utf-8"}
    )
    version = result.tair_ocr_version or __version__
    ET.SubElement(head, "meta", {"name": "ocr-system", "content": f"tair-ocr {version}"})
    ET.SubElement(head, "meta", {"name": "ocr-capabilities", "content": CAPABILITIES})
    ET.SubElement(head, "meta", {"name": "ocr-number-of-pages", "content": str(len(result.pages))})
    body = ET.SubElement(html, "body")
    for page in result.pages:
        _add_page(body, page, xml_safe(result.source))
    return html


def _add_page(body: ET.Element, page: PageResult, image: str) -> None:
    n = page.page_number
    title = f"image {_quoted(image)}; bbox 0 0 {page.width} {page.height}; ppageno {page.index}"
    if page.dpi > 0:
        title += f"; scan_res {px(page.dpi)} {px(page.dpi)}"
    div = ET.SubElement(body, "div", {"class": "ocr_page", "id": f"page_{n}", "title": title})
    counts = {"block": 0, "line": 0, "word": 0}
    rotation = page.geometry.rotation % 360 if page.geometry is not None else 0

    def next_id(kind: str) -> str:
        counts[kind] += 1
        return f"{kind}_{n}_{counts[kind]}"

    for block in page.blocks:
        block_id = next_id("block")
        area = ET.SubElement(
            div, "div", {"class": "ocr_carea", "id": block_id, "title": _bbox(block.bbox)}
        )
        par = ET.SubElement(
            area,
            "p",
            {
                "class": "ocr_par",
                "id": block_id.replace("block", "par"),
                "title": _bbox(block.bbox),
            },
        )
        for line in block.lines:
            # A page read turned (the orientation filter): its lines run at that angle.
            line_title = _bbox(line.bbox) + (f"; textangle {rotation}" if rotation else "")
            span = ET.SubElement(
                par, "span", {"class": "ocr_line", "id": next_id("line"), "title": line_title}
            )
            for word in line.words:
                wconf = px(word.confidence * 100)
                title = f"{_bbox(word.bbox)}; x_wconf {wconf}; x_source {_token(word.source)}"
                element = ET.SubElement(
                    span, "span", {"class": "ocrx_word", "id": next_id("word"), "title": title}
                )
                element.text = xml_safe(word.text)


@hookimpl
def register_writers() -> list[Writer]:
    return [HocrWriter()]
