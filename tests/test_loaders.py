"""The built-in loaders: PDF (PyMuPDF) and images (Pillow). Inputs are made here."""

from __future__ import annotations

import inspect
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pymupdf
import pytest
from PIL import Image, ImageFile, TiffImagePlugin

from tair_ocr.errors import (
    CorruptInputError,
    EmptyInputError,
    EncryptedInputError,
    InputError,
    UnsupportedInputError,
)
from tair_ocr.loaders import image as image_module
from tair_ocr.loaders import pdf as pdf_module
from tair_ocr.loaders.image import ImageLoader, normalize_image
from tair_ocr.loaders.pdf import PdfLoader
from tair_ocr.page import DEFAULT_IMAGE_DPI
from tair_ocr.pipeline import _guarded_pages
from tair_ocr.plugins import PluginManager
from tair_ocr.results import PageResult

from .fixtures_loaders import (
    RED,
    corner_of_red,
    make_pdf,
    marked_image,
    raw_pdf,
    raw_pdf_pages,
    set_jfif_density,
    write_big_bilevel_png,
)

PDF = PdfLoader()
IMG = ImageLoader()


def head(path: Path) -> bytes:
    return path.read_bytes()[:64]


def load_one(path: Path, dpi: float = 300):
    """Open with the loader that accepts ``path`` and return (document, first page)."""
    loader = PDF if PDF.accepts(path, head(path)) else IMG
    document = loader.open(path, dpi=dpi)
    return document, next(document.pages([0]))


# ---------------------------------------------------------------------- registration


def test_both_loaders_are_registered_builtins():
    pm = PluginManager(autoload=False)
    assert {"pdf", "image"} <= set(pm.loaders.names())


def test_text_file_named_pdf_is_accepted_by_no_loader(tmp_path):
    fake = tmp_path / "notes.pdf"
    fake.write_text("Meeting notes\nnot a PDF at all\n")
    fake_png = tmp_path / "notes.png"
    fake_png.write_text("BMW and PNG are just words here\n")
    pm = PluginManager(autoload=False)
    for path in (fake, fake_png):
        assert not [loader.name for loader in pm.loaders if loader.accepts(path, head(path))]


def test_accepts_decides_by_content_not_extension(tmp_path):
    pdf = make_pdf(tmp_path / "scan.png", [(100, 100)])  # a PDF with the wrong suffix
    png = tmp_path / "scan.pdf"
    marked_image((20, 20)).save(png, format="PNG")
    assert PDF.accepts(pdf, head(pdf)) and not IMG.accepts(pdf, head(pdf))
    assert IMG.accepts(png, head(png)) and not PDF.accepts(png, head(png))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF", "BMP", "GIF", "WEBP", "PPM", "JPEG2000"])
def test_common_formats_load(tmp_path, fmt):
    path = tmp_path / f"page.{fmt.lower()}"
    marked_image((64, 48)).save(path, format=fmt)
    assert IMG.accepts(path, head(path))
    document, page = load_one(path)
    assert document.kind == "image" and document.page_count == 1
    assert page.image.mode == "RGB" and page.image.size == (64, 48)
    assert corner_of_red(page.image) == "tl"
    assert page.source == path and page.index == 0 and page.original_size == (64, 48)


# ---------------------------------------------------------------------- images: pixels


@pytest.mark.parametrize(
    ("orientation", "corner", "size"),
    [
        (1, "tl", (60, 40)),
        (2, "tr", (60, 40)),
        (3, "br", (60, 40)),
        (4, "bl", (60, 40)),
        (5, "tl", (40, 60)),
        (6, "tr", (40, 60)),
        (7, "br", (40, 60)),
        (8, "bl", (40, 60)),
    ],
)
def test_exif_orientation_gives_an_upright_page(tmp_path, orientation, corner, size):
    path = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation
    marked_image((60, 40)).save(path, quality=95, exif=exif, dpi=(300, 300))
    _, page = load_one(path)
    assert page.image.size == size
    assert page.original_size == size
    assert corner_of_red(page.image) == corner


