"""Render synthetic document pages with exact ground truth.

:func:`render_page` typesets redistributable text (:mod:`tair_workbench.synthetic.text`) onto
a white page with Pillow and system TrueType/OpenType fonts, and returns the image with
its full text (lines in reading order) and every word's pixel box. Words are drawn one by
one at the positions the whole line's layout gives them; each box is the font's
``getbbox`` of that word at that position, shrunk to the ink actually drawn there, so
boxes are tight to the anti-aliased glyphs.

Fonts come from the Debian packages ``fonts-dejavu-core``, ``fonts-liberation`` and
``fonts-urw-base35``; :func:`available_fonts` finds them at run time (missing ones are
skipped, and Pillow's built-in font is the last resort). The same seed gives the same
page on machines with the same fonts.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tair_ocr.errors import UsageError
from tair_workbench.synthetic import text as T

__all__ = [
    "LAYOUTS",
    "PAGE_SIZES",
    "FontFamily",
    "RenderedPage",
    "WordBox",
    "available_fonts",
    "render_page",
]

#: Named page sizes in inches (width, height). ``receipt`` is an 80 mm till roll,
#: cut to the length of its content.
PAGE_SIZES: dict[str, tuple[float, float]] = {
    "a4": (210 / 25.4, 297 / 25.4),
    "letter": (8.5, 11.0),
    "a5": (148 / 25.4, 210 / 25.4),
    "receipt": (80 / 25.4, 14.0),
}

#: Page layouts :func:`render_page` knows, and how often each is drawn when none is given.
LAYOUTS: dict[str, float] = {
    "paragraphs": 0.35,
    "letter": 0.10,
    "memo": 0.05,
    "lines": 0.15,
    "form": 0.13,
    "table": 0.12,
    "receipt": 0.10,
}

#: Where fonts are searched, in order.
FONT_DIRS: tuple[Path, ...] = (
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
    Path.home() / ".local" / "share" / "fonts",
    Path.home() / ".fonts",
)

#: Font families in order of preference: name -> (regular file, bold file, monospaced).
FONT_FILES: dict[str, tuple[str, str, bool]] = {
    "DejaVuSans": ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", False),
    "DejaVuSerif": ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", False),
    "DejaVuSansMono": ("DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", True),
    "LiberationSans": ("LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf", False),
    "LiberationSerif": ("LiberationSerif-Regular.ttf", "LiberationSerif-Bold.ttf", False),
    "LiberationMono": ("LiberationMono-Regular.ttf", "LiberationMono-Bold.ttf", True),
    "NimbusRoman": ("NimbusRoman-Regular.otf", "NimbusRoman-Bold.otf", False),
    "NimbusSans": ("NimbusSans-Regular.otf", "NimbusSans-Bold.otf", False),
    "NimbusMonoPS": ("NimbusMonoPS-Regular.otf", "NimbusMonoPS-Bold.otf", True),
    "C059": ("C059-Roman.otf", "C059-Bold.otf", False),
    "P052": ("P052-Roman.otf", "P052-Bold.otf", False),
    "URWBookman": ("URWBookman-Light.otf", "URWBookman-Demi.otf", False),
    "URWGothic": ("URWGothic-Book.otf", "URWGothic-Demi.otf", False),
    "NimbusSansNarrow": ("NimbusSansNarrow-Regular.otf", "NimbusSansNarrow-Bold.otf", False),
}

#: Family name used when no font file is found: Pillow's built-in scalable font.
BUILTIN_FONT = "pillow-default"


@dataclass(frozen=True)
class FontFamily:
    """A font family found on this machine: regular and bold files (``None`` = built-in)."""

    name: str
    regular: Path | None
    bold: Path | None
    mono: bool = False

    def load(self, size_px: float, *, bold: bool = False) -> ImageFont.FreeTypeFont:
        """The font at ``size_px`` pixels per em."""
        path = self.bold if bold else self.regular
        if path is None:
            font = ImageFont.load_default(size_px)
            if not isinstance(font, ImageFont.FreeTypeFont):  # Pillow built without FreeType
                raise UsageError("Pillow has no FreeType support; cannot render text")
            return font
        return ImageFont.truetype(str(path), size=size_px)


@lru_cache(maxsize=1)
def _font_index() -> dict[str, Path]:
    """File name -> path for every font file under :data:`FONT_DIRS` (first one wins)."""
    index: dict[str, Path] = {}
    for root in FONT_DIRS:
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()  # deterministic walk, so duplicates resolve the same way
            for name in sorted(filenames):
                if name.lower().endswith((".ttf", ".otf")):
                    index.setdefault(name, Path(dirpath) / name)
    return index


def available_fonts() -> dict[str, FontFamily]:
    """The font families of :data:`FONT_FILES` installed here, in preference order.

    A family whose bold file is missing uses its regular file for bold. When none is
    installed, the result holds only Pillow's built-in font (:data:`BUILTIN_FONT`).
    """
    index = _font_index()
    found: dict[str, FontFamily] = {}
    for name, (regular, bold, mono) in FONT_FILES.items():
        if regular in index:
            found[name] = FontFamily(name, index[regular], index.get(bold, index[regular]), mono)
    if not found:
        found[BUILTIN_FONT] = FontFamily(BUILTIN_FONT, None, None, False)
    return found


def _resolve_font(font: str | os.PathLike[str]) -> FontFamily:
    path = Path(font)
    if path.suffix.lower() in (".ttf", ".otf"):
        if not path.is_file():
            raise UsageError(f"font file not found: {path}")
        return FontFamily(path.stem, path, path, False)
    families = available_fonts()
    for name, family in families.items():
        if name.lower() == str(font).lower():
            return family
    raise UsageError(
        f"unknown or missing font {str(font)!r}; installed: {', '.join(families)}",
        hint="pass a family name from that list or a path to a .ttf/.otf file",
    )


# ------------------------------------------------------------------ result types


@dataclass(frozen=True)
class WordBox:
    """A word and its ink box in page pixels (``x1``/``y1`` exclusive), with its line."""

    text: str
    box: tuple[int, int, int, int]
    line: int


@dataclass
class RenderedPage:
    """A clean synthetic page and its ground truth.

    ``text`` holds the page's lines in reading order joined by ``"\\n"`` (blank space
    between paragraphs is not represented). ``words`` are in reading order; the words of
    line ``i`` joined by single spaces give ``text.splitlines()[i]``.
    """

    image: Image.Image
    dpi: float
    text: str
    words: list[WordBox]
    layout: str
    font: str
    font_pt: float
    seed: int | None = None
    params: dict[str, object] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n") if self.text else []


# ------------------------------------------------------------------ typesetting


#: Pixel values that count as ink when boxes are tightened (darker than ~2 %).
_INK_LUT = [255 if v < 250 else 0 for v in range(256)]


class _Canvas:
    """A page being filled line by line, top to bottom, recording ground truth."""

    def __init__(self, size: tuple[int, int], margins: tuple[int, int, int, int]) -> None:
        self.image = Image.new("L", size, 255)
        self.draw = ImageDraw.Draw(self.image)
        self.left, self.top, self.right, self.bottom = (
            margins[0],
            margins[1],
            size[0] - margins[2],
            size[1] - margins[3],
        )
        self.y = float(self.top)
        self.lines: list[str] = []
        self.words: list[WordBox] = []

    @property
    def width(self) -> int:
        return self.right - self.left

    def full(self, font: ImageFont.FreeTypeFont, leading: float = 1.2) -> bool:
        ascent, descent = font.getmetrics()
        return self.y + (ascent + descent) * leading > self.bottom

    def skip(self, px: float) -> None:
        self.y += px

    def rule(self, x0: float, x1: float, width: int = 1) -> bool:
        """A horizontal rule across ``x0..x1`` at the current position (not text)."""
        if self.y + 3 * width > self.bottom:
            return False
        y = round(self.y + width)
        self.draw.line([(round(x0), y), (round(x1), y)], fill=0, width=width)
        self.y += 3 * width
        return True

    def line(
        self,
        segments: Sequence[tuple[str, float, str]],
        font: ImageFont.FreeTypeFont,
        *,
        leading: float = 1.2,
        justify_to: float | None = None,
    ) -> bool:
        """Typeset one line; ``False`` (and nothing drawn) when it does not fit.

        ``segments`` are ``(text, x, align)`` with ``align`` ``"l"`` (starts at ``x``),
        ``"r"`` (ends at ``x``) or ``"c"`` (centred on ``x``). With ``justify_to``, a
        single left-aligned segment is stretched to end at that x.
        """
        ascent, descent = font.getmetrics()
        height = (ascent + descent) * leading
        if self.y + height > self.bottom:
            return False
        baseline = round(self.y + (height - ascent - descent) / 2 + ascent)
        placed: list[WordBox] = []
        for text, x, align in segments:
            tokens = [(m.start(), m.group()) for m in re.finditer(r"\S+", text)]
            if not tokens:
                continue
            width = font.getlength(text)
            x0 = x if align == "l" else x - width if align == "r" else x - width / 2
            extra = 0.0
            if justify_to is not None and len(segments) == 1 and len(tokens) > 1:
                extra = max(0.0, (justify_to - x0 - width) / (len(tokens) - 1))
            for i, (start, word) in enumerate(tokens):
                # The prefix length keeps kerning and space widths of the whole line.
                wx = round(x0 + font.getlength(text[:start]) + i * extra)
                self.draw.text((wx, baseline), word, font=font, fill=0, anchor="ls")
                bx0, by0, bx1, by1 = font.getbbox(word, anchor="ls")
                box = (
                    max(0, wx + bx0),
                    max(0, baseline + by0),
                    min(self.image.width, wx + bx1),
                    min(self.image.height, baseline + by1),
                )
                # getbbox spans the advance horizontally (side bearings included: up to
                # a third of an em for "." in a monospaced font); shrink to the ink.
                ink = self.image.crop(box).point(_INK_LUT).getbbox()
                if ink:
                    box = (box[0] + ink[0], box[1] + ink[1], box[0] + ink[2], box[1] + ink[3])
                placed.append(WordBox(word, box, len(self.lines)))
        self.y += height
        if placed:
            placed.sort(key=lambda w: w.box[0])
            self.words.extend(placed)
            self.lines.append(" ".join(w.text for w in placed))
        return True


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """Greedy word wrap to ``width`` pixels; a word wider than a line is split."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        while font.getlength(word) > width and len(word) > 1:
            # Hard split of an over-long word (only on very narrow pages).
            cut = len(word) - 1
            while cut > 1 and font.getlength(word[:cut]) > width:
                cut -= 1
            if current:
                lines.append(current)
                current = ""
            lines.append(word[:cut])
            word = word[cut:]
        candidate = f"{current} {word}" if current else word
        if current and font.getlength(candidate) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


