"""The S3 storage backend against a real S3-compatible HTTP server (moto's, in this process on
a free loopback port): uploads land in the bucket with their content type and cache header and
nothing on local disk, the app serves them from the bucket, S3_PUBLIC_URL makes pages link to
the bucket (and the Content-Security-Policy allow it), a replaced cover's objects are deleted,
and S3_PREFIX keeps every key under the prefix.

Without moto's server the tests skip, or fail with CROWDFUND_REQUIRE_SERVICES=1 (CI)."""
import re
import threading
import uuid
from io import BytesIO

import pytest
from PIL import Image as PILImage

from crowdfund.campaigns.models import Campaign
from crowdfund.extensions import db

PASSWORD = "correct horse battery"
CACHE_FOREVER = "public, max-age=31536000, immutable"
CONTENT_TYPES = {"webp": "image/webp", "jpg": "image/jpeg"}


def _service_missing(reason: str):
    from conftest import service_missing

    service_missing(reason)


@pytest.fixture(scope="module")
def s3_url():
    """The endpoint URL of a moto S3 server running for this module."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as error:
        _service_missing(f"moto[server] is not installed: {error}")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    # start() waits for the server forever, and forever when it cannot bind: give it a deadline.
    starter = threading.Thread(target=server.start, daemon=True)
    starter.start()
    starter.join(timeout=15)
    if starter.is_alive():
        _service_missing("moto's S3 server did not start within 15 s")
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_url):
    """A new, empty bucket on the server (its name is unique to the test)."""
    import boto3

    name = f"crowdfund-test-{uuid.uuid4().hex[:16]}"
    client = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    client.create_bucket(Bucket=name)
    return client, name


def use_s3(app, s3_url, bucket_name, **extra):
    """Point the app's media storage at the bucket (and forget any storage or policy made before)."""
    app.config.update(MEDIA_STORAGE="s3", S3_BUCKET=bucket_name, S3_ENDPOINT_URL=s3_url, S3_REGION="us-east-1",
                      S3_ACCESS_KEY_ID="test", S3_SECRET_ACCESS_KEY="test", S3_PREFIX="", S3_PUBLIC_URL="")
    app.config.update(extra)
    app.extensions.pop("crowdfund_storage", None)
    app.extensions.pop("crowdfund_csp", None)


@pytest.fixture
def s3_app(app, s3_url, bucket):
    use_s3(app, s3_url, bucket[1])
    return app


@pytest.fixture
def founder_client(s3_app, login, founder):
    """Logged in after the app is switched to S3 (the storage is made on first use)."""
    return login(founder)


def jpeg(width=900, height=500, color=(200, 80, 40)) -> bytes:
    out = BytesIO()
    PILImage.new("RGB", (width, height), color).save(out, "JPEG")
    return out.getvalue()