def test_tiff_orientation_tag_is_honoured(tmp_path):
    path = tmp_path / "rotated.tif"
    marked_image((60, 40)).save(path, tiffinfo={0x0112: 6}, dpi=(300, 300))
    _, page = load_one(path)
    assert page.image.size == (40, 60) and corner_of_red(page.image) == "tr"


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    path = tmp_path / "cmyk.jpg"
    image = Image.new("CMYK", (32, 32), (0, 0, 0, 0))  # white paper
    image.paste((0, 255, 255, 0), (0, 0, 16, 16))  # red
    image.save(path, quality=95)
    _, page = load_one(path)
    assert page.image.mode == "RGB"
    r, g, b = page.image.getpixel((4, 4))
    assert r > 230 and g < 30 and b < 30
    assert min(page.image.getpixel((28, 28))) > 240


def test_gray_palette_png_becomes_l(tmp_path):
    path = tmp_path / "gray-palette.png"
    image = Image.new("P", (4, 1))
    image.putpalette([v for level in range(256) for v in (level, level, level)])
    image.putdata([0, 64, 200, 255])
    image.save(path)
    _, page = load_one(path)
    assert page.image.mode == "L"
    assert list(page.image.get_flattened_data()) == [0, 64, 200, 255]


def test_colour_palette_png_becomes_rgb(tmp_path):
    path = tmp_path / "palette.png"
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 0, 255])
    image.putdata([0, 1])
    image.save(path)
    _, page = load_one(path)
    assert page.image.mode == "RGB"
    assert list(page.image.get_flattened_data()) == [(255, 0, 0), (0, 0, 255)]


