"""Small helpers shared by the XML writers (hOCR, ALTO)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

# Characters XML 1.0 forbids even when escaped (C0 controls but tab/LF/CR,
# lone surrogates, U+FFFE/U+FFFF). OCR output rarely has them, but one would
# make the whole file unreadable.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot hold."""
    return _INVALID_XML.sub("", text)


def px(value: float) -> int:
    """A pixel coordinate rounded to the nearest integer, as XML formats store them."""
    return round(value)


def write_xml(root: ET.Element, destination: Path, *, doctype: str | None = None) -> None:
    """Write ``root`` indented, as UTF-8 with an XML declaration (and ``doctype``)."""
    ET.indent(root, space=" ")
    head = '<?xml version="1.0" encoding="UTF-8"?>\n'
    if doctype:
        head += doctype + "\n"
    body = ET.tostring(root, encoding="unicode")
    destination.write_text(head + body + "\n", encoding="utf-8", newline="")
