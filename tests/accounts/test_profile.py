"""The public profile /u/<id> (the founder's page) and the settings that fill it."""
from io import BytesIO

import pytest
from PIL import Image

from crowdfund.extensions import db


def _png(size=(600, 300), colour=(200, 120, 40)) -> bytes:
    buffer = BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def _settings(client, display_name="Ann Baker", bio="", avatar=None):
    data = {"display_name": display_name, "bio": bio}
    if avatar is not None:
        data["avatar"] = avatar
    return client.post("/me/settings", data=data, content_type="multipart/form-data")


def test_profile_shows_the_display_name_and_the_bio_as_markdown(client, make_user, page_text):
    user = make_user(display_name="Ann Baker")
    user.bio = "We bake **sourdough** in Leeds."
    db.session.commit()

    response = client.get(f"/u/{user.id}")

    assert response.status_code == 200
    assert "<h1>Ann Baker</h1>" in page_text(response)
    assert "We bake <strong>sourdough</strong> in Leeds." in page_text(response)


def test_a_script_in_the_bio_is_not_a_tag_on_the_profile(client, auth, make_user):
    user = make_user()
    auth.login(user)
    _settings(client, bio='Hello <script>alert("x")</script> <img src=x onerror=alert(1)>')

    html = client.get(f"/u/{user.id}").get_data(as_text=True)

    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;" in html


def test_profile_lists_public_campaigns_but_not_a_draft(client, make_user, make_campaign, page_text):
    founder = make_user()
    make_campaign(founder=founder, state="live", title="Second oven for Ann's bakery")
    make_campaign(founder=founder, state="successful", title="Bread van for Ann's bakery")
    make_campaign(founder=founder, state="draft", title="Secret draft croissant plan")
    make_campaign(founder=founder, state="in_review", title="Pastry course under review")

    page = page_text(client.get(f"/u/{founder.id}"))

    assert "Second oven for Ann's bakery" in page
    assert "Bread van for Ann's bakery" in page
    assert "Secret draft croissant plan" not in page
    assert "Pastry course under review" not in page
    assert "2 campaigns launched" in page


def test_profile_does_not_list_another_founders_campaigns(client, make_user, make_campaign, page_text):
    founder = make_user()
    make_campaign(state="live", title="Someone else's brewery")

    page = page_text(client.get(f"/u/{founder.id}"))

    assert "Someone else's brewery" not in page
    assert "0 campaigns launched" in page
    assert "No public campaigns yet." in page


def test_profile_counts_the_projects_backed(client, make_user, make_campaign, make_pledge, page_text):
    backer = make_user()
    first, second = make_campaign(state="live"), make_campaign(state="live")
    make_pledge(first, backer=backer)
    make_pledge(first, backer=backer, amount=2500, state="collected")  # a second (paid) pledge to the same project
    make_pledge(second, backer=backer, state="collected")
    make_pledge(make_campaign(state="live"), backer=backer, state="cancelled")

    page = page_text(client.get(f"/u/{backer.id}"))

    assert "backed 2 projects" in page


def test_profile_of_someone_who_backed_nothing_says_so(client, make_user, page_text):
    user = make_user()

    assert "backed 0 projects" in page_text(client.get(f"/u/{user.id}"))


def test_unknown_profile_is_a_404_page(client, make_user, page_text):
    make_user()

    response = client.get("/u/999999")

    assert response.status_code == 404
    assert "We could not find that page." in page_text(response)


def test_settings_change_the_display_name_and_bio(client, auth, make_user, user_by_email, page_text):
    user = make_user(email="ann@example.com")
    auth.login(user)

    response = _settings(client, display_name="  Ann the Baker ", bio="Baking since 2009.")

    assert response.status_code == 302
    assert "Your profile is saved." in page_text(client.get(response.headers["Location"]))
    saved = user_by_email("ann@example.com")
    assert saved.display_name == "Ann the Baker"
    assert saved.bio == "Baking since 2009."
    assert "Baking since 2009." in page_text(client.get(f"/u/{saved.id}"))