def test_transparent_palette_index_becomes_white(tmp_path):
    path = tmp_path / "transparent-palette.png"
    image = Image.new("P", (2, 1))
    image.putpalette([0, 0, 0, 255, 0, 0])
    image.putdata([0, 1])
    image.save(path, transparency=0)
    _, page = load_one(path)
    assert list(page.image.get_flattened_data()) == [(255, 255, 255), (255, 0, 0)]


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "gray16.png"
    values = np.array([[0, 256, 32768, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(path)
    assert Image.open(path).mode == "I;16"
    _, page = load_one(path)
    assert page.image.mode == "L"
    # Clipping (Pillow's convert("L")) would give [0, 255, 255, 255].
    assert list(page.image.get_flattened_data()) == [0, 1, 128, 255]


def test_rgba_is_composited_over_white(tmp_path):
    path = tmp_path / "rgba.png"
    image = Image.new("RGBA", (3, 1))
    image.putdata([(0, 0, 0, 0), (255, 0, 0, 255), (0, 0, 0, 128)])
    image.save(path)
    _, page = load_one(path)
    assert page.image.mode == "RGB"
    transparent, opaque, half = page.image.get_flattened_data()
    assert transparent == (255, 255, 255)  # not black
    assert opaque == RED
    assert all(abs(channel - 127) <= 1 for channel in half)


def test_gray_with_alpha_stays_gray(tmp_path):
    path = tmp_path / "la.png"
    image = Image.new("LA", (2, 1))
    image.putdata([(0, 0), (0, 255)])
    image.save(path)
    _, page = load_one(path)
    assert page.image.mode == "L"
    assert list(page.image.get_flattened_data()) == [255, 0]


def test_bilevel_becomes_8_bit_gray(tmp_path):
    path = tmp_path / "fax.png"
    image = Image.new("1", (8, 1), 1)
    image.putpixel((3, 0), 0)
    image.save(path)
    _, page = load_one(path)
    assert page.image.mode == "L"
    assert set(page.image.get_flattened_data()) == {0, 255}
    assert page.image.getpixel((3, 0)) == 0


def test_one_pixel_image(tmp_path):
    path = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (10, 20, 30)).save(path)
    _, page = load_one(path)
    assert page.image.size == (1, 1) and page.image.getpixel((0, 0)) == (10, 20, 30)


# ---------------------------------------------------------------------- images: DPI


@pytest.mark.parametrize(
    ("dpi", "expected", "trusted", "warning"),
    [
        ((300, 300), 300, True, None),
        ((600, 600), 600, True, None),
        (None, DEFAULT_IMAGE_DPI, False, "no resolution"),
        ((72, 72), DEFAULT_IMAGE_DPI, False, "software default"),
        ((96, 96), DEFAULT_IMAGE_DPI, False, "software default"),
        ((20, 20), DEFAULT_IMAGE_DPI, False, "implausible"),
        ((5000, 5000), DEFAULT_IMAGE_DPI, False, "implausible"),
    ],
)
def test_png_resolution(tmp_path, dpi, expected, trusted, warning):
    path = tmp_path / "page.png"
    marked_image((40, 40)).save(path, **({"dpi": dpi} if dpi else {}))
    _, page = load_one(path)
    assert page.dpi == pytest.approx(expected, abs=0.01)
    assert page.dpi_trusted is trusted
    if warning is None:
        assert page.warnings == []
    else:
        assert len(page.warnings) == 1
        assert warning in page.warnings[0] and "assuming 300 dpi" in page.warnings[0]


def test_jpeg_density_in_centimetres(tmp_path):
    buffer = io.BytesIO()
    marked_image((40, 40)).save(buffer, format="JPEG", dpi=(300, 300))
    path = tmp_path / "cm.jpg"
    path.write_bytes(set_jfif_density(buffer.getvalue(), unit=2, density=118))
    _, page = load_one(path)
    assert page.dpi == pytest.approx(118 * 2.54) and page.dpi_trusted


def test_tiff_resolution_in_centimetres(tmp_path):
    path = tmp_path / "cm.tif"
    marked_image((40, 40)).save(path, resolution_unit=3, x_resolution=80, y_resolution=80)
    _, page = load_one(path)
    assert page.dpi == pytest.approx(203.2) and page.dpi_trusted


def test_tiff_without_resolution_tags_is_untrusted(tmp_path):
    path = tmp_path / "bare.tif"
    marked_image((40, 40)).save(path)
    _, page = load_one(path)
    assert page.dpi == DEFAULT_IMAGE_DPI and not page.dpi_trusted
    assert page.warnings == ["the file records no resolution; assuming 300 dpi"]


def test_tiff_pages_have_their_own_resolution(tmp_path):
    path = tmp_path / "mixed.tif"
    marked_image((40, 40)).save(path, dpi=(600, 600))
    with TiffImagePlugin.AppendingTiffWriter(str(path)) as appending:  # frame 2: no DPI
        marked_image((30, 30), "L").save(appending, format="TIFF")
    with IMG.open(path, dpi=300) as document:
        first, second = document.pages([0, 1])
    assert (first.dpi, first.dpi_trusted, first.warnings) == (600, True, [])
    assert (second.dpi, second.dpi_trusted) == (DEFAULT_IMAGE_DPI, False)
    assert "no resolution" in second.warnings[0]


def test_fax_with_non_square_pixels_is_resampled(tmp_path):
    path = tmp_path / "fax.tif"
    image = Image.new("1", (100, 50), 1)
    image.save(path, dpi=(204, 98))
    _, page = load_one(path)
    assert page.image.size == (100, 104)  # 50 * 204 / 98
    assert page.dpi == pytest.approx(204) and page.dpi_trusted
    assert any("non-square" in w for w in page.warnings)


# ---------------------------------------------------------------------- images: pages


def _three_page_tiff(path: Path) -> Path:
    pages = [marked_image((60, 40)), marked_image((30, 20), "L"), marked_image((40, 40), "1")]
    pages[0].save(path, save_all=True, append_images=pages[1:], dpi=(200, 200))
    return path


def test_multi_page_tiff_counts_frames_without_decoding(tmp_path, monkeypatch):
    path = _three_page_tiff(tmp_path / "three.tif")
    decoded = []
    original = image_module._normalize

    def spy(image, **kwargs):
        decoded.append(kwargs["label"])
        return original(image, **kwargs)

    monkeypatch.setattr(image_module, "_normalize", spy)
    with IMG.open(path, dpi=300) as document:
        assert document.page_count == 3
        pages = document.pages([2, 0, 1])
        assert inspect.isgenerator(pages)
        assert decoded == []
        third = next(pages)
        assert len(decoded) == 1
        rest = list(pages)
    assert [p.index for p in (third, *rest)] == [2, 0, 1]
    assert [p.image.size for p in (third, *rest)] == [(40, 40), (60, 40), (30, 20)]
    assert [p.image.mode for p in (third, *rest)] == ["L", "RGB", "L"]
    assert all(p.dpi == pytest.approx(200) and p.dpi_trusted for p in (third, *rest))
    # Pages stay valid after the next seek and after the document is closed.
    assert corner_of_red(rest[0].image) == "tl"


def test_damaged_tiff_page_fails_alone(tmp_path):
    frames = [
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (60, 80), np.uint8))
        for i in range(3)
    ]
    path = tmp_path / "damaged.tif"
    frames[0].save(path, save_all=True, append_images=frames[1:], compression="tiff_deflate")
    data = bytearray(path.read_bytes())
    with Image.open(path) as probe:  # the compressed data of frame 3 lies before its IFD
        probe.seek(1)
        start = probe.tile[0].args[2] + 300
        probe.seek(2)
        end = probe.tile[0].args[2] - 200
    data[start:end] = bytes(end - start)
    path.write_bytes(bytes(data))
    with IMG.open(path, dpi=300) as document:
        items = list(_guarded_pages(document, [0, 1, 2]))
    assert [type(i).__name__ for i in items] == ["Page", "Page", "PageResult"]
    failed = items[2]
    assert isinstance(failed, PageResult) and failed.error is not None
    assert failed.error.kind == "CorruptInputError" and "page 3" in failed.error.message


