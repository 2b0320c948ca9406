"""Accountability: backers may ask for an update after 30 days without one (once per silence); the
founder and moderators see how many asked since the last update. Time is set through created_at and
launched_at in the past, never by waiting."""
import re
from datetime import timedelta

import pytest

from crowdfund.accounts.services import start_login_session
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.updates.models import Update, UpdateRequest

BUTTON = "Request an update"


def days_ago(n):
    return utcnow() - timedelta(days=n)


@pytest.fixture
def quiet(founder, make_campaign):
    """A live campaign launched 31 days ago (of 60) without any update."""
    return make_campaign(founder=founder, state="live", duration_days=60, launched_at=days_ago(31))


@pytest.fixture
def backer(quiet, make_user, make_pledge):
    user = make_user(display_name="Bea Backer")
    make_pledge(quiet, backer=user, state="active")
    return user


def press(client, campaign):
    return client.post(f"/c/{campaign.slug}/updates/request")


def requests() -> int:
    return db.session.execute(db.select(db.func.count(UpdateRequest.id))).scalar_one()


def add_update(campaign, founder, age_days, title="News"):
    db.session.add(Update(campaign_id=campaign.id, author_id=founder.id, title=title, body="Text",
                          created_at=days_ago(age_days)))
    db.session.commit()


def test_a_backer_asks_after_30_days_and_the_founder_and_moderators_see_the_count(
        login, founder_client, quiet, backer, make_user):
    backer_client = login(backer)
    assert BUTTON in backer_client.get(f"/c/{quiet.slug}").get_data(as_text=True)
    assert "No backer has asked" in founder_client.get(f"/c/{quiet.slug}").get_data(as_text=True)

    response = press(backer_client, quiet)

    assert response.status_code == 303
    page = backer_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "the founder has been told" in page
    assert BUTTON not in page and "You asked for an update on" in page
    assert requests() == 1
    for url in (f"/c/{quiet.slug}", f"/c/{quiet.slug}/updates"):
        assert "1 backer asked for an update since the last one." in founder_client.get(url).get_data(as_text=True)
    moderator = login(make_user(role="moderator"))
    assert "1 backer asked for an update" in moderator.get(f"/c/{quiet.slug}").get_data(as_text=True)
    # Backers and visitors do not see the count.
    assert "asked for an update since" not in backer_client.get(f"/c/{quiet.slug}").get_data(as_text=True)


def test_a_second_press_in_the_same_silence_is_not_counted(login, founder_client, quiet, backer, make_user,
                                                            make_pledge):
    backer_client = login(backer)
    press(backer_client, quiet)

    response = press(backer_client, quiet)

    assert response.status_code == 303
    assert "You already asked" in backer_client.get(response.headers["Location"]).get_data(as_text=True)
    assert requests() == 1
    other = make_user()
    make_pledge(quiet, backer=other, state="collected")
    press(login(other), quiet)
    assert "2 backers asked for an update" in founder_client.get(f"/c/{quiet.slug}").get_data(as_text=True)


@pytest.mark.parametrize("launched_days_ago, update_days_ago", [(29, None), (90, 29), (90, 0)])
def test_pressing_before_30_days_of_silence_is_refused(login, founder, make_campaign, make_user, make_pledge,
                                                       launched_days_ago, update_days_ago):
    campaign = make_campaign(founder=founder, state="live", duration_days=60,
                             launched_at=days_ago(launched_days_ago))
    if update_days_ago is not None:
        add_update(campaign, founder, update_days_ago)
    user = make_user()
    make_pledge(campaign, backer=user)
    backer_client = login(user)

    assert BUTTON not in backer_client.get(f"/c/{campaign.slug}").get_data(as_text=True)
    response = press(backer_client, campaign)

    assert response.status_code == 400
    assert "once the campaign has been 30 days without one" in response.get_data(as_text=True)
    assert requests() == 0


def test_the_silence_counts_from_the_last_update(login, founder, founder_client, quiet, backer):
    add_update(quiet, founder, 31, title="Old news")
    # Asked during an earlier silence, before that update: not counted any more, and may ask again.
    db.session.add(UpdateRequest(campaign_id=quiet.id, user_id=backer.id, created_at=days_ago(31.5)))
    db.session.commit()
    backer_client = login(backer)
    assert "No backer has asked" in founder_client.get(f"/c/{quiet.slug}").get_data(as_text=True)
    assert BUTTON in backer_client.get(f"/c/{quiet.slug}").get_data(as_text=True)

    assert press(backer_client, quiet).status_code == 303
    assert "1 backer asked" in founder_client.get(f"/c/{quiet.slug}").get_data(as_text=True)

    # A new update ends the silence: the count goes back to none, the button goes away.
    founder_client.post(f"/c/{quiet.slug}/updates/new", data={"title": "Fresh", "body": "News", "visibility": "public"})
    assert "No backer has asked" in founder_client.get(f"/c/{quiet.slug}").get_data(as_text=True)
    assert BUTTON not in backer_client.get(f"/c/{quiet.slug}").get_data(as_text=True)
    assert press(backer_client, quiet).status_code == 400


def test_successful_campaigns_count_too(login, founder, founder_client, make_campaign, make_user, make_pledge):
    campaign = make_campaign(founder=founder, state="successful", launched_at=days_ago(70))
    add_update(campaign, founder, 35)
    user = make_user()
    make_pledge(campaign, backer=user, state="collected")

    assert press(login(user), campaign).status_code == 303
    assert "1 backer asked" in founder_client.get(f"/c/{campaign.slug}").get_data(as_text=True)


def test_non_backers_see_no_button_and_cannot_ask(client, login, quiet, make_user, make_pledge, founder_client):
    stranger, cancelled = make_user(), make_user()
    make_pledge(quiet, backer=cancelled, state="cancelled")

    for viewer in (client, login(stranger), login(cancelled), founder_client):
        assert BUTTON not in viewer.get(f"/c/{quiet.slug}").get_data(as_text=True)
    for outsider in (login(stranger), login(cancelled), founder_client):
        response = press(outsider, quiet)
        assert response.status_code == 403
        assert "Only backers can ask for an update." in response.get_data(as_text=True)
    anonymous = press(client, quiet)
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login")
    assert requests() == 0


def test_no_requests_on_a_failed_campaign(login, founder, make_campaign, make_user, make_pledge):
    campaign = make_campaign(founder=founder, state="failed", launched_at=days_ago(90))
    user = make_user()
    make_pledge(campaign, backer=user, state="void")
    make_pledge(campaign, backer=make_user(), state="active")

    assert BUTTON not in login(user).get(f"/c/{campaign.slug}").get_data(as_text=True)
    assert press(login(user), campaign).status_code == 403
    assert requests() == 0


def test_the_button_is_a_csrf_protected_post(csrf_app, make_user, make_campaign, make_pledge):
    founder = make_user()
    campaign = make_campaign(founder=founder, state="live", duration_days=60, launched_at=days_ago(40))
    user = make_user()
    make_pledge(campaign, backer=user)
    client = csrf_app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = start_login_session(user)  # as logging in does
        db.session.commit()
        session["_fresh"] = True

    assert press(client, campaign).status_code == 400  # no token
    page = client.get(f"/c/{campaign.slug}").get_data(as_text=True)
    form = page[page.index('class="request-update"'):]
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    assert client.post(f"/c/{campaign.slug}/updates/request", data={"csrf_token": token}).status_code == 303
    assert requests() == 1
    assert client.get(f"/c/{campaign.slug}/updates/request").status_code == 405
