"""The home page: featured, trending (recent pledges), ending soon and newest — live campaigns only."""
from datetime import timedelta

from crowdfund.clock import utcnow
from crowdfund.ticker import run_periodic_jobs


def test_home_page_shows_no_featured_section_when_nothing_is_featured(client, make_live):
    make_live("Quiet pottery studio")

    page = client.get("/").get_data(as_text=True)

    assert 'id="featured-h"' not in page
    assert "Quiet pottery studio" in page


def test_featured_section_holds_only_featured_live_campaigns(client, make_live, make_campaign, card_titles):
    make_live("Featured rope maker", featured=True)
    make_live("Plain soap maker")
    make_campaign(state="successful", title="Featured but finished", featured=True)

    page = client.get("/").get_data(as_text=True)

    assert card_titles(page, "featured-h") == ["Featured rope maker"]


def test_trending_puts_most_pledged_in_the_last_week_first(client, make_live, make_pledge, card_titles):
    old_favourite = make_live("Old favourite cider", launched_days_ago=20, ends_in_days=10)
    make_pledge(old_favourite, amount=90_000, created_at=utcnow() - timedelta(days=8))
    make_pledge(old_favourite, amount=1_000)
    hot = make_live("Hot sauce collective", launched_days_ago=3)
    make_pledge(hot, amount=20_000, created_at=utcnow() - timedelta(days=2))
    make_pledge(hot, amount=20_000)
    warm = make_live("Warm wool socks", launched_days_ago=4)
    make_pledge(warm, amount=15_000)
    make_pledge(warm, amount=50_000, state="cancelled")  # cancelled pledges do not count
    make_live("Nobody backed this yet", launched_days_ago=2)
    run_periodic_jobs()  # trending is what the periodic job last computed

    page = client.get("/").get_data(as_text=True)

    assert card_titles(page, "trending-h") == [
        "Hot sauce collective", "Warm wool socks", "Old favourite cider", "Nobody backed this yet"]


def test_ending_soon_puts_the_nearest_deadline_first(client, make_live, card_titles):
    make_live("Ends in a month", ends_in_days=30)
    make_live("Ends tomorrow", ends_in_days=1)
    make_live("Ends next week", ends_in_days=7)

    page = client.get("/").get_data(as_text=True)

    assert card_titles(page, "ending-h") == ["Ends tomorrow", "Ends next week", "Ends in a month"]


def test_newest_puts_the_latest_launch_first(client, make_live, card_titles):
    make_live("Launched last month", launched_days_ago=25)
    make_live("Launched today", launched_days_ago=0)
    make_live("Launched last week", launched_days_ago=7)

    page = client.get("/").get_data(as_text=True)

    assert card_titles(page, "newest-h") == ["Launched today", "Launched last week", "Launched last month"]


def test_live_campaign_past_its_deadline_is_no_longer_listed(client, make_live, make_campaign, card_titles):
    make_campaign(state="live", title="Deadline just passed", launched_at=utcnow() - timedelta(days=31),
                  duration_days=30)
    make_live("Still running")

    page = client.get("/").get_data(as_text=True)

    assert "Deadline just passed" not in page
    assert card_titles(page, "ending-h") == ["Still running"]