def test_animated_gif_reads_first_frame_with_warning(tmp_path):
    path = tmp_path / "anim.gif"
    frames = [marked_image((20, 20)), Image.new("RGB", (20, 20), (0, 0, 255))]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    document, page = load_one(path)
    assert document.page_count == 1
    assert corner_of_red(page.image) == "tl"
    assert any("only the first" in w for w in page.warnings)


def test_single_image_pages_can_be_asked_for_twice(tmp_path):
    path = tmp_path / "page.png"
    marked_image((20, 20)).save(path)
    with IMG.open(path, dpi=300) as document:
        first = next(document.pages([0]))
        again = next(document.pages([0]))
    assert first.image.tobytes() == again.image.tobytes()


# ---------------------------------------------------------------------- images: errors


def _noise_image(size=(200, 200)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (*size[::-1], 3), np.uint8))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image_is_a_corrupt_input(tmp_path, fmt):
    path = tmp_path / f"cut.{fmt.lower()}"
    buffer = io.BytesIO()
    _noise_image().save(buffer, format=fmt)
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(CorruptInputError) as info:
        IMG.open(path, dpi=300)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    assert "truncated" in message


def test_truncation_is_not_hidden_by_pillows_global_switch(tmp_path, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    path = tmp_path / "cut.png"
    buffer = io.BytesIO()
    _noise_image().save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue()[:-4000])
    with pytest.raises(CorruptInputError):
        IMG.open(path, dpi=300)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored


def test_damaged_header_is_a_corrupt_input(tmp_path):
    path = tmp_path / "junk.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not chunks at all" * 10)
    with pytest.raises(CorruptInputError, match="header"):
        IMG.open(path, dpi=300)


