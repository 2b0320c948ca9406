"""process_image on its own (no app, no database): phone photos come out upright, the variant
widths follow the original's width, WebP and JPEG variants show the same picture, transparency
is kept in WebP and put on white in JPEG, GIFs give their first frame, CMYK, 16-bit and palette
files come out in the right colours, colour profiles are applied and dropped, avatars are square."""
from io import BytesIO

import pytest
from PIL import Image, ImageCms

from crowdfund.media.processing import process_image

LIMITS = {"max_pixels": 40_000_000, "max_bytes": 10 * 1024 * 1024}
RED, WHITE = (255, 0, 0), (255, 255, 255)


def encode(image: Image.Image, format_: str, **options) -> bytes:
    buffer = BytesIO()
    image.save(buffer, format_, **options)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(BytesIO(data))
    image.load()
    return image


def near(colour, expected, tolerance=12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected))


def corner_colours(image: Image.Image, inset=20) -> dict[str, tuple]:
    rgb = image.convert("RGB")
    right, bottom = rgb.width - 1 - inset, rgb.height - 1 - inset
    return {"top-left": rgb.getpixel((inset, inset)), "top-right": rgb.getpixel((right, inset)),
            "bottom-left": rgb.getpixel((inset, bottom)), "bottom-right": rgb.getpixel((right, bottom))}


# EXIF orientation -> where the marker painted at the stored top-left corner is seen.
ORIENTATIONS = {3: "bottom-right", 6: "top-right", 8: "bottom-left"}


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_phone_photo_comes_out_upright(orientation):
    # A camera stores a portrait photo as landscape pixels plus an EXIF orientation tag.
    stored = Image.new("RGB", (1200, 800), WHITE)
    stored.paste(RED, (0, 0, 150, 150))
    exif = Image.Exif()
    exif[0x0112] = orientation

    result = process_image(encode(stored, "JPEG", quality=95, exif=exif), "gallery", **LIMITS)

    upright = (800, 1200) if orientation in (6, 8) else (1200, 800)
    assert (result.width, result.height) == upright
    for ext in ("jpg", "webp"):
        shown = decode(result.files[(result.width, ext)])
        assert shown.size == upright
        red_corners = [corner for corner, colour in corner_colours(shown).items() if near(colour, RED, 40)]
        assert red_corners == [ORIENTATIONS[orientation]], ext
        assert not shown.getexif(), "the orientation tag must not be applied a second time by browsers"


def test_large_rotated_jpeg_keeps_full_resolution_for_the_widest_variant():
    # Decoding a JPEG at a reduced scale must account for the rotation: the shown width is the stored height.
    stored = Image.linear_gradient("L").resize((3200, 2400)).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6

    result = process_image(encode(stored, "JPEG", exif=exif), "cover", **LIMITS)

    assert result.widths == (400, 800, 1600)
    assert (result.width, result.height) == (1600, 2133)
    assert decode(result.files[(1600, "jpg")]).size == (1600, 2133)


