"""An invisible font for the text layer of searchable PDFs.

The text layer is drawn in render mode 3 (invisible), so the font needs metrics
but no outlines. This module builds a tiny TrueType font whose glyphs are all
empty and equally wide, and the PDF objects of a composite (Type0, Identity-H)
font around it. Characters are given 2-byte codes (CIDs) in order of first use;
the ``ToUnicode`` map turns them back into Unicode, so any script (CJK, Arabic,
emoji) becomes searchable and copyable without embedding a real font.

Metrics, in font units of 1/1000 em: every glyph advances :data:`ADVANCE`, the
ascent is :data:`ASCENT` and the descent :data:`DESCENT` (ascent - descent is
one em), so a run of ``n`` characters at font size ``s`` spans
``n * ADVANCE / 1000 * s`` horizontally and exactly ``s`` vertically.
"""

from __future__ import annotations

import struct

import pymupdf

UNITS_PER_EM = 1000
ADVANCE = 500
ASCENT = 800
DESCENT = -200
FONT_NAME = "TairOcrGlyphless"

#: CIDs are 2 bytes; CID 0 is .notdef. Characters past the last CID share it.
_MAX_CID = 0xFFFF


def _checksum(data: bytes) -> int:
    data += b"\0" * (-len(data) % 4)
    return sum(struct.unpack(f">{len(data) // 4}I", data)) & 0xFFFFFFFF


def _name_table() -> bytes:
    names = {1: FONT_NAME, 2: "Regular", 3: f"{FONT_NAME}-1", 4: FONT_NAME, 6: FONT_NAME}
    records, strings = b"", b""
    for name_id, text in names.items():
        encoded = text.encode("utf-16-be")
        # Windows platform, Unicode BMP encoding, US English.
        records += struct.pack(">6H", 3, 1, 0x409, name_id, len(encoded), len(strings))
        strings += encoded
    return struct.pack(">3H", 0, len(names), 6 + len(records)) + records + strings


def _cmap_table() -> bytes:
    # Format 4 mapping only U+0020 to glyph 1, plus the required final segment.
    # PDF viewers ignore it (CIDToGIDMap decides); font validators want a cmap.
    seg_count = 2
    sub = struct.pack(
        ">7H",
        4,  # format
        16 + seg_count * 8,  # length
        0,  # language
        seg_count * 2,
        4,  # searchRange = 2 * 2**floor(log2(segCount))
        1,  # entrySelector
        0,  # rangeShift
    )
    sub += struct.pack(">2H", 0x0020, 0xFFFF)  # endCode
    sub += struct.pack(">H", 0)  # reservedPad
    sub += struct.pack(">2H", 0x0020, 0xFFFF)  # startCode
    sub += struct.pack(">2h", 1 - 0x0020, 1)  # idDelta
    sub += struct.pack(">2H", 0, 0)  # idRangeOffset
    return struct.pack(">2H", 0, 1) + struct.pack(">2HI", 3, 1, 12) + sub


def build_font() -> bytes:
    """Return the bytes of a TrueType font with two empty glyphs of equal width."""
    num_glyphs = 2
    head = struct.pack(
        ">IIIIHHqqhhhhHHhhh",
        0x00010000,  # version
        0x00010000,  # fontRevision
        0,  # checkSumAdjustment, patched below
        0x5F0F3CF5,  # magicNumber
        0x000B,  # flags: baseline at y=0, lsb at x=0, integer ppem
        UNITS_PER_EM,
        0,  # created
        0,  # modified
        0,
        DESCENT,
        ADVANCE,
        ASCENT,  # font bounding box
        0,  # macStyle
        8,  # lowestRecPPEM
        2,  # fontDirectionHint
        0,  # indexToLocFormat: short offsets
        0,  # glyphDataFormat
    )
    hhea = struct.pack(
        ">IhhhHhhhhhhhhhhhH",
        0x00010000,
        ASCENT,
        DESCENT,
        0,  # lineGap
        ADVANCE,  # advanceWidthMax
        0,
        0,
        ADVANCE,  # minLsb, minRsb, xMaxExtent
        1,
        0,
        0,  # caret slope rise/run, offset
        0,
        0,
        0,
        0,  # reserved
        0,  # metricDataFormat
        1,  # numberOfHMetrics: all glyphs share the first advance
    )
    maxp = struct.pack(">IH13H", 0x00010000, num_glyphs, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0)
    hmtx = struct.pack(">Hh", ADVANCE, 0) + struct.pack(">h", 0) * (num_glyphs - 1)
    loca = struct.pack(f">{num_glyphs + 1}H", *([0] * (num_glyphs + 1)))
    glyf = b""
    os2 = struct.pack(
        ">HhHHH10hh10s4I4sHHHhhhHHII5H",
        4,  # version
        ADVANCE,  # xAvgCharWidth
        400,  # usWeightClass
        5,  # usWidthClass
        0,  # fsType: installable embedding
        *(650, 600, 0, 75, 650, 600, 0, 350, 50, 300),  # sub/superscript, strikeout
        0,  # sFamilyClass
        b"\0" * 10,  # panose
        0,
        0,
        0,
        0,  # ulUnicodeRange
        b"TAIR",  # achVendID
        0x0040,  # fsSelection: REGULAR
        0x0020,  # usFirstCharIndex
        0xFFFF,  # usLastCharIndex
        ASCENT,
        DESCENT,
        0,  # sTypo ascender/descender/lineGap
        ASCENT,
        -DESCENT,  # usWin ascent/descent
        1,
        0,  # ulCodePageRange
        500,  # sxHeight
        ASCENT,  # sCapHeight
        0,  # usDefaultChar
        0x20,  # usBreakChar
        1,  # usMaxContext
    )
    post = struct.pack(">IIhhIIIII", 0x00030000, 0, -100, 50, 1, 0, 0, 0, 0)
    tables = {
        b"OS/2": os2,
        b"cmap": _cmap_table(),
        b"glyf": glyf,
        b"head": head,
        b"hhea": hhea,
        b"hmtx": hmtx,
        b"loca": loca,
        b"maxp": maxp,
        b"name": _name_table(),
        b"post": post,
    }
    tags = sorted(tables)
    count = len(tags)
    entry_selector = count.bit_length() - 1
    search_range = 16 * (1 << entry_selector)
    directory = struct.pack(
        ">IHHHH", 0x00010000, count, search_range, entry_selector, count * 16 - search_range
    )
    offset = 12 + 16 * count
    body = b""
    offsets: dict[bytes, int] = {}
    for tag in tags:
        data = tables[tag]
        offsets[tag] = offset + len(body)
        directory += struct.pack(">4sIII", tag, _checksum(data), offsets[tag], len(data))
        body += data + b"\0" * (-len(data) % 4)
    font = bytearray(directory + body)
    # head.checkSumAdjustment makes the whole font sum to the magic value.
    adjustment = (0xB1B0AFBA - _checksum(bytes(font))) & 0xFFFFFFFF
    struct.pack_into(">I", font, offsets[b"head"] + 8, adjustment)
    return bytes(font)


