"""Turning an uploaded file into the image variants the pages use. Pure Pillow, no Flask:
the file is judged by its content, opened under a pixel limit, decoded no larger than the
biggest variant needs (JPEG draft mode), turned upright by its EXIF orientation, and
re-encoded as WebP and JPEG at a few widths. Re-encoding keeps only pixels: no EXIF, GPS,
XMP, comments, PNG text chunks, colour profiles or bytes appended after the image survive
(image.info is emptied before encoding)."""
import warnings
from dataclasses import dataclass, field
from io import BytesIO

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

# Formats accepted, by what the bytes are, whatever the file is called. Naming them also
# keeps Pillow from trying its other plugins (EPS would start Ghostscript, for one).
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")

# Widths made for each kind; an image narrower than the largest gets its own width as the top.
VARIANT_WIDTHS = {"cover": (400, 800, 1600), "gallery": (400, 800, 1600), "avatar": (96, 192, 400)}
SQUARE_KINDS = {"avatar"}
FORMATS = (("webp", "WEBP", "image/webp"), ("jpg", "JPEG", "image/jpeg"))
CONTENT_TYPES = {ext: content_type for ext, _, content_type in FORMATS}

_SRGB = ImageCms.createProfile("sRGB")


class ImageRefused(ValueError):
    """The upload is not an image we accept; the message says why, for the person uploading."""

    def __init__(self, reason: str, **params):
        super().__init__(reason)
        self.reason = reason
        self.params = params


@dataclass
class ProcessedImage:
    width: int  # of the largest variant
    height: int
    widths: tuple[int, ...]  # ascending
    # (width, extension) -> encoded bytes
    files: dict[tuple[int, str], bytes] = field(default_factory=dict)
    # perceptual hash of the pixels (imagehash.phash, 16 hex digits): the risk review compares images
    phash: str | None = None


def perceptual_hash(image: Image.Image) -> str:
    """imagehash.phash of the image as 16 hex digits (64 bits); near-identical pictures differ in few bits."""
    import imagehash

    return str(imagehash.phash(image.convert("RGB")))


def variant_widths(kind: str, width: int) -> tuple[int, ...]:
    """The widths made for an image `width` pixels wide (after the kind's cap)."""
    steps = VARIANT_WIDTHS[kind]
    top = min(width, steps[-1])
    return tuple(w for w in steps if w < top) + (top,)


def _open(data: bytes, max_pixels: int) -> Image.Image:
    previous = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice the limit; refuse those too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = max_pixels
            image = Image.open(BytesIO(data), formats=ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRefused("too_many_pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ImageRefused("unreadable") from None
    finally:
        Image.MAX_IMAGE_PIXELS = previous
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageRefused("unreadable")
    if width * height > max_pixels:  # the header alone decides, before any pixel is decoded
        raise ImageRefused("too_many_pixels")
    return image


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block is ignored, like a missing one
        return 1


def _to_srgb(image: Image.Image) -> Image.Image:
    """Pixels converted to sRGB when the file carries another colour profile (phones often
    use Display P3): the profile itself is not kept, so the colours must be."""
    profile = image.info.get("icc_profile")
    if not profile or image.mode not in ("RGB", "RGBA"):
        return image
    try:
        source = ImageCms.ImageCmsProfile(BytesIO(profile))
        return ImageCms.profileToProfile(image, source, _SRGB, outputMode=image.mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image


def _flatten(image: Image.Image) -> tuple[Image.Image, Image.Image]:
    """(image for WebP, which keeps transparency; image for JPEG, on white)."""
    if image.mode in ("RGB", "L"):
        rgb = image.convert("RGB")
        return rgb, rgb
    rgba = image.convert("RGBA")
    background = Image.new("RGB", rgba.size, "white")
    background.paste(rgba, mask=rgba.getchannel("A"))
    return rgba, background


def process_image(data: bytes, kind: str, *, max_pixels: int, max_bytes: int) -> ProcessedImage:
    """Every variant of an upload, encoded. Raises ImageRefused with a reason key:
    too_large, too_many_pixels or unreadable."""
    if len(data) > max_bytes:
        raise ImageRefused("too_large")
    image = _open(data, max_pixels)
    top = VARIANT_WIDTHS[kind][-1]
    try:
        orientation = _orientation(image)
        if image.format in ("JPEG", "MPO"):  # MPO: the JPEG many phones write (with a depth map)
            # Decode at the smallest 1/2, 1/4 or 1/8 scale still at least as large as needed.
            width, height = image.size
            if orientation in (5, 6, 7, 8):  # shown rotated: the shown width is the stored height
                width, height = height, width
            if kind in SQUARE_KINDS:
                side = min(width, height)
                needed = (top * image.size[0] // side, top * image.size[1] // side)
            else:
                scale = min(1.0, top / width)
                needed = (round(image.size[0] * scale), round(image.size[1] * scale))
            image.draft("RGB", needed)
        image.seek(0)  # an animated GIF: its first frame
        image.load()
        icc = image.info.get("icc_profile")
        if orientation != 1:
            image = ImageOps.exif_transpose(image)
        if image.mode.startswith("I;16") or image.mode == "I":
            # 16-bit greyscale PNG: Pillow's own conversion clips every level above 255 to white.
            image = image.convert("I").point(lambda level: level / 257).convert("L")
        if image.mode not in ("RGB", "RGBA", "L"):
            image = image.convert("RGBA" if "transparency" in image.info or image.mode in ("LA", "PA", "P")
                                  else "RGB")
        if icc:
            image.info["icc_profile"] = icc
            image = _to_srgb(image)
    except ImageRefused:
        raise
    except (OSError, SyntaxError, ValueError, EOFError):  # truncated or corrupt pixel data
        raise ImageRefused("unreadable") from None

    if kind in SQUARE_KINDS:
        side = min(image.size)
        size = min(side, top)
        image = ImageOps.fit(image, (size, size), Image.LANCZOS)
    # Nothing of the original's metadata goes on: Pillow's encoders write some of image.info
    # unasked (a JPEG comment, and whatever a later Pillow adds), and info travels through
    # convert() and resize(). The colour profile was applied above (or the pixels are greyscale
    # and it is dropped); variants are sRGB without one.
    image.info = {}
    widths = variant_widths(kind, image.width)
    result = ProcessedImage(width=widths[-1], height=max(1, round(image.height * widths[-1] / image.width)),
                            widths=widths, phash=perceptual_hash(image))
    current = image
    for width in reversed(widths):
        if current.width != width:
            current = current.resize((width, max(1, round(current.height * width / current.width))),
                                     Image.LANCZOS, reducing_gap=3.0)
        for_webp, for_jpeg = _flatten(current)
        webp = BytesIO()
        for_webp.save(webp, "WEBP", quality=80, method=2)
        jpeg = BytesIO()
        for_jpeg.save(jpeg, "JPEG", quality=82, optimize=True, progressive=True)
        result.files[(width, "webp")] = webp.getvalue()
        result.files[(width, "jpg")] = jpeg.getvalue()
    return result
