"""The founder's "Images and video" page over HTTP: who may open it, the cover (upload, alt
text, remove), the gallery (add, the limit of 12, reorder, describe, remove), the video link
(YouTube/Vimeo only, never fetched), the story preview (the page's own renderer, with the
no-script fallback), and the campaign page's query count not growing with the gallery."""
import html
import re
import secrets
import socket
from io import BytesIO

import pytest
from PIL import Image as PILImage

from crowdfund.accounts.services import start_login_session
from crowdfund.campaigns.models import Campaign, Category
from crowdfund.extensions import db
from crowdfund.markdown import render_markdown
from crowdfund.media.models import GalleryImage, Image

PASSWORD = "correct horse battery"
COVER_ITEM = "A cover image, described for people who cannot see it"
YOUTUBE_ID = "dQw4w9WgXcQ"


# --- helpers ---------------------------------------------------------------------------------

def jpeg(width=240, height=160, color=(200, 80, 40)) -> bytes:
    """A small real JPEG (smaller than every variant width, so it is processed quickly)."""
    out = BytesIO()
    PILImage.new("RGB", (width, height), color).save(out, "JPEG")
    return out.getvalue()


def upload(data: bytes, name="photo.jpg"):
    return (BytesIO(data), name)


def fresh(model, id_):
    """The row as committed in the database (drops anything a request left uncommitted)."""
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(model, id_)


def gallery_of(campaign_id) -> list[tuple[int, str, int]]:
    """(item id, alt text, position) of the campaign's gallery as stored, in order."""
    db.session.rollback()
    db.session.expire_all()
    return [tuple(row) for row in db.session.execute(
        db.select(GalleryImage.id, GalleryImage.alt_text, GalleryImage.position)
        .where(GalleryImage.campaign_id == campaign_id)
        .order_by(GalleryImage.position, GalleryImage.id)).all()]


def image_count() -> int:
    db.session.rollback()
    return db.session.execute(db.select(db.func.count(Image.id))).scalar_one()


def stored_files(app) -> list[str]:
    folder = app.config["UPLOAD_DIR"]
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def errors_next_to(response, field_id: str) -> list[str]:
    """The error messages shown under the field with this id (the forms macro's `<field>-error`)."""
    page = html.unescape(response.get_data(as_text=True))
    return re.findall(rf'<p class="error" id="{re.escape(field_id)}-error">(.*?)</p>', page)


def input_value(response, field_id: str) -> str | None:
    """The value the <input> with this id is shown with (entities decoded), or None when it has none."""
    tag = re.search(rf'<input[^>]*\bid="{re.escape(field_id)}"[^>]*>', response.get_data(as_text=True))
    assert tag, f"no input with id {field_id!r} on the page"
    found = re.search(r'\bvalue="([^"]*)"', tag.group(0))
    return html.unescape(found.group(1)) if found else None


def checklist(page: str) -> dict[str, bool]:
    """Checklist item label -> done, as the page shows it."""
    items = re.findall(r'<li class="(done|todo)">\s*<span class="visually-hidden">[^<]*</span>\s*([^<(]+?)\s*(?:<|\n)',
                       page)
    return {label: state == "done" for state, label in items}