@dataclass
class _Fonts:
    body: ImageFont.FreeTypeFont
    bold: ImageFont.FreeTypeFont
    title: ImageFont.FreeTypeFont
    px: float


def _paragraph(
    c: _Canvas,
    text: str,
    fonts: _Fonts,
    *,
    leading: float,
    indent: float = 0.0,
    justify: bool = False,
) -> bool:
    """Wrap and typeset one paragraph across the text width; ``False`` once the page is
    full."""
    left, right = c.left, c.right
    lines = _wrap(text, fonts.body, right - left - indent)
    for i, line in enumerate(lines):
        x = left + (indent if i == 0 else 0.0)
        last = i == len(lines) - 1
        if not c.line(
            [(line, x, "l")],
            fonts.body,
            leading=leading,
            justify_to=right if justify and not last else None,
        ):
            return False
    return True


def _layout_paragraphs(c: _Canvas, rng: np.random.Generator, f: _Fonts) -> None:
    """Running text: an optional date and title, then paragraphs (indented or spaced,
    ragged or justified) until the page is full."""
    leading = float(rng.uniform(1.15, 1.45))
    justify = bool(rng.random() < 0.35)
    indent = f.px * 2.0 if rng.random() < 0.4 else 0.0
    gap = 0.0 if indent else f.px * float(rng.uniform(0.5, 1.0))
    if rng.random() < 0.5:
        c.line([(T.date_string(rng), c.right, "r")], f.body, leading=leading)
        c.skip(f.px * 0.5)
    if rng.random() < 0.6:
        title = T.company_name(rng) if rng.random() < 0.5 else T.sample_sentence(rng, max_words=7)
        for line in _wrap(title.rstrip(".,;:"), f.title, c.width):
            c.line([(line, c.left, "l")], f.title, leading=1.3)
        c.skip(f.px * 0.6)
    while not c.full(f.body, leading):
        text = T.sample_text(rng, int(rng.integers(25, 110)))
        if not _paragraph(c, text, f, leading=leading, indent=indent, justify=justify):
            break
        c.skip(gap)


