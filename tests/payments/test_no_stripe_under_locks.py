"""No Stripe call while the database is locked: before every HTTP request to Stripe (the stand-in here),
a probe on a connection of its own checks that nobody holds what a slow Stripe answer would block —
on SQLite the write lock (BEGIN IMMEDIATE with no wait), on PostgreSQL the rows of the money tables
(SELECT … FOR UPDATE NOWAIT) — and that the app code making the call has no transaction open at all. Then the money paths are walked: pledging on a limited reward, saving a
card, a flexible charge, the deadline's charges, a declined card fixed, refunds, webhooks, a release."""
import json
import sqlite3
import time
import traceback
from datetime import timedelta
from pathlib import Path

import pytest
import stripe
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

import crowdfund
from crowdfund.campaigns.models import RewardTier
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.payments import gateway
from crowdfund.pledges.models import Pledge
from crowdfund.settlement import checkout, refunds
from crowdfund.ticker import run_periodic_jobs

from charging_support import DECLINED, VISA, fresh_pledge, save_card

SECRET = "whsec_test_secret"
MONEY_TABLES = ("pledge", "reward_tier", "charge_attempt", "refund_attempt", "ledger_entry", "release", "campaign")


@pytest.fixture
def lock_probe(app, monkeypatch):
    """Returns the list of Stripe calls made while something was locked (with where they came from)."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    found: list[str] = []
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]

        def locked() -> str | None:
            probe = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                probe.execute("BEGIN IMMEDIATE")
                probe.execute("ROLLBACK")
                return None
            except sqlite3.OperationalError as error:
                return str(error)
            finally:
                probe.close()
    else:
        engine = create_engine(url, poolclass=NullPool)

        def locked() -> str | None:
            with engine.connect() as probe:
                try:
                    for table in MONEY_TABLES:
                        probe.exec_driver_sql(f'SELECT 1 FROM "{table}" FOR UPDATE NOWAIT')
                    return None
                except OperationalError as error:
                    return f"{table}: {error.orig}"
                finally:
                    probe.rollback()

    real_request = stripe.RequestsClient.request
    package = str(Path(crowdfund.__file__).parent)
    gateway_file = gateway.__file__

    def app_caller() -> str | None:
        """The app module (not a test, not the gateway) that asked for this Stripe call, if any; None
        also for an after-commit action (the session still says "in a transaction" while it runs
        them, but the database transaction has committed)."""
        stack = traceback.extract_stack()
        if any(frame.filename.endswith("crowdfund/unit_of_work.py") for frame in stack):
            return None
        for frame in stack[::-1]:
            if frame.filename == gateway_file or "/stripe/" in frame.filename or frame.filename == __file__:
                continue
            return frame.filename if frame.filename.startswith(package) else None
        return None

    def probed_request(self, method, url, headers, post_data=None):
        reason = locked()
        if not reason and app_caller() and db.session().in_transaction():
            reason = f"{app_caller()} holds a database transaction open (a snapshot, table locks for DDL)"
        if reason:
            where = "".join(traceback.format_stack(limit=12)[:-1])
            found.append(f"{method.upper()} {url} while locked ({reason}):\n{where}")
        return real_request(self, method, url, headers, post_data)

    monkeypatch.setattr(stripe.RequestsClient, "request", probed_request)
    app.extensions.pop("crowdfund_stripe", None)  # a client made with the probed class
    yield found
    app.extensions.pop("crowdfund_stripe", None)


def _signed(client, event_type, obj):
    payload = json.dumps({"id": f"evt_probe_{time.monotonic_ns()}", "object": "event", "type": event_type,
                          "created": int(time.time()), "data": {"object": obj}})
    return client.post("/stripe/webhook", data=payload, headers={
        "Content-Type": "application/json",
        "Stripe-Signature": stripe.WebhookSignature.generate_signature_header(payload, SECRET)})


def test_pledging_and_charging_call_stripe_with_nothing_locked(app, client, stripe_standin, lock_probe,
                                                               make_campaign, make_user, login, make_pledge):
    # An all-or-nothing campaign with a limited reward: start (claims a unit), save the card, deadline.
    campaign = make_campaign(state="live", goal=1000, tiers=1, tier_quantity=5)
    slug, campaign_id = campaign.slug, campaign.id
    tier_id = db.session.execute(db.select(RewardTier.id).where(RewardTier.campaign_id == campaign_id)).scalar_one()
    backer = make_user()
    backer_client = login(backer)
    response = backer_client.post(f"/c/{slug}/pledge", data={"reward": str(tier_id), "amount": "50"})
    assert response.status_code == 302, response.get_data(as_text=True)
    pledge = db.session.execute(db.select(Pledge).where(Pledge.backer_id == backer.id)).scalar_one()
    client_stripe = gateway.client()
    card = client_stripe.v1.payment_methods.create(
        params={"type": "card", "card": {"number": VISA, "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
    client_stripe.v1.setup_intents.confirm(pledge.stripe_setup_intent_id, params={"payment_method": card.id})
    pledge_id = pledge.id
    assert backer_client.post(f"/pledges/{pledge_id}/complete").status_code == 302
    # A second backer whose card is declined at the deadline, then fixed with a new card.
    other = make_campaign(state="live", goal=1000)
    declined_backer = make_user()
    declined = make_pledge(other, backer=declined_backer, amount=2000)
    save_card(declined, declined_backer, DECLINED)
    declined_id = declined.id
    deadline = max(db.session.get(type(campaign), campaign_id).deadline, other.deadline)

    run_periodic_jobs(deadline + timedelta(days=31))

    assert fresh_pledge(pledge_id).state == "collected"
    assert fresh_pledge(declined_id).state == "errored"
    assert lock_probe == [], "\n\n".join(lock_probe)

    # A flexible pledge charged at once, a webhook for it, a moderator's refund, a refund event.
    flexible = make_campaign(state="live", funding_model="flexible")
    flex_backer = make_user()
    flex_pledge = make_pledge(flexible, backer=flex_backer, amount=3000, state="pending")
    save_card(flex_pledge, flex_backer, VISA)
    assert checkout.complete_pledge(fresh_pledge(flex_pledge.id), utcnow()).status == "succeeded"
    intent_id = fresh_pledge(flex_pledge.id).stripe_payment_intent_id
    assert _signed(client, "payment_intent.succeeded", {"id": intent_id, "object": "payment_intent"}).status_code == 200
    moderator = make_user(role="moderator")
    assert refunds.refund_pledge(fresh_pledge(flex_pledge.id), 1000, "Part of the reward", moderator, utcnow()) == 1000
    assert _signed(client, "charge.refunded", {"id": "ch_unknown", "object": "charge",
                                               "payment_intent": intent_id}).status_code == 200
    assert lock_probe == [], "\n\n".join(lock_probe)


def test_the_probe_sees_a_stripe_call_made_under_a_lock(app, stripe_standin, lock_probe, make_campaign, make_pledge):
    """The probe above is not blind: a Stripe call made while this session holds a written row is caught."""
    pledge = make_pledge(make_campaign(state="live"), amount=1000)
    db.session.execute(db.update(Pledge).where(Pledge.id == pledge.id).values(disputed=Pledge.disputed))
    try:
        gateway.create_customer("locked@example.com", "Locked", 1)
    finally:
        db.session.rollback()
    assert len(lock_probe) == 1 and "while locked" in lock_probe[0]


def test_fixing_stopping_and_releasing_call_stripe_with_nothing_locked(app, stripe_standin, lock_probe, make_campaign,
                                                                       make_user, make_pledge, login, founder):
    import sys

    from crowdfund.accounts.models import User
    from crowdfund.campaigns.models import Campaign
    from crowdfund.payouts import releases
    from crowdfund.settlement import releases as sending, stops

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "payouts"))
    from test_releases_support import onboard_founder  # noqa: E402  (tests/payouts)

    from charging_support import AFTER_DEADLINE, LAUNCHED, data_attribute, pledge_with_card
    from collected_pledges import collected_pledge

    founder_id = founder.id  # the periodic job ends the session: objects loaded before it are detached
    # A card declined at the deadline, replaced on the fix page by a card that works.
    campaign = make_campaign(state="live", goal=10_000, launched_at=LAUNCHED, duration_days=30)
    declined = pledge_with_card(make_user, make_pledge, campaign, DECLINED, amount=12_000)
    run_periodic_jobs(AFTER_DEADLINE)
    backer_client = login(db.session.get(User, declined.backer_id))
    page = backer_client.get(f"/pledges/{declined.id}/fix")
    setup_intent_id = data_attribute(page.text, 'name="setup_intent_id" value')
    card = gateway.client().v1.payment_methods.create(
        params={"type": "card", "card": {"number": VISA, "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
    gateway.client().v1.setup_intents.confirm(setup_intent_id, params={"payment_method": card.id})
    assert backer_client.post(f"/pledges/{declined.id}/fix/card",
                              data={"setup_intent_id": setup_intent_id}).status_code == 302
    assert fresh_pledge(declined.id).state == "collected"

    # A flexible campaign with money in, cancelled by its founder: every backer refunded.
    flexible = make_campaign(state="live", funding_model="flexible")
    for amount in (2500, 4000):
        collected_pledge(make_pledge, flexible, amount=amount)
    outcome = stops.cancel_campaign(db.session.get(Campaign, flexible.id),
                                    db.session.get(User, flexible.founder_id), "Supplier went bust", utcnow())
    assert (outcome.refunded, outcome.failed) == (2, [])

    # A successful campaign's first tranche sent to its founder's payout account.
    app.config["FIRST_TRANCHE_BP"] = 2000
    founder = db.session.get(User, founder_id)
    funded = make_campaign(founder=founder, state="successful")
    collected_pledge(make_pledge, funded, amount=5000)
    onboard_founder(founder)
    assert sending.run_release_jobs(utcnow()).get("transferred") == 1
    assert [r.state for r in releases.releases_of(funded.id)] == ["transferred"]

    assert lock_probe == [], "\n\n".join(lock_probe)