def test_unsupported_file_given_to_the_image_loader(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("hello")
    with pytest.raises(UnsupportedInputError):
        IMG.open(path, dpi=300)


# ---------------------------------------------------------------------- images: size limits


def test_large_image_is_downscaled_to_the_page_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(image_module, "MAX_PAGE_PIXELS", 10_000)
    path = tmp_path / "large.png"
    marked_image((400, 200)).save(path, dpi=(300, 300))
    _, page = load_one(path)
    width, height = page.image.size
    assert width * height <= 10_000 and (width, height) == (141, 70)
    assert page.dpi == pytest.approx(300 * 141.42 / 400, rel=1e-3) and page.dpi_trusted
    assert page.original_size == page.image.size
    assert any("page limit" in w for w in page.warnings)
    assert corner_of_red(page.image) == "tl"


def test_image_over_the_decode_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(image_module, "MAX_DECODE_PIXELS", 20_000)
    path = tmp_path / "huge.png"
    marked_image((200, 200)).save(path)
    with pytest.raises(InputError, match=r"200×200.*larger than the 0\.02 Mpx"):
        IMG.open(path, dpi=300)


def test_jpeg_over_the_decode_limit_is_decoded_reduced(tmp_path, monkeypatch):
    monkeypatch.setattr(image_module, "MAX_DECODE_PIXELS", 20_000)
    path = tmp_path / "huge.jpg"
    image = Image.new("RGB", (200, 200), (255, 255, 255))
    image.paste(RED, (0, 0, 40, 40))
    image.save(path, quality=95, dpi=(600, 600))
    _, page = load_one(path)
    assert page.image.size == (100, 100)
    assert page.dpi == pytest.approx(300) and page.dpi_trusted
    assert any("1/2 scale" in w for w in page.warnings)
    assert corner_of_red(page.image) == "tl"


def test_pillow_bomb_limit_does_not_apply_and_is_restored(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("1", (20, 10), 1).save(path)
    before = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = 50  # Pillow would refuse 200 pixels
        _, page = load_one(path)
        assert page.image.size == (20, 10)
        assert Image.MAX_IMAGE_PIXELS == 50
    finally:
        Image.MAX_IMAGE_PIXELS = before


@pytest.mark.slow
def test_20000_square_png_is_loaded_within_memory(tmp_path):
    path = tmp_path / "bomb.png"
    write_big_bilevel_png(path, 20000, 20000, black=(4000, 2000))
    assert path.stat().st_size < 1_000_000
    script = (
        "import json, resource, sys\n"
        "from pathlib import Path\n"
        "from tair_ocr.loaders.image import ImageLoader\n"
        "doc = ImageLoader().open(Path(sys.argv[1]), dpi=300)\n"
        "page = next(doc.pages([0]))\n"
        "print(json.dumps({'size': page.image.size, 'dpi': page.dpi, 'mode': page.image.mode,\n"
        "  'warnings': page.warnings, 'ink': page.image.getpixel((1000, 500)),\n"
        "  'paper': page.image.getpixel((5000, 5000)),\n"
        "  'rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    result = json.loads(out.stdout)
    width, height = result["size"]
    assert width * height <= image_module.MAX_PAGE_PIXELS and width == height
    assert result["mode"] == "L"
    assert result["dpi"] == pytest.approx(300 * width / 20000, rel=1e-3)
    assert any("page limit" in w for w in result["warnings"])
    assert result["ink"] == 0 and result["paper"] == 255
    assert result["rss_mb"] < 1500, result["rss_mb"]
    print(f"20000×20000 1-bit PNG: peak RSS {result['rss_mb']:.0f} MB")


# ---------------------------------------------------------------------- images: in memory


def test_normalize_image_in_memory():
    rgba = Image.fromarray(np.zeros((10, 20, 4), np.uint8))  # fully transparent
    image, dpi, trusted, warnings = normalize_image(rgba)
    assert image.mode == "RGB" and image.size == (20, 10)
    assert image.getpixel((5, 5)) == (255, 255, 255)
    assert dpi == DEFAULT_IMAGE_DPI and not trusted and warnings


def test_normalize_image_keeps_good_images_and_their_dpi():
    gray = Image.new("L", (30, 20), 128)
    gray.info["dpi"] = (400, 400)
    image, dpi, trusted, warnings = normalize_image(gray)
    assert image.mode == "L" and image.size == (30, 20)
    assert (dpi, trusted, warnings) == (400, True, [])


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.array([[0, 35000, 70000]], np.int32), [0, 128, 255]),  # stretched
        (np.array([[0.0, 0.5, 1.0]], np.float32), [0, 128, 255]),  # unit floats
        (np.array([[0, 128, 255]], np.int32), [0, 128, 255]),  # 8-bit values
    ],
)
def test_normalize_image_wide_samples(array, expected):
    image, *_ = normalize_image(Image.fromarray(array))
    assert image.mode == "L"
    assert list(image.get_flattened_data()) == expected


def test_normalize_image_lazy_and_truncated(tmp_path):
    path = tmp_path / "cut.png"
    buffer = io.BytesIO()
    _noise_image().save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue()[:-4000])
    with Image.open(path) as lazy, pytest.raises(CorruptInputError, match="truncated"):
        normalize_image(lazy)


# ---------------------------------------------------------------------- PDF: rendering


