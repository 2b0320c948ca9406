"""(No tests here.) The main pages of the site and a small site that fills them, shared by
test_accessibility.py and test_looks.py: a founder with a live, backed campaign (an update, a comment,
limited rewards), another live campaign, one waiting for review, a backer, a newcomer and a moderator.
The founder has a credit record (an earlier funded campaign, business details, a score history) and
the live campaign an open report."""
from datetime import timedelta
from types import SimpleNamespace

from crowdfund.campaigns.models import RewardTier
from crowdfund.clock import utcnow
from crowdfund.comments.services import post_comment
from crowdfund.credit.models import BusinessDetails, CreditHistoryPoint
from crowdfund.credit.services import recompute_profile
from crowdfund.extensions import db
from crowdfund.moderation.models import CampaignReport
from crowdfund.risk.models import RiskAssessment, RiskHistoryPoint
from crowdfund.updates.services import post_update

PASSWORD = "a browser's password 2026"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1440, "height": 900}


def build_site(make_user, make_campaign, make_pledge) -> SimpleNamespace:
    """The site's people (email only) and ids; the session is released so the live server can write."""
    founder = make_user(display_name="Fay Baker", password=PASSWORD)
    backer = make_user(display_name="Ada Backer", password=PASSWORD)
    newcomer = make_user(display_name="Nia Newcomer", password=PASSWORD)
    moderator = make_user(display_name="Mo Derator", role="moderator", password=PASSWORD)
    # In yuan with a large goal: amounts such as CN¥60,000.00 are among the widest a table cell has to hold.
    live = make_campaign(founder=founder, state="live", title="Second oven for the bakery", currency="CNY",
                         goal=8_000_000, tiers=2, tier_quantity=20, featured=True,
                         launched_at=utcnow() - timedelta(days=3))
    first_tier = db.session.execute(db.select(RewardTier).where(RewardTier.campaign_id == live.id)
                                    .order_by(RewardTier.minimum_amount)).scalars().first()
    make_pledge(live, backer=backer, amount=2500, state="active", reward_tier=first_tier)
    for amount in (5000, 12000):
        make_pledge(live, amount=amount, state="active", created_at=utcnow() - timedelta(days=2))
    make_campaign(state="live", title="A repair café for the high street with a very long name that has to wrap "
                                      "somewhere on a phone", category_slug="community")
    post_update(live, founder, "The oven is ordered", "We paid the deposit; delivery in **six weeks**.", "public")
    post_comment(live, backer, "Good luck! Will the rye loaf be back?")
    waiting = make_campaign(state="in_review", title="Pottery kiln for the studio", category_slug="crafts")
    db.session.merge(RiskAssessment(campaign_id=live.id, score=55, previous_score=25, reasons=[  # the risk pages
        {"code": "pledge_burst", "points": 25, "phase": "funding", "detail": {"pledges_last_24h": 40, "daily_rate": 1.5}},
        {"code": "founder_self_backing", "points": 30, "phase": "funding", "detail": {}}]))
    for days, score in ((9, 10), (7, 25), (1, 55)):  # the risk page's chart
        db.session.add(RiskHistoryPoint(campaign_id=live.id, at=utcnow() - timedelta(days=days), score=score))
    # The founder's record (/u/<id>): an earlier funded campaign, declared business details, a score
    # with a history; and an open report for /moderation/reports.
    van = make_campaign(founder=founder, state="successful", title="A bread van for the market",
                        launched_at=utcnow() - timedelta(days=200))
    van_tier = db.session.execute(db.select(RewardTier).where(RewardTier.campaign_id == van.id)).scalar_one()
    van_tier.shipped_at = utcnow() - timedelta(days=10)  # its backer may say whether the reward arrived
    received = make_pledge(van, backer=backer, amount=1500, state="collected", reward_tier=van_tier)
    for days, score in ((150, 540), (90, 610), (30, 585)):
        db.session.add(CreditHistoryPoint(user_id=founder.id, at=utcnow() - timedelta(days=days), score=score))
    db.session.add(BusinessDetails(user_id=founder.id, name="Fay's Bakery Ltd", registration_number="08123456",
                                   address="12 Mill Lane, Oxford OX1 2AB"))
    db.session.flush()
    recompute_profile(founder.id, utcnow())
    db.session.add(CampaignReport(campaign_id=live.id, reporter_id=newcomer.id,
                                  reason="The photos look like stock images of someone else's bakery."))
    db.session.commit()
    site = SimpleNamespace(
        slug=live.slug, waiting_id=waiting.id, live_id=live.id, founder_id=founder.id,
        van_slug=van.slug, received_pledge_id=received.id, founder=SimpleNamespace(email=founder.email),
        backer=SimpleNamespace(email=backer.email), newcomer=SimpleNamespace(email=newcomer.email),
        moderator=SimpleNamespace(email=moderator.email))
    db.session.remove()  # release SQLite before the server thread reads and writes
    return site


def main_pages(site) -> list[tuple[str, str, str | None]]:
    """(name, path, who is logged in: an attribute of site, or None for a visitor)."""
    return [
        ("home", "/", None),
        ("discover", "/discover", None),
        ("category", "/discover/food-drink", None),
        ("search", "/search?q=oven", None),
        ("campaign", f"/c/{site.slug}", None),
        ("log-in", "/login", None),
        ("sign-up", "/signup", None),
        ("campaign as a backer", f"/c/{site.slug}", "backer"),
        ("my pledges", "/me/pledges", "backer"),
        ("pledge", f"/c/{site.slug}/pledge", "newcomer"),
        ("dashboard", f"/c/{site.slug}/dashboard", "founder"),
        ("moderation queue", "/moderation/", "moderator"),
        ("moderation review", f"/moderation/campaigns/{site.waiting_id}", "moderator"),
        ("risk queue", "/moderation/risk", "moderator"),
        ("risk page", f"/moderation/risk/{site.live_id}", "moderator"),
        ("campaign reports", "/moderation/reports", "moderator"),
        ("founder profile as a moderator", f"/u/{site.founder_id}", "moderator"),
        ("founder profile", f"/u/{site.founder_id}", None),
        ("own profile", f"/u/{site.founder_id}", "founder"),
        ("business details", "/me/business", "founder"),
        ("release schedule on hold", f"/campaigns/{site.slug}/releases", "founder"),
        ("dashboard with shipping", f"/c/{site.van_slug}/dashboard", "founder"),
        ("pledge with a shipped reward", f"/pledges/{site.received_pledge_id}", "backer"),
    ]