def flashes(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<p class="flash flash-\w+" role="\w+">([^<]*)</p>', page)]


def gallery_alts_on_page(page: str) -> list[str]:
    """The alt texts of the images in the campaign page's gallery, in the order shown."""
    section = re.search(r'<ul class="gallery">(.*?)</ul>', page, re.S)
    assert section, "no gallery on the page"
    return [html.unescape(alt) for alt in re.findall(r'<img [^>]*\balt="([^"]*)"', section.group(1))]


def story_html(page: str) -> str:
    return re.search(r'<h2 id="story-h">Story</h2><div class="prose">(.*?)</div></section>', page, re.S).group(1)


def add_image_rows(campaign, alts, start=0) -> list[int]:
    """Gallery items made directly in the database (Image rows without files: no Pillow work)."""
    ids = []
    for position, alt in enumerate(alts, start=start):
        image = Image(key=f"gallery-{secrets.token_hex(16)}", kind="gallery", width=1600, height=1200,
                      widths="400,800,1600", formats="webp,jpg")
        item = GalleryImage(campaign_id=campaign.id, image=image, alt_text=alt, position=position)
        db.session.add(item)
        db.session.flush()
        ids.append(item.id)
    db.session.commit()
    return ids


# --- fixtures --------------------------------------------------------------------------------

# --- the page --------------------------------------------------------------------------------

def test_founder_sees_the_media_page(founder_client, draft):
    response = founder_client.get(f"/c/{draft.slug}/edit/media")

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    for field_id in ("cover-image", "cover-alt", "gallery-image", "gallery-alt", "video-url"):
        assert f'id="{field_id}"' in page
    assert checklist(page)[COVER_ITEM] is False


def test_another_users_draft_is_not_found(app, login, make_user, draft):
    stranger = login(make_user())

    assert stranger.get(f"/c/{draft.slug}/edit/media").status_code == 404
    cover = stranger.post(f"/c/{draft.slug}/edit/media/cover",
                          data={"cover-image": upload(jpeg()), "cover-alt": "Mine now"},
                          content_type="multipart/form-data")
    video = stranger.post(f"/c/{draft.slug}/edit/media/video", data={"video-url": "https://youtu.be/" + YOUTUBE_ID})

    assert (cover.status_code, video.status_code) == (404, 404)
    campaign = fresh(Campaign, draft.id)
    assert (campaign.cover_image_id, campaign.cover_alt, campaign.video_url) == (None, "", None)
    assert stored_files(app) == []


def test_anonymous_visitor_is_sent_to_log_in(client, draft):
    response = client.get(f"/c/{draft.slug}/edit/media")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("state", ["in_review", "live"])
def test_a_submitted_campaign_can_no_longer_be_edited(app, founder, founder_client, make_campaign, state):
    campaign = make_campaign(founder=founder, state=state)
    [item_id, other_id] = add_image_rows(campaign, ["A loaf", "A roll"])
    before = fresh(Campaign, campaign.id)
    media_before = (before.cover_image_id, before.cover_alt, before.video_url)
    files_before = stored_files(app)  # the factory's cover
    base = f"/c/{campaign.slug}/edit/media"

    shown = founder_client.get(base, follow_redirects=True)
    posts = [
        founder_client.post(f"{base}/cover", data={"cover-image": upload(jpeg()), "cover-alt": "New cover"},
                            content_type="multipart/form-data"),
        founder_client.post(f"{base}/cover/remove"),
        founder_client.post(f"{base}/gallery", data={"gallery-image": upload(jpeg()), "gallery-alt": "More"},
                            content_type="multipart/form-data"),
        founder_client.post(f"{base}/gallery/{item_id}", data={f"item{item_id}-alt": "Changed"}),
        founder_client.post(f"{base}/gallery/{other_id}/move", data={"direction": "up"}),
        founder_client.post(f"{base}/gallery/{item_id}/remove"),
        founder_client.post(f"{base}/video", data={"video-url": "https://youtu.be/" + YOUTUBE_ID}),
    ]

    assert shown.request.path == f"/c/{campaign.slug}"
    assert "This campaign can no longer be edited." in flashes(shown.get_data(as_text=True))
    for response in posts:
        assert response.status_code == 302
        assert response.headers["Location"] == f"/c/{campaign.slug}"
    after = fresh(Campaign, campaign.id)
    assert (after.cover_image_id, after.cover_alt, after.video_url) == media_before
    assert gallery_of(campaign.id) == [(item_id, "A loaf", 0), (other_id, "A roll", 1)]
    assert stored_files(app) == files_before


# --- the cover -------------------------------------------------------------------------------

def test_uploading_a_cover_with_a_description(app, founder_client, draft):
    response = founder_client.post(f"/c/{draft.slug}/edit/media/cover",
                                   data={"cover-image": upload(jpeg(), "IMG_0001.JPG"),
                                         "cover-alt": "  The new   oven, lit  "},
                                   content_type="multipart/form-data")

    assert response.status_code == 302
    assert response.headers["Location"] == f"/c/{draft.slug}/edit/media"
    campaign = fresh(Campaign, draft.id)
    assert campaign.cover.key.startswith("cover-")
    assert campaign.cover_alt == "The new oven, lit"
    assert stored_files(app) == sorted(campaign.cover.file_names())
    assert "IMG_0001" not in " ".join(stored_files(app))
    page = founder_client.get(response.headers["Location"]).get_data(as_text=True)
    assert checklist(page)[COVER_ITEM] is True
    assert "The cover image is saved." in flashes(page)
    assert f'/media/{campaign.cover.file_name(240, "jpg")}' in page


def test_a_cover_without_a_description_is_refused(app, founder_client, draft):
    response = founder_client.post(f"/c/{draft.slug}/edit/media/cover",
                                   data={"cover-image": upload(jpeg()), "cover-alt": "   "},
                                   content_type="multipart/form-data")

    assert response.status_code == 422
    assert errors_next_to(response, "cover-alt")
    assert fresh(Campaign, draft.id).cover_image_id is None
    assert image_count() == 0
    assert stored_files(app) == []


def test_changing_only_the_description_keeps_the_cover(app, founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder)  # has a cover
    cover_id = fresh(Campaign, campaign.id).cover_image_id
    files_before = stored_files(app)

    response = founder_client.post(f"/c/{campaign.slug}/edit/media/cover", data={"cover-alt": "Bread on a rack"})

    assert response.status_code == 302
    after = fresh(Campaign, campaign.id)
    assert (after.cover_image_id, after.cover_alt) == (cover_id, "Bread on a rack")
    assert len(files_before) == 6 and stored_files(app) == files_before


def test_a_description_without_a_file_or_a_cover_is_refused(founder_client, draft):
    response = founder_client.post(f"/c/{draft.slug}/edit/media/cover", data={"cover-alt": "Bread on a rack"})

    assert response.status_code == 422
    assert errors_next_to(response, "cover-image") == ["Choose an image file to upload."]
    assert input_value(response, "cover-alt") == "Bread on a rack"
    after = fresh(Campaign, draft.id)
    assert (after.cover_image_id, after.cover_alt) == (None, "")


def test_replacing_the_cover_deletes_the_old_files(app, founder_client, draft):
    url = f"/c/{draft.slug}/edit/media/cover"
    founder_client.post(url, data={"cover-image": upload(jpeg()), "cover-alt": "First"},
                        content_type="multipart/form-data")
    first = fresh(Campaign, draft.id).cover
    first_files, first_id = first.file_names(), first.id

    response = founder_client.post(url, data={"cover-image": upload(jpeg(color=(10, 90, 200))), "cover-alt": "Second"},
                                   content_type="multipart/form-data")

    assert response.status_code == 302
    second = fresh(Campaign, draft.id).cover
    assert second.id != first_id
    assert fresh(Image, first_id) is None
    assert stored_files(app) == sorted(second.file_names())
    assert not set(first_files) & set(stored_files(app))


def test_removing_the_cover_deletes_its_files(app, founder_client, draft):
    founder_client.post(f"/c/{draft.slug}/edit/media/cover",
                        data={"cover-image": upload(jpeg()), "cover-alt": "The oven"},
                        content_type="multipart/form-data")
    image_id = fresh(Campaign, draft.id).cover_image_id
    assert stored_files(app)

    response = founder_client.post(f"/c/{draft.slug}/edit/media/cover/remove")

    assert response.status_code == 302
    after = fresh(Campaign, draft.id)
    assert after.cover is None
    assert fresh(Image, image_id) is None
    assert stored_files(app) == []
    page = founder_client.get(f"/c/{draft.slug}/edit/media").get_data(as_text=True)
    assert checklist(page)[COVER_ITEM] is False


# --- the gallery -----------------------------------------------------------------------------

def test_gallery_images_are_shown_in_the_order_added(app, founder_client, draft):
    for alt, color in (("Rye loaves", (120, 60, 20)), ("The dough", (230, 220, 200)), ("Our van", (20, 20, 120))):
        response = founder_client.post(f"/c/{draft.slug}/edit/media/gallery",
                                       data={"gallery-image": upload(jpeg(color=color)), "gallery-alt": alt},
                                       content_type="multipart/form-data")
        assert response.status_code == 302

    items = gallery_of(draft.id)
    assert [(alt, position) for _, alt, position in items] == [("Rye loaves", 0), ("The dough", 1), ("Our van", 2)]
    page = founder_client.get(f"/c/{draft.slug}").get_data(as_text=True)
    assert gallery_alts_on_page(page) == ["Rye loaves", "The dough", "Our van"]
    images = [fresh(GalleryImage, item_id).image for item_id, _, _ in items]
    assert stored_files(app) == sorted(name for image in images for name in image.file_names())
    for image in images:
        assert f"/media/{image.file_name(240, 'jpg')}" in page


def test_a_gallery_image_needs_a_description(app, founder_client, draft):
    response = founder_client.post(f"/c/{draft.slug}/edit/media/gallery",
                                   data={"gallery-image": upload(jpeg()), "gallery-alt": ""},
                                   content_type="multipart/form-data")

    assert response.status_code == 422
    assert errors_next_to(response, "gallery-alt")
    assert gallery_of(draft.id) == []
    assert image_count() == 0
    assert stored_files(app) == []


def test_the_thirteenth_gallery_image_is_refused(app, founder_client, draft):
    add_image_rows(draft, [f"Picture {n}" for n in range(1, 13)])

    response = founder_client.post(f"/c/{draft.slug}/edit/media/gallery",
                                   data={"gallery-image": upload(jpeg()), "gallery-alt": "One more"},
                                   content_type="multipart/form-data")

    assert response.status_code == 422
    assert any(message.startswith("A gallery holds up to 12 images")
               for message in errors_next_to(response, "gallery-image"))
    assert len(gallery_of(draft.id)) == 12
    assert stored_files(app) == []


def test_moving_gallery_images_up_and_down(founder_client, draft):
    first, second, third = add_image_rows(draft, ["First", "Second", "Third"])
    move = f"/c/{draft.slug}/edit/media/gallery/{{}}/move"

    up = founder_client.post(move.format(third), data={"direction": "up"})

    assert up.status_code == 302
    assert up.headers["Location"] == f"/c/{draft.slug}/edit/media#gallery"
    assert gallery_of(draft.id) == [(first, "First", 0), (third, "Third", 1), (second, "Second", 2)]
    assert gallery_alts_on_page(founder_client.get(f"/c/{draft.slug}").get_data(as_text=True)) == [
        "First", "Third", "Second"]

    founder_client.post(move.format(first), data={"direction": "down"})

    assert gallery_of(draft.id) == [(third, "Third", 0), (first, "First", 1), (second, "Second", 2)]
    assert gallery_alts_on_page(founder_client.get(f"/c/{draft.slug}").get_data(as_text=True)) == [
        "Third", "First", "Second"]


def test_moving_the_first_up_or_the_last_down_changes_nothing(founder_client, draft):
    first, second = add_image_rows(draft, ["First", "Second"])
    move = f"/c/{draft.slug}/edit/media/gallery/{{}}/move"

    founder_client.post(move.format(first), data={"direction": "up"})
    founder_client.post(move.format(second), data={"direction": "down"})

    assert gallery_of(draft.id) == [(first, "First", 0), (second, "Second", 1)]


def test_a_move_without_a_direction_is_a_bad_request(founder_client, draft):
    first, second = add_image_rows(draft, ["First", "Second"])

    statuses = [founder_client.post(f"/c/{draft.slug}/edit/media/gallery/{second}/move", data=data).status_code
                for data in ({"direction": "sideways"}, {"direction": ""}, {})]

    assert statuses == [400, 400, 400]
    assert gallery_of(draft.id) == [(first, "First", 0), (second, "Second", 1)]


def test_editing_a_gallery_description(founder_client, draft):
    [item] = add_image_rows(draft, ["Old words"])

    response = founder_client.post(f"/c/{draft.slug}/edit/media/gallery/{item}",
                                   data={f"item{item}-alt": "Fresh rye on the rack"})

    assert response.status_code == 302
    assert gallery_of(draft.id) == [(item, "Fresh rye on the rack", 0)]


def test_an_empty_gallery_description_is_refused(founder_client, draft):
    [item] = add_image_rows(draft, ["Old words"])

    response = founder_client.post(f"/c/{draft.slug}/edit/media/gallery/{item}", data={f"item{item}-alt": " "})

    assert response.status_code == 422
    assert errors_next_to(response, f"item{item}-alt")
    assert gallery_of(draft.id) == [(item, "Old words", 0)]


def test_removing_a_gallery_image_deletes_the_row_and_the_files(app, founder_client, draft):
    for alt in ("Keep me", "Remove me"):
        founder_client.post(f"/c/{draft.slug}/edit/media/gallery",
                            data={"gallery-image": upload(jpeg()), "gallery-alt": alt},
                            content_type="multipart/form-data")
    [(kept, _, _), (removed, _, _)] = gallery_of(draft.id)
    kept_image = fresh(GalleryImage, kept).image
    removed_image_id = fresh(GalleryImage, removed).image_id

    response = founder_client.post(f"/c/{draft.slug}/edit/media/gallery/{removed}/remove")

    assert response.status_code == 302
    assert gallery_of(draft.id) == [(kept, "Keep me", 0)]
    assert fresh(Image, removed_image_id) is None
    assert stored_files(app) == sorted(fresh(Image, kept_image.id).file_names())


def test_another_campaigns_gallery_item_is_not_found(founder, founder_client, make_campaign, draft):
    others = make_campaign(complete=False)  # another founder's draft
    [theirs] = add_image_rows(others, ["Their picture"])
    own_other = make_campaign(founder=founder, complete=False)  # the same founder's other draft
    [also_theirs] = add_image_rows(own_other, ["Other draft's picture"])
    [mine] = add_image_rows(draft, ["My picture"])
    base = f"/c/{draft.slug}/edit/media/gallery"

    for item in (theirs, also_theirs):
        responses = [
            founder_client.post(f"{base}/{item}", data={f"item{item}-alt": "Hijacked"}),
            founder_client.post(f"{base}/{item}/move", data={"direction": "up"}),
            founder_client.post(f"{base}/{item}/remove"),
        ]
        assert [r.status_code for r in responses] == [404, 404, 404]

    assert gallery_of(others.id) == [(theirs, "Their picture", 0)]
    assert gallery_of(own_other.id) == [(also_theirs, "Other draft's picture", 0)]
    assert gallery_of(draft.id) == [(mine, "My picture", 0)]


# --- the video -------------------------------------------------------------------------------

@pytest.fixture
def no_network(monkeypatch):
    """Records every attempt to open a network connection or look a name up."""
    attempts = []
    real_connect = socket.socket.connect

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(("connect", address))
        return real_connect(sock, address)

    def create_connection(address, *args, **kwargs):
        attempts.append(("create_connection", address))
        raise OSError("the test forbids network connections")

    def getaddrinfo(host, *args, **kwargs):
        attempts.append(("getaddrinfo", host))
        raise OSError("the test forbids name lookups")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts


VIDEO_LINKS = [
    # (what the founder pastes, what is stored, what the page embeds)
    (f"https://www.youtube.com/watch?v={YOUTUBE_ID}&t=42s", f"https://www.youtube.com/watch?v={YOUTUBE_ID}",
     f"https://www.youtube-nocookie.com/embed/{YOUTUBE_ID}?rel=0"),
    (f"https://youtu.be/{YOUTUBE_ID}?si=abc", f"https://www.youtube.com/watch?v={YOUTUBE_ID}",
     f"https://www.youtube-nocookie.com/embed/{YOUTUBE_ID}?rel=0"),
    (f"https://www.youtube.com/shorts/{YOUTUBE_ID}", f"https://www.youtube.com/watch?v={YOUTUBE_ID}",
     f"https://www.youtube-nocookie.com/embed/{YOUTUBE_ID}?rel=0"),
    ("https://vimeo.com/76979871", "https://vimeo.com/76979871", "https://player.vimeo.com/video/76979871?dnt=1"),
]


def test_a_youtube_or_vimeo_link_becomes_a_privacy_respecting_embed(founder_client, draft, no_network):
    for url, canonical, embed in VIDEO_LINKS:
        response = founder_client.post(f"/c/{draft.slug}/edit/media/video", data={"video-url": url})

        assert response.status_code == 302, url
        assert response.headers["Location"] == f"/c/{draft.slug}/edit/media#video"
        assert fresh(Campaign, draft.id).video_url == canonical, url
        page = founder_client.get(f"/c/{draft.slug}")
        assert f'<div class="video" data-embed="{embed}"' in page.get_data(as_text=True), url
        frame_src = re.search(r"frame-src ([^;]*)", page.headers["Content-Security-Policy"]).group(1).split()
        assert "https://www.youtube-nocookie.com" in frame_src
        assert "https://player.vimeo.com" in frame_src
        assert "https://www.youtube.com" not in frame_src
    assert no_network == []


def test_an_empty_video_address_removes_the_video(founder_client, draft):
    campaign = fresh(Campaign, draft.id)
    campaign.video_url = f"https://www.youtube.com/watch?v={YOUTUBE_ID}"
    db.session.commit()

    response = founder_client.post(f"/c/{draft.slug}/edit/media/video", data={"video-url": "  "})

    assert response.status_code == 302
    assert "The video is removed." in flashes(founder_client.get(response.headers["Location"]).get_data(as_text=True))
    assert fresh(Campaign, draft.id).video_url is None
    assert "data-embed" not in founder_client.get(f"/c/{draft.slug}").get_data(as_text=True)


REFUSED_VIDEO_URLS = [
    "http://127.0.0.1/x",
    f"http://localhost:8000/watch?v={YOUTUBE_ID}",
    "file:///etc/passwd",
    "javascript:alert(1)",
    f"https://youtube.com.evil.test/watch?v={YOUTUBE_ID}",
    f"https://evil.test/youtube.com/watch?v={YOUTUBE_ID}",
    f"https://www.youtube.com@evil.test/watch?v={YOUTUBE_ID}",
    "https://vimeo.com.evil.test/123",
    "https://www.youtube.com/watch?v=dQw4w9WgX%22",
    "https://youtu.be/dQw4w9W<>cQ",
    "data:text/html,<script>alert(1)</script>",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    f"https://www.youtube.com/watch?v={YOUTUBE_ID}&pad=" + "a" * 300,
]


def test_other_video_addresses_are_refused_without_being_fetched(founder_client, draft, no_network):
    saved = "https://vimeo.com/76979871"
    campaign = fresh(Campaign, draft.id)
    campaign.video_url = saved
    db.session.commit()

    for url in REFUSED_VIDEO_URLS:
        response = founder_client.post(f"/c/{draft.slug}/edit/media/video", data={"video-url": url})

        assert response.status_code == 422, url
        assert len(errors_next_to(response, "video-url")) == 1, url
        assert input_value(response, "video-url") == url  # what was typed is kept
        assert fresh(Campaign, draft.id).video_url == saved, url
    assert no_network == []


# --- the story preview -----------------------------------------------------------------------

STORY = ("# Our bakery\n\nWe bake **rye** every night. Read [our menu](https://example.com/menu).\n\n"
         "## The oven\n\nIt is big.")


def test_the_preview_is_the_story_as_the_page_shows_it(founder_client, draft):
    campaign = fresh(Campaign, draft.id)
    campaign.story = STORY
    db.session.commit()

    preview = founder_client.post(f"/c/{draft.slug}/preview", data={"text": STORY})

    assert preview.status_code == 200
    assert preview.mimetype == "text/html"
    fragment = preview.get_data(as_text=True)
    assert "<h2>Our bakery</h2>" in fragment and "<h3>The oven</h3>" in fragment
    assert "<h1" not in fragment
    assert re.search(r'<a href="https://example.com/menu" rel="nofollow ugc noopener">our menu</a>', fragment)
    assert fragment.strip() == story_html(founder_client.get(f"/c/{draft.slug}").get_data(as_text=True)).strip()


def test_the_preview_shows_gallery_images_and_no_outside_ones(founder_client, draft, make_campaign):
    [item] = add_image_rows(draft, ["Rye loaves"])
    [foreign] = add_image_rows(make_campaign(complete=False), ["Not ours"])
    image = fresh(GalleryImage, item).image
    text = (f"![x](gallery:{item})\n\n![a cat](https://evil.test/cat.png)\n\n![theirs](gallery:{foreign})")

    fragment = founder_client.post(f"/c/{draft.slug}/preview", data={"text": text}).get_data(as_text=True)

    [img] = re.findall(r"<img [^>]*>", fragment)
    assert f'src="/media/{image.file_name(800, "jpg")}"' in img
    for width in (400, 800, 1600):
        assert f"/media/{image.file_name(width, 'jpg')} {width}w" in img
    assert 'alt="x"' in img
    assert "evil.test" not in fragment
    assert "a cat" in fragment and "theirs" in fragment


def test_the_preview_is_only_for_the_founder(app, client, login, make_user, draft):
    stranger = login(make_user())

    assert stranger.post(f"/c/{draft.slug}/preview", data={"text": "hi"}).status_code == 404
    anonymous = client.post(f"/c/{draft.slug}/preview", data={"text": "hi"})
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"].startswith("/login?next=")


def test_the_preview_only_answers_posts(founder_client, draft):
    assert founder_client.get(f"/c/{draft.slug}/preview").status_code == 405


def test_the_preview_needs_the_csrf_token(csrf_app, make_user, make_campaign):
    founder = make_user()
    campaign = make_campaign(founder=founder, complete=False)
    client = csrf_app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = start_login_session(founder)  # as logging in does
        db.session.commit()
        session["_fresh"] = True
    page = client.get(f"/c/{campaign.slug}/edit").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]

    forged = client.post(f"/c/{campaign.slug}/preview", data={"text": "# Hello"})
    genuine = client.post(f"/c/{campaign.slug}/preview", data={"text": "# Hello", "csrf_token": token})

    assert forged.status_code == 400
    assert "<h2>Hello</h2>" not in forged.get_data(as_text=True)
    assert genuine.status_code == 200
    assert genuine.get_data(as_text=True).strip() == "<h2>Hello</h2>"


