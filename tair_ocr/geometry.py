"""Affine transforms between the working image and the original page.

Every geometric change the framework makes to a page (orientation, deskew,
working scale) is recorded as an :class:`Affine` so word boxes found on the working
image map back exactly to original page pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tair_ocr.results import BBox, Block, Line, Point, Word


@dataclass(frozen=True)
class Affine:
    """``(x, y) -> (a*x + b*y + c, d*x + e*y + f)``."""

    a: float = 1.0
    b: float = 0.0
    c: float = 0.0
    d: float = 0.0
    e: float = 1.0
    f: float = 0.0

    @classmethod
    def identity(cls) -> Affine:
        return cls()

    @classmethod
    def scaling(cls, sx: float, sy: float | None = None) -> Affine:
        return cls(a=sx, e=sx if sy is None else sy)

    @classmethod
    def translation(cls, tx: float, ty: float) -> Affine:
        return cls(c=tx, f=ty)

    @classmethod
    def rotation(cls, degrees: float, center: Point = (0.0, 0.0)) -> Affine:
        """Counter-clockwise rotation in image coordinates (y down) about ``center``."""
        t = math.radians(degrees)
        cos, sin = math.cos(t), math.sin(t)
        cx, cy = center
        # y points down, so a visually counter-clockwise turn uses -sin for x.
        rot = cls(a=cos, b=sin, d=-sin, e=cos)
        return cls.translation(cx, cy) @ rot @ cls.translation(-cx, -cy)

    def __matmul__(self, other: Affine) -> Affine:
        """Composition: ``(self @ other)(p) == self(other(p))``."""
        return Affine(
            a=self.a * other.a + self.b * other.d,
            b=self.a * other.b + self.b * other.e,
            c=self.a * other.c + self.b * other.f + self.c,
            d=self.d * other.a + self.e * other.d,
            e=self.d * other.b + self.e * other.e,
            f=self.d * other.c + self.e * other.f + self.f,
        )

    def inverse(self) -> Affine:
        det = self.a * self.e - self.b * self.d
        if det == 0:
            raise ValueError("affine transform is not invertible")
        a, b, d, e = self.e / det, -self.b / det, -self.d / det, self.a / det
        return Affine(
            a=a, b=b, c=-(a * self.c + b * self.f), d=d, e=e, f=-(d * self.c + e * self.f)
        )

    @property
    def is_identity(self) -> bool:
        return self == Affine()

    def point(self, p: Point) -> Point:
        x, y = p
        return (self.a * x + self.b * y + self.c, self.d * x + self.e * y + self.f)

    def points(self, pts: Sequence[Point]) -> list[Point]:
        return [self.point(p) for p in pts]

    def box(self, box: BBox) -> BBox:
        """The axis-aligned box enclosing the transformed corners of ``box``."""
        corners = [(box.x0, box.y0), (box.x1, box.y0), (box.x1, box.y1), (box.x0, box.y1)]
        return BBox.from_points(self.points(corners))


def quarter_turn(degrees: int, width: float, height: float) -> Affine:
    """Pixels of a ``width`` × ``height`` image -> pixels of the same image turned
    clockwise by ``degrees`` (0, 90, 180 or 270), in edge coordinates. Exact: its
    coefficients are whole numbers, and so are its inverse's."""
    turn = degrees % 360
    if turn == 0:
        return Affine()
    if turn == 90:  # the left edge becomes the top: (x, y) -> (height - y, x)
        return Affine(a=0.0, b=-1.0, c=float(height), d=1.0, e=0.0, f=0.0)
    if turn == 180:
        return Affine(a=-1.0, b=0.0, c=float(width), d=0.0, e=-1.0, f=float(height))
    if turn == 270:  # the right edge becomes the top: (x, y) -> (y, width - x)
        return Affine(a=0.0, b=1.0, c=0.0, d=-1.0, e=0.0, f=float(width))
    raise ValueError(f"a quarter turn is 0, 90, 180 or 270 degrees, not {degrees}")


def map_word(word: Word, t: Affine) -> Word:
    """``word`` with its box (the box enclosing the mapped corners) and polygon
    mapped by ``t``."""
    if t.is_identity:
        return word
    update: dict[str, object] = {"bbox": t.box(word.bbox)}
    if word.polygon:
        update["polygon"] = t.points(word.polygon)
    return word.model_copy(update=update)


def map_blocks(blocks: Sequence[Block], t: Affine) -> list[Block]:
    """``blocks`` with every box (block, line, word) mapped by ``t``."""
    if t.is_identity:
        return list(blocks)
    return [
        Block(
            bbox=t.box(block.bbox),
            lines=[
                Line(bbox=t.box(line.bbox), words=[map_word(w, t) for w in line.words])
                for line in block.lines
            ],
        )
        for block in blocks
    ]