def _closing_fits(c: _Canvas, f: _Fonts, leading: float, lines: int) -> bool:
    ascent, descent = f.body.getmetrics()
    return c.y + (ascent + descent) * leading * lines <= c.bottom


def _layout_letter(c: _Canvas, rng: np.random.Generator, f: _Fonts) -> None:
    """A business letter: letterhead, recipient, date, subject, salutation, body,
    closing (when it fits; otherwise the letter runs on to the page's end)."""
    leading = float(rng.uniform(1.15, 1.4))
    sender = T.company_name(rng)
    head = [*T.address_lines(rng), f"Tel. {T.phone_number(rng)}"]
    right = rng.random() < 0.5
    x, align = (c.right, "r") if right else (c.left, "l")
    c.line([(sender, x, align)], f.title, leading=1.3)
    for line in head:
        c.line([(line, x, align)], f.body, leading=1.15)
    if rng.random() < 0.5:
        c.rule(c.left, c.right, max(1, round(f.px / 20)))
    c.skip(f.px * 1.5)
    recipient = T.person_name(rng)
    for line in [recipient, *T.address_lines(rng)]:
        c.line([(line, c.left, "l")], f.body, leading=1.2)
    c.skip(f.px)
    date_right = rng.random() < 0.6
    c.line(
        [(T.date_string(rng), c.right if date_right else c.left, "r" if date_right else "l")],
        f.body,
        leading=1.2,
    )
    c.skip(f.px)
    subject = str(rng.choice(["Re:", "Subject:", "Your ref."]))
    c.line([(f"{subject} {T.reference_number(rng)}", c.left, "l")], f.bold, leading=1.3)
    c.skip(f.px * 0.8)
    last = recipient.split()[-1]
    greeting = str(
        rng.choice(
            [
                f"Dear {rng.choice(['Ms.', 'Mr.', 'Dr.'])} {last},",
                "Dear Sir or Madam,",
                f"Dear {recipient.split()[0]},",
            ]
        )
    )
    c.line([(greeting, c.left, "l")], f.body, leading=leading)
    c.skip(f.px * 0.5)
    gap = f.px * float(rng.uniform(0.5, 0.9))
    for _ in range(int(rng.integers(2, 7))):
        if not _closing_fits(c, f, leading, 8):
            break
        if not _paragraph(c, T.sample_text(rng, int(rng.integers(30, 100))), f, leading=leading):
            return
        c.skip(gap)
    if _closing_fits(c, f, leading, 5):
        c.line(
            [
                (
                    str(rng.choice(["Yours sincerely,", "Kind regards,", "Yours faithfully,"])),
                    c.left,
                    "l",
                )
            ],
            f.body,
            leading=leading,
        )
        c.skip(f.px * 2.5)
        c.line([(T.person_name(rng), c.left, "l")], f.body, leading=leading)
        c.line([(sender, c.left, "l")], f.body, leading=leading)
    else:
        _layout_paragraphs_body(c, rng, f, leading, gap)


