"""What the campaign page shows: progress, money, backers, time left, tiers, budget, milestones, founder."""
import re
from datetime import timedelta

import pytest

from crowdfund.clock import utcnow
from crowdfund.extensions import db

from .helpers import fresh_campaign


def _section(html: str, heading_id: str) -> str:
    """The HTML of the <section> labelled by the heading with this id."""
    match = re.search(rf'<section[^>]*aria-labelledby="{heading_id}">(.*?)</section>', html, re.S)
    assert match, f"no section {heading_id}"
    return match.group(1)


def _tiers(html: str) -> dict[str, str]:
    """Tier title -> the tier's HTML."""
    blocks = html.split('<div class="tier">')[1:]
    return {re.search(r"<h3>([^<]*)</h3>", block)[1]: block for block in blocks}


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


@pytest.fixture
def page(app, client, founder, make_campaign, make_pledge, make_user):
    """A live USD campaign with a goal of $1,000.00, about five days left, pledges and three tiers."""
    founder.bio = "Baker in **Leeds** since 2015."
    db.session.commit()
    make_campaign(founder=founder, state="successful")
    make_campaign(founder=founder, state="draft")
    campaign = make_campaign(
        founder=founder, state="live", goal=100_000, tiers=3, duration_days=30, title="Fay's Oven",
        launched_at=utcnow() - timedelta(days=25) + timedelta(hours=1),
        story="# Why\n\nWe bake **rye**. <script>alert('x')</script>")
    tiers = fresh_campaign(campaign.id).reward_tiers
    tiers[0].quantity, tiers[0].claimed = 10, 3
    tiers[1].quantity, tiers[1].claimed = 5, 5
    tiers[2].ships, tiers[2].shipping_amount = True, 450
    db.session.commit()
    alice, bob = make_user(), make_user()
    make_pledge(campaign, backer=alice, amount=60_000)
    make_pledge(campaign, backer=bob, amount=15_050, state="collected")
    make_pledge(campaign, backer=alice, amount=100, state="collected")  # one open pledge each; a second, paid one
    make_pledge(campaign, amount=99_999, state="cancelled")
    response = client.get(f"/c/{campaign.slug}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_page_shows_progress_and_the_pledged_amount(page):
    assert '<progress value="75150" max="100000"' in page
    assert "<strong>$751.50</strong> pledged of $1,000.00 · 75 %" in page


def test_page_counts_each_backer_once_and_ignores_cancelled_pledges(page):
    assert "<dt>Backers</dt><dd>2</dd>" in page


def test_page_shows_the_time_left(page):
    assert re.search(r"<dt>Time left</dt>\s*<dd>5 days left</dd>", page)
    assert "<dt>Deadline</dt>" in page


def test_page_shows_limited_tiers_with_what_is_left(page):
    tiers = _tiers(_section(page, "rewards-h"))

    assert list(tiers) == ["Tier 1", "Tier 2", "Tier 3"]
    assert "7 left of 10" in _text(tiers["Tier 1"])
    assert "Sold out" in _text(tiers["Tier 2"]) and "left of" not in tiers["Tier 2"]
    assert "left of" not in tiers["Tier 3"] and "Sold out" not in tiers["Tier 3"]
    assert "Pledge $10.00 or more" in _text(tiers["Tier 1"])
    assert "Ships ($4.50 shipping)" in _text(tiers["Tier 3"])
    assert "Estimated delivery" in _text(tiers["Tier 1"])


def test_page_shows_the_budget_breakdown_with_its_total(page):
    budget = _text(_section(page, "budget-h"))

    assert "Oven $750.00 75 %" in budget
    assert "Installation $250.00 25 %" in budget
    assert "Total $1,000.00" in budget


def test_page_shows_the_milestone_timeline_in_date_order(page):
    milestones = _text(_section(page, "milestones-h"))

    assert milestones.index("Oven installed") < milestones.index("First deliveries")
    assert "releases 60 % of the funds" in milestones
    assert "releases 40 % of the funds" in milestones
    assert "Planned for" in milestones


def test_page_shows_the_founder_card(page):
    card = _section(page, "founder-h")

    assert "Fay Baker" in card
    assert "2 campaigns launched" in _text(card)
    assert "Baker in <strong>Leeds</strong> since 2015." in card


def test_story_is_rendered_from_markdown_and_sanitised(page):
    story = _section(page, "story-h")

    assert "<h2>Why</h2>" in story
    assert "<strong>rye</strong>" in story
    assert "<script>" not in story


def test_page_in_yen_formats_money_without_decimals(client, make_campaign, make_pledge):
    campaign = make_campaign(state="live", currency="JPY", goal=300_000)
    make_pledge(campaign, amount=1_500)

    html = client.get(f"/c/{campaign.slug}").get_data(as_text=True)

    assert "<strong>¥1,500</strong> pledged of ¥300,000 · 0 %" in html
    assert "Oven ¥225,000" in _text(_section(html, "budget-h"))


def test_funded_campaign_shows_its_outcome_instead_of_time_left(client, make_campaign, make_pledge):
    campaign = make_campaign(state="successful", goal=10_000)
    make_pledge(campaign, amount=12_500, state="collected")

    html = client.get(f"/c/{campaign.slug}").get_data(as_text=True)

    assert "This campaign is: Funded" in html
    assert re.search(r"<dt>Time left</dt>\s*<dd>ended ", html)
    assert "days left" not in html
    assert "<strong>$125.00</strong> pledged of $100.00 · 125 %" in html
    assert '<progress value="10000" max="10000"' in html


def test_draft_preview_shows_the_duration_instead_of_time_left(founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder, state="draft", duration_days=45)

    html = founder_client.get(f"/c/{campaign.slug}").get_data(as_text=True)

    assert "45 days once launched" in html


def test_incomplete_draft_preview_does_not_break_without_a_goal(founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder, state="draft", complete=False)

    response = founder_client.get(f"/c/{campaign.slug}")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "No budget yet." in html and "No milestones yet." in html and "No reward tiers yet." in html
