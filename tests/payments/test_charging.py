"""Charging at the deadline against the Stripe stand-in: exactly one PaymentIntent per pledge and
attempt, whatever runs the job how often; then the fix window: reminders, retries, drop."""
import threading
from datetime import timedelta

import pytest

from crowdfund.campaigns.models import Campaign, RewardTier
from crowdfund.extensions import db
from crowdfund.payments import gateway
from crowdfund.settlement import charging
from crowdfund.payments.models import ChargeAttempt
from crowdfund.ticker import run_periodic_jobs

from charging_support import (AFTER_DEADLINE, DECLINED, LAUNCHED, THREE_D_SECURE, VISA, emails_to, fresh_pledge,
                              ledger_rows, payment_intents_by_pledge, pledge_with_card, text_of)


@pytest.fixture
def funded_campaign(make_campaign):
    """A live all-or-nothing campaign (goal 10,000) whose deadline passes at AFTER_DEADLINE."""

    def make(goal=10_000, tier_quantity=None):
        return make_campaign(state="live", goal=goal, launched_at=LAUNCHED, duration_days=30,
                             tier_quantity=tier_quantity)

    return make


def _email_of(pledge):
    return pledge.email


def test_deadline_charges_the_saved_card_once_and_books_charge_and_fee(app, stripe_standin, funded_campaign,
                                                                       make_user, make_pledge, outbox):
    campaign = funded_campaign()
    campaign_id = campaign.id
    pledge = pledge_with_card(make_user, make_pledge, campaign, VISA, amount=12_000)
    email = _email_of(pledge)

    run_periodic_jobs(AFTER_DEADLINE)

    after = fresh_pledge(pledge.id)
    assert (after.state, after.collected_at, after.charge_attempts) == ("collected", AFTER_DEADLINE, 1)
    intent = gateway.client().v1.payment_intents.retrieve(after.stripe_payment_intent_id)
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 12_000, "usd")
    assert (intent.metadata["pledge_id"], intent.metadata["campaign_id"]) == (str(pledge.id), str(campaign_id))
    charge_id = intent.latest_charge.id
    assert ledger_rows(pledge.id) == [("charge", 12_000, charge_id), ("platform_fee", 600, charge_id)]
    [receipt] = emails_to(outbox, email)
    assert "was charged $120.00" in text_of(receipt)
    [attempt] = db.session.execute(db.select(ChargeAttempt)).scalars().all()
    assert (attempt.attempt, attempt.status, attempt.payment_intent_id) == (1, "succeeded", intent.id)


def test_declined_card_makes_the_pledge_errored_and_sends_a_fix_link(app, stripe_standin, funded_campaign,
                                                                     make_user, make_pledge, outbox):
    pledge = pledge_with_card(make_user, make_pledge, funded_campaign(), DECLINED)

    run_periodic_jobs(AFTER_DEADLINE)

    after = fresh_pledge(pledge.id)
    assert (after.state, after.last_error) == ("errored", "card_declined")
    assert (after.errored_at, after.fix_deadline) == (AFTER_DEADLINE, AFTER_DEADLINE + timedelta(days=7))
    assert after.stripe_payment_intent_id  # found through the declined charge (localstripe names only that)
    assert ledger_rows(pledge.id) == []
    [message] = emails_to(outbox, _email_of(pledge))
    assert f"http://127.0.0.1:5000/pledges/{pledge.id}/fix" in text_of(message)
    assert "pay with another card" in text_of(message)


def test_card_that_needs_authentication_keeps_its_payment_intent_for_the_backer(
        app, stripe_standin, funded_campaign, make_user, make_pledge, outbox):
    pledge = pledge_with_card(make_user, make_pledge, funded_campaign(), THREE_D_SECURE)

    run_periodic_jobs(AFTER_DEADLINE)

    after = fresh_pledge(pledge.id)
    assert (after.state, after.last_error) == ("errored", "authentication_required")
    assert gateway.client().v1.payment_intents.retrieve(after.stripe_payment_intent_id).status == "requires_action"
    [message] = emails_to(outbox, _email_of(pledge))
    assert "Your bank asks you to confirm the payment" in text_of(message)