def test_pdf_pages_render_at_the_requested_dpi(tmp_path):
    path = make_pdf(tmp_path / "doc.pdf", [(200, 100), (100, 300)])
    with PDF.open(path, dpi=144) as document:
        assert document.kind == "pdf" and document.page_count == 2
        pages = list(document.pages([0, 1]))
    assert [p.image.size for p in pages] == [(400, 200), (200, 600)]
    for index, page in enumerate(pages):
        assert page.image.mode == "RGB"
        assert page.dpi == 144 and page.dpi_trusted
        assert page.index == index and page.source == path
        assert page.original_size == page.image.size
        assert corner_of_red(page.image) == "tl"
        assert page.warnings == []
    # The text was drawn: dark pixels right of the marker.
    text_area = np.asarray(pages[0].image.crop((60, 50, 200, 90)).convert("L"))
    assert text_area.min() < 100


@pytest.mark.parametrize(
    ("rotation", "corner", "size"),
    [
        (0, "tl", (200, 100)),
        (90, "tr", (100, 200)),
        (180, "br", (200, 100)),
        (270, "bl", (100, 200)),
    ],
)
def test_pdf_page_rotation_is_rendered_as_displayed(tmp_path, rotation, corner, size):
    path = make_pdf(tmp_path / "rotated.pdf", [(200, 100)], rotations=[rotation])
    _, page = load_one(path, dpi=72)
    assert page.image.size == size
    assert corner_of_red(page.image) == corner


def test_pdf_pages_are_rendered_lazily(tmp_path, monkeypatch):
    path = make_pdf(tmp_path / "doc.pdf", [(100, 100)] * 3)
    rendered = []
    original = pymupdf.Page.get_pixmap

    def spy(self, *args, **kwargs):
        rendered.append(self.number)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pymupdf.Page, "get_pixmap", spy)
    with PDF.open(path, dpi=72) as document:
        assert document.page_count == 3
        pages = document.pages([2, 0])
        assert inspect.isgenerator(pages)
        assert rendered == []
        assert next(pages).index == 2
        assert rendered == [2]
        assert next(pages).index == 0
        assert rendered == [2, 0]


def test_owner_password_only_pdf_opens(tmp_path):
    source = make_pdf(tmp_path / "plain.pdf", [(100, 100)])
    path = tmp_path / "owner.pdf"
    with pymupdf.open(source) as doc:
        doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="owner", permissions=0)
    _, page = load_one(path, dpi=72)
    assert corner_of_red(page.image) == "tl"


def test_huge_pdf_page_is_rendered_at_a_lower_dpi(tmp_path, monkeypatch):
    monkeypatch.setattr(pdf_module, "MAX_PAGE_PIXELS", 100_000)
    path = make_pdf(tmp_path / "poster.pdf", [(720, 360)])  # 10 × 5 inches
    _, page = load_one(path, dpi=300)
    width, height = page.image.size
    assert width * height <= 100_000
    assert page.dpi == pytest.approx((100_000 / 50) ** 0.5, rel=0.01)
    assert page.dpi_trusted
    assert width == pytest.approx(10 * page.dpi, abs=1)
    assert any("instead of 300 dpi" in w for w in page.warnings)


def test_page_that_cannot_be_rendered_fails_alone(tmp_path):
    path = tmp_path / "giant-page.pdf"
    path.write_bytes(
        raw_pdf_pages(
            [
                b"/MediaBox [0 0 100 100]",
                b"/MediaBox [0 0 14400 14400] /UserUnit 75000",  # 15 million inches wide
                b"/MediaBox [0 0 100 100]",
            ]
        )
    )
    with PDF.open(path, dpi=72) as document:
        pages = document.pages([0, 1, 2])
        assert next(pages).index == 0
        with pytest.raises(InputError, match=r"page 2.*too large"):
            next(pages)
        assert [p.index for p in document.pages([2])] == [2]
        items = list(_guarded_pages(document, [0, 1, 2]))
    assert [type(i).__name__ for i in items] == ["Page", "PageResult", "Page"]