def test_settings_show_the_current_profile_filled_in(client, auth, make_user, input_value, page_text):
    user = make_user(display_name="Ann Baker")
    auth.login(user)
    _settings(client, display_name="Ann Baker", bio="Baking since 2009.")

    response = client.get("/me/settings")

    assert input_value(response, "display_name") == "Ann Baker"
    assert "Baking since 2009.</textarea>" in page_text(response)


@pytest.mark.parametrize(("display_name", "message"), [("", "This field is required."),
                                                       ("A", "Field must be between 2 and 80 characters long.")],
                         ids=["missing", "too-short"])
def test_a_bad_display_name_is_refused_and_nothing_changes(client, auth, make_user, user_by_email, field_errors,
                                                           display_name, message):
    user = make_user(email="ann@example.com", display_name="Ann Baker")
    auth.login(user)

    response = _settings(client, display_name=display_name, bio="A new bio")

    assert response.status_code == 422
    assert field_errors(response, "display_name") == [message]
    saved = user_by_email("ann@example.com")
    assert (saved.display_name, saved.bio) == ("Ann Baker", "")


def test_an_uploaded_png_avatar_is_stored_and_shown(app, client, auth, make_user, user_by_email):
    user = make_user(email="ann@example.com")
    auth.login(user)

    response = _settings(client, avatar=(BytesIO(_png((900, 500))), "me.png"))

    assert response.status_code == 302
    avatar = user_by_email("ann@example.com").avatar
    assert avatar.key.startswith("avatar-")
    # Cropped square, made at 96, 192 and 400 px, each as WebP and JPEG.
    assert avatar.width_list == [96, 192, 400]
    with Image.open(app.config["UPLOAD_DIR"] / avatar.file_name(400, "jpg")) as stored:
        assert (stored.format, stored.size) == ("JPEG", (400, 400))
    with Image.open(app.config["UPLOAD_DIR"] / avatar.file_name(96, "webp")) as stored:
        assert (stored.format, stored.size) == ("WEBP", (96, 96))
    assert f'src="/media/{avatar.file_name(96, "jpg")}"' in client.get(f"/u/{user.id}").get_data(as_text=True)
    served = client.get(f"/media/{avatar.file_name(400, 'jpg')}")
    assert served.status_code == 200
    assert served.mimetype == "image/jpeg"


def test_saving_without_a_new_file_keeps_the_avatar(client, auth, make_user, user_by_email):
    auth.login(make_user(email="ann@example.com"))
    _settings(client, avatar=(BytesIO(_png()), "me.png"))
    avatar = user_by_email("ann@example.com").avatar

    response = _settings(client, display_name="Ann B.", bio="New bio")

    assert response.status_code == 302
    assert user_by_email("ann@example.com").avatar == avatar


def test_a_non_image_upload_is_refused_and_nothing_changes(app, client, auth, make_user, user_by_email,
                                                           field_errors, input_value):
    auth.login(make_user(email="ann@example.com", display_name="Ann Baker"))

    response = _settings(client, display_name="Ann the Baker", bio="New bio",
                         avatar=(BytesIO(b"#!/bin/sh\necho not a picture\n"), "me.png"))

    assert response.status_code == 422
    assert field_errors(response, "avatar") == ["That file is not an image we can read. Upload a JPEG, PNG, WebP or GIF."]
    assert input_value(response, "display_name") == "Ann the Baker"
    saved = user_by_email("ann@example.com")
    assert (saved.display_name, saved.bio, saved.avatar) == ("Ann Baker", "", None)
    assert list(app.config["UPLOAD_DIR"].iterdir()) == []


def test_settings_need_a_login(client):
    response = client.post("/me/settings", data={"display_name": "Mallory"})

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