def _layout_memo(c: _Canvas, rng: np.random.Generator, f: _Fonts) -> None:
    """An office memo: a big MEMO heading, To/From/Date/Re fields, a rule, the body."""
    leading = float(rng.uniform(1.2, 1.45))
    c.line(
        [(str(rng.choice(["MEMO", "MEMORANDUM", "Internal Memo"])), c.left, "l")],
        f.title,
        leading=1.4,
    )
    c.skip(f.px * 0.5)
    fields = [
        ("To:", T.person_name(rng)),
        ("From:", T.person_name(rng)),
        ("Date:", T.date_string(rng)),
        ("Re:", T.subject_line(rng)),
    ]
    if rng.random() < 0.5:
        fields.insert(2, ("Cc:", T.person_name(rng)))
    tab = max(f.bold.getlength(label) for label, _ in fields) + f.px * 1.2
    for label, value in fields:
        c.line([(label, c.left, "l"), (value, c.left + tab, "l")], f.bold, leading=leading)
    c.rule(c.left, c.right, max(1, round(f.px / 16)))
    c.skip(f.px * 0.8)
    _layout_paragraphs_body(c, rng, f, leading, f.px * float(rng.uniform(0.5, 0.9)))


def _layout_paragraphs_body(
    c: _Canvas, rng: np.random.Generator, f: _Fonts, leading: float, gap: float
) -> None:
    """Block paragraphs until the page is full."""
    while not c.full(f.body, leading):
        if not _paragraph(c, T.sample_text(rng, int(rng.integers(25, 110))), f, leading=leading):
            return
        c.skip(gap)