def test_mupdf_problems_become_page_warnings_not_stderr(tmp_path, capfd):
    path = tmp_path / "bad-stream.pdf"
    broken = b"<< /Length 20 /Filter /FlateDecode >>\nstream\nnot zlib data at all\nendstream"
    path.write_bytes(
        raw_pdf(
            [
                b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] /Contents 4 0 R >>",
                broken,
            ]
        )
    )
    _, page = load_one(path, dpi=72)
    assert page.image.size == (100, 100)
    assert len(page.warnings) == 1 and "zlib" in page.warnings[0]
    assert capfd.readouterr().err == ""


def test_repaired_pdf_is_read_with_one_warning(tmp_path, capfd):
    data = raw_pdf_pages([b"/MediaBox [0 0 100 100]"] * 2)
    head_, _, tail = data.rpartition(b"startxref\n")
    path = tmp_path / "bad-xref.pdf"
    path.write_bytes(head_ + b"startxref\n" + b"999999" + tail[tail.index(b"\n") :])
    with PDF.open(path, dpi=72) as document:
        assert document.page_count == 2
        pages = list(document.pages([0, 1]))
    assert any("repaired" in w for w in pages[0].warnings)
    assert pages[1].warnings == []
    # The blue square at the bottom left was drawn.
    assert pages[0].image.getpixel((10, 90)) == (0, 0, 255)
    assert capfd.readouterr().err == ""


def test_truncated_pdf_keeps_the_pages_it_still_has(tmp_path, capfd):
    data = make_pdf(tmp_path / "whole.pdf", [(300, 300)] * 3).read_bytes()
    path = tmp_path / "cut.pdf"
    path.write_bytes(data[: len(data) // 3])  # page 1 is whole; pages 2 and 3 are gone
    with PDF.open(path, dpi=72) as document:
        assert document.page_count == 3
        items = list(_guarded_pages(document, [0, 1, 2]))
    first, *lost = items
    assert first.image.size == (300, 300) and corner_of_red(first.image) == "tl"
    assert any("repaired" in w for w in first.warnings)
    for item in lost:
        assert isinstance(item, PageResult) and item.error is not None
        assert item.error.kind == "CorruptInputError" and "missing" in item.error.message
    assert capfd.readouterr().err == ""


# ---------------------------------------------------------------------- PDF: errors


def _assert_one_line_naming(path: Path, error: BaseException) -> None:
    message = str(error)
    assert str(path) in message and "\n" not in message


def test_encrypted_pdf_needs_a_password(tmp_path):
    source = make_pdf(tmp_path / "plain.pdf", [(100, 100)])
    path = tmp_path / "secret.pdf"
    with pymupdf.open(source) as doc:
        doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="user", owner_pw="own")
    with pytest.raises(EncryptedInputError) as info:
        PDF.open(path, dpi=72)
    _assert_one_line_naming(path, info.value)
    assert "password" in str(info.value)


def test_pdf_without_pages_is_empty(tmp_path):
    path = tmp_path / "empty.pdf"
    path.write_bytes(
        raw_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"])
    )
    with pytest.raises(EmptyInputError) as info:
        PDF.open(path, dpi=72)
    _assert_one_line_naming(path, info.value)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "repaired-without-pages"])
def test_corrupt_pdf(tmp_path, capfd, damage):
    path = tmp_path / f"{damage}.pdf"
    if damage == "garbage":
        path.write_bytes(b"%PDF-1.7\n" + np.random.default_rng(1).bytes(5000))
    elif damage == "truncated":  # cut before the page tree
        data = make_pdf(tmp_path / "whole.pdf", [(300, 300)] * 3).read_bytes()
        path.write_bytes(data[: data.index(b"2 0 obj")])
    else:  # no cross-reference table, and no page MuPDF can find when repairing
        path.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")
    assert PDF.accepts(path, head(path))
    with pytest.raises(CorruptInputError) as info:
        PDF.open(path, dpi=72)
    _assert_one_line_naming(path, info.value)
    assert capfd.readouterr().err == ""


def test_documents_close_twice(tmp_path):
    pdf = make_pdf(tmp_path / "doc.pdf", [(100, 100)])
    tiff = _three_page_tiff(tmp_path / "three.tif")
    for loader, path in ((PDF, pdf), (IMG, tiff)):
        document = loader.open(path, dpi=72)
        document.close()
        document.close()


def test_missing_pdf(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        PDF.open(tmp_path / "absent.pdf", dpi=72)
