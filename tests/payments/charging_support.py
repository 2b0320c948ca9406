"""Shared by test_charging.py and test_fix_flow.py: live campaigns past their deadline whose pledges
have cards saved in the Stripe stand-in as the browser leaves them, and reads of what Stripe holds."""
import re
from datetime import datetime, timedelta
from types import SimpleNamespace

from crowdfund.extensions import db
from crowdfund.payments import gateway
from crowdfund.payments.models import LedgerEntry
from crowdfund.pledges.models import Pledge

VISA = "4242424242424242"
DECLINED = "4000000000000341"  # saves fine, every charge declined
THREE_D_SECURE = "4000002500003155"  # saves after authentication; off-session charges need it again

LAUNCHED = datetime(2030, 1, 1, 12, 0)
DEADLINE = LAUNCHED + timedelta(days=30)
AFTER_DEADLINE = DEADLINE + timedelta(minutes=1)


def save_card(pledge, backer, number: str) -> None:
    """Customer + SetupIntent confirmed with the test card (twice for a 3-D Secure card, as after
    the stand-in's dialog), card attached and recorded on the pledge."""
    customer_id = gateway.create_customer(backer.email, backer.display_name, backer.id)
    setup_id, _ = gateway.create_setup_intent(customer_id, pledge.id)
    card = gateway.client().v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
    intent = gateway.client().v1.setup_intents.confirm(setup_id, params={"payment_method": card.id})
    if intent.status == "requires_action":
        gateway.client().v1.setup_intents.confirm(setup_id)
    setup = gateway.confirmed_card(setup_id, customer_id)
    assert setup.status == "succeeded"
    pledge.stripe_customer_id = customer_id
    pledge.stripe_setup_intent_id = setup_id
    pledge.stripe_payment_method_id = setup.payment_method_id
    pledge.card_summary = setup.card_summary
    db.session.commit()


def pledge_with_card(make_user, make_pledge, campaign, number=VISA, amount=12_000, reward_tier=None):
    """An active pledge with a saved card, as plain values (the periodic job ends the session, so
    ORM objects would be detached after it): id, campaign_id, email (the backer's), card, backer_id."""
    backer = make_user()
    pledge = make_pledge(campaign, backer=backer, amount=amount, reward_tier=reward_tier)
    save_card(pledge, backer, number)
    return SimpleNamespace(id=pledge.id, campaign_id=pledge.campaign_id, email=backer.email,
                           card=pledge.stripe_payment_method_id, backer_id=backer.id)


def fresh_pledge(pledge_id) -> Pledge:
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(Pledge, pledge_id)


def payment_intents_by_pledge() -> dict[str, int]:
    """pledge id (as in the metadata) -> number of PaymentIntents the stand-in holds for it."""
    counts = {}
    for intent in gateway.client().v1.payment_intents.list(params={"limit": 100}).auto_paging_iter():
        key = intent.metadata.to_dict().get("pledge_id") if intent.metadata else None
        counts[key] = counts.get(key, 0) + 1
    return counts


def ledger_rows(pledge_id) -> list[tuple[str, int, str]]:
    db.session.rollback()
    return [(e.kind, e.amount, e.stripe_id) for e in db.session.execute(
        db.select(LedgerEntry).where(LedgerEntry.pledge_id == pledge_id).order_by(LedgerEntry.id)).scalars()]


def emails_to(outbox, address) -> list:
    """The payment emails to address (notification emails, which carry List-Unsubscribe, are left out:
    tests/notifications covers them)."""
    return [m for m in outbox if m["To"] == address and m["List-Unsubscribe"] is None]


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def data_attribute(html: str, name: str) -> str:
    match = re.search(rf'{name}="([^"]*)"', html)
    assert match, f"no {name} in the page"
    return match.group(1)