def test_the_no_script_preview_shows_the_story_and_saves_nothing(founder_client, draft):
    category_id = db.session.execute(db.select(Category.id).where(Category.slug == "food-drink")).scalar_one()
    story = "# Fresh every night\n\nSee [the menu](https://example.com/menu)."

    response = founder_client.post(f"/c/{draft.slug}/edit", data={
        "title": "A different title", "blurb": "Not saved", "category_id": str(category_id),
        "funding_model": "all_or_nothing", "currency": "USD", "goal": "1,000", "duration_days": "30",
        "story": story, "risks": "None", "preview": "1"})

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    shown = re.search(r'<div class="prose" id="story-preview" aria-live="polite">(.*?)</div>', page, re.S).group(1)
    assert shown == str(render_markdown(story))
    assert "<h2>Fresh every night</h2>" in shown
    assert input_value(response, "title") == "A different title"  # the form keeps what was typed
    after = fresh(Campaign, draft.id)
    assert (after.title, after.blurb, after.story, after.goal) == (draft.title, "", "", 0)


# --- query count -----------------------------------------------------------------------------

def test_the_campaign_page_runs_as_many_queries_with_12_gallery_images_as_with_1(client, make_campaign,
                                                                                  count_queries):
    one = make_campaign(state="live")
    twelve = make_campaign(state="live")
    add_image_rows(one, ["Only one"])
    add_image_rows(twelve, [f"Picture {n}" for n in range(12)])
    slugs = {1: one.slug, 12: twelve.slug}
    db.session.remove()
    client.get(f"/c/{slugs[1]}")  # warm-up: whatever is loaded once per process

    counts = {}
    pages = {}
    for n, slug in slugs.items():
        db.session.remove()
        with count_queries() as statements:
            response = client.get(f"/c/{slug}")
        assert response.status_code == 200
        counts[n], pages[n] = len(statements), response.get_data(as_text=True)

    assert len(gallery_alts_on_page(pages[12])) == 12
    assert len(gallery_alts_on_page(pages[1])) == 1
    assert counts[1] == counts[12]
