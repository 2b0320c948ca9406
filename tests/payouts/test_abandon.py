"""Overdue milestones (shown to backers, listed to moderators) and abandoned campaigns (a moderator's
declaration, pending releases rejected, what is held refunded pro rata through the Stripe stand-in,
exactly once). Time moves by creating data in the past."""
import re
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from crowdfund.accounts.services import start_login_session
from crowdfund.campaigns.models import Campaign, Milestone
from crowdfund.clock import utcnow
from crowdfund.errors import IllegalTransition, NotAllowed
from crowdfund.extensions import db
from crowdfund.moderation.models import AuditEntry
from crowdfund.payments import gateway, ledger
from crowdfund.campaigns import lifecycle
from crowdfund.payouts import abandon
from crowdfund.settlement import abandon as settle_abandon
from crowdfund.payouts.models import Release
from crowdfund.updates.models import Update

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "payments"))
from collected_pledges import collected_pledge  # noqa: E402  (tests/payments)


@pytest.fixture
def moderator(make_user):
    return make_user(role="moderator", display_name="Mo Derator")


def _today():
    return utcnow().date()


def _milestones(campaign):
    return list(db.session.execute(db.select(Milestone).where(Milestone.campaign_id == campaign.id)
                                   .order_by(Milestone.id)).scalars())


def _due(campaign, days_ago, index=0):
    milestone = _milestones(campaign)[index]
    milestone.due_date = _today() - timedelta(days=days_ago)
    db.session.commit()
    return milestone


def _report(campaign, milestone, days_ago, status="on_track"):
    db.session.add(Update(campaign_id=campaign.id, author_id=campaign.founder_id, title="News", body="Working on it",
                          milestone_id=milestone.id, milestone_status=status,
                          created_at=utcnow() - timedelta(days=days_ago)))
    db.session.commit()


# --- Overdue ---------------------------------------------------------------------------------------

def test_milestone_past_its_date_with_no_report_is_overdue(app, make_campaign):
    campaign = make_campaign(state="successful")
    milestone = _due(campaign, 10)
    [row] = abandon.overdue_milestones()
    assert (row.campaign.id, row.milestone.id, row.since, row.days, row.last_report_at) == (
        campaign.id, milestone.id, _today() - timedelta(days=10), 10, None)


def test_report_before_the_due_date_does_not_help_one_after_it_does(app, make_campaign):
    campaign = make_campaign(state="successful")
    milestone = _due(campaign, 10)
    _report(campaign, milestone, days_ago=12)
    [row] = abandon.overdue_milestones()
    assert row.last_report_at is not None
    _report(campaign, milestone, days_ago=3)
    assert abandon.overdue_milestones() == []


def test_not_overdue_when_completed_revised_due_today_or_campaign_not_funded(app, make_campaign):
    completed = make_campaign(state="successful")
    m = _due(completed, 5)
    m.status, m.completed_on = "completed", _today() - timedelta(days=6)
    revised = make_campaign(state="successful")
    r = _due(revised, 5)
    r.revised_due_date, r.status = _today() + timedelta(days=20), "delayed"
    _due(make_campaign(state="successful"), 0)  # due today: not yet
    _due(make_campaign(state="live"), 5)
    _due(make_campaign(state="failed"), 5)
    db.session.commit()
    assert abandon.overdue_milestones() == []


def test_revised_date_that_passed_is_overdue_since_that_date(app, make_campaign):
    campaign = make_campaign(state="successful")
    milestone = _due(campaign, 40)
    milestone.revised_due_date, milestone.status = _today() - timedelta(days=4), "delayed"
    db.session.commit()
    _report(campaign, milestone, days_ago=30, status="delayed")
    [row] = abandon.overdue_milestones()
    assert (row.since, row.days) == (_today() - timedelta(days=4), 4)


def test_backers_see_the_overdue_badge_on_the_campaign_page(app, client, make_campaign):
    campaign = make_campaign(state="successful")
    _due(campaign, 10)
    html = client.get(f"/c/{campaign.slug}").get_data(as_text=True)
    assert html.count("Overdue since") == 1
    on_time = make_campaign(state="successful")
    assert "Overdue since" not in client.get(f"/c/{on_time.slug}").get_data(as_text=True)


def test_moderators_get_the_list_and_others_do_not(app, login, make_campaign, moderator, make_user):
    campaign = make_campaign(state="successful", title="Late oven")
    _due(campaign, 9, index=1)
    page = login(moderator).get("/moderation/overdue")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Late oven" in html and "First deliveries" in html and ">9<" in html
    assert f"/moderation/campaigns/{campaign.id}/abandon" in html
    assert "Overdue milestones" in login(moderator).get("/moderation/").get_data(as_text=True)
    assert login(make_user()).get("/moderation/overdue").status_code == 403


