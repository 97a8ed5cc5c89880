"""Affine transforms between the working image and the original page.

Every geometric change the framework makes to a page (working scale, deskew)
is recorded as an :class:`Affine` so word boxes found on the working image map
back exactly to original page pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tair_ocr.results import BBox, Point


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