def test_missed_goal_charges_nothing_detaches_the_card_and_tells_the_backer(
        app, stripe_standin, funded_campaign, make_user, make_pledge, outbox):
    campaign = funded_campaign(goal=100_000)
    campaign_id = campaign.id
    pledge = pledge_with_card(make_user, make_pledge, campaign, VISA, amount=5_000)
    card_id = pledge.card

    run_periodic_jobs(AFTER_DEADLINE)
    run_periodic_jobs(AFTER_DEADLINE + timedelta(hours=1))

    assert db.session.get(Campaign, campaign_id).state == "failed"
    after = fresh_pledge(pledge.id)
    assert (after.state, after.stripe_payment_method_id) == ("void", None)
    assert payment_intents_by_pledge() == {}
    assert gateway.client().v1.payment_methods.retrieve(card_id).customer is None
    [message] = emails_to(outbox, _email_of(pledge))
    assert "nothing was charged" in message["Subject"]


def test_deadline_job_run_twice_makes_one_payment_intent_per_pledge(app, stripe_standin, funded_campaign,
                                                                   make_user, make_pledge, outbox):
    campaign = funded_campaign()
    pledges = [pledge_with_card(make_user, make_pledge, campaign, number) for number in (VISA, DECLINED, THREE_D_SECURE)]

    run_periodic_jobs(AFTER_DEADLINE)
    run_periodic_jobs(AFTER_DEADLINE + timedelta(minutes=5))

    assert payment_intents_by_pledge() == {str(p.id): 1 for p in pledges}
    assert [fresh_pledge(p.id).state for p in pledges] == ["collected", "errored", "errored"]
    assert [len(ledger_rows(p.id)) for p in pledges] == [2, 0, 0]
    # one receipt, two fix links (the "reached its goal" notifications carry List-Unsubscribe); the
    # founder may also hear of a risk hold (the factory's milestones are years overdue on the 2030 clock)
    backers = {p.email for p in pledges}
    assert len([m for m in outbox if m["List-Unsubscribe"] is None and m["To"] in backers]) == 3


def test_deadline_job_run_twice_at_once_makes_one_payment_intent_per_pledge(
        app, stripe_standin, funded_campaign, make_user, make_pledge, monkeypatch):
    campaign = funded_campaign()
    pledges = [pledge_with_card(make_user, make_pledge, campaign, VISA, amount=10_000 + i) for i in range(4)]
    db.session.rollback()

    # Both runs are about to claim the same first pledge, having read the same due pledges, before
    # either has claimed anything: only the database claim can keep them from both charging.
    both_ready = threading.Barrier(2, timeout=30)
    claim = charging._claim
    waited = threading.local()

    def claim_when_both_are_ready(*args):
        if not getattr(waited, "done", False):
            waited.done = True
            both_ready.wait()
        return claim(*args)

    monkeypatch.setattr(charging, "_claim", claim_when_both_are_ready)
    errors = []

    def run():
        try:
            with app.app_context():
                run_periodic_jobs(AFTER_DEADLINE)
        except Exception as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert payment_intents_by_pledge() == {str(p.id): 1 for p in pledges}
    assert [fresh_pledge(p.id).state for p in pledges] == ["collected"] * 4
    assert [len(ledger_rows(p.id)) for p in pledges] == [2] * 4
    assert db.session.execute(db.select(db.func.count(ChargeAttempt.id))).scalar_one() == 4


def test_lost_answer_is_looked_up_next_run_instead_of_charging_again(app, stripe_standin, funded_campaign,
                                                                     make_user, make_pledge, monkeypatch):
    pledge = pledge_with_card(make_user, make_pledge, funded_campaign(), VISA)
    real_charge = gateway.charge

    def charge_then_lose_the_answer(*args, **kwargs):
        real_charge(*args, **kwargs)
        raise gateway.GatewayError("connection reset")

    monkeypatch.setattr(gateway, "charge", charge_then_lose_the_answer)
    run_periodic_jobs(AFTER_DEADLINE)
    after_first = fresh_pledge(pledge.id).state
    monkeypatch.setattr(gateway, "charge", real_charge)

    run_periodic_jobs(AFTER_DEADLINE + timedelta(minutes=1))

    assert after_first == "active"  # the outcome was unknown: nothing decided
    assert payment_intents_by_pledge() == {str(pledge.id): 1}
    assert fresh_pledge(pledge.id).state == "collected"
    assert len(ledger_rows(pledge.id)) == 2