# --- Abandoned -------------------------------------------------------------------------------------

@pytest.fixture
def funded(app, stripe_standin, make_campaign, make_pledge):
    """A successful campaign with 30.00 + 50.00 + 20.00 collected (5 % fees: 5.00) and 25.00 released."""
    campaign = make_campaign(state="successful")
    pledges = [collected_pledge(make_pledge, campaign, amount=a) for a in (3000, 5000, 2000)]
    ledger.book(campaign.id, "release", 2500, "USD", stripe_id=f"tr_first_{campaign.id}")
    db.session.commit()
    return campaign, pledges  # held: 10000 − 500 − 2500 = 7000


def _stripe_refunded(pledge):
    return gateway.payment_details(pledge.stripe_payment_intent_id).amount_refunded


def _release(campaign, state, milestone=None):
    release = Release(campaign_id=campaign.id, milestone_id=milestone.id if milestone else None,
                      tranche=f"milestone-{milestone.id}" if milestone else "first", state=state)
    db.session.add(release)
    db.session.commit()
    return release


def test_declaring_abandoned_refunds_what_is_held_pro_rata(funded, moderator, outbox):
    campaign, pledges = funded
    milestone = _milestones(campaign)[0]
    pending = _release(campaign, "requested", milestone)

    outcome = settle_abandon.declare_abandoned(campaign, moderator, "No news for five months")

    assert (outcome.declared, outcome.held, outcome.cancelled_releases, outcome.refunded, outcome.amount) == (
        True, 7000, 1, 3, 7000)
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).state == "abandoned"
    assert db.session.get(Release, pending.id).state == "rejected"
    assert [_stripe_refunded(p) for p in pledges] == [2100, 3500, 1400]
    totals = ledger.money_totals([campaign.id])[campaign.id]
    assert (totals.held, totals.refunded, totals.released, totals.platform_fees) == (0, 7000, 2500, 500)
    entry = db.session.execute(db.select(AuditEntry).where(AuditEntry.action == "abandoned")).scalar_one()
    assert (entry.actor_id, entry.reason, entry.details["held"]) == (moderator.id, "No news for five months", 7000)
    assert sorted(share for share, _ in entry.details["plan"].values()) == [1400, 2100, 3500]
    abandoned_mails = [m for m in outbox if "abandoned" in m["Subject"]]
    assert len(abandoned_mails) == 3
    text = abandoned_mails[0].get_body(("plain",)).get_content()
    assert "No news for five months" in text and "$21.00" in text
    assert len([m for m in outbox if m["Subject"].startswith("Refund from")]) == 3


def test_declaring_twice_refunds_once(funded, moderator):
    campaign, pledges = funded
    settle_abandon.declare_abandoned(campaign, moderator, "Gone")
    again = settle_abandon.declare_abandoned(db.session.get(Campaign, campaign.id), moderator, "Gone again")
    assert (again.declared, again.refunded, again.amount) == (False, 0, 0)
    assert [_stripe_refunded(p) for p in pledges] == [2100, 3500, 1400]
    assert db.session.execute(db.select(db.func.count(AuditEntry.id)).where(
        AuditEntry.action == "abandoned")).scalar_one() == 1


def test_a_stripe_failure_is_finished_later_with_the_same_split(funded, moderator, monkeypatch):
    campaign, pledges = funded
    real_refund = gateway.refund

    def flaky(payment_intent_id, *args, **kwargs):
        if payment_intent_id == pledges[1].stripe_payment_intent_id:
            raise gateway.GatewayError("Stripe is down")
        return real_refund(payment_intent_id, *args, **kwargs)

    monkeypatch.setattr(gateway, "refund", flaky)
    outcome = settle_abandon.declare_abandoned(campaign, moderator, "Gone")
    assert (outcome.refunded, [pid for pid, _ in outcome.failed]) == (2, [pledges[1].id])
    assert abandon.refunds_due(db.session.get(Campaign, campaign.id)) == {pledges[1].id: 3500}

    monkeypatch.setattr(gateway, "refund", real_refund)
    retry = settle_abandon.finish_refunds(db.session.get(Campaign, campaign.id), moderator)
    assert (retry.refunded, retry.amount, retry.failed) == (1, 3500, [])
    assert [_stripe_refunded(p) for p in pledges] == [2100, 3500, 1400]
    assert ledger.money_totals([campaign.id])[campaign.id].held == 0


