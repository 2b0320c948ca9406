"""Who may comment, on the campaign and on its public and backers-only updates: only backers (a pledge
that counts: active, collected, errored) and the founder; on a backers-only update only those who
can read it. Everyone else sees the comments of public places and a note saying who can comment."""
import pytest

from crowdfund.comments.models import Comment
from crowdfund.extensions import db

from .helpers import comments_in_db, has_comment_section, read_comments

ROLES = ("visitor", "non_backer", "active_backer", "collected_backer", "errored_backer", "cancelled_backer",
         "founder", "moderator")
# What a POST of a comment gives each role: 303 posted, 403 refused, 404 (cannot even read the place),
# "login" (sent to the login page).
ON_CAMPAIGN = {"visitor": "login", "non_backer": 403, "active_backer": 303, "collected_backer": 303,
               "errored_backer": 303, "cancelled_backer": 403, "founder": 303, "moderator": 403}
ON_PUBLIC_UPDATE = ON_CAMPAIGN
ON_BACKERS_UPDATE = {**ON_CAMPAIGN, "non_backer": 404, "cancelled_backer": 404}


@pytest.fixture
def as_role(client, login, founder, live, make_user, make_pledge):
    """as_role(role) -> a client acting as that role towards the live campaign."""

    def client_for(role):
        if role == "visitor":
            return client
        if role == "founder":
            return login(founder)
        user = make_user(role="moderator" if role == "moderator" else "backer")
        if role.endswith("_backer"):
            make_pledge(live, backer=user, state=role.removesuffix("_backer"))
        return login(user)

    return client_for


def _check_post(client, url, page_url, expected, body):
    response = client.post(url, data={"body": body})
    if expected == "login":
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    else:
        assert response.status_code == expected
    posted = [c.body for c in comments_in_db()]
    page_response = client.get(page_url)
    page = page_response.get_data(as_text=True)
    if page_response.status_code == 302:  # a visitor on a backers-only update is asked to log in
        assert expected == "login" and page_response.headers["Location"].startswith("/login")
        assert posted == []
        return
    if expected == 303:
        assert posted == [body]
        assert 'id="comment-body"' in page  # the form is offered
        assert body in page
    else:
        assert posted == []
        assert 'id="comment-body"' not in page
        if expected != 404:
            assert "Only backers of this campaign and its founder can comment." in page


@pytest.mark.parametrize("role", ROLES)
def test_commenting_on_the_campaign(role, as_role, live):
    _check_post(as_role(role), f"/c/{live.slug}/comments", f"/c/{live.slug}", ON_CAMPAIGN[role],
                f"A comment by the {role}")


@pytest.mark.parametrize("role", ROLES)
def test_commenting_on_a_public_update(role, as_role, live, make_update):
    update = make_update(live, "public")
    url = f"/c/{live.slug}/updates/{update.id}"
    _check_post(as_role(role), f"{url}/comments", url, ON_PUBLIC_UPDATE[role], f"A comment by the {role}")


@pytest.mark.parametrize("role", ROLES)
def test_commenting_on_a_backers_only_update(role, as_role, live, make_update):
    update = make_update(live, "backers")
    url = f"/c/{live.slug}/updates/{update.id}"
    _check_post(as_role(role), f"{url}/comments", url, ON_BACKERS_UPDATE[role], f"A comment by the {role}")


def test_the_visitor_is_offered_a_login_link(client, live):
    page = client.get(f"/c/{live.slug}").get_data(as_text=True)

    assert f'href="/login?next=/c/{live.slug}"' in page
    assert "Log in if you backed it" in page


def test_comments_of_a_backers_only_update_are_read_only_by_its_readers(
        client, login, as_role, live, backer, make_update, add_comment, make_user, make_pledge):
    update = make_update(live, "backers")
    add_comment(live, backer, "Only backers should read this", update=update)
    url = f"/c/{live.slug}/updates/{update.id}"

    for reader in ("active_backer", "founder", "moderator"):
        assert "Only backers should read this" in as_role(reader).get(url).get_data(as_text=True)
    for outsider in ("non_backer", "cancelled_backer"):
        assert as_role(outsider).get(url).status_code == 404
    for page_url in (f"/c/{live.slug}", f"/c/{live.slug}/updates"):
        assert "Only backers should read this" not in client.get(page_url).get_data(as_text=True)


def test_campaign_comments_and_update_comments_are_kept_apart(client, live, backer, make_update, add_comment):
    update = make_update(live, "public")
    add_comment(live, backer, "About the campaign")
    add_comment(live, backer, "About the update", update=update)

    campaign_page = client.get(f"/c/{live.slug}").get_data(as_text=True)
    update_page = client.get(f"/c/{live.slug}/updates/{update.id}").get_data(as_text=True)

    assert [c.body for c in read_comments(campaign_page)[0].values()] == ["About the campaign"]
    assert [c.body for c in read_comments(update_page)[0].values()] == ["About the update"]


def test_an_update_of_another_campaign_cannot_be_commented_through_this_one(
        login, live, backer, make_campaign, make_update):
    other_update = make_update(make_campaign(state="live"))

    response = login(backer).post(f"/c/{live.slug}/updates/{other_update.id}/comments", data={"body": "Hi"})

    assert response.status_code == 404
    assert comments_in_db() == []


@pytest.mark.parametrize("state", ["draft", "in_review", "approved"])
def test_a_campaign_not_yet_public_has_no_comments(state, founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder, state=state)

    page = founder_client.get(f"/c/{campaign.slug}")
    response = founder_client.post(f"/c/{campaign.slug}/comments", data={"body": "Testing"})

    assert page.status_code == 200 and not has_comment_section(page.get_data(as_text=True))
    assert response.status_code == 403
    assert comments_in_db() == []


@pytest.mark.parametrize("state", ["cancelled", "suspended"])
def test_a_stopped_campaign_keeps_its_comments_but_takes_no_more(
        state, login, founder, make_campaign, make_user, make_pledge, add_comment):
    campaign = make_campaign(founder=founder, state=state)
    backer = make_user()
    make_pledge(campaign, backer=backer, state="collected")
    add_comment(campaign, backer, "Written while it was live")
    backer_client = login(backer)

    response = backer_client.post(f"/c/{campaign.slug}/comments", data={"body": "One more"})
    page = backer_client.get(f"/c/{campaign.slug}").get_data(as_text=True)

    assert response.status_code == 403
    assert "Written while it was live" in page and "Comments are closed." in page
    assert 'id="comment-body"' not in page
    assert [c.body for c in comments_in_db()] == ["Written while it was live"]


def test_a_successful_campaign_still_takes_comments_from_its_backers(login, founder, make_campaign, make_user,
                                                                    make_pledge):
    campaign = make_campaign(founder=founder, state="successful")
    backer = make_user()
    make_pledge(campaign, backer=backer, state="collected")

    assert login(backer).post(f"/c/{campaign.slug}/comments", data={"body": "Got my bread"}).status_code == 303
    assert db.session.execute(db.select(db.func.count(Comment.id))).scalar_one() == 1
