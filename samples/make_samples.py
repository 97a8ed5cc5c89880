"""Regenerate the bundled sample inputs, deterministically.

    python samples/make_samples.py            # write the samples next to this file
    python samples/make_samples.py --check    # also OCR them with tesseract, print CER

Writes ``letter_scan.pdf`` (two scanned A4 pages), ``receipt_photo.jpg`` (a phone photo
of a till receipt), ``faxed_memo.png`` (a 1-bit fax) and ``shaken_note.jpg`` (a note
photographed with camera shake), each with a ``.gt.txt`` ground truth (pages separated
by a form feed). See ``README.md`` here for what they are.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pymupdf
from PIL import Image

from tair_workbench.synthetic import degrade, render_page

HERE = Path(__file__).resolve().parent

#: Seeds of the samples (below the benchmarks' evaluation range, which starts at 10 000).
LETTER_SEEDS = (101, 102)
RECEIPT_SEED = 311
FAX_SEED = 422
SHAKEN_SEED = 530


def _write_gt(path: Path, pages: Sequence[str]) -> None:
    path.write_text("\f".join(pages) + "\n", encoding="utf-8")


def make_letter_scan(out: Path) -> list[str]:
    """Two A4 pages (a letter and its invoice) scanned at 300 dpi, as JPEGs in a PDF."""
    pages = [
        render_page(
            LETTER_SEEDS[0], layout="letter", size="a4", font="LiberationSerif", font_pt=11
        ),
        render_page(LETTER_SEEDS[1], layout="table", size="a4", font="DejaVuSans", font_pt=10),
    ]
    doc = pymupdf.open()
    for page, seed in zip(pages, LETTER_SEEDS, strict=True):
        scanned = degrade(page, "scan", seed=seed)
        buf = io.BytesIO()
        # Grey JPEG at moderate quality: what office scanners put in PDFs, and small.
        scanned.image.convert("L").save(buf, "JPEG", quality=55, optimize=True, dpi=(300, 300))
        width_pt = scanned.image.width * 72 / scanned.dpi
        height_pt = scanned.image.height * 72 / scanned.dpi
        pdf_page = doc.new_page(width=width_pt, height=height_pt)
        pdf_page.insert_image(pdf_page.rect, stream=buf.getvalue())
    doc.set_metadata(
        {
            "title": "tair-ocr sample: scanned letter with invoice",
            "author": "tair-ocr",
            "subject": "synthetic test document",
            "creator": "samples/make_samples.py",
            "producer": "PyMuPDF",
            "creationDate": "",
            "modDate": "",
        }
    )
    # no_new_id: no random /ID in the trailer, so reruns give identical bytes.
    doc.save(out / "letter_scan.pdf", garbage=4, deflate=True, no_new_id=True)
    doc.close()
    texts = [p.text for p in pages]
    _write_gt(out / "letter_scan.gt.txt", texts)
    return texts


def make_receipt_photo(out: Path) -> str:
    """A till receipt lying slightly askew on a dark table, photographed with a phone."""
    page = render_page(RECEIPT_SEED, layout="receipt", font="LiberationMono", font_pt=9)
    rng = np.random.default_rng(RECEIPT_SEED)
    dpi = page.dpi
    pad = round(0.45 * dpi)
    w, h = page.size
    # The table: dark, with a smooth grain so it is not a flat colour.
    grain = rng.standard_normal((8, 4))
    table = np.asarray(
        Image.fromarray(((grain - grain.min()) / np.ptp(grain) * 40 + 50).astype(np.uint8)).resize(
            (w + 2 * pad, h + 2 * pad), Image.Resampling.BICUBIC
        )
    )
    canvas = Image.fromarray(table, "L")
    angle = float(rng.uniform(-1.2, 1.2))
    paper = page.image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=0)
    mask = Image.new("L", page.size, 255).rotate(angle, expand=True, fillcolor=0)
    canvas.paste(paper, (pad - (paper.width - w) // 2, pad - (paper.height - h) // 2), mask)
    photo = degrade(canvas, "shaded_photo", seed=RECEIPT_SEED, dpi=dpi).image
    # Phone photos of a receipt land near 200 dpi on the paper.
    scale = 200 / dpi
    photo = photo.resize(
        (round(photo.width * scale), round(photo.height * scale)), Image.Resampling.LANCZOS
    )
    photo.save(out / "receipt_photo.jpg", "JPEG", quality=80, optimize=True, dpi=(200, 200))
    _write_gt(out / "receipt_photo.gt.txt", [page.text])
    return page.text


def make_faxed_memo(out: Path) -> str:
    """A memo received by fax ("fine" mode), stored as a 1-bit PNG at 200 dpi."""
    page = render_page(
        FAX_SEED, layout="memo", size="letter", dpi=200, font="NimbusSans", font_pt=11
    )
    fax = degrade(page, "fax", seed=FAX_SEED)
    if fax.params.get("mode") != "fine":
        raise SystemExit(f"fax seed {FAX_SEED} gave {fax.params.get('mode')} mode; pick another")
    bits = fax.image.convert("L").point(lambda v: 255 if v >= 128 else 0).convert("1")
    bits.save(out / "faxed_memo.png", optimize=True, dpi=(200, 200))
    _write_gt(out / "faxed_memo.gt.txt", [page.text])
    return page.text


def make_shaken_note(out: Path) -> str:
    """An A5 note photographed with a shaking hand: a linear motion blur across the
    whole page, 200 dpi on the paper, JPEG."""
    page = render_page(
        SHAKEN_SEED, layout="letter", size="a5", dpi=200, font="DejaVuSerif", font_pt=11
    )
    shaken = degrade(page, "motion_blur", seed=SHAKEN_SEED)
    shaken.image.convert("L").save(
        out / "shaken_note.jpg", "JPEG", quality=85, optimize=True, dpi=(200, 200)
    )
    _write_gt(out / "shaken_note.gt.txt", [page.text])
    return page.text


def _cer(reference: str, hypothesis: str) -> float:
    import jiwer

    ref, hyp = " ".join(reference.split()), " ".join(hypothesis.split())
    return float(jiwer.cer(ref, hyp)) if ref else float(bool(hyp))


def check(out: Path) -> list[tuple[str, float]]:
    """OCR each sample with tesseract (``eng``) and return (name, CER) per page."""
    import pytesseract

    results = []
    gt = (out / "letter_scan.gt.txt").read_text(encoding="utf-8").split("\f")
    with pymupdf.open(out / "letter_scan.pdf") as doc:
        for i, pdf_page in enumerate(doc):
            pix = pdf_page.get_pixmap(dpi=300, colorspace=pymupdf.csGRAY)
            image = Image.frombytes("L", (pix.width, pix.height), pix.samples)
            text = pytesseract.image_to_string(image, lang="eng", config="--dpi 300")
            results.append((f"letter_scan.pdf page {i + 1}", _cer(gt[i], text)))
    for name in ("receipt_photo.jpg", "faxed_memo.png", "shaken_note.jpg"):
        dpi = 200
        reference = (out / name).with_suffix(".gt.txt").read_text(encoding="utf-8")
        with Image.open(out / name) as image:
            text = pytesseract.image_to_string(image, lang="eng", config=f"--dpi {dpi}")
        results.append((name, _cer(reference, text)))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Write the samples; with ``--check``, OCR them and print the CER of each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write to")
    parser.add_argument("--check", action="store_true", help="OCR the samples, print CER")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    make_letter_scan(args.out)
    make_receipt_photo(args.out)
    make_faxed_memo(args.out)
    make_shaken_note(args.out)
    for name in ("letter_scan.pdf", "receipt_photo.jpg", "faxed_memo.png", "shaken_note.jpg"):
        size = (args.out / name).stat().st_size
        print(f"{name}: {math.ceil(size / 1024)} KiB")
    if args.check:
        for name, value in check(args.out):
            print(f"CER {name}: {value:.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