def _layout_lines(c: _Canvas, rng: np.random.Generator, f: _Fonts) -> None:
    """Independent short lines (sentences, verse, item lines, addresses), sometimes
    numbered, with generous and uneven spacing."""
    leading = float(rng.uniform(1.2, 1.8))
    numbered = bool(rng.random() < 0.4)
    n = 0
    while not c.full(f.body, leading):
        style = rng.random()
        if style < 0.45:
            line = T.sample_sentence(rng, max_words=16)
        elif style < 0.75:
            line = T.sample_text(rng, int(rng.integers(2, 10)), extras=0.1)
        elif style < 0.9:
            item = T.invoice_items(rng, 1)[0]
            line = f"{item.quantity} x {item.description} {T.money(item.total)}"
        else:
            line = f"{T.person_name(rng)}, {', '.join(T.address_lines(rng))}"
        n += 1
        if numbered:
            line = f"{n}. {line}"
        x = c.left + (f.px * 2 if rng.random() < 0.15 else 0)
        wrapped = _wrap(line, f.body, c.right - x)
        for part in wrapped:
            if not c.line([(part, x, "l")], f.body, leading=leading):
                return
        if rng.random() < 0.2:
            c.skip(f.px)


def _layout_form(c: _Canvas, rng: np.random.Generator, f: _Fonts) -> None:
    """An invoice-like form: letterhead, a title, "Label: value" fields on a tab stop,
    then notes."""
    leading = float(rng.uniform(1.25, 1.6))
    company = T.company_name(rng)
    header = [company, *T.address_lines(rng), f"Tel. {T.phone_number(rng)}"]
    c.line([(header[0], c.left, "l")], f.title, leading=1.3)
    for line in header[1:]:
        c.line([(line, c.left, "l")], f.body, leading=1.2)
    c.skip(f.px)
    title = str(rng.choice(["INVOICE", "Delivery Note", "Order Form", "Rechnung", "Receipt"]))
    c.line([(title, c.left, "l")], f.title, leading=1.4)
    customer = T.address_lines(rng)
    total = T.amount(rng, 20, 9000)
    fields = [
        ("Invoice No.:", T.reference_number(rng)),
        ("Date:", T.date_string(rng)),
        ("Customer:", T.person_name(rng)),
        ("Address:", customer[0]),
        ("", customer[1]),
        ("Phone:", T.phone_number(rng)),
        ("Order ref.:", T.reference_number(rng)),
        ("Due date:", T.date_string(rng)),
        ("Amount due:", f"EUR {T.money(total)}"),
        ("VAT (19%):", f"EUR {T.money(total * 0.19 / 1.19)}"),
        ("IBAN:", "DE89 3704 0044 0532 0130 00"),
        ("Payment terms:", str(rng.choice(["14 days net", "30 days net", "Due on receipt"]))),
    ]
    n_fields = int(rng.integers(7, len(fields) + 1))
    keep = sorted(rng.permutation(len(fields))[:n_fields])
    chosen = [fields[i] for i in keep]
    label_font = f.bold if rng.random() < 0.5 else f.body
    tab = max(label_font.getlength(label) for label, _ in chosen) + f.px * 1.5
    tab = min(tab, c.width * 0.45)
    for label, value in chosen:
        if not c.line(
            [(label, c.left, "l"), (value, c.left + tab, "l")], label_font, leading=leading
        ):
            return
    c.skip(f.px)
    while not c.full(f.body, 1.25):
        if not _paragraph(c, T.sample_text(rng, int(rng.integers(20, 70))), f, leading=1.25):
            return
        c.skip(f.px * 0.6)