def test_a_second_run_while_one_is_refunding_does_nothing(funded, moderator):
    campaign, pledges = funded
    lifecycle_entry = lifecycle.abandon(campaign, moderator, "Gone")
    held, shares, balances = abandon.refund_shares(campaign.id)
    lifecycle_entry.details = {"held": held, "plan": {str(k): [v, balances[k][1]] for k, v in shares.items()}}
    db.session.commit()
    with settle_abandon._refund_lock(campaign.id) as acquired:
        assert acquired
        busy = settle_abandon.finish_refunds(campaign, moderator)
    assert busy.busy and busy.refunded == 0
    assert [_stripe_refunded(p) for p in pledges] == [0, 0, 0]
    assert settle_abandon.finish_refunds(campaign, moderator).amount == 7000


def test_refused_while_a_transfer_is_under_way_or_when_not_funded(funded, make_campaign, moderator):
    campaign, pledges = funded
    _release(campaign, "transferring", _milestones(campaign)[0])
    with pytest.raises(IllegalTransition, match="transfer to the founder is under way"):
        settle_abandon.declare_abandoned(campaign, moderator, "Gone")
    with pytest.raises(IllegalTransition):
        settle_abandon.declare_abandoned(make_campaign(state="live"), moderator, "Gone")
    assert db.session.get(Campaign, campaign.id).state == "successful"
    assert [_stripe_refunded(p) for p in pledges] == [0, 0, 0]


def test_only_another_moderator_with_a_reason(funded, moderator, make_user):
    campaign, _ = funded
    with pytest.raises(NotAllowed):
        settle_abandon.declare_abandoned(campaign, make_user(), "Gone")
    with pytest.raises(NotAllowed):
        settle_abandon.declare_abandoned(campaign, moderator, "  ")
    db.session.rollback()
    assert db.session.get(Campaign, campaign.id).state == "successful"


def test_abandoned_with_nothing_held_refunds_nothing(app, make_campaign, moderator, make_pledge, outbox):
    campaign = make_campaign(state="successful")
    outcome = settle_abandon.declare_abandoned(campaign, moderator, "Gone")
    assert (outcome.declared, outcome.held, outcome.refunded) == (True, 0, 0)
    assert outbox == []


# --- The moderator's page --------------------------------------------------------------------------

def test_moderator_declares_through_the_page(funded, login, moderator, make_user):
    campaign, pledges = funded
    client = login(moderator)
    page = client.get(f"/moderation/campaigns/{campaign.id}/abandon")
    assert page.status_code == 200 and "$70.00" in page.get_data(as_text=True)
    assert "Declare abandoned" in client.get(f"/moderation/campaigns/{campaign.id}").get_data(as_text=True)

    no_reason = client.post(f"/moderation/campaigns/{campaign.id}/abandon", data={"reason": "", "confirm": "y"})
    unconfirmed = client.post(f"/moderation/campaigns/{campaign.id}/abandon", data={"reason": "Gone"})
    assert (no_reason.status_code, unconfirmed.status_code) == (422, 422)
    assert "Tick the box" in unconfirmed.get_data(as_text=True)
    assert login(make_user()).post(f"/moderation/campaigns/{campaign.id}/abandon",
                                   data={"reason": "Gone", "confirm": "y"}).status_code == 403
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).state == "successful"

    done = client.post(f"/moderation/campaigns/{campaign.id}/abandon", data={"reason": "Gone", "confirm": "y"})
    assert done.status_code == 303
    after = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "every refund has been made" in after
    assert [_stripe_refunded(p) for p in pledges] == [2100, 3500, 1400]
    public = client.get(f"/c/{campaign.slug}").get_data(as_text=True)
    assert "declared this campaign abandoned" in public and "Gone" in public


def test_live_campaign_cannot_be_declared_abandoned(app, login, make_campaign, moderator):
    campaign = make_campaign(state="live")
    response = login(moderator).post(f"/moderation/campaigns/{campaign.id}/abandon",
                                     data={"reason": "Gone", "confirm": "y"})
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).state == "live"
    assert login(moderator).get("/moderation/campaigns/999999/abandon").status_code == 404


def test_the_form_needs_the_csrf_token(csrf_app, make_campaign, moderator):
    campaign = make_campaign(state="successful")
    client = csrf_app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = start_login_session(moderator)  # as logging in does
        db.session.commit()
        session["_fresh"] = True
    url = f"/moderation/campaigns/{campaign.id}/abandon"
    assert client.post(url, data={"reason": "Gone", "confirm": "y"}).status_code == 400
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).state == "successful"
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get(url).get_data(as_text=True)).group(1)
    assert client.post(url, data={"reason": "Gone", "confirm": "y", "csrf_token": token}).status_code == 303
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).state == "abandoned"
