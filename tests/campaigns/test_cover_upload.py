"""The cover image on the basics form: stored re-encoded, refused when not an image, 413 when too large."""
import re
from io import BytesIO

import pytest
from PIL import Image

from crowdfund.campaigns.models import Campaign

from .helpers import category_id, fresh

ONE_MB = 1024 * 1024


@pytest.fixture
def small_upload_limit(app):
    app.config["MAX_CONTENT_LENGTH"] = ONE_MB


def _basics(cover):
    return {"title": "Fay's Oven", "blurb": "A second oven.", "category_id": str(category_id()),
            "funding_model": "all_or_nothing", "currency": "USD", "goal": "1000", "duration_days": "30",
            "story": "Rye.", "risks": "Late oven.", "cover": cover}


def _png(width=40, height=30) -> bytes:
    buffer = BytesIO()
    Image.new("RGB", (width, height), "orange").save(buffer, "PNG")
    return buffer.getvalue()


def test_cover_image_is_stored_as_a_server_named_jpeg(app, founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder, complete=False)

    response = founder_client.post(f"/c/{campaign.slug}/edit", data=_basics((BytesIO(_png()), "../../evil.png")),
                                   content_type="multipart/form-data")

    assert response.status_code == 302
    name = fresh(Campaign, campaign.id).cover_image
    assert re.fullmatch(r"cover-[0-9a-f]{32}\.jpg", name)
    with Image.open(app.config["UPLOAD_DIR"] / name) as stored:
        assert (stored.format, stored.size) == ("JPEG", (40, 30))


def test_file_that_is_not_an_image_is_refused_next_to_the_field(founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder, complete=False)

    response = founder_client.post(f"/c/{campaign.slug}/edit",
                                   data=_basics((BytesIO(b"<?php system($_GET['c']); ?>"), "cover.png")),
                                   content_type="multipart/form-data")

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'<p class="error" id="cover-error">That file is not an image we can read', html)
    assert 'value="Fay&#39;s Oven"' in html
    after = fresh(Campaign, campaign.id)
    assert (after.cover_image, after.goal) == (None, 0)


def test_body_over_the_limit_gets_the_413_page(small_upload_limit, founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder, complete=False)
    too_big = BytesIO(b"\0" * (ONE_MB + 1))

    response = founder_client.post(f"/c/{campaign.slug}/edit", data=_basics((too_big, "cover.png")),
                                   content_type="multipart/form-data")

    assert response.status_code == 413
    assert response.content_type == "text/html; charset=utf-8"
    html = response.get_data(as_text=True)
    assert "<h1>File too large</h1>" in html
    assert "That upload is too large. The limit is 1 MB." in html
    after = fresh(Campaign, campaign.id)
    assert (after.cover_image, after.goal, after.blurb) == (None, 0, "")


def test_body_just_under_the_limit_is_accepted(small_upload_limit, founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder, complete=False)

    response = founder_client.post(f"/c/{campaign.slug}/edit", data=_basics((BytesIO(_png()), "cover.png")),
                                   content_type="multipart/form-data")

    assert response.status_code == 302
    assert fresh(Campaign, campaign.id).cover_image is not None
