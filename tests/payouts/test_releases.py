"""The release schedule against the Stripe stand-in (localstripe + the project's Connect routes):
first tranche at success, founder requests, moderator verification, exactly-once transfers."""
import threading

import pytest

from crowdfund.campaigns.models import BudgetLine
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.moderation.models import AuditEntry
from crowdfund.payments import gateway, ledger
from crowdfund.payments.models import LedgerEntry
from crowdfund.payouts import releases
from crowdfund.settlement import releases as sending
from crowdfund.payouts.models import Release
from crowdfund.updates.models import SpendReport
from payouts.test_releases_support import collected_pledge, onboard_founder, report_completed, transfers_of

pytestmark = pytest.mark.usefixtures("stripe_standin")


@pytest.fixture
def funded(app, founder, make_campaign, make_pledge):
    """A successful campaign with 2 × 50.00 collected (5 % fee booked), founder onboarded."""
    app.config["FIRST_TRANCHE_BP"] = 2000
    campaign = make_campaign(founder=founder, state="successful")
    for _ in range(2):
        collected_pledge(make_pledge, campaign, amount=5000)
    onboard_founder(founder)
    return campaign


def release_rows(campaign_id):
    return db.session.execute(db.select(LedgerEntry).where(
        LedgerEntry.campaign_id == campaign_id, LedgerEntry.kind == "release")).scalars().all()


def milestone_release(campaign, milestone):
    return db.session.execute(db.select(Release).where(
        Release.campaign_id == campaign.id, Release.milestone_id == milestone.id)).scalar_one()


def test_first_tranche_created_once_and_sent(funded):
    # share = 10000 − 500 fees = 9500; first tranche 20 % = 1900
    assert sending.run_release_jobs(utcnow())["first_tranches"] == 1
    assert "first_tranches" not in sending.run_release_jobs(utcnow())
    first = db.session.execute(db.select(Release).where(Release.campaign_id == funded.id)).scalars().all()
    assert [(r.tranche, r.state, r.amount) for r in first] == [("first", "transferred", 1900)]
    assert [t.amount for t in transfers_of(funded.id)] == [1900]
    assert [e.amount for e in release_rows(funded.id)] == [-1900]
    assert ledger.money_totals([funded.id])[funded.id].held == 9500 - 1900


def test_first_tranche_waits_for_payout_account(app, founder, make_campaign, make_pledge):
    campaign = make_campaign(founder=founder, state="successful")
    collected_pledge(make_pledge, campaign, amount=5000)
    sending.run_release_jobs(utcnow())
    first = db.session.execute(db.select(Release).where(Release.campaign_id == campaign.id)).scalar_one()
    assert first.state == "approved" and transfers_of(campaign.id) == []
    onboard_founder(founder)
    sending.run_release_jobs(utcnow())
    db.session.refresh(first)
    assert first.state == "transferred" and len(transfers_of(campaign.id)) == 1


def test_no_first_tranche_while_charging_not_settled(funded, make_pledge):
    make_pledge(funded, amount=3000, state="errored")
    sending.run_release_jobs(utcnow())
    assert db.session.execute(db.select(Release)).scalars().all() == []