def _layout_table(c: _Canvas, rng: np.random.Generator, f: _Fonts) -> None:
    """An itemised invoice table with right-aligned numeric columns, optional rules and
    totals."""
    leading = float(rng.uniform(1.3, 1.7))
    rules = bool(rng.random() < 0.7)
    rule_w = max(1, round(f.px / 20))
    c.line([(T.company_name(rng), c.left, "l")], f.title, leading=1.3)
    c.line([(f"{T.reference_number(rng)}  {T.date_string(rng)}", c.left, "l")], f.body)
    c.skip(f.px)
    # Columns span at most ~6.5 em per numeric column so rows stay readable as lines.
    width = min(c.width, f.px * 34)
    x_pos = c.left + f.bold.getlength("Pos.")
    x_desc = c.left + f.bold.getlength("Pos.") + f.px * 1.2
    x_amount = c.left + width
    x_unit = x_amount - f.px * 6.5
    x_qty = x_unit - f.px * 6.5
    desc_width = x_qty - f.px * 3.0 - x_desc
    header = [
        ("Pos.", x_pos, "r"),
        ("Description", x_desc, "l"),
        ("Qty", x_qty, "r"),
        ("Unit", x_unit, "r"),
        ("Amount", x_amount, "r"),
    ]
    c.line(header, f.bold, leading=leading)
    if rules:
        c.rule(c.left, x_amount, rule_w)
    subtotal = 0.0
    for i, item in enumerate(T.invoice_items(rng, 26), start=1):
        desc = item.description
        if f.body.getlength(desc) > desc_width:
            desc = desc.split(",")[0].split(" (")[0]
        while f.body.getlength(desc) > desc_width and " " in desc:
            desc = desc.rsplit(" ", 1)[0]
        row = [
            (str(i), x_pos, "r"),
            (desc, x_desc, "l"),
            (str(item.quantity), x_qty, "r"),
            (T.money(item.unit_price), x_unit, "r"),
            (T.money(item.total), x_amount, "r"),
        ]
        # Keep room for the totals below the last row.
        if c.y + 5 * f.px * leading > c.bottom or not c.line(row, f.body, leading=leading):
            break
        subtotal += item.total
    if rules:
        c.rule(c.left, x_amount, rule_w)
    vat = round(subtotal * 0.19, 2)
    for label, value, font in (
        ("Subtotal", subtotal, f.body),
        ("VAT 19%", vat, f.body),
        ("Total EUR", subtotal + vat, f.bold),
    ):
        if not c.line(
            [(label, x_unit, "r"), (T.money(value), x_amount, "r")], font, leading=leading
        ):
            return


