"""The number of SQL statements a page runs does not grow with the data it shows: the same with
5 campaigns (or tiers, budget lines and milestones) as with 500, for visitors and logged-in users."""
from datetime import timedelta

import pytest

from crowdfund.accounts.models import User
from crowdfund.campaigns.models import BudgetLine, Campaign, Category, Milestone, RewardTier
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.pledges.models import Pledge


@pytest.fixture
def people(app, make_user):
    """Ids and emails of three founders and a backer (ids, as the session is emptied between requests)."""
    founders = [make_user() for _ in range(3)]
    backer = make_user(display_name="Bea Backer")
    return {"founder_ids": [f.id for f in founders], "founder_email": founders[0].email,
            "backer_id": backer.id, "backer_email": backer.email}


@pytest.fixture
def add_campaigns(people):
    """Bulk-insert n campaigns in one commit (not through the UI); each has a pledge from the backer."""
    created = []

    def add(n, state="live"):
        category_ids = list(db.session.execute(db.select(Category.id).order_by(Category.id)).scalars())
        now = utcnow()
        start = len(created)
        campaigns = []
        for i in range(start, start + n):
            launched = now - timedelta(days=1 + i % 20) if state == "live" else None
            campaigns.append(Campaign(
                founder_id=people["founder_ids"][i % 3], category_id=category_ids[i % len(category_ids)],
                title=f"Neighbourhood bakery {i:03d}", slug=f"neighbourhood-bakery-{i:03d}",
                blurb="Bread for the street.", story="A bakery for everyone on the street. " * 6,
                risks="Flour prices.", goal=100_000 + i, state=state, submitted_at=now - timedelta(hours=i + 1),
                launched_at=launched, deadline=launched + timedelta(days=30) if launched else None,
                featured=i % 2 == 0))
        db.session.add_all(campaigns)
        db.session.flush()
        if state == "live":
            db.session.add_all(Pledge(campaign_id=c.id, backer_id=people["backer_id"], amount=1_000 + c.id,
                                      state="active", created_at=now - timedelta(hours=c.id % 200))
                               for c in campaigns)
        db.session.commit()
        created.extend(campaigns)
        return created

    return add


@pytest.fixture
def run_counted(client, count_queries):
    """GET url as a fresh request would (empty session), returning the page and the statements run."""

    def run(url):
        client.get(url)  # warm up anything done once per process
        db.session.remove()
        with count_queries() as statements:
            response = client.get(url)
        assert response.status_code == 200, url
        return response.get_data(as_text=True), list(statements)

    return run


def _assert_same_count(small, large, url):
    assert len(small) == len(large), (
        f"{url}: {len(small)} statements with 5, {len(large)} with 500:\n" + "\n---\n".join(large))


LISTING_URLS = ["/", "/discover", "/discover?sort=ending", "/discover?sort=newest", "/discover/food-drink",
                "/search?q=bakery", "/search?q=neighbourhood+bread"]
# At most this many statements for a visitor (a signed-in user adds one: the user loader). The totals
# are on the campaign row and trending is a column, so no listing queries the pledges. The home page
# is four sections of (campaigns, their founders, their categories) and the category list.
LISTING_STATEMENTS = {"/": 13, "/discover": 5, "/discover?sort=ending": 5, "/discover?sort=newest": 5,
                      "/discover/food-drink": 6, "/search?q=bakery": 4, "/search?q=neighbourhood+bread": 4}


@pytest.mark.parametrize("logged_in", [False, True], ids=["visitor", "backer"])
def test_listing_pages_run_as_many_statements_for_500_campaigns_as_for_5(
        auth, people, add_campaigns, run_counted, card_titles, logged_in):
    if logged_in:
        auth.login(people["backer_email"])
    add_campaigns(5)
    small = {url: run_counted(url) for url in LISTING_URLS}

    add_campaigns(495)
    large = {url: run_counted(url) for url in LISTING_URLS}

    for url in LISTING_URLS:
        _assert_same_count(small[url][1], large[url][1], url)
        assert len(large[url][1]) <= LISTING_STATEMENTS[url] + logged_in, (url, large[url][1])
        assert not any("FROM pledge" in statement for statement in large[url][1]), url
    assert len(card_titles(large["/discover"][0])) == 12  # a full page of the 500
    assert "Page 1 of 42" in large["/discover"][0]
    assert "500 campaigns found" in large["/search?q=bakery"][0]


def test_moderation_queue_runs_as_many_statements_for_500_campaigns_as_for_5(
        auth, make_user, add_campaigns, run_counted):
    auth.login(make_user(role="moderator"))
    add_campaigns(5, state="in_review")
    small = run_counted("/moderation/")[1]

    add_campaigns(495, state="in_review")
    page, large = run_counted("/moderation/")

    _assert_same_count(small, large, "/moderation/")
    assert "500 campaigns waiting" in page


def _campaign_with(make_campaign, people, n):
    """A live campaign with n reward tiers, n budget lines, n milestones and a pledge on each of 5 tiers."""
    founder = db.session.get(User, people["founder_ids"][0])
    campaign = make_campaign(state="live", founder=founder, tiers=n, tier_quantity=1_000)
    db.session.add_all(BudgetLine(campaign_id=campaign.id, purpose=f"Budget line {i}", amount=100, position=i)
                       for i in range(3, n + 1))
    db.session.add_all(Milestone(campaign_id=campaign.id, title=f"Milestone {i}", description="Done",
                                 due_date=utcnow().date() + timedelta(days=200 + i), release_bp=0)
                       for i in range(3, n + 1))
    tier_ids = db.session.execute(db.select(RewardTier.id).where(RewardTier.campaign_id == campaign.id)
                                  .order_by(RewardTier.id).limit(5)).scalars()
    db.session.add_all(Pledge(campaign_id=campaign.id, backer_id=people["backer_id"], reward_tier_id=tier_id,
                              amount=5_000, state="collected") for tier_id in tier_ids)  # paid: one backer may have many
    db.session.commit()
    return campaign.slug, campaign.id


@pytest.mark.parametrize("viewer", ["visitor", "backer", "founder"])
def test_campaign_page_runs_as_many_statements_for_500_tiers_as_for_5(
        auth, make_campaign, people, run_counted, viewer):
    small_slug, _ = _campaign_with(make_campaign, people, 5)
    large_slug, _ = _campaign_with(make_campaign, people, 500)
    if viewer != "visitor":
        auth.login(people["backer_email"] if viewer == "backer" else people["founder_email"])

    small = run_counted(f"/c/{small_slug}")[1]
    page, large = run_counted(f"/c/{large_slug}")

    _assert_same_count(small, large, "/c/<slug>")
    assert "Tier 500" in page and "Budget line 500" in page and "Milestone 500" in page


def test_review_page_runs_as_many_statements_for_500_tiers_as_for_5(
        auth, make_user, make_campaign, people, run_counted):
    _, small_id = _campaign_with(make_campaign, people, 5)
    _, large_id = _campaign_with(make_campaign, people, 500)
    auth.login(make_user(role="moderator"))

    small = run_counted(f"/moderation/campaigns/{small_id}")[1]
    page, large = run_counted(f"/moderation/campaigns/{large_id}")

    _assert_same_count(small, large, "/moderation/campaigns/<id>")
    assert "Tier 500" in page and "Budget line 500" in page and "Milestone 500" in page
