"""Shared by the risk engine's database tests."""
import random
from datetime import timedelta
from io import BytesIO

from PIL import Image as PILImage

from crowdfund.campaigns.models import Campaign, Milestone
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.payments import gateway
from crowdfund.risk.models import RiskAssessment


def codes_of(campaign_id: int) -> list[str]:
    db.session.expire_all()
    assessment = db.session.get(RiskAssessment, campaign_id)
    return [] if assessment is None else [reason["code"] for reason in assessment.reasons]


def reason_of(campaign_id: int, code: str) -> dict:
    db.session.expire_all()
    return next(r for r in db.session.get(RiskAssessment, campaign_id).reasons if r["code"] == code)


def picture(seed: int, size=(900, 600)) -> bytes:
    """A PNG of coloured blocks (a picture with structure, unlike a flat colour), one per seed."""
    rng = random.Random(seed)
    image = PILImage.new("RGB", size)
    block = 60
    for x in range(0, size[0], block):
        for y in range(0, size[1], block):
            image.paste((rng.randrange(256), rng.randrange(256), rng.randrange(256)), (x, y, x + block, y + block))
    buffer = BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def confirm_card(setup_intent_id: str, number: str = "4242424242424242") -> None:
    """What the browser's card form does: confirm the SetupIntent with a test card."""
    client = gateway.client()
    method = client.v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
    client.v1.setup_intents.confirm(setup_intent_id, params={"payment_method": method.id})


def funded(make_campaign, ended_days_ago, milestone_days=(-40, 60)):
    """A successful campaign that ended ended_days_ago, with milestones due at those days from today
    (negative: overdue) and no updates."""
    now = utcnow()
    campaign = make_campaign(state="successful", launched_at=now - timedelta(days=ended_days_ago + 30))
    campaign = db.session.get(Campaign, campaign.id)
    campaign.ended_at = campaign.deadline
    db.session.execute(db.delete(Milestone).where(Milestone.campaign_id == campaign.id))
    for n, days in enumerate(milestone_days):
        db.session.add(Milestone(campaign_id=campaign.id, title=f"Step {n}", due_date=now.date() + timedelta(days=days),
                                 release_bp=5000))
    db.session.commit()
    return campaign
