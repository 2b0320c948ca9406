"""Reading back what a pledge test changed, and confirming a card as the browser would."""
import re

from sqlalchemy.orm import selectinload

from crowdfund.campaigns.models import Campaign, RewardTier
from crowdfund.extensions import db
from crowdfund.payments import gateway
from crowdfund.pledges.models import Pledge


def fresh_campaign(campaign_id: int) -> Campaign:
    db.session.rollback()
    db.session.expire_all()
    return db.session.execute(db.select(Campaign).where(Campaign.id == campaign_id)
                              .options(selectinload(Campaign.reward_tiers))).scalar_one()


def tier_claimed(tier_id: int) -> int:
    return db.session.execute(db.select(RewardTier.claimed).where(RewardTier.id == tier_id)).scalar_one()


def pledges_in(campaign) -> list[Pledge]:
    db.session.rollback()
    db.session.expire_all()
    return list(db.session.execute(db.select(Pledge).where(Pledge.campaign_id == campaign.id)).scalars())


def confirm_card_in_browser(pledge: Pledge, number: str = "4242424242424242") -> None:
    """What confirmCardSetup does in the browser: give the pledge's SetupIntent a card."""
    client = gateway.client()
    method = client.v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
    intent = client.v1.setup_intents.confirm(pledge.stripe_setup_intent_id, params={"payment_method": method.id})
    if intent.status == "requires_action":  # a 3-D Secure card: the dialog's "Complete authentication"
        client.v1.setup_intents.confirm(pledge.stripe_setup_intent_id)


def error_next_to(html: str, field: str) -> str:
    """The error message shown right under a form field (its id is `<field>-error`)."""
    match = re.search(rf'<p class="error" id="{field}-error"[^>]*>([^<]*)</p>', html)
    assert match, f"no error shown next to {field}"
    return match.group(1)