def _layout_receipt(c: _Canvas, rng: np.random.Generator, f: _Fonts) -> None:
    """A till receipt in a narrow centred column: shop header, items with prices on the
    right, totals, a footer."""
    leading = float(rng.uniform(1.15, 1.35))
    width = min(c.width, f.px * 22)
    left = c.left + (c.width - width) / 2
    right = left + width
    mid = (left + right) / 2
    store = T.company_name(rng).upper()
    for line in _wrap(store, f.title, width):
        c.line([(line, mid, "c")], f.title, leading=1.25)
    for line in [*T.address_lines(rng), f"Tel. {T.phone_number(rng)}"]:
        c.line([(line, mid, "c")], f.body, leading=leading)
    c.skip(f.px * 0.5)
    hh, mm = int(rng.integers(7, 22)), int(rng.integers(0, 60))
    c.line(
        [(T.date_string(rng), left, "l"), (f"{hh:02d}:{mm:02d}", right, "r")],
        f.body,
        leading=leading,
    )
    c.line(
        [
            (f"Till {int(rng.integers(1, 9))}", left, "l"),
            (f"No. {int(rng.integers(1000, 9999))}", right, "r"),
        ],
        f.body,
        leading=leading,
    )
    c.rule(left, right, max(1, round(f.px / 16)))
    total = 0.0
    n_items = int(rng.integers(4, 16))
    for item in T.invoice_items(rng, n_items, groceries=True):
        if c.y + 8 * f.px * leading > c.bottom:
            break
        c.line(
            [(item.description, left, "l"), (T.money(item.total), right, "r")],
            f.body,
            leading=leading,
        )
        if item.quantity > 1:
            c.line(
                [(f"  {item.quantity} x {T.money(item.unit_price)}", left + f.px, "l")],
                f.body,
                leading=leading,
            )
        total += item.total
    c.rule(left, right, max(1, round(f.px / 16)))
    vat = round(total - total / 1.2, 2)
    paid = math.ceil(total / 5) * 5.0 if rng.random() < 0.4 else total
    rows = [("SUBTOTAL", total, f.body), ("VAT 20% INCL.", vat, f.body), ("TOTAL", total, f.bold)]
    rows.append(("CASH" if paid != total else "CARD", paid, f.body))
    if paid != total:
        rows.append(("CHANGE", paid - total, f.body))
    for label, value, font in rows:
        c.line([(label, left, "l"), (T.money(value), right, "r")], font, leading=leading)
    c.skip(f.px * 0.8)
    for line in (
        "THANK YOU FOR SHOPPING",
        f"VAT No. GB {int(rng.integers(100, 999))} "
        f"{int(rng.integers(1000, 9999))} {int(rng.integers(10, 99))}",
    ):
        c.line([(line, mid, "c")], f.body, leading=leading)


_LAYOUT_FUNCS = {
    "paragraphs": _layout_paragraphs,
    "letter": _layout_letter,
    "memo": _layout_memo,
    "lines": _layout_lines,
    "form": _layout_form,
    "table": _layout_table,
    "receipt": _layout_receipt,
}

#: Default body size range (points) per layout.
_PT_RANGE = {
    "paragraphs": (9.0, 12.5),
    "letter": (10.0, 12.0),
    "memo": (10.0, 12.5),
    "lines": (9.0, 14.0),
    "form": (9.0, 12.0),
    "table": (8.5, 11.0),
    "receipt": (8.0, 10.0),
}


# ------------------------------------------------------------------ entry point


def _page_pixels(
    rng: np.random.Generator,
    layout: str,
    dpi: float,
    size: str | tuple[float, float] | None,
    size_px: tuple[int, int] | None,
) -> tuple[tuple[int, int], bool]:
    """Page size in pixels, and whether to cut the page to its content (till rolls)."""
    if size_px is not None:
        w, h = (int(v) for v in size_px)
        if w < 16 or h < 16:
            raise UsageError(f"page size {size_px} px is too small (at least 16 x 16)")
        return (w, h), False
    if size is None:
        size = "receipt" if layout == "receipt" else str(rng.choice(["a4", "letter"]))
    if isinstance(size, str):
        if size.lower() not in PAGE_SIZES:
            raise UsageError(f"unknown page size {size!r}; known: {', '.join(PAGE_SIZES)}")
        cut = size.lower() == "receipt"
        w_in, h_in = PAGE_SIZES[size.lower()]
    else:
        (w_in, h_in), cut = size, False
    if not (0.5 <= w_in <= 60 and 0.5 <= h_in <= 60):
        raise UsageError(f"page size {w_in} x {h_in} in is out of range (0.5 to 60 in)")
    return (round(w_in * dpi), round(h_in * dpi)), cut


