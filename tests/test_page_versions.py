"""Invalidation by what changed (issue 17): a write makes stale the pages that show it — its campaign's
page, widget and updates, and the listings when a card changes — and nothing else. Every test here runs
on SQLite and PostgreSQL: a visitor never sees a page older than the last write on what it shows."""
from datetime import timedelta

import pytest

from crowdfund.campaigns.models import Category
from crowdfund.extensions import db
from crowdfund.pledges.models import Pledge
from crowdfund.pledges.services import transition_where
from crowdfund.ticker import run_periodic_jobs
PASSWORD = "correct horse battery"  # what make_user gives every user (tests/conftest.py)

pytestmark = pytest.mark.page_cache


def cache_state(client, url):
    return client.get(url).headers.get("X-Page-Cache")


def warm(client, *urls):
    """Store each page, and check it is then served from the cache."""
    for url in urls:
        client.get(url)
        assert cache_state(client, url) == "hit", url


@pytest.fixture
def two(make_campaign):
    return (make_campaign(state="live", title="Oven for the corner bakery", goal=100_000),
            make_campaign(state="live", title="Kiln for the pottery", goal=100_000))


def pages_of(campaign):
    return [f"/c/{campaign.slug}", f"/c/{campaign.slug}/widget", f"/c/{campaign.slug}/updates"]


def test_a_pledge_refreshes_its_campaign_and_the_listings_and_leaves_the_other_campaign_cached(
        client, two, make_pledge):
    oven, kiln = two
    warm(client, *pages_of(oven), *pages_of(kiln), "/discover", "/")

    make_pledge(oven, amount=42_000)

    page, widget = client.get(f"/c/{oven.slug}"), client.get(f"/c/{oven.slug}/widget")
    assert page.headers["X-Page-Cache"] == widget.headers["X-Page-Cache"] == "miss"
    assert "$420" in page.get_data(as_text=True) and "$420" in widget.get_data(as_text=True)
    listing = client.get("/discover")
    assert listing.headers["X-Page-Cache"] == "miss" and "$420" in listing.get_data(as_text=True)
    assert [cache_state(client, url) for url in pages_of(kiln)] == ["hit", "hit", "hit"]


def test_a_comment_refreshes_its_campaign_only(client, two, make_user, login):
    oven, kiln = two
    backer = make_user()
    db.session.add(Pledge(campaign_id=oven.id, backer_id=backer.id, amount=5_000, state="active"))
    db.session.commit()
    warm(client, f"/c/{oven.slug}", f"/c/{kiln.slug}", "/discover")

    commenter = login(backer)
    assert commenter.post(f"/c/{oven.slug}/comments", data={"body": "When does the oven arrive?"}).status_code == 303

    page = client.get(f"/c/{oven.slug}")
    assert page.headers["X-Page-Cache"] == "miss" and "When does the oven arrive?" in page.get_data(as_text=True)
    assert cache_state(client, f"/c/{kiln.slug}") == "hit"
    assert cache_state(client, "/discover") == "hit"  # a comment changes no card


def test_a_state_change_in_bulk_refreshes_the_campaign_it_belongs_to(client, two, make_pledge):
    oven, kiln = two
    pledge = make_pledge(oven, amount=30_000)
    warm(client, f"/c/{oven.slug}", f"/c/{kiln.slug}")
    assert "$300" in client.get(f"/c/{oven.slug}").get_data(as_text=True)

    assert transition_where("cancelled", Pledge.id == pledge.id) == 1  # the pledge is not in the session's map
    db.session.commit()

    page = client.get(f"/c/{oven.slug}")
    assert page.headers["X-Page-Cache"] == "miss" and "$300" not in page.get_data(as_text=True)
    assert cache_state(client, f"/c/{kiln.slug}") == "hit"


def test_bulk_changes_by_campaign_refresh_that_campaign(client, two, make_pledge):
    oven, kiln = two
    make_pledge(oven, amount=30_000)
    warm(client, f"/c/{oven.slug}", f"/c/{kiln.slug}")
    db.session.expunge_all()  # nothing loaded: the campaign's slug is worked out from its id

    transition_where("cancelled", Pledge.campaign_id == oven.id)
    db.session.commit()

    assert "$300" not in client.get(f"/c/{oven.slug}").get_data(as_text=True)
    assert cache_state(client, f"/c/{kiln.slug}") == "hit"


def test_signing_up_and_logging_in_leave_every_page_cached(app, client, two):
    oven, kiln = two
    urls = [f"/c/{oven.slug}", f"/c/{kiln.slug}", "/discover", "/"]
    warm(client, *urls)

    visitor = app.test_client()
    assert visitor.post("/signup", data={"email": "new@example.com", "display_name": "New backer",
                                         "password": PASSWORD, "confirm": PASSWORD}).status_code in (302, 303)
    visitor.post("/logout")
    assert visitor.post("/login", data={"email": "new@example.com", "password": PASSWORD}).status_code in (302, 303)

    assert [cache_state(client, url) for url in urls] == ["hit"] * 4


def test_a_founder_renaming_themselves_refreshes_their_campaigns_only(client, two):
    oven, kiln = two
    warm(client, f"/c/{oven.slug}", f"/c/{kiln.slug}")

    oven.founder.display_name = "Ada of the corner bakery"
    db.session.commit()

    page = client.get(f"/c/{oven.slug}")
    assert page.headers["X-Page-Cache"] == "miss" and "Ada of the corner bakery" in page.get_data(as_text=True)
    assert cache_state(client, f"/c/{kiln.slug}") == "hit"


def test_a_change_the_cache_cannot_place_refreshes_everything(client, two):
    """A write to a table the cache knows nothing of makes every page stale: a mistake costs speed,
    never freshness."""
    oven, kiln = two
    warm(client, f"/c/{oven.slug}", f"/c/{kiln.slug}", "/discover")

    db.session.add(Category(slug="boat-building", name="Boat building"))
    db.session.commit()

    assert [cache_state(client, url) for url in (f"/c/{oven.slug}", f"/c/{kiln.slug}", "/discover")] == ["miss"] * 3


def test_a_rolled_back_write_refreshes_nothing(client, two, make_user):
    oven, kiln = two
    backer = make_user()
    warm(client, f"/c/{oven.slug}")

    db.session.add(Pledge(campaign_id=oven.id, backer_id=backer.id, amount=5_000, state="active"))
    db.session.flush()
    db.session.rollback()
    db.session.add(Category(slug="knitting", name="Knitting"))  # the next transaction is not confused
    db.session.rollback()

    assert cache_state(client, f"/c/{oven.slug}") == "hit"


def test_a_campaign_closed_by_the_deadline_job_leaves_the_listings_and_shows_its_end(client, two):
    oven, kiln = two
    url = f"/c/{oven.slug}"
    warm(client, url, "/discover")

    run_periodic_jobs(oven.deadline + timedelta(minutes=1))

    assert "Oven for the corner bakery" not in client.get("/discover").get_data(as_text=True)
    assert client.get(url).headers["X-Page-Cache"] == "miss"
