"""Serving image files at /media/<name> from the local folder: the right content type, a year of
caching, nosniff and conditional requests; only names the server makes are served (no paths,
no other files of the folder, no half-written files); files of a removed gallery image or a
replaced cover stop being served once the change is committed, and not before."""
import secrets
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image

from campaigns.helpers import fresh
from crowdfund.campaigns.models import Campaign
from crowdfund.extensions import db
from crowdfund.media import services
from crowdfund.media.models import GalleryImage, Image as ImageRow

CACHE_FOREVER = "public, max-age=31536000, immutable"


def png(width=500, height=300, colour=(200, 60, 30)) -> bytes:
    buffer = BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def stored(app):
    """An image stored as an upload would be: its variants written to the upload folder."""
    image = services.store_image(png(), "gallery")
    db.session.commit()
    return image


@pytest.fixture
def upload_dir(app) -> Path:
    return Path(app.config["UPLOAD_DIR"])


def image_rows() -> list[ImageRow]:
    db.session.rollback()
    return db.session.execute(db.select(ImageRow)).scalars().all()


@pytest.mark.parametrize("ext, content_type, format_", [("webp", "image/webp", "WEBP"), ("jpg", "image/jpeg", "JPEG")])
def test_variant_is_served_with_its_type_a_year_of_caching_and_nosniff(client, stored, ext, content_type, format_):
    response = client.get(f"/media/{stored.file_name(400, ext)}")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Cache-Control"] == CACHE_FOREVER
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    served = Image.open(BytesIO(response.get_data()))
    assert (served.format, served.size) == (format_, (400, 240))


def test_every_variant_of_an_upload_is_served(client, stored):
    assert stored.width_list == [400, 500]
    for name in stored.file_names():
        assert client.get(f"/media/{name}").status_code == 200, name


@pytest.mark.parametrize("condition", ["If-None-Match", "If-Modified-Since"])
def test_browser_revalidating_gets_304_without_the_file(client, stored, condition):
    name = stored.file_name(400, "jpg")
    first = client.get(f"/media/{name}")
    validator = first.headers["ETag"] if condition == "If-None-Match" else first.headers["Last-Modified"]

    again = client.get(f"/media/{name}", headers={condition: validator})

    assert again.status_code == 304
    assert again.get_data() == b""
    assert again.headers["Cache-Control"] == CACHE_FOREVER


def test_changed_validator_gets_the_file_again(client, stored):
    name = stored.file_name(400, "jpg")

    response = client.get(f"/media/{name}", headers={"If-None-Match": '"some-other-version"'})

    assert response.status_code == 200
    assert response.get_data() == client.get(f"/media/{name}").get_data()


def test_only_names_the_server_makes_are_served(client, stored, upload_dir, tmp_path):
    # Files the server would hand out if it served whatever name it is asked for.
    secret = "SECRET_KEY = 'do-not-leak'"
    (tmp_path / "config.py").write_text(secret)
    hex_ = secrets.token_hex(16)
    lookalikes = {
        "cover-xyz.jpg": b"not one of ours",
        f"cover-{hex_.upper()}-400.jpg": b"uppercase hex",
        f"banner-{hex_}-400.jpg": b"unknown kind",
        f"cover-{hex_}-400.png": b"unknown format",
        f"cover-{hex_}-400.jpg.partial": b"half written",
        f".{stored.file_name(400, 'jpg')}.partial": b"half written",  # how LocalStorage names a file being written
        "config.py": secret.encode(),
    }
    for name, content in lookalikes.items():
        (upload_dir / name).write_bytes(content)

    paths = [f"/media/{name}" for name in lookalikes] + [
        "/media/../config.py", "/media/..%2fconfig.py", "/media/%2e%2e/config.py", "/media/%2e%2e%2fconfig.py",
        "/media/%2e%2e/", f"/media/{stored.file_name(400, 'jpg')}/..%2f..%2fconfig.py",
        f"/media/cover-{hex_}-12345.jpg", f"/media/{stored.key}.jpg",
    ]
    for path in paths:
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"do-not-leak" not in response.get_data() and b"half written" not in response.get_data(), path


def test_name_of_an_image_never_stored_is_404(client, app):
    assert client.get(f"/media/gallery-{secrets.token_hex(16)}-400.webp").status_code == 404


def gallery_image_of(campaign_id) -> GalleryImage:
    db.session.rollback()
    return db.session.execute(db.select(GalleryImage).where(GalleryImage.campaign_id == campaign_id)).scalar_one()


def test_removed_gallery_image_is_no_longer_served(founder_client, draft, upload_dir):
    added = founder_client.post(f"/c/{draft.slug}/edit/media/gallery", content_type="multipart/form-data",
                                data={"gallery-image": (BytesIO(png()), "oven.png"), "gallery-alt": "The oven"})
    assert added.status_code == 302
    item = gallery_image_of(draft.id)
    names = item.image.file_names()
    assert all(founder_client.get(f"/media/{name}").status_code == 200 for name in names)

    removed = founder_client.post(f"/c/{draft.slug}/edit/media/gallery/{item.id}/remove")

    assert removed.status_code == 302
    assert image_rows() == []
    for name in names:
        assert founder_client.get(f"/media/{name}").status_code == 404, name
    assert list(upload_dir.iterdir()) == []


def upload_cover(client, campaign, data, alt="The bakery at dawn"):
    return client.post(f"/c/{campaign.slug}/edit/media/cover", content_type="multipart/form-data",
                       data={"cover-image": (BytesIO(data), "cover.png"), "cover-alt": alt})


def test_replaced_cover_files_are_deleted_and_no_longer_served(founder_client, draft, upload_dir):
    assert upload_cover(founder_client, draft, png(colour=(10, 10, 200))).status_code == 302
    first = fresh(Campaign, draft.id).cover
    first_names = first.file_names()

    assert upload_cover(founder_client, draft, png(colour=(10, 200, 10))).status_code == 302

    second = fresh(Campaign, draft.id).cover
    assert second.key != first.key
    assert [row.key for row in image_rows()] == [second.key]
    for name in first_names:
        assert founder_client.get(f"/media/{name}").status_code == 404, name
    for name in second.file_names():
        assert founder_client.get(f"/media/{name}").status_code == 200, name
    assert sorted(path.name for path in upload_dir.iterdir()) == sorted(second.file_names())


def test_replaced_cover_files_stay_until_the_commit(app, draft, upload_dir):
    campaign = fresh(Campaign, draft.id)
    services.set_cover(campaign, png(colour=(10, 10, 200)), "First cover")
    db.session.commit()
    first_names = fresh(Campaign, draft.id).cover.file_names()

    campaign = fresh(Campaign, draft.id)
    services.set_cover(campaign, png(colour=(10, 200, 10)), "Second cover")
    assert all((upload_dir / name).exists() for name in first_names), "pages may still show it until the commit"
    db.session.rollback()  # the request failed: the first cover is still the campaign's

    assert fresh(Campaign, draft.id).cover.file_names() == first_names
    assert all((upload_dir / name).exists() for name in first_names)

    campaign = fresh(Campaign, draft.id)
    services.set_cover(campaign, png(colour=(10, 200, 10)), "Second cover")
    db.session.commit()
    assert not any((upload_dir / name).exists() for name in first_names)
