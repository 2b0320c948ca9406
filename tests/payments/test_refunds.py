"""Refunds against the Stripe stand-in: a moderator refunds part or all of a pledge with a reason;
a flexible campaign stopped after money came in is refunded in full; never more than was collected."""
import pytest
from collected_pledges import collected_pledge

from crowdfund.accounts.models import User
from crowdfund.campaigns.models import Campaign
from crowdfund.clock import utcnow
from crowdfund.errors import NotAllowed, ValidationFailed
from crowdfund.extensions import db
from crowdfund.moderation.models import AuditEntry
from crowdfund.payments import gateway, ledger
from crowdfund.settlement import refunds, stops
from crowdfund.payments.models import LedgerEntry
from crowdfund.pledges.models import Pledge


@pytest.fixture
def moderator(make_user):
    return make_user(role="moderator")


@pytest.fixture
def flexible(make_campaign):
    return make_campaign(state="live", funding_model="flexible")


def _founder(campaign):
    return db.session.get(User, campaign.founder_id)


def _refund_rows(pledge_id):
    return list(db.session.execute(db.select(LedgerEntry).where(
        LedgerEntry.pledge_id == pledge_id, LedgerEntry.kind == "refund").order_by(LedgerEntry.id)).scalars())


def _stripe_refunded(pledge):
    return gateway.payment_details(pledge.stripe_payment_intent_id).amount_refunded


def test_moderator_refunds_part_of_a_pledge(app, stripe_standin, flexible, make_pledge, moderator, outbox):
    pledge = collected_pledge(make_pledge, flexible, amount=5000)

    refunded = refunds.refund_pledge(pledge, 2000, "Reward cannot ship to Norway", moderator, utcnow())

    assert refunded == 2000
    [row] = _refund_rows(pledge.id)
    assert (row.amount, row.actor_id, row.note) == (-2000, moderator.id, "Reward cannot ship to Norway")
    assert row.stripe_id.startswith("re_")
    assert _stripe_refunded(pledge) == 2000
    assert ledger.pledge_balance(pledge.id) == (5000, 2000)
    totals = ledger.money_totals([flexible.id])[flexible.id]
    assert (totals.collected, totals.refunded, totals.net) == (5000, 2000, 3000)
    audit = db.session.execute(db.select(AuditEntry).where(AuditEntry.action == "refunded")).scalar_one()
    assert (audit.actor_id, audit.reason, audit.details["amount"]) == (moderator.id, "Reward cannot ship to Norway", 2000)
    [mail] = outbox
    assert mail["Subject"].startswith("Refund from")
    assert "$20.00" in mail.get_body(("plain",)).get_content()


def test_refunds_add_up_to_the_whole_pledge_and_no_further(app, stripe_standin, flexible, make_pledge, moderator):
    pledge = collected_pledge(make_pledge, flexible, amount=5000)
    refunds.refund_pledge(pledge, 2000, "Partial", moderator, utcnow())
    refunds.refund_pledge(pledge, 3000, "The rest", moderator, utcnow())

    with pytest.raises(ValidationFailed, match="Nothing of this pledge is left"):
        refunds.refund_pledge(pledge, 1, "Once more", moderator, utcnow())

    assert [r.amount for r in _refund_rows(pledge.id)] == [-2000, -3000]
    assert _stripe_refunded(pledge) == 5000


@pytest.mark.parametrize("amount", [0, -100, 5001])
def test_refund_outside_what_was_collected_is_refused_before_stripe_is_asked(app, stripe_standin, flexible,
                                                                            make_pledge, moderator, amount):
    pledge = collected_pledge(make_pledge, flexible, amount=5000)

    with pytest.raises(ValidationFailed, match=r"between \$0.01 and \$50.00"):
        refunds.refund_pledge(pledge, amount, "Too much", moderator, utcnow())

    assert _refund_rows(pledge.id) == []
    assert gateway.refunds_of(pledge.stripe_payment_intent_id) == []


def test_refund_needs_a_reason(app, stripe_standin, flexible, make_pledge, moderator):
    pledge = collected_pledge(make_pledge, flexible)

    with pytest.raises(ValidationFailed, match="reason"):
        refunds.refund_pledge(pledge, 100, "   ", moderator, utcnow())
    assert _refund_rows(pledge.id) == []


