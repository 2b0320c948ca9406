"""Hostile uploads, made here by the tests (no binary fixtures), each sent through the real upload
form as the campaign's founder: pixel bombs (declared in the header and real ones), a truncated
JPEG, an SVG with a script, an oversized file and an oversized request body are refused with a
4xx, a message next to the field and nothing stored; an HTML-in-PNG polyglot, a phone photo with
GPS/EXIF/XMP/comment/ICC data and a file named `../../x.png` are stored re-encoded under
server-made names with nothing of the original's payload. Peak memory over the whole corpus
(and a 12-megapixel photo) is measured in a separate process."""
import json
import struct
import subprocess
import sys
import zlib
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from campaigns.helpers import error_next_to, fresh
from crowdfund.campaigns.models import Campaign
from crowdfund.extensions import db
from crowdfund.media.models import GalleryImage, Image as ImageRow

TOO_MANY_PIXELS = "That image has too many pixels. The limit is 40 megapixels."
UNREADABLE = "That file is not an image we can read. Upload a JPEG, PNG, WebP or GIF."
TOO_LARGE = "That file is too large. Images can be up to 10 MB."
ALT = "The oven on delivery day"


# --- the corpus -------------------------------------------------------------------------------

def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(width: int, height: int, idat: bytes, *extra_chunks: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + b"".join(extra_chunks)
            + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b""))


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width×height pixels (its pixel data is a few bytes)."""
    return _png(width, height, zlib.compress(b"\x00" * 31))


def png_bomb(width: int, height: int, rows_per_block: int = 100) -> bytes:
    """A valid PNG of width×height black pixels whose data really inflates to all of them
    (20000×20000: 1.2 GB of pixels in a file of about 1 MB)."""
    assert height % rows_per_block == 0
    block = b"\x00" * ((1 + 3 * width) * rows_per_block)  # each row: filter byte, then RGB zeros
    compressor = zlib.compressobj(9)
    first = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)  # zlib header + block
    again = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)  # no history after a full flush
    length = len(block) * (height // rows_per_block)
    adler32 = ((length % 65521) << 16) | 1  # Adler-32 of `length` zero bytes
    idat = first + again * (height // rows_per_block - 1) + b"\x03\x00" + struct.pack(">I", adler32)
    return _png(width, height, idat)


def photo(width: int, height: int) -> Image.Image:
    """A picture with detail everywhere, so JPEG cannot make it tiny."""
    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((max(width // 4, 1), max(height // 4, 1)), 30).resize((width, height), Image.NEAREST)
    return Image.merge("RGB", (gradient, noise, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))


def encode(image: Image.Image, format_: str, **options) -> bytes:
    buffer = BytesIO()
    image.save(buffer, format_, **options)
    return buffer.getvalue()


def truncated_jpeg() -> bytes:
    data = encode(photo(800, 600), "JPEG", quality=90)
    return data[: len(data) // 2]


SCRIPT = b"<script>alert(1)</script>"
SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="400" height="300">'
       b'<rect width="400" height="300" fill="red"/>' + SCRIPT + b"</svg>")


def polyglot_png() -> bytes:
    """A valid PNG that is also an HTML page: markup in a tEXt chunk and after IEND."""
    info = PngInfo()
    info.add_text("Comment", "<html><body>" + SCRIPT.decode() + "</body></html>")
    return encode(photo(600, 400), "PNG", pnginfo=info) + b"<html><body>" + SCRIPT + b"</body></html>"


MAKE, MODEL, CREATOR, COMMENT = "SpyPhoneMaker", "Snoop 9 Pro", "Jane Q. Photographer", b"taken at 12 Home Street"
XMP = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       '<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>' + CREATOR
       + "</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>").encode()


def gps_jpeg(width=1200, height=900) -> bytes:
    """A phone photo carrying where it was taken, the phone's make and model, XMP, a comment and a profile."""
    from PIL import ImageCms

    exif = Image.Exif()
    exif[0x010F] = MAKE
    exif[0x0110] = MODEL
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 26.5), 3: "W", 4: (0.0, 7.0, 39.0)}  # GPSInfo: London
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return encode(photo(width, height), "JPEG", quality=90, exif=exif, xmp=XMP, comment=COMMENT,
                  icc_profile=profile)


def padded_png(size: int) -> bytes:
    """A valid, small PNG padded with a private ancillary chunk to `size` bytes: too large, not unreadable."""
    small = encode(photo(100, 100), "PNG")
    padding = size - len(small) - 12
    return small[:33] + _png_chunk(b"prVt", b"\x00" * padding) + small[33:]


# --- helpers ----------------------------------------------------------------------------------

def upload_to_gallery(client, campaign, data: bytes, filename="photo.jpg", alt=ALT):
    return client.post(f"/c/{campaign.slug}/edit/media/gallery", content_type="multipart/form-data",
                       data={"gallery-image": (BytesIO(data), filename), "gallery-alt": alt})


def upload_cover(client, campaign, data: bytes, filename="cover.jpg", alt=ALT):
    return client.post(f"/c/{campaign.slug}/edit/media/cover", content_type="multipart/form-data",
                       data={"cover-image": (BytesIO(data), filename), "cover-alt": alt})


