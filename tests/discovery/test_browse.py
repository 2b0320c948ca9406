"""Browsing /discover: by category, in four orders, a page at a time; only public campaigns."""
from datetime import timedelta

import pytest

from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.ticker import run_periodic_jobs

NON_PUBLIC_STATES = ("draft", "in_review", "changes_requested", "approved", "rejected")


def test_category_page_shows_only_that_category(client, make_live, card_titles):
    make_live("Sourdough starter kits", category_slug="food-drink")
    make_live("Board game about bees", category_slug="games")

    response = client.get("/discover/games")

    assert response.status_code == 200
    assert card_titles(response.get_data(as_text=True)) == ["Board game about bees"]


def test_discover_without_a_category_shows_every_category(client, make_live, card_titles):
    make_live("Sourdough starter kits", category_slug="food-drink")
    make_live("Board game about bees", category_slug="games")

    titles = card_titles(client.get("/discover").get_data(as_text=True))

    assert sorted(titles) == ["Board game about bees", "Sourdough starter kits"]


def test_unknown_category_is_404(client):
    response = client.get("/discover/no-such-category")

    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


def test_sort_ending_puts_the_nearest_deadline_first(client, make_live, card_titles):
    make_live("Ends in three weeks", ends_in_days=21)
    make_live("Ends in two days", ends_in_days=2)
    make_live("Ends in ten days", ends_in_days=10)

    titles = card_titles(client.get("/discover?sort=ending").get_data(as_text=True))

    assert titles == ["Ends in two days", "Ends in ten days", "Ends in three weeks"]


def test_sort_newest_puts_the_latest_launch_first(client, make_live, card_titles):
    make_live("Launched a fortnight ago", launched_days_ago=14)
    make_live("Launched yesterday", launched_days_ago=1)
    make_live("Launched five days ago", launched_days_ago=5)

    titles = card_titles(client.get("/discover?sort=newest").get_data(as_text=True))

    assert titles == ["Launched yesterday", "Launched five days ago", "Launched a fortnight ago"]


def test_sort_trending_puts_most_pledged_this_week_first(client, make_live, make_pledge, card_titles):
    small = make_live("Small recent pledges")
    make_pledge(small, amount=2_000)
    big = make_live("Big recent pledges")
    make_pledge(big, amount=30_000)
    old = make_live("Big pledges long ago", launched_days_ago=20)
    make_pledge(old, amount=90_000, created_at=utcnow() - timedelta(days=10))
    run_periodic_jobs()  # trending is what the periodic job last computed

    for url in ("/discover?sort=trending", "/discover"):
        titles = card_titles(client.get(url).get_data(as_text=True))
        assert titles == ["Big recent pledges", "Small recent pledges", "Big pledges long ago"]


def test_sort_funded_lists_successful_campaigns_most_recently_ended_first(client, make_campaign, make_live,
                                                                           card_titles):
    earlier = make_campaign(state="successful", title="Funded in spring")
    later = make_campaign(state="successful", title="Funded in autumn")
    earlier.ended_at = utcnow() - timedelta(days=200)
    later.ended_at = utcnow() - timedelta(days=20)
    db.session.commit()
    make_campaign(state="failed", title="Not funded at all")
    make_live("Still raising money")

    titles = card_titles(client.get("/discover?sort=funded").get_data(as_text=True))

    assert titles == ["Funded in autumn", "Funded in spring"]


def test_unknown_sort_falls_back_to_trending(client, make_live, card_titles):
    make_live("Only campaign")

    response = client.get("/discover?sort=%27%3B%20DROP%20TABLE%20campaign")

    assert response.status_code == 200
    assert card_titles(response.get_data(as_text=True)) == ["Only campaign"]


def test_campaigns_not_yet_public_never_appear_anywhere_public(client, make_user, make_campaign, make_live):
    founder = make_user()
    make_live("Public oven campaign", founder=founder, featured=True)
    for state in NON_PUBLIC_STATES:
        make_campaign(state=state, founder=founder, title=f"Hidden {state} oven campaign", featured=True)
    urls = ["/", "/discover", "/discover/food-drink", "/discover?sort=ending", "/discover?sort=newest",
            "/discover?sort=funded", "/search?q=oven", "/search?q=hidden", f"/u/{founder.id}"]

    for url in urls:
        page = client.get(url).get_data(as_text=True)
        assert "Hidden" not in page, url
    assert "Public oven campaign" in client.get("/search?q=oven").get_data(as_text=True)


@pytest.fixture
def fourteen_live(app, make_user, make_live):
    """PAGE_SIZE + 2 live campaigns of one founder, "Campaign 00" ending first."""
    count = app.config["PAGE_SIZE"] + 2
    founder = make_user()
    for n in range(count):
        make_live(f"Campaign {n:02d}", ends_in_days=n + 1, founder=founder)
    return [f"Campaign {n:02d}" for n in range(count)]


def test_second_page_continues_where_the_first_ended(app, client, fourteen_live, card_titles):
    size = app.config["PAGE_SIZE"]

    first = client.get("/discover?sort=ending").get_data(as_text=True)
    second = client.get("/discover?sort=ending&page=2").get_data(as_text=True)

    assert card_titles(first) == fourteen_live[:size]
    assert card_titles(second) == fourteen_live[size:]
    assert 'rel="next" href="/discover?page=2&amp;sort=ending"' in first
    assert "Page 2 of 2" in second


def test_page_out_of_range_is_an_empty_page(client, fourteen_live, card_titles):
    response = client.get("/discover?sort=ending&page=99")

    assert response.status_code == 200
    assert card_titles(response.get_data(as_text=True)) == []
    assert "No campaigns here yet." in response.get_data(as_text=True)


def test_page_that_is_not_a_positive_number_is_the_first_page(app, client, fourteen_live, card_titles):
    for page in ("abc", "0", "-3", "", "1.5", "%00"):
        response = client.get(f"/discover?sort=ending&page={page}")

        assert response.status_code == 200, page
        assert card_titles(response.get_data(as_text=True)) == fourteen_live[:app.config["PAGE_SIZE"]], page


def test_absurdly_large_page_number_is_an_empty_page(client, fourteen_live, card_titles):
    response = client.get("/discover?page=" + "9" * 40)

    assert response.status_code == 200
    assert card_titles(response.get_data(as_text=True)) == []