def test_only_moderators_refund(app, stripe_standin, flexible, make_pledge, make_user):
    pledge = collected_pledge(make_pledge, flexible)

    for actor in (make_user(), _founder(flexible)):
        with pytest.raises(NotAllowed):
            refunds.refund_pledge(pledge, 100, "Because", actor, utcnow())
    assert _refund_rows(pledge.id) == []


def test_each_refund_has_its_own_idempotency_key(app, stripe_standin, flexible, make_pledge, moderator, monkeypatch):
    pledge = collected_pledge(make_pledge, flexible, amount=5000)
    keys = []
    real_refund = gateway.refund
    monkeypatch.setattr(gateway, "refund", lambda pi, amount, key, metadata: keys.append(key) or real_refund(
        pi, amount, key, metadata))

    refunds.refund_pledge(pledge, 1000, "First", moderator, utcnow())
    refunds.refund_pledge(pledge, 1000, "Second", moderator, utcnow())

    assert keys == [f"pledge-{pledge.id}-refund-1", f"pledge-{pledge.id}-refund-2"]


def test_a_refund_stripe_made_but_the_ledger_missed_counts_before_refunding_again(app, stripe_standin, flexible,
                                                                                make_pledge, moderator):
    # As if the app crashed after Stripe refunded and before the ledger row was committed.
    pledge = collected_pledge(make_pledge, flexible, amount=5000)
    lost_id = gateway.refund(pledge.stripe_payment_intent_id, 4000, f"pledge-{pledge.id}-refund-1", {})

    with pytest.raises(ValidationFailed, match=r"\$10.00"):
        refunds.refund_pledge(pledge, 2000, "Would over-refund", moderator, utcnow())
    refunds.refund_pledge(pledge, 1000, "What is really left", moderator, utcnow())

    assert sorted(-r.amount for r in _refund_rows(pledge.id)) == [1000, 4000]
    assert lost_id in {r.stripe_id for r in _refund_rows(pledge.id)}
    assert _stripe_refunded(pledge) == 5000


def test_stripe_failure_refunds_nothing_and_can_be_retried(app, stripe_standin, flexible, make_pledge, moderator,
                                                           monkeypatch, outbox):
    pledge = collected_pledge(make_pledge, flexible, amount=5000)
    real_refund = gateway.refund

    def unreachable(*args):
        raise gateway.GatewayError("connection refused")

    monkeypatch.setattr(gateway, "refund", unreachable)
    with pytest.raises(refunds.RefundFailed, match="Nothing was refunded"):
        refunds.refund_pledge(pledge, 5000, "Duplicate pledge", moderator, utcnow())
    assert _refund_rows(pledge.id) == [] and outbox == []

    monkeypatch.setattr(gateway, "refund", real_refund)
    refunds.refund_pledge(pledge, 5000, "Duplicate pledge", moderator, utcnow())
    assert [r.amount for r in _refund_rows(pledge.id)] == [-5000]


def test_refund_campaign_gives_back_what_remains_of_every_pledge_once(app, stripe_standin, flexible, make_pledge,
                                                                      moderator, outbox):
    first = collected_pledge(make_pledge, flexible, amount=5000)
    second = collected_pledge(make_pledge, flexible, amount=3000)
    make_pledge(flexible, amount=7000, state="cancelled")  # never charged: nothing to give back
    refunds.refund_pledge(first, 1000, "Partial", moderator, utcnow())

    outcome = refunds.refund_campaign(flexible, moderator, "Campaign stopped", utcnow())
    again = refunds.refund_campaign(flexible, moderator, "Campaign stopped", utcnow())

    assert (outcome.refunded, outcome.amount, outcome.failed) == (2, 7000, [])
    assert (again.refunded, again.amount) == (0, 0)
    assert ledger.pledge_balance(first.id) == (5000, 5000)
    assert ledger.pledge_balance(second.id) == (3000, 3000)
    assert _stripe_refunded(first) == 5000 and _stripe_refunded(second) == 3000
    assert ledger.money_totals([flexible.id])[flexible.id].net == 0
    assert len(outbox) == 3