def files_in(folder: Path) -> list[str]:
    """Every file under folder (hidden and partial ones too), as paths relative to it."""
    if not folder.exists():
        return []
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def image_rows() -> list[ImageRow]:
    db.session.rollback()
    return db.session.execute(db.select(ImageRow)).scalars().all()


def assert_nothing_stored(app, campaign):
    assert image_rows() == []
    assert db.session.execute(db.select(GalleryImage)).scalars().all() == []
    assert fresh(Campaign, campaign.id).cover_image_id is None
    assert files_in(Path(app.config["UPLOAD_DIR"])) == []


def served_variants(client, image: ImageRow) -> dict[str, bytes]:
    """Every file of the image as the browser gets it."""
    variants = {}
    for name in image.file_names():
        response = client.get(f"/media/{name}")
        assert response.status_code == 200, name
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.mimetype == ("image/webp" if name.endswith(".webp") else "image/jpeg")
        variants[name] = response.get_data()
    return variants


# --- refused ----------------------------------------------------------------------------------

REFUSED = {
    "header declares 20000x20000 (400 MP)": (lambda: png_declaring(20000, 20000), TOO_MANY_PIXELS),
    "10000x10000 with all its pixel data (100 MP)": (lambda: png_bomb(10000, 10000), TOO_MANY_PIXELS),
    # Between the limit and twice it Pillow only warns; it must be refused all the same.
    "7000x7000 declared (49 MP)": (lambda: png_declaring(7000, 7000), TOO_MANY_PIXELS),
    "8000x5005 with all its pixel data (just over 40 MP)": (lambda: png_bomb(8000, 5005, rows_per_block=5),
                                                          TOO_MANY_PIXELS),
    "truncated JPEG": (truncated_jpeg, UNREADABLE),
    "SVG with a script": (lambda: SVG, UNREADABLE),
    "HTML page named .png": (lambda: b"<html><body>" + SCRIPT + b"</body></html>", UNREADABLE),
    "11 MB PNG": (lambda: padded_png(11 * 1024 * 1024), TOO_LARGE),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_hostile_gallery_upload_is_refused_and_nothing_is_stored(app, founder_client, draft, case):
    make, message = REFUSED[case]

    response = upload_to_gallery(founder_client, draft, make(), filename="holiday.png")

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert error_next_to(html, "gallery-image") == message
    assert f'value="{ALT}"' in html, "the alt text typed is kept"
    assert_nothing_stored(app, draft)


@pytest.mark.parametrize("case", ["header declares 20000x20000 (400 MP)", "SVG with a script"])
def test_hostile_cover_upload_is_refused_and_nothing_is_stored(app, founder_client, draft, case):
    make, message = REFUSED[case]

    response = upload_cover(founder_client, draft, make(), filename="cover.svg")

    assert response.status_code == 422
    assert error_next_to(response.get_data(as_text=True), "cover-image") == message
    assert_nothing_stored(app, draft)


def test_the_pixel_bombs_are_what_they_claim():
    # The corpus itself: the header says what a decoder would have to allocate, and a real bomb's
    # data inflates to every pixel (checked on a small one, decoded whole).
    assert struct.unpack(">II", png_declaring(20000, 20000)[16:24]) == (20000, 20000)  # IHDR width, height
    assert len(png_bomb(20000, 20000)) < 1_300_000
    small = Image.open(BytesIO(png_bomb(1000, 1000)))
    small.load()
    assert small.size == (1000, 1000) and small.getextrema() == ((0, 0), (0, 0), (0, 0))


def test_body_over_the_request_limit_gets_the_413_page_and_nothing_is_stored(app, founder_client, draft):
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert limit == 12 * 1024 * 1024

    response = upload_to_gallery(founder_client, draft, padded_png(limit + 1024 * 1024))

    assert response.status_code == 413
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "File too large" in html
    assert "That upload is too large. The limit is 12 MB." in html
    assert '<link rel="stylesheet"' in html, "a styled page, not a bare error"
    assert_nothing_stored(app, draft)


# --- stored, re-encoded -----------------------------------------------------------------------

def the_only_image(app) -> ImageRow:
    rows = image_rows()
    assert len(rows) == 1
    (image,) = rows
    assert files_in(Path(app.config["UPLOAD_DIR"])) == sorted(image.file_names())
    return image


def test_html_in_png_polyglot_is_stored_without_its_markup(app, founder_client, draft):
    data = polyglot_png()
    assert Image.open(BytesIO(data)).text["Comment"].startswith("<html>")  # the corpus holds the payload
    assert data.count(SCRIPT) == 2

    response = upload_to_gallery(founder_client, draft, data, filename="page.html.png")

    assert response.status_code == 302
    image = the_only_image(app)
    variants = served_variants(founder_client, image)
    assert len(variants) == 4  # 400 and 600 wide, WebP and JPEG
    for name, served in variants.items():
        for payload in (b"<script", b"<html", b"alert(1)", b"tEXt", b"Comment"):
            assert payload not in served, (name, payload)
        assert Image.open(BytesIO(served)).format in ("WEBP", "JPEG")


def test_phone_photo_with_gps_is_stored_without_any_metadata(app, founder_client, draft):
    data = gps_jpeg()
    original = Image.open(BytesIO(data))
    assert original.getexif().get_ifd(0x8825)[2] == (51.0, 30.0, 26.5)  # the corpus holds a location
    assert {"exif", "xmp", "comment", "icc_profile"} <= set(original.info)

    response = upload_cover(founder_client, draft, data)

    assert response.status_code == 302
    image = the_only_image(app)
    assert fresh(Campaign, draft.id).cover_image_id == image.id
    variants = served_variants(founder_client, image)
    assert len(variants) == 6  # 400, 800 and 1200 wide, WebP and JPEG
    for name, served in variants.items():
        shown = Image.open(BytesIO(served))
        assert not set(shown.info) & {"exif", "xmp", "XML:com.adobe.xmp", "comment", "icc_profile"}, name
        assert len(shown.getexif()) == 0, name
        # Markers long enough not to turn up by chance in compressed pixels (a bare b"GPS" does, ~1 in 100
        # files); the GPS block lives inside the EXIF segment, whose header is checked here.
        for trace in (b"Exif\x00\x00", MAKE.encode(), MODEL.encode(), CREATOR.encode(), COMMENT, b"xmpmeta",
                      b"ICC_PROFILE", b"ICCP"):
            assert trace not in served, (name, trace)


def test_file_named_with_a_path_is_stored_under_a_server_made_name_only(app, founder_client, draft, tmp_path):
    upload_dir = Path(app.config["UPLOAD_DIR"])

    response = upload_to_gallery(founder_client, draft, encode(photo(500, 300), "PNG"), filename="../../x.png")

    assert response.status_code == 302
    image = the_only_image(app)  # every file in the upload folder is one of the image's variants
    assert all(name.startswith(image.key + "-") for name in files_in(upload_dir))
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert written and all(path.parent == upload_dir for path in written), "nothing written outside the folder"
    for folder in (upload_dir.parent, upload_dir.parent.parent, Path.cwd()):
        assert not (folder / "x.png").exists()


# --- peak memory ------------------------------------------------------------------------------

# Peak memory is read from /proc/self/status (VmHWM, this process's own peak). ru_maxrss would not
# do: Linux carries it over from the process that started this one (here pytest) across exec.
MEASURE = """
import json, sys
from pathlib import Path
from crowdfund.media.processing import ImageRefused, process_image

def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

start = peak_kb()
outcomes = {}
for path in sorted(Path(sys.argv[1]).iterdir()):
    kind = "avatar" if path.name.startswith("avatar-") else "gallery"
    try:
        result = process_image(path.read_bytes(), kind, max_pixels=40_000_000, max_bytes=10 * 1024 * 1024)
        outcomes[path.name] = list(result.widths)
    except ImageRefused as refused:
        outcomes[path.name] = refused.reason
print(json.dumps({"start_kb": start, "peak_kb": peak_kb(), "outcomes": outcomes}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak memory from Linux's /proc")
def test_peak_memory_stays_bounded_over_the_whole_corpus(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    phone_photo = encode(photo(4000, 3000), "JPEG", quality=90)  # 12 megapixels
    files = {
        "bomb-declared-20000.png": png_declaring(20000, 20000),
        "bomb-real-20000.png": png_bomb(20000, 20000),  # 1.2 GB of pixels if decoded
        "bomb-real-10000.png": png_bomb(10000, 10000),  # 300 MB
        "bomb-declared-7000.png": png_declaring(7000, 7000),
        "truncated.jpg": truncated_jpeg(),
        "script.svg": SVG,
        "polyglot.png": polyglot_png(),
        "gps.jpg": gps_jpeg(),
        "padded-11mb.png": padded_png(11 * 1024 * 1024),
        "phone-12mp.jpg": phone_photo,
        "avatar-phone-12mp.jpg": phone_photo,
    }
    for name, data in files.items():
        (corpus / name).write_bytes(data)

    run = subprocess.run([sys.executable, "-c", MEASURE, str(corpus)], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], timeout=120)

    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["outcomes"] == {
        "bomb-declared-20000.png": "too_many_pixels", "bomb-real-20000.png": "too_many_pixels",
        "bomb-real-10000.png": "too_many_pixels", "bomb-declared-7000.png": "too_many_pixels",
        "truncated.jpg": "unreadable", "script.svg": "unreadable", "polyglot.png": [400, 600],
        "gps.jpg": [400, 800, 1200], "padded-11mb.png": "too_large", "phone-12mp.jpg": [400, 800, 1600],
        "avatar-phone-12mp.jpg": [96, 192, 400],
    }
    peak_mb = report["peak_kb"] / 1024
    # Decoding the 20000×20000 bomb would take 1.2 GB, the 10000×10000 one 300 MB.
    assert peak_mb < 300, f"peak {peak_mb:.0f} MB (after imports {report['start_kb'] / 1024:.0f} MB)"