def test_no_transfer_before_verification_then_approval_sends_once(funded, login, make_user):
    sending.run_release_jobs(utcnow())  # first tranche: 1900
    milestone = releases.milestones_of(funded.id)[0]
    report = report_completed(funded, milestone)
    # What the first tranche paid for: without a spend report the risk review would flag the release.
    line = db.session.execute(db.select(BudgetLine).where(BudgetLine.campaign_id == funded.id)).scalars().first()
    db.session.add(SpendReport(update_id=report.id, budget_line_id=line.id, amount=1500, note="Oven deposit"))
    db.session.commit()
    founder_client = login(funded.founder)
    response = founder_client.post(f"/campaigns/{funded.slug}/milestones/{milestone.id}/release")
    assert response.status_code == 303
    release = milestone_release(funded, milestone)
    assert release.state == "requested"
    sending.run_release_jobs(utcnow())  # the ticker does not send a requested release
    assert len(transfers_of(funded.id)) == 1
    # a second request is refused with a message, not a 500
    again = founder_client.post(f"/campaigns/{funded.slug}/milestones/{milestone.id}/release", follow_redirects=True)
    assert again.status_code == 200 and b"already requested" in again.data

    moderator = login(make_user(role="moderator"))
    page = moderator.get("/moderation/releases")
    assert page.status_code == 200
    assert b"Inspection passed" in page.data and b"<strong>in</strong>" in page.data
    assert b"$45.60" in page.data  # through milestone 1: 9500 · (20 % + 80 % · 60 %) = 6460, less the 1900 released
    data = {f"r{release.id}-decision": "approve", f"r{release.id}-reason": "Photos and inspection check out."}
    assert moderator.post(f"/moderation/releases/{release.id}/decide", data=data).status_code == 303
    second = moderator.post(f"/moderation/releases/{release.id}/decide", data=data, follow_redirects=True)
    assert b"already decided" in second.data
    db.session.refresh(release)
    assert (release.state, release.amount) == ("transferred", 4560)
    assert sorted(t.amount for t in transfers_of(funded.id)) == [1900, 4560]
    assert sorted(e.amount for e in release_rows(funded.id)) == [-4560, -1900]
    actions = db.session.execute(db.select(AuditEntry.action)).scalars().all()
    assert actions.count("release_approved") == 1
    page = founder_client.get(f"/c/{funded.slug}")
    assert b"Released" in page.data and b"$45.60" in page.data


def test_rejected_release_sends_nothing(funded, login, make_user):
    milestone = releases.milestones_of(funded.id)[0]
    report_completed(funded, milestone)
    release = releases.request_release(funded, milestone.id, None, funded.founder, utcnow())
    db.session.commit()
    moderator = login(make_user(role="moderator"))
    missing_reason = moderator.post(f"/moderation/releases/{release.id}/decide",
                                    data={f"r{release.id}-decision": "reject", f"r{release.id}-reason": ""})
    assert missing_reason.status_code == 422
    moderator.post(f"/moderation/releases/{release.id}/decide",
                   data={f"r{release.id}-decision": "reject", f"r{release.id}-reason": "No evidence."})
    sending.run_release_jobs(utcnow())
    db.session.refresh(release)
    assert release.state == "rejected" and release.reason == "No evidence."
    assert [t.metadata["tranche"] for t in transfers_of(funded.id)] == ["first"]
    assert not any(e.note.startswith(f"release {release.id} ") for e in release_rows(funded.id))
    # after a rejection the founder may ask again
    again = releases.request_release(funded, milestone.id, None, funded.founder, utcnow())
    assert again.state == "requested"


def _approved(funded, moderator_user):
    milestone = releases.milestones_of(funded.id)[0]
    report_completed(funded, milestone)
    release = releases.request_release(funded, milestone.id, None, funded.founder, utcnow())
    releases.approve_release(release, moderator_user, "ok", utcnow())
    db.session.commit()
    return release.id


def test_two_job_runs_send_once(funded, make_user):
    funded_id = funded.id
    release_id = _approved(funded, make_user(role="moderator"))
    outcomes = [sending.transfer_release(release_id, utcnow()).status,
                sending.transfer_release(release_id, utcnow()).status]
    assert outcomes == ["transferred", "skipped"]
    assert len(transfers_of(funded_id)) == 1 and len(release_rows(funded_id)) == 1


def test_concurrent_job_runs_send_once(app, funded, make_user):
    """Three job runs at once (three workers, or a moderator's approval while beat ticks), on SQLite
    and PostgreSQL: one transfer per release, each booked once."""
    funded_id = funded.id
    release_id = _approved(funded, make_user(role="moderator"))
    barrier = threading.Barrier(3)
    outcomes = []

    def run():
        with app.app_context():
            barrier.wait()
            try:
                outcomes.append(sending.run_release_jobs(utcnow()))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    db.session.expire_all()
    transfers = transfers_of(funded_id)
    mine = [t for t in transfers if t.metadata["release_id"] == str(release_id)]
    assert len(mine) == 1
    # every transfer booked once; together they release the schedule through milestone 1 (9500 · 68 %)
    assert sorted(e.stripe_id for e in release_rows(funded_id)) == sorted(t.id for t in transfers)
    assert sum(t.amount for t in transfers) == 6460
    assert db.session.get(Release, release_id).state == "transferred"