class GlyphlessFont:
    """The invisible font inside one PDF document.

    :meth:`encode` turns text into the bytes a ``Tj`` operator shows, assigning
    new CIDs as characters appear; :meth:`finish` writes the ``ToUnicode`` and
    ``CIDToGIDMap`` streams once every page is done. :attr:`xref` is the Type0
    font to put in page resources.
    """

    def __init__(self, doc: pymupdf.Document) -> None:
        self._doc = doc
        self._cids: dict[str, int] = {}
        font_bytes = build_font()
        self._font_file = self._new_stream(f"<</Length1 {len(font_bytes)}>>", font_bytes)
        self._descriptor = self._new_object(
            f"<</Type/FontDescriptor/FontName/{FONT_NAME}/Flags 5"
            f"/FontBBox[0 {DESCENT} {ADVANCE} {ASCENT}]/ItalicAngle 0"
            f"/Ascent {ASCENT}/Descent {DESCENT}/CapHeight {ASCENT}/StemV 80"
            f"/FontFile2 {self._font_file} 0 R>>"
        )
        self._cid_to_gid = self._new_stream("<<>>", b"")
        self._to_unicode = self._new_stream("<<>>", b"")
        self._cid_font = self._new_object(
            f"<</Type/Font/Subtype/CIDFontType2/BaseFont/{FONT_NAME}"
            "/CIDSystemInfo<</Registry(Adobe)/Ordering(Identity)/Supplement 0>>"
            f"/FontDescriptor {self._descriptor} 0 R/DW {ADVANCE}"
            f"/CIDToGIDMap {self._cid_to_gid} 0 R>>"
        )
        self.xref = self._new_object(
            f"<</Type/Font/Subtype/Type0/BaseFont/{FONT_NAME}/Encoding/Identity-H"
            f"/DescendantFonts[{self._cid_font} 0 R]/ToUnicode {self._to_unicode} 0 R>>"
        )

    def _new_object(self, source: str) -> int:
        xref = self._doc.get_new_xref()
        self._doc.update_object(xref, source)
        return xref

    def _new_stream(self, source: str, data: bytes) -> int:
        xref = self._new_object(source)
        self._doc.update_stream(xref, data, compress=True)
        return xref

    def encode(self, text: str) -> bytes:
        """The 2-byte codes of ``text``, one per Unicode code point."""
        out = bytearray()
        for char in text:
            cid = self._cids.get(char)
            if cid is None:
                cid = min(len(self._cids) + 1, _MAX_CID)
                self._cids.setdefault(char, cid)
            out += cid.to_bytes(2, "big")
        return bytes(out)

    def finish(self) -> None:
        """Write the CID maps for every character encoded so far."""
        count = min(len(self._cids), _MAX_CID)
        # CID 0 stays .notdef (glyph 0); every other CID shows glyph 1.
        self._doc.update_stream(self._cid_to_gid, b"\0\0" + b"\0\1" * count, compress=True)
        self._doc.update_stream(self._to_unicode, self._to_unicode_cmap(), compress=True)

    def _to_unicode_cmap(self) -> bytes:
        pairs = sorted((cid, char) for char, cid in self._cids.items() if cid < _MAX_CID)
        lines = [
            "/CIDInit /ProcSet findresource begin",
            "12 dict begin",
            "begincmap",
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
            "/CMapName /Adobe-Identity-UCS def",
            "/CMapType 2 def",
            "1 begincodespacerange",
            "<0000> <FFFF>",
            "endcodespacerange",
        ]
        # A bfchar block holds at most 100 entries.
        for start in range(0, len(pairs), 100):
            chunk = pairs[start : start + 100]
            lines.append(f"{len(chunk)} beginbfchar")
            for cid, char in chunk:
                lines.append(f"<{cid:04X}> <{char.encode('utf-16-be').hex().upper()}>")
            lines.append("endbfchar")
        lines += [
            "endcmap",
            "CMapName currentdict /CMap defineresource pop",
            "end",
            "end",
        ]
        return ("\n".join(lines) + "\n").encode("ascii")