def test_call_that_never_reached_stripe_is_retried_as_a_new_attempt(app, stripe_standin, funded_campaign,
                                                                    make_user, make_pledge, monkeypatch):
    pledge = pledge_with_card(make_user, make_pledge, funded_campaign(), VISA)
    real_charge = gateway.charge

    def unreachable(*args, **kwargs):
        raise gateway.GatewayError("connection refused")

    monkeypatch.setattr(gateway, "charge", unreachable)
    run_periodic_jobs(AFTER_DEADLINE)
    monkeypatch.setattr(gateway, "charge", real_charge)

    run_periodic_jobs(AFTER_DEADLINE + timedelta(minutes=1))

    assert payment_intents_by_pledge() == {str(pledge.id): 1}
    after = fresh_pledge(pledge.id)
    assert (after.state, after.charge_attempts) == ("collected", 2)
    attempts = db.session.execute(db.select(ChargeAttempt.attempt, ChargeAttempt.status)
                                  .order_by(ChargeAttempt.attempt)).all()
    assert [tuple(a) for a in attempts] == [(1, "failed"), (2, "succeeded")]


def test_fresh_claim_of_another_worker_is_skipped(app, stripe_standin, funded_campaign, make_user, make_pledge):
    pledge = pledge_with_card(make_user, make_pledge, funded_campaign(), VISA)
    row = fresh_pledge(pledge.id)
    db.session.get(Campaign, pledge.campaign_id).state = "successful"
    db.session.add(ChargeAttempt(pledge_id=pledge.id, attempt=1, status="claimed", created_at=AFTER_DEADLINE))
    row.charge_attempts = 1
    db.session.commit()

    result = charging.charge_pledge(fresh_pledge(pledge.id), AFTER_DEADLINE + timedelta(minutes=2))

    assert result.status == "skipped"
    assert payment_intents_by_pledge() == {}


# --- the fix window ------------------------------------------------------------------------------

def test_reminders_every_48_hours_with_retries_then_dropped_after_7_days(
        app, stripe_standin, funded_campaign, make_user, make_pledge, outbox):
    campaign = funded_campaign(tier_quantity=5)
    title = campaign.title
    tier = db.session.execute(db.select(RewardTier).where(RewardTier.campaign_id == campaign.id)).scalar_one()
    tier.claimed = 1
    tier_id = tier.id
    db.session.commit()
    pledge = pledge_with_card(make_user, make_pledge, campaign, DECLINED, reward_tier=tier)
    email = _email_of(pledge)
    t0 = AFTER_DEADLINE
    run_periodic_jobs(t0)
    subjects = lambda: [m["Subject"].split(":")[0] for m in emails_to(outbox, email)]  # noqa: E731

    run_periodic_jobs(t0 + timedelta(hours=47))
    early = (subjects(), payment_intents_by_pledge()[str(pledge.id)])
    for hours in (48, 60, 96, 144):
        run_periodic_jobs(t0 + timedelta(hours=hours))
    before_drop = (subjects(), payment_intents_by_pledge()[str(pledge.id)], fresh_pledge(pledge.id).state)
    run_periodic_jobs(t0 + timedelta(days=7))
    run_periodic_jobs(t0 + timedelta(days=8))

    assert early == (["Action needed"], 1)
    # Reminders at 48 h, 96 h and 144 h, each after a retry of the saved card (declined again).
    assert before_drop == (["Action needed"] + ["Reminder"] * 3, 4, "errored")
    after = fresh_pledge(pledge.id)
    assert after.state == "dropped"
    assert subjects()[-1] == f"Your pledge to {title} was dropped"
    assert len(subjects()) == 5
    assert db.session.get(RewardTier, tier_id).claimed == 0
    assert ledger_rows(pledge.id) == []


def test_authentication_failures_are_reminded_but_never_retried_blindly(
        app, stripe_standin, funded_campaign, make_user, make_pledge, outbox):
    pledge = pledge_with_card(make_user, make_pledge, funded_campaign(), THREE_D_SECURE)
    run_periodic_jobs(AFTER_DEADLINE)

    run_periodic_jobs(AFTER_DEADLINE + timedelta(hours=48))

    assert payment_intents_by_pledge() == {str(pledge.id): 1}
    assert [m["Subject"].split(":")[0] for m in emails_to(outbox, _email_of(pledge))] == ["Action needed", "Reminder"]


def test_reminder_run_twice_at_the_same_time_reminds_once(app, stripe_standin, funded_campaign, make_user,
                                                         make_pledge, outbox):
    pledge = pledge_with_card(make_user, make_pledge, funded_campaign(), THREE_D_SECURE)
    run_periodic_jobs(AFTER_DEADLINE)

    run_periodic_jobs(AFTER_DEADLINE + timedelta(hours=50))
    run_periodic_jobs(AFTER_DEADLINE + timedelta(hours=50))

    assert len(emails_to(outbox, _email_of(pledge))) == 2