def test_cancelling_a_flexible_campaign_refunds_every_backer(app, stripe_standin, flexible, make_pledge):
    pledges = [collected_pledge(make_pledge, flexible, amount=a) for a in (2500, 4000)]

    outcome = stops.cancel_campaign(flexible, _founder(flexible), "Supplier went bust", utcnow())

    assert (outcome.refunded, outcome.amount, outcome.failed) == (2, 6500, [])
    db.session.expire_all()
    assert db.session.get(Campaign, flexible.id).state == "cancelled"
    for pledge in pledges:
        assert _stripe_refunded(pledge) == pledge.amount
        assert db.session.get(Pledge, pledge.id).state == "void"
    assert ledger.money_totals([flexible.id])[flexible.id].net == 0


def test_cancel_without_collected_money_calls_no_refund(app, make_campaign, make_pledge, monkeypatch):
    campaign = make_campaign(state="live")
    make_pledge(campaign, state="active")
    monkeypatch.setattr(gateway, "refund", lambda *a: pytest.fail("nothing was collected"))

    assert stops.cancel_campaign(campaign, _founder(campaign), "No", utcnow()) is None


def test_suspension_commits_first_and_a_stripe_failure_leaves_refunds_to_retry(client, auth, stripe_standin, flexible,
                                                                              make_pledge, moderator, monkeypatch):
    pledge = collected_pledge(make_pledge, flexible, amount=5000)
    auth.login(moderator)
    real_refund = gateway.refund

    def unreachable(*args):
        raise gateway.GatewayError("connection refused")

    monkeypatch.setattr(gateway, "refund", unreachable)
    response = client.post(f"/moderation/campaigns/{flexible.id}/suspend",
                           data={"suspend-reason": "Fraud reports"}, follow_redirects=True)

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "could not be refunded now" in page
    assert "Refund every pledge" in page
    db.session.expire_all()
    assert db.session.get(Campaign, flexible.id).state == "suspended"
    assert ledger.pledge_balance(pledge.id) == (5000, 0)

    monkeypatch.setattr(gateway, "refund", real_refund)
    response = client.post(f"/moderation/campaigns/{flexible.id}/refund-all",
                           data={"refund_all-reason": "Retry after outage"}, follow_redirects=True)

    assert "Refunded $50.00 to 1 backer(s)." in response.get_data(as_text=True)
    assert ledger.pledge_balance(pledge.id) == (5000, 5000)
    assert _stripe_refunded(pledge) == 5000


# --- The moderator's refund page ------------------------------------------------------------------

def test_refund_page_offers_what_remains_and_refunds_the_typed_amount(client, auth, stripe_standin, flexible,
                                                                      make_pledge, moderator):
    pledge = collected_pledge(make_pledge, flexible, amount=5000)
    auth.login(moderator)
    review = client.get(f"/moderation/campaigns/{flexible.id}").get_data(as_text=True)
    assert f"/moderation/pledges/{pledge.id}/refund" in review

    form = client.get(f"/moderation/pledges/{pledge.id}/refund")
    assert form.status_code == 200
    assert 'value="50.00"' in form.get_data(as_text=True)

    response = client.post(f"/moderation/pledges/{pledge.id}/refund",
                           data={"amount": "12.50", "reason": "Damaged in transit"})

    assert response.status_code == 303
    assert ledger.pledge_balance(pledge.id) == (5000, 1250)
    assert _stripe_refunded(pledge) == 1250


@pytest.mark.parametrize("typed, message", [
    ("twelve", "Enter a number"),
    ("12.505", "at most 2 decimal places"),
    ("50.01", "between $0.01 and $50.00"),
    ("", "Enter an amount."),
])
def test_refund_page_shows_bad_amounts_next_to_the_field(client, auth, stripe_standin, flexible, make_pledge,
                                                         moderator, typed, message):
    pledge = collected_pledge(make_pledge, flexible, amount=5000)
    auth.login(moderator)

    response = client.post(f"/moderation/pledges/{pledge.id}/refund", data={"amount": typed, "reason": "Because"})

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page and 'id="amount-error"' in page
    assert f'value="{typed}"' in page  # what was typed is kept
    assert ledger.pledge_balance(pledge.id) == (5000, 0)


def test_refund_page_without_a_reason_is_refused(client, auth, stripe_standin, flexible, make_pledge, moderator):
    pledge = collected_pledge(make_pledge, flexible, amount=5000)
    auth.login(moderator)

    response = client.post(f"/moderation/pledges/{pledge.id}/refund", data={"amount": "10", "reason": ""})

    assert response.status_code == 422
    assert "Give a reason for the refund." in response.get_data(as_text=True)
    assert ledger.pledge_balance(pledge.id) == (5000, 0)


