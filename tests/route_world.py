"""What every rule's arguments point at, shared by the authorisation matrix and the fuzzing suite.

`world` builds a live campaign owned by `owner` and backed by `backer` (an active pledge), another
founder's live campaign, an update, a comment, a gallery image, a requested release, an open report
by the other founder, the backer's email tokens and the five kinds of user; `rule_url` fills a
rule's arguments from it; `all_rules` lists every rule of app.url_map except `static`, in a fixed
order.
"""
import pytest

from crowdfund.extensions import db

USERS = ("visitor", "backer", "other_founder", "owner", "moderator")


@pytest.fixture
def world(app, make_user, make_campaign, make_pledge, stripe_standin, stored_image):
    """The objects the rules' arguments point at, and the five kinds of user."""
    from crowdfund.accounts.services import make_token
    from crowdfund.comments.models import Comment
    from crowdfund.media.models import GalleryImage
    from crowdfund.notifications.services import unsubscribe_token
    from crowdfund.payouts.models import Release
    from crowdfund.updates.models import Update

    owner = make_user(display_name="Owner", role="backer")
    other_founder = make_user(display_name="Other founder")
    backer = make_user(display_name="Backer")
    moderator = make_user(display_name="Moderator", role="moderator")
    campaign = make_campaign(founder=owner, state="live")
    make_campaign(founder=other_founder, state="live")
    pledge = make_pledge(campaign, backer=backer, state="active")
    # The pledge's customer and SetupIntent live in the Stripe stand-in, as after a real pledge.
    from crowdfund.clock import utcnow
    from crowdfund.settlement.checkout import new_card_setup
    new_card_setup(pledge, backer, utcnow())
    db.session.commit()
    update = Update(campaign_id=campaign.id, author_id=owner.id, title="The oven is ordered",
                    body="It arrives next month.", visibility="public")
    db.session.add(update)
    db.session.flush()
    comment = Comment(campaign_id=campaign.id, author_id=backer.id, body="Good luck with the oven!")
    gallery = GalleryImage(campaign_id=campaign.id, image=stored_image(), alt_text="The bakery", position=0)
    from crowdfund.campaigns.models import BudgetLine, Milestone, RewardTier
    from crowdfund.media.models import Image

    def first(model):
        return db.session.execute(db.select(model).where(model.campaign_id == campaign.id)
                                  .order_by(model.id)).scalars().first()

    milestone, budget_line, tier = first(Milestone), first(BudgetLine), first(RewardTier)
    release = Release(campaign_id=campaign.id, milestone_id=milestone.id, tranche=f"milestone-{milestone.id}",
                      state="requested", amount=1000, requested_by_id=owner.id)
    from crowdfund.moderation.models import CampaignReport
    report = CampaignReport(campaign_id=campaign.id, reporter_id=other_founder.id, reason="Copied photos")
    db.session.add_all([comment, gallery, release, report])
    from crowdfund.risk.models import RiskAssessment  # a flag under the hold threshold: the risk page's clear form
    db.session.add(RiskAssessment(campaign_id=campaign.id, score=10, reasons=[
        {"code": "silence", "points": 10, "phase": "delivery", "detail": {"days_since_update": 50}}]))
    db.session.commit()
    cover = db.session.get(Image, campaign.cover_image_id)
    args = {
        "slug": campaign.slug,
        "campaign_id": campaign.id,
        "pledge_id": pledge.id,
        "update_id": update.id,
        "comment_id": comment.id,
        "milestone_id": milestone.id,
        "release_id": release.id,
        "tier_id": tier.id,
        "report_id": report.id,
        "user_id": owner.id,
        "category_slug": "food-drink",
        "name": cover.file_name(int(cover.widths.split(",")[0]), "jpg"),
        "filename": "css/app.css",
    }
    tokens = {  # the backer's links from their emails, whoever follows them
        "accounts.verify_email": make_token(backer, "verify"),
        "accounts.confirm_email": make_token(backer, "verify"),
        "accounts.reset_password": make_token(backer, "reset"),
        "notifications.unsubscribe": unsubscribe_token(backer.id, "updates"),
        "notifications.unsubscribe_confirm": unsubscribe_token(backer.id, "updates"),
    }
    users = {"backer": backer, "other_founder": other_founder, "owner": owner, "moderator": moderator}
    item_ids = {"budget": budget_line.id, "rewards": tier.id,
                "milestones": milestone.id, "gallery": gallery.id}
    return {"args": args, "tokens": tokens, "users": users, "item_ids": item_ids}


def rule_url(app, rule, world):
    values = {}
    for name in rule.arguments:
        if name == "token":
            values[name] = world["tokens"][rule.endpoint]
        elif name == "kind":
            values[name] = "rewards"
        elif name == "item_id":
            values[name] = world["item_ids"]["gallery" if rule.endpoint.startswith("media.") else "rewards"]
        else:
            values[name] = world["args"][name]
    with app.test_request_context():
        from flask import url_for
        return url_for(rule.endpoint, **values)


def all_rules(app):
    return sorted((r for r in app.url_map.iter_rules() if r.endpoint != "static"), key=lambda r: r.rule)
