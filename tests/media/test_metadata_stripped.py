"""No metadata of any kind reaches a served variant: a JPEG comment (COM segment), PNG tEXt,
zTXt and iTXt chunks, WebP EXIF and XMP, a GIF comment, and a colour profile Pillow could not
apply (greyscale) are all absent from every WebP and JPEG variant, byte for byte."""
from io import BytesIO

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from crowdfund.media.processing import process_image

LIMITS = {"max_pixels": 40_000_000, "max_bytes": 10 * 1024 * 1024}
MARKERS = (b"SECRET-COMMENT", b"SECRET-TEXT", b"SECRET-ZTEXT", b"SECRET-ITXT", b"SECRET-XMP", b"SECRET-EXIF",
           b"SECRET-GIF")


def _picture(mode="RGB") -> Image.Image:
    image = Image.new(mode, (640, 480), "red" if mode != "L" else 128)
    return image


def _exif() -> bytes:
    exif = Image.Exif()
    exif[0x010E] = "SECRET-EXIF"  # ImageDescription
    return exif.tobytes()


def _encode(image, format_, **options) -> bytes:
    buffer = BytesIO()
    image.save(buffer, format_, **options)
    return buffer.getvalue()


def _png_text() -> PngInfo:
    info = PngInfo()
    info.add_text("Comment", "SECRET-TEXT")
    info.add_text("Description", "SECRET-ZTEXT", zip=True)
    info.add_itxt("XML:com.adobe.xmp", "<x>SECRET-ITXT</x>", lang="en", tkey="xmp")
    return info


XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description>SECRET-XMP</rdf:Description></x:xmpmeta>'

INPUTS = {
    "jpeg-comment": lambda: _encode(_picture(), "JPEG", comment=b"SECRET-COMMENT"),
    "jpeg-comment-grey": lambda: _encode(_picture("L"), "JPEG", comment=b"SECRET-COMMENT"),
    "png-text": lambda: _encode(_picture(), "PNG", pnginfo=_png_text()),
    "png-text-rgba": lambda: _encode(_picture("RGBA"), "PNG", pnginfo=_png_text()),
    "webp-exif-xmp": lambda: _encode(_picture(), "WEBP", exif=_exif(), xmp=XMP),
    "gif-comment": lambda: _encode(_picture().convert("P"), "GIF", comment=b"SECRET-GIF"),
    "png-grey-icc-text": lambda: _encode(_picture("L"), "PNG", pnginfo=_png_text(),
                                         icc_profile=b"SECRET-ICC-NOT-A-PROFILE"),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
@pytest.mark.parametrize("kind", ["gallery", "avatar"])
def test_no_metadata_in_any_variant(name, kind):
    data = INPUTS[name]()
    assert any(marker in data for marker in MARKERS + (b"SECRET-ICC",)), "the input carries its marker"
    processed = process_image(data, kind, **LIMITS)
    assert processed.files
    for (width, ext), body in processed.files.items():
        for marker in MARKERS + (b"SECRET",):
            assert marker not in body, f"{marker!r} in the {width}px {ext} variant of {name}"
        image = Image.open(BytesIO(body))
        leftovers = {key for key in image.info if key in ("comment", "exif", "xmp", "icc_profile", "XML:com.adobe.xmp")
                     or isinstance(image.info[key], (str, bytes)) and key[:1].isupper()}
        assert not leftovers, f"{leftovers} in the {width}px {ext} variant of {name}"