def test_stuck_transfer_is_recovered_without_a_second_transfer(funded, make_user):
    funded_id = funded.id
    release_id = _approved(funded, make_user(role="moderator"))
    release = sending._claim(release_id)  # the claim committed …
    campaign = db.session.get(type(funded), funded_id)
    gateway.create_transfer(release.amount, "usd", releases.destination_of(campaign), f"campaign-{funded_id}",
                            f"release-{release_id}", {"release_id": str(release_id), "campaign_id": str(funded_id),
                                                      "tranche": release.tranche})
    # … the transfer made, then the process died before booking it
    sending.run_release_jobs(utcnow())
    db.session.expire_all()
    assert db.session.get(Release, release_id).state == "transferred"
    mine = [t for t in transfers_of(funded_id) if t.metadata["release_id"] == str(release_id)]
    assert len(mine) == 1
    assert len([e for e in release_rows(funded_id) if e.stripe_id == mine[0].id]) == 1


def test_stuck_claim_without_transfer_is_sent(funded, make_user):
    funded_id = funded.id
    release_id = _approved(funded, make_user(role="moderator"))
    sending._claim(release_id)  # died before calling Stripe
    sending.run_release_jobs(utcnow())
    db.session.expire_all()
    assert db.session.get(Release, release_id).state == "transferred"
    assert len([t for t in transfers_of(funded_id) if t.metadata["release_id"] == str(release_id)]) == 1


def test_failed_transfer_can_be_retried(funded, make_user, monkeypatch, login):
    moderator_user = make_user(role="moderator")
    release_id = _approved(funded, moderator_user)

    def refuse(*args, **kwargs):
        raise gateway.GatewayError("Stripe is down")

    monkeypatch.setattr(gateway, "create_transfer", refuse)
    assert sending.transfer_release(release_id, utcnow()).status == "failed"
    release = db.session.get(Release, release_id)
    assert release.state == "failed" and release.error == "Stripe is down"
    monkeypatch.undo()
    moderator = login(moderator_user)
    assert b"Stripe is down" in moderator.get("/moderation/releases").data
    moderator.post(f"/moderation/releases/{release_id}/retry", data={"reason": "Stripe is back"})
    db.session.expire_all()
    assert db.session.get(Release, release_id).state == "transferred"


def test_release_approved_before_a_risk_hold_waits_until_cleared_then_is_sent_once(funded, login, make_user):
    """Approved while the score was under the threshold; the risk then rises with a new code: the
    periodic job calls Stripe for nothing until a moderator clears the flags, then sends it once."""
    from risk.hold_support import OVERDUE, SILENCE, flag

    from crowdfund.risk import holds

    funded_id = funded.id
    sending.run_release_jobs(utcnow())  # first tranche: 1900
    flag(funded, SILENCE)  # 30: flagged, not held
    moderator_user = make_user(role="moderator")
    release_id = _approved(funded, moderator_user)
    flag(funded, SILENCE, OVERDUE)  # 55 with a new code: held
    assert holds.hold_of(funded_id) is not None

    assert sending.run_release_jobs(utcnow()) == {"held": 1}
    assert sending.transfer_release(release_id, utcnow()).status == "held"
    assert db.session.get(Release, release_id).state == "approved"
    assert [t.metadata["tranche"] for t in transfers_of(funded_id)] == ["first"]
    moderator = login(moderator_user)
    page = moderator.get("/moderation/releases").get_data(as_text=True)
    assert "Approved, waiting: held by risk" in page and f"/moderation/risk/{funded_id}" in page
    founder_page = login(funded.founder).get(f"/campaigns/{funded.slug}/releases").get_data(as_text=True)
    assert "Approved, waiting: held by risk" in founder_page
    risk_page = moderator.get(f"/moderation/risk/{funded_id}").get_data(as_text=True)
    assert "Approved, waiting: held by risk" in risk_page

    holds.clear(db.session.get(type(funded), funded_id), moderator_user, "Supplier delay explained.", utcnow())
    db.session.commit()
    assert sending.run_release_jobs(utcnow()) == {"transferred": 1}
    assert sending.run_release_jobs(utcnow()) == {}
    assert db.session.get(Release, release_id).state == "transferred"
    assert sorted(t.amount for t in transfers_of(funded_id)) == [1900, 4560]
    assert "Approved, waiting: held by risk" not in moderator.get("/moderation/releases").get_data(as_text=True)