def render_page(
    seed: int | None = None,
    *,
    rng: np.random.Generator | None = None,
    dpi: float = 300.0,
    size: str | tuple[float, float] | None = None,
    size_px: tuple[int, int] | None = None,
    font: str | os.PathLike[str] | None = None,
    font_pt: float | None = None,
    layout: str | None = None,
    margin_in: float | None = None,
) -> RenderedPage:
    """Render one clean synthetic page (grayscale, black text on white) with ground truth.

    :param seed: fixes every random choice (layout, font, text, spacing); ``0`` when
        neither ``seed`` nor ``rng`` is given.
    :param rng: a generator to draw from instead of ``seed`` (it is advanced).
    :param dpi: resolution the page is rendered at; point sizes scale with it.
    :param size: ``"a4"``, ``"letter"``, ``"a5"``, ``"receipt"`` or ``(width, height)``
        in inches; default A4 or Letter (a till roll for ``layout="receipt"``).
    :param size_px: page size in pixels; overrides ``size`` (small test pages).
    :param font: a family name from :func:`available_fonts` or a ``.ttf``/``.otf`` path;
        default drawn from the installed families (monospaced ones for receipts).
    :param font_pt: body text size in points; default drawn from the layout's range.
    :param layout: one of :data:`LAYOUTS`; default drawn with the weights given there.
    :param margin_in: page margins in inches; default 0.5 to 1 in (capped at 8 % of the
        page's smaller side).
    :returns: a :class:`RenderedPage`; its ``image`` is mode ``"L"``.
    :raises UsageError: on an unknown layout, font or size, or values out of range.
    """
    if rng is None:
        rng = np.random.default_rng(0 if seed is None else seed)
    if not 30 <= dpi <= 1200:
        raise UsageError(f"dpi {dpi} is out of range (30 to 1200)")
    if layout is None:
        names = list(LAYOUTS)
        weights = np.array([LAYOUTS[n] for n in names])
        layout = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    elif layout not in LAYOUTS:
        raise UsageError(f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)}")
    (width, height), cut = _page_pixels(rng, layout, dpi, size, size_px)

    if font is None:
        families = list(available_fonts().values())
        mono = [fam for fam in families if fam.mono]
        plain = [fam for fam in families if not fam.mono] or families
        p_mono = 0.85 if layout == "receipt" else 0.1
        pool = mono if mono and rng.random() < p_mono else plain
        family = pool[int(rng.integers(len(pool)))]
    else:
        family = _resolve_font(font)
    if font_pt is None:
        lo, hi = _PT_RANGE[layout]
        font_pt = round(float(rng.uniform(lo, hi)) * 2) / 2
    if not 3 <= font_pt <= 96:
        raise UsageError(f"font size {font_pt} pt is out of range (3 to 96)")
    px = font_pt * dpi / 72.0
    fonts = _Fonts(
        body=family.load(px),
        bold=family.load(px, bold=True),
        title=family.load(px * float(rng.uniform(1.25, 1.6)), bold=True),
        px=px,
    )

    if margin_in is None:
        margin_in = 0.15 if layout == "receipt" and cut else float(rng.uniform(0.5, 1.0))
    margin = min(round(margin_in * dpi), round(0.08 * min(width, height)))
    # Line heights are fractional; a few pixels of jitter keeps pages from aligning exactly.
    margins = (margin, margin + int(rng.integers(0, 3)), margin, margin)
    canvas = _Canvas((width, height), margins)
    _LAYOUT_FUNCS[layout](canvas, rng, fonts)

    image = canvas.image
    if cut:
        bottom = min(height, round(canvas.y + margin))
        image = image.crop((0, 0, width, bottom))
    return RenderedPage(
        image=image,
        dpi=float(dpi),
        text="\n".join(canvas.lines),
        words=canvas.words,
        layout=layout,
        font=family.name,
        font_pt=float(font_pt),
        seed=seed,
        params={"margin_px": margin},
    )
