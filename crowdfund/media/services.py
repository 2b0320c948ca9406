"""Storing uploaded images: opened with Pillow under a pixel limit, re-encoded (which drops
metadata and anything smuggled after the image data), saved under a server-made name."""
import secrets
import warnings
from io import BytesIO

from flask import current_app
from PIL import Image, ImageOps, UnidentifiedImageError

from crowdfund.errors import ValidationFailed

ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}
MAX_WIDTHS = {"cover": 1600, "avatar": 400}


def _open_image(data: bytes) -> Image.Image:
    Image.MAX_IMAGE_PIXELS = current_app.config["MAX_IMAGE_PIXELS"]
    try:
        with warnings.catch_warnings():
            # Pillow only warns between the limit and twice the limit; refuse those too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(BytesIO(data))
            if image.format not in ACCEPTED_FORMATS:
                raise ValidationFailed("Upload a JPEG, PNG, WebP or GIF image.")
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValidationFailed("That image has too many pixels; the limit is 40 megapixels.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ValidationFailed("That file is not an image we can read (JPEG, PNG, WebP or GIF).") from None
    return image


def store_image(data: bytes, kind: str) -> str:
    """Save a re-encoded JPEG no wider than the kind allows; returns its generated file name.
    Raises ValidationFailed for anything that is not a readable image within limits."""
    image = _open_image(data)
    image = ImageOps.exif_transpose(image)
    if image.mode not in ("RGB", "L"):
        background = Image.new("RGB", image.size, "white")
        rgba = image.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    max_width = MAX_WIDTHS[kind]
    if image.width > max_width:
        image = image.resize((max_width, round(image.height * max_width / image.width)), Image.LANCZOS)
    name = f"{kind}-{secrets.token_hex(16)}.jpg"
    image.convert("RGB").save(current_app.config["UPLOAD_DIR"] / name, "JPEG", quality=85, optimize=True)
    return name
