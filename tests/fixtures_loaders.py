"""Input builders for tests/test_loaders.py: PDFs and images made on the fly."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pymupdf
from PIL import Image

#: Marker colour drawn in the top-left corner of test pages.
RED = (255, 0, 0)


def raw_pdf(objects: list[bytes]) -> bytes:
    """A PDF with a correct cross-reference table; object 1 must be the catalog."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def raw_pdf_pages(page_entries: list[bytes]) -> bytes:
    """A PDF with one page per entry (extra page-dictionary keys such as
    ``/MediaBox [0 0 100 100]``); each page paints a 50×50 pt blue square at the
    bottom left."""
    n = len(page_entries)
    first_page = 4
    kids = b" ".join(b"%d 0 R" % (first_page + i) for i in range(n))
    content = b"0 0 1 rg 0 0 50 50 re f"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, n),
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
    ]
    for entries in page_entries:
        objects.append(b"<< /Type /Page /Parent 2 0 R /Contents 3 0 R %s >>" % entries)
    return raw_pdf(objects)


def make_pdf(path: Path, sizes: list[tuple[float, float]], *, rotations: list[int] | None = None):
    """A PDF with one page per (width, height) in points; each page has a red
    20×20 pt square at its (unrotated) top-left corner and a line of text."""
    doc = pymupdf.open()
    for i, (width, height) in enumerate(sizes):
        page = doc.new_page(width=width, height=height)
        page.draw_rect(pymupdf.Rect(0, 0, 20, 20), color=(1, 0, 0), fill=(1, 0, 0))
        page.insert_text((30, 40), f"Page {i + 1}", fontsize=12)
        if rotations:
            page.set_rotation(rotations[i])
    doc.save(path)
    doc.close()
    return path


def marked_image(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """A white image with a red 10×10 block at its top-left corner."""
    image = Image.new("RGB", size, (255, 255, 255))
    image.paste(RED, (0, 0, 10, 10))
    return image.convert(mode) if mode != "RGB" else image


def corner_of_red(image: Image.Image) -> str:
    """Which corner of ``image`` (RGB) holds the red marker: 'tl', 'tr', 'bl', 'br'."""
    w, h = image.size
    corners = {"tl": (2, 2), "tr": (w - 3, 2), "bl": (2, h - 3), "br": (w - 3, h - 3)}
    red = [name for name, xy in corners.items() if _is_red(image.getpixel(xy))]
    assert len(red) == 1, f"red marker found in corners {red}"
    return red[0]


def _is_red(pixel: object) -> bool:
    r, g, b = pixel[:3]  # type: ignore[index]
    return r > 200 and g < 60 and b < 60


def set_jfif_density(data: bytes, unit: int, density: int) -> bytes:
    """Rewrite the JFIF APP0 density of JPEG ``data`` (unit 1: inch, 2: cm)."""
    assert data[6:11] == b"JFIF\x00", "no JFIF header"
    return data[:13] + bytes([unit]) + struct.pack(">HH", density, density) + data[18:]


def write_big_bilevel_png(path: Path, width: int, height: int, black: tuple[int, int]) -> None:
    """A 1-bit PNG, white with a black block of ``black`` (w, h) at the top left,
    written row by row so that it needs almost no memory."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    row_bytes = (width + 7) // 8
    white = b"\x00" + b"\xff" * row_bytes  # filter byte 0, then bits set = white
    bw, _ = black
    dark = bytearray(white)
    for x in range(bw):
        dark[1 + x // 8] &= ~(0x80 >> (x % 8)) & 0xFF
    dark_row = bytes(dark)
    compressor = zlib.compressobj(6)
    with path.open("wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n")
        fh.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)))
        pending = bytearray()
        for y in range(height):
            pending += compressor.compress(dark_row if y < black[1] else white)
            if len(pending) > 1 << 20:
                fh.write(chunk(b"IDAT", bytes(pending)))
                pending.clear()
        pending += compressor.flush()
        fh.write(chunk(b"IDAT", bytes(pending)))
        fh.write(chunk(b"IEND", b""))
