"""Command line for the synthetic page generator.

python -m tair_workbench.synthetic preview -o grid.png --seed 0
python -m tair_workbench.synthetic page --kind blur --seed 3 -o x.png [--gt]
python -m tair_workbench.synthetic kinds
python -m tair_workbench.synthetic fonts
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from tair_ocr.errors import ExitCode, OutputError, TairOcrError, UsageError
from tair_workbench.synthetic.degrade import ALIASES, DEGRADATION_KINDS, degrade
from tair_workbench.synthetic.render import LAYOUTS, PAGE_SIZES, available_fonts, render_page


def _pair(text: str, kind: type[float] | type[int]) -> tuple[float, float] | tuple[int, int]:
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, not {text!r}")
    try:
        return kind(parts[0]), kind(parts[1])  # type: ignore[return-value]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, not {text!r}") from exc


def _page_size(text: str) -> str | tuple[float, float]:
    return text.lower() if text.lower() in PAGE_SIZES else _pair(text, float)  # type: ignore[return-value]


def _add_render_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="seed of page and degradation")
    p.add_argument("--layout", choices=list(LAYOUTS), help="page layout (default: random)")
    p.add_argument("--dpi", type=float, default=300.0, help="clean page resolution")
    p.add_argument("--font", help="font family (see 'fonts') or a .ttf/.otf path")
    p.add_argument("--font-pt", type=float, help="body text size in points")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tair_workbench.synthetic",
        description="Render synthetic document pages with ground truth and degrade them.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    page = sub.add_parser("page", help="render one page, degrade it and save it")
    page.add_argument("-o", "--output", type=Path, required=True, help="image file to write")
    page.add_argument("--kind", default="clean", help="degradation kind (see 'kinds')")
    page.add_argument("--size", type=_page_size, help=f"{', '.join(PAGE_SIZES)} or WxH in inches")
    page.add_argument("--size-px", type=lambda s: _pair(s, int), help="WxH in pixels")
    page.add_argument(
        "--gt",
        action="store_true",
        help="also write STEM.gt.txt (text) and STEM.words.json (boxes in image pixels)",
    )
    _add_render_options(page)

    preview = sub.add_parser("preview", help="a grid with one crop per degradation kind")
    preview.add_argument("-o", "--output", type=Path, required=True, help="PNG to write")
    preview.add_argument("--kinds", help="comma-separated kinds (default: all)")
    preview.add_argument(
        "--crop",
        type=lambda s: _pair(s, int),
        default=(720, 440),
        help="crop size in clean pixels, WxH",
    )
    preview.add_argument("--columns", type=int, default=3)
    _add_render_options(preview)

    sub.add_parser("kinds", help="list the degradation kinds")
    sub.add_parser("fonts", help="list the font families found on this machine")
    return parser


def _save(image: Image.Image, path: Path, dpi: float) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, dpi=(dpi, dpi))
    except (OSError, ValueError) as exc:
        raise OutputError(f"cannot write {path}: {exc}") from exc


def _cmd_page(args: argparse.Namespace) -> None:
    page = render_page(
        args.seed,
        dpi=args.dpi,
        size=args.size,
        size_px=args.size_px,
        font=args.font,
        font_pt=args.font_pt,
        layout=args.layout,
    )
    result = degrade(page, args.kind, seed=args.seed)
    _save(result.image, args.output, result.dpi)
    if args.gt:
        stem = args.output.with_suffix("")
        try:
            stem.with_suffix(".gt.txt").write_text(page.text + "\n", encoding="utf-8")
            meta = {
                "image": args.output.name,
                "dpi": result.dpi,
                "kind": result.kind,
                "seed": result.seed,
                "layout": page.layout,
                "font": page.font,
                "font_pt": page.font_pt,
                "params": result.params,
                "text": page.text,
                "words": [
                    {"text": w.text, "box": list(w.box), "line": w.line} for w in result.words or []
                ],
            }
            stem.with_suffix(".words.json").write_text(
                json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8"
            )
        except OSError as exc:
            raise OutputError(f"cannot write the ground truth beside {args.output}: {exc}") from exc
    print(
        f"{args.output}: {result.kind}, {result.image.width}x{result.image.height} px at "
        f"{result.dpi:.0f} dpi, {page.layout} layout, {page.font} {page.font_pt:g} pt, "
        f"{len(page.words)} words"
    )


def _label_font(size: int) -> ImageFont.FreeTypeFont:
    family = next(iter(available_fonts().values()))
    return family.load(size, bold=True)


def _cmd_preview(args: argparse.Namespace) -> None:
    names = list(DEGRADATION_KINDS)
    if args.kinds:
        names = [ALIASES.get(k.strip(), k.strip()) for k in args.kinds.split(",") if k.strip()]
    page = render_page(
        args.seed,
        dpi=args.dpi,
        font=args.font,
        font_pt=args.font_pt,
        layout=args.layout or "paragraphs",
    )
    # The crop starts at the top-left corner of the text, where every layout has ink.
    x0 = max(0, min(w.box[0] for w in page.words) - 20) if page.words else 0
    y0 = max(0, min(w.box[1] for w in page.words) - 20) if page.words else 0
    cw, ch = args.crop
    crop = (x0, y0, min(page.image.width, x0 + cw), min(page.image.height, y0 + ch))
    cw, ch = crop[2] - crop[0], crop[3] - crop[1]
    label_h = 34
    font = _label_font(22)
    cols = max(1, min(args.columns, len(names)))
    rows = math.ceil(len(names) / cols)
    gap = 6
    grid = Image.new("RGB", (cols * (cw + gap) + gap, rows * (ch + label_h + gap) + gap), "white")
    draw = ImageDraw.Draw(grid)
    for i, name in enumerate(names):
        result = degrade(page, name, seed=args.seed)
        tile = result.image.crop(result.map_box(crop))
        # Low-resolution kinds are shown blown up with square pixels, as OCR would see them.
        tile = tile.resize((cw, ch), Image.Resampling.NEAREST)
        gx = gap + (i % cols) * (cw + gap)
        gy = gap + (i // cols) * (ch + label_h + gap)
        grid.paste(tile, (gx, gy + label_h))
        label = f"{name}  ({result.dpi:.0f} dpi)"
        draw.rectangle((gx, gy, gx + cw, gy + label_h - 2), fill=(40, 40, 40))
        draw.text((gx + 8, gy + 5), label, font=font, fill="white")
    _save(grid, args.output, 72.0)
    print(f"{args.output}: {len(names)} kinds, seed {args.seed}, {page.font} {page.font_pt:g} pt")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "page":
            _cmd_page(args)
        elif args.command == "preview":
            _cmd_preview(args)
        elif args.command == "kinds":
            for kind in DEGRADATION_KINDS.values():
                print(f"{kind.name:14s} {kind.description}")
            print("aliases: " + ", ".join(f"{a} -> {k}" for a, k in ALIASES.items()))
        elif args.command == "fonts":
            for family in available_fonts().values():
                mono = " (monospaced)" if family.mono else ""
                print(f"{family.name:18s} {family.regular or 'built-in'}{mono}")
        else:  # pragma: no cover - argparse rejects other commands
            raise UsageError(f"unknown command {args.command!r}")
    except TairOcrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    return int(ExitCode.OK)


if __name__ == "__main__":
    sys.exit(main())