def test_refund_page_is_for_moderators_only(client, auth, make_campaign, make_pledge, make_user):
    pledge = make_pledge(make_campaign(state="live"))
    auth.login(make_user())

    assert client.get(f"/moderation/pledges/{pledge.id}/refund").status_code == 403
    assert client.post(f"/moderation/pledges/{pledge.id}/refund", data={"amount": "1", "reason": "x"}).status_code == 403


def test_refund_page_of_an_unknown_pledge_is_404(client, auth, moderator):
    auth.login(moderator)
    assert client.get("/moderation/pledges/999999/refund").status_code == 404


def test_refund_form_is_csrf_protected(csrf_app, stripe_standin, make_campaign, make_pledge, make_user):
    moderator = make_user(role="moderator")
    pledge = collected_pledge(make_pledge, make_campaign(state="live", funding_model="flexible"), amount=5000)
    client = csrf_app.test_client()
    client.post("/login", data={"email": moderator.email, "password": "correct horse battery"})

    response = client.post(f"/moderation/pledges/{pledge.id}/refund", data={"amount": "10", "reason": "No token"})

    assert response.status_code == 400
    assert ledger.pledge_balance(pledge.id) == (5000, 0)


def test_two_moderators_refunding_the_whole_pledge_at_once_refund_it_once(app, stripe_standin, flexible, make_pledge,
                                                                         make_user):
    """Both press "Refund" for all that remains at the same moment: the first claim (committed before
    Stripe is called) counts as spent for the second, which is told nothing is left. No lock is held
    during the Stripe call, so this holds because of the claim, not of a lock."""
    import threading

    pledge = collected_pledge(make_pledge, flexible, amount=5000)
    pledge_id = pledge.id
    moderator_ids = [make_user(role="moderator").id for _ in range(2)]
    start = threading.Barrier(2)
    outcomes = []

    def refund(moderator_id):
        start.wait(timeout=30)
        with app.app_context():
            try:
                refunded = refunds.refund_pledge(db.session.get(Pledge, pledge_id), 5000, "Founder asked",
                                                 db.session.get(User, moderator_id), utcnow())
                outcomes.append(("refunded", refunded))
            except (ValidationFailed, refunds.RefundFailed) as error:
                db.session.rollback()
                outcomes.append(("refused", error.message))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=refund, args=(moderator_id,)) for moderator_id in moderator_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(kind for kind, _ in outcomes) == ["refunded", "refused"], outcomes
    assert ("refunded", 5000) in outcomes
    db.session.expire_all()
    assert len(_refund_rows(pledge_id)) == 1
    assert ledger.pledge_balance(pledge_id) == (5000, 5000)
    assert _stripe_refunded(db.session.get(Pledge, pledge_id)) == 5000


def test_a_refund_whose_answer_was_lost_is_found_at_stripe_and_never_made_twice(app, stripe_standin, flexible,
                                                                               make_pledge, moderator, monkeypatch):
    from datetime import timedelta

    pledge = collected_pledge(make_pledge, flexible, amount=5000)
    real_refund = gateway.refund

    def refund_then_lose_the_answer(*args, **kwargs):
        real_refund(*args, **kwargs)
        raise gateway.GatewayError("read timed out")

    monkeypatch.setattr(gateway, "refund", refund_then_lose_the_answer)
    with pytest.raises(refunds.RefundFailed):
        refunds.refund_pledge(pledge, 5000, "Founder asked", moderator, utcnow())
    monkeypatch.setattr(gateway, "refund", real_refund)
    # Meanwhile the money that may already be back is not offered again.
    with pytest.raises(ValidationFailed):
        refunds.refund_pledge(db.session.get(Pledge, pledge.id), 1, "Again", moderator, utcnow())

    refunds.resolve_open_refunds(utcnow() + timedelta(minutes=15))

    assert ledger.pledge_balance(pledge.id) == (5000, 5000)
    assert len(_refund_rows(pledge.id)) == 1
    assert _stripe_refunded(db.session.get(Pledge, pledge.id)) == 5000
