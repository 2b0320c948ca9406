"""Pledges with real money behind them in the Stripe stand-in, for the refund, webhook and
reconcile tests: a card saved server-side as the browser would, and charged through the gateway."""
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.payments import gateway, ledger

VISA = "4242424242424242"


def save_card(pledge, number: str = VISA) -> None:
    """Give the pledge a Stripe customer and a saved card (SetupIntent confirmed, card attached)."""
    customer_id = gateway.create_customer(f"backer{pledge.backer_id}@example.com", "Backer", pledge.backer_id)
    setup_id, _ = gateway.create_setup_intent(customer_id, pledge.id)
    card = gateway.client().v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
    gateway.client().v1.setup_intents.confirm(setup_id, params={"payment_method": card.id})
    setup = gateway.confirmed_card(setup_id, customer_id)
    pledge.stripe_customer_id = customer_id
    pledge.stripe_setup_intent_id = setup_id
    pledge.stripe_payment_method_id = setup.payment_method_id
    pledge.card_summary = setup.card_summary
    db.session.commit()


def charge_at_stripe(pledge, amount: int | None = None, currency: str = "USD"):
    """Charge the saved card through the gateway only: Stripe has the money, the app does not know yet."""
    return gateway.charge(pledge.stripe_customer_id, pledge.stripe_payment_method_id, amount or pledge.amount,
                          currency, f"pledge-{pledge.id}-charge-1", {"pledge_id": str(pledge.id)})


def collected_pledge(make_pledge, campaign, amount: int = 5000, backer=None, number: str = VISA):
    """A pledge charged at Stripe and booked in the ledger (charge + platform fee), state collected."""
    pledge = make_pledge(campaign, backer=backer, amount=amount, state="active")
    save_card(pledge, number)
    result = charge_at_stripe(pledge, currency=campaign.currency)
    assert result.status == "succeeded", result
    pledge.stripe_payment_intent_id = result.payment_intent_id
    pledge.state, pledge.collected_at, pledge.charge_attempts = "collected", utcnow(), 1
    ledger.book(campaign.id, "charge", amount, campaign.currency, pledge.id, result.charge_id)
    ledger.book(campaign.id, "platform_fee", amount * 500 // 10_000, campaign.currency, pledge.id, result.charge_id)
    db.session.commit()
    return pledge