@pytest.mark.parametrize("width, expected", [(4000, (400, 800, 1600)), (600, (400, 600)), (300, (300,))])
def test_variant_widths_follow_the_original_width(width, expected):
    original = Image.linear_gradient("L").resize((width, width // 2)).convert("RGB")

    result = process_image(encode(original, "JPEG"), "cover", **LIMITS)

    assert result.widths == expected
    assert sorted(result.files) == sorted((w, ext) for w in expected for ext in ("webp", "jpg"))
    for (w, ext), data in result.files.items():
        assert decode(data).size == (w, round(w / 2)), (w, ext)


def test_webp_and_jpeg_variants_show_the_same_picture_at_the_same_size():
    original = Image.new("RGB", (1000, 500), (30, 90, 200))
    original.paste((250, 200, 20), (500, 0, 1000, 500))

    result = process_image(encode(original, "PNG"), "gallery", **LIMITS)

    for width in result.widths:
        webp, jpeg = decode(result.files[(width, "webp")]), decode(result.files[(width, "jpg")])
        assert (webp.format, jpeg.format) == ("WEBP", "JPEG")
        assert webp.size == jpeg.size == (width, width // 2)
        for point in ((width // 4, width // 4), (3 * width // 4, width // 4)):
            assert near(webp.convert("RGB").getpixel(point), jpeg.convert("RGB").getpixel(point))
        assert near(jpeg.getpixel((width // 4, width // 4)), (30, 90, 200))
        assert near(jpeg.getpixel((3 * width // 4, width // 4)), (250, 200, 20))


def test_transparent_png_is_on_white_in_jpeg_and_keeps_its_alpha_in_webp():
    original = Image.new("RGBA", (500, 300), (0, 0, 255, 0))  # invisible blue on the right
    original.paste((0, 128, 0, 255), (0, 0, 250, 300))  # opaque green on the left

    result = process_image(encode(original, "PNG"), "gallery", **LIMITS)

    jpeg, webp = decode(result.files[(500, "jpg")]), decode(result.files[(500, "webp")])
    assert jpeg.mode == "RGB"
    assert near(jpeg.getpixel((400, 150)), WHITE), "transparent pixels must not turn black or blue"
    assert near(jpeg.getpixel((100, 150)), (0, 128, 0))
    assert webp.mode == "RGBA"
    assert webp.getpixel((400, 150))[3] == 0
    assert webp.getpixel((100, 150))[3] == 255
    assert near(webp.getpixel((100, 150))[:3], (0, 128, 0))


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (500, 300), colour) for colour in (RED, (0, 255, 0), (0, 0, 255))]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(BytesIO(gif)).n_frames == 3

    result = process_image(gif, "gallery", **LIMITS)

    for ext in ("jpg", "webp"):
        shown = decode(result.files[(500, ext)])
        assert getattr(shown, "n_frames", 1) == 1
        assert near(shown.convert("RGB").getpixel((250, 150)), RED), ext


def test_cmyk_jpeg_comes_out_in_its_colours():
    original = Image.new("CMYK", (500, 300), (0, 255, 255, 0))  # full magenta + yellow: red
    data = encode(original, "JPEG")
    assert Image.open(BytesIO(data)).mode == "CMYK"

    result = process_image(data, "gallery", **LIMITS)

    for ext in ("jpg", "webp"):
        shown = decode(result.files[(500, ext)])
        assert shown.mode == "RGB"
        assert near(shown.getpixel((250, 150)), RED), ext


def test_16_bit_greyscale_png_keeps_its_grey_level():
    original = Image.new("I;16", (500, 300), 40000)  # 40000 / 65535 of white: a mid grey (156 of 255)
    data = encode(original, "PNG")
    assert Image.open(BytesIO(data)).mode == "I;16"

    result = process_image(data, "gallery", **LIMITS)

    for ext in ("jpg", "webp"):
        shown = decode(result.files[(500, ext)]).convert("RGB")
        assert near(shown.getpixel((250, 150)), (156, 156, 156), 4), ext


def test_16_bit_colour_png_keeps_its_colour():
    # Pillow has no 16-bit RGB mode; such files are written by hand-rolled encoders and cameras' tools.
    import struct
    import zlib

    pixel = struct.pack(">HHH", 65535, 32896, 0)  # orange: (255, 128, 0)
    raw = b"".join(b"\x00" + pixel * 500 for _ in range(300))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 500, 300, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

    result = process_image(data, "gallery", **LIMITS)

    for ext in ("jpg", "webp"):
        assert near(decode(result.files[(500, ext)]).convert("RGB").getpixel((250, 150)), (255, 128, 0)), ext


@pytest.mark.parametrize("transparent", [False, True])
def test_palette_png_comes_out_in_its_colours(transparent):
    original = Image.new("P", (500, 300), 0)
    original.putpalette([200, 30, 40, 20, 20, 160] + [0] * 762)
    original.paste(1, (250, 0, 500, 300))  # left half palette entry 0, right half entry 1
    data = encode(original, "PNG", **({"transparency": 1} if transparent else {}))
    assert Image.open(BytesIO(data)).mode == "P"

    result = process_image(data, "gallery", **LIMITS)

    jpeg, webp = decode(result.files[(500, "jpg")]), decode(result.files[(500, "webp")])
    assert near(jpeg.getpixel((100, 150)), (200, 30, 40))
    assert near(webp.convert("RGB").getpixel((100, 150)), (200, 30, 40))
    if transparent:
        assert near(jpeg.getpixel((400, 150)), WHITE)
        assert webp.getpixel((400, 150))[3] == 0
    else:
        assert near(jpeg.getpixel((400, 150)), (20, 20, 160))


def test_colour_profile_is_applied_then_left_out():
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    original = Image.new("RGB", (600, 400), (40, 160, 90))
    data = encode(original, "JPEG", icc_profile=profile, quality=95)
    assert Image.open(BytesIO(data)).info.get("icc_profile")

    result = process_image(data, "gallery", **LIMITS)

    for (width, ext), encoded in result.files.items():
        shown = decode(encoded)
        assert "icc_profile" not in shown.info, (width, ext)
        assert b"ICC_PROFILE" not in encoded and b"ICCP" not in encoded and profile[36:40] not in encoded  # "acsp", the profile signature
        assert near(shown.convert("RGB").getpixel((width // 2, 20)), (40, 160, 90)), (width, ext)


@pytest.mark.parametrize("size, side", [((1200, 800), 400), ((800, 1200), 400), ((300, 500), 300)])
def test_avatars_come_out_square(size, side):
    original = Image.new("RGB", size, (90, 60, 30))

    result = process_image(encode(original, "JPEG"), "avatar", **LIMITS)

    assert (result.width, result.height) == (side, side)
    assert result.widths[-1] == side
    assert set(result.widths) <= {96, 192, 400, side}
    for (width, ext), data in result.files.items():
        assert decode(data).size == (width, width), (width, ext)


def test_avatar_is_cut_from_the_centre():
    # A wide photo: the square is its middle, so the edges (here red) are cut away.
    original = Image.new("RGB", (1200, 400), RED)
    original.paste((0, 0, 255), (400, 0, 800, 400))

    result = process_image(encode(original, "PNG"), "avatar", **LIMITS)

    shown = decode(result.files[(400, "jpg")])
    assert all(near(colour, (0, 0, 255), 40) for colour in corner_colours(shown, inset=8).values())