def upload_cover(client, campaign, color=(200, 80, 40)):
    response = client.post(f"/c/{campaign.slug}/edit/media/cover",
                           data={"cover-image": (BytesIO(jpeg(color=color)), "cover.jpg"), "cover-alt": "The oven"},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(Campaign, campaign.id).cover


def keys_in(bucket) -> set[str]:
    client, name = bucket
    return {item["Key"] for item in client.list_objects_v2(Bucket=name).get("Contents", [])}


def local_files(app) -> list[str]:
    folder = app.config["UPLOAD_DIR"]
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_cover_is_stored_in_the_bucket_with_its_type_and_cache_header(s3_app, bucket, founder, founder_client,
                                                                        make_campaign):
    campaign = make_campaign(founder=founder, complete=False)

    cover = upload_cover(founder_client, campaign)

    assert cover.width_list == [400, 800, 900]
    assert keys_in(bucket) == set(cover.file_names())
    assert len(cover.file_names()) == 6
    client, name = bucket
    for key in cover.file_names():
        head = client.head_object(Bucket=name, Key=key)
        assert head["ContentType"] == CONTENT_TYPES[key.rsplit(".", 1)[1]], key
        assert head["CacheControl"] == CACHE_FOREVER, key
    assert local_files(s3_app) == []


def test_the_app_serves_files_from_the_bucket(s3_app, bucket, founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder, complete=False)
    cover = upload_cover(founder_client, campaign)
    client, name = bucket
    visitor = s3_app.test_client()

    page = founder_client.get(f"/c/{campaign.slug}").get_data(as_text=True)

    for ext in ("webp", "jpg"):
        file_name = cover.file_name(800, ext)
        assert f'/media/{file_name}' in page
        response = visitor.get(f"/media/{file_name}")
        assert response.status_code == 200
        assert response.data == client.get_object(Bucket=name, Key=file_name)["Body"].read()
        assert response.mimetype == CONTENT_TYPES[ext]
        assert response.headers["Cache-Control"] == CACHE_FOREVER
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert PILImage.open(BytesIO(visitor.get(f"/media/{cover.file_name(900, 'jpg')}").data)).size == (900, 500)


def test_a_file_missing_from_the_bucket_is_not_found(s3_app, bucket):
    response = s3_app.test_client().get(f"/media/cover-{'0' * 32}-800.jpg")

    assert response.status_code == 404


def test_with_a_public_url_pages_link_to_the_bucket(app, s3_url, bucket, login, founder, make_campaign):
    use_s3(app, s3_url, bucket[1], S3_PUBLIC_URL="https://cdn.example.test/media-bucket/")
    client = login(founder)
    campaign = make_campaign(founder=founder, complete=False)
    cover = upload_cover(client, campaign)

    response = client.get(f"/c/{campaign.slug}")

    page = response.get_data(as_text=True)
    for ext in ("webp", "jpg"):
        assert f"https://cdn.example.test/media-bucket/{cover.file_name(800, ext)}" in page
    assert f"/media/{cover.key}" not in page.replace("https://cdn.example.test/media-bucket/", "")
    img_src = re.search(r"img-src ([^;]*)", response.headers["Content-Security-Policy"]).group(1).split()
    assert "https://cdn.example.test" in img_src


def test_replacing_the_cover_deletes_the_old_objects(s3_app, bucket, founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder, complete=False)
    first = upload_cover(founder_client, campaign)
    first_names = set(first.file_names())

    second = upload_cover(founder_client, campaign, color=(10, 90, 200))

    assert second.key != first.key
    assert keys_in(bucket) == set(second.file_names())
    assert not keys_in(bucket) & first_names


def test_the_old_objects_stay_until_the_replacement_is_committed(s3_app, bucket, founder, founder_client,
                                                                 make_campaign):
    from crowdfund.media.services import set_cover

    campaign = make_campaign(founder=founder, complete=False)
    first = upload_cover(founder_client, campaign)
    first_names, first_id = set(first.file_names()), first.id

    set_cover(db.session.get(Campaign, campaign.id), jpeg(color=(10, 90, 200)), "A new cover")
    before_commit = keys_in(bucket)
    db.session.rollback()  # the request failed: the old cover is still the campaign's

    assert first_names < before_commit  # the new files were written, the old ones not yet deleted
    assert first_names <= keys_in(bucket)
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).cover_image_id == first_id
    served = s3_app.test_client().get(f"/media/{first.file_name(800, 'jpg')}")
    assert served.status_code == 200


def test_removing_the_cover_deletes_its_objects(s3_app, bucket, founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder, complete=False)
    upload_cover(founder_client, campaign)

    response = founder_client.post(f"/c/{campaign.slug}/edit/media/cover/remove")

    assert response.status_code == 302
    assert keys_in(bucket) == set()


def test_a_prefix_keeps_every_key_under_it(app, s3_url, bucket, login, founder, make_campaign):
    use_s3(app, s3_url, bucket[1], S3_PREFIX="/site-a/")
    client = login(founder)
    campaign = make_campaign(founder=founder, complete=False)

    cover = upload_cover(client, campaign)

    assert keys_in(bucket) == {f"site-a/{name}" for name in cover.file_names()}
    served = client.get(f"/media/{cover.file_name(400, 'jpg')}")
    assert served.status_code == 200
    assert served.data == bucket[0].get_object(Bucket=bucket[1], Key=f"site-a/{cover.file_name(400, 'jpg')}")[
        "Body"].read()
    assert local_files(app) == []
