"""Releases held by the risk review: a held release cannot be approved until a moderator clears the
flags with a reason (audit-logged); a new kind of flag holds again; the automatic first tranche waits
too; the founder is told what to do (release page notice, one email per hold)."""
import json

import pytest

from crowdfund.clock import utcnow
from crowdfund.errors import NotAllowed, ValidationFailed
from crowdfund.extensions import db
from crowdfund.moderation.models import AuditEntry
from crowdfund.outbox import OutboxEvent
from crowdfund.payouts import releases
from crowdfund.payouts.models import Release
from crowdfund.risk import holds
from crowdfund.risk.models import RiskClearance
from crowdfund.settlement import releases as sending
from risk.hold_support import NO_SPEND, OVERDUE, SILENCE, flag, requested_release


@pytest.fixture
def held(make_campaign, founder):
    """A successful campaign scored 55 (silence + milestones overdue) with a requested release."""
    campaign = make_campaign(founder=founder, state="successful")
    flag(campaign, SILENCE, OVERDUE)
    return campaign, requested_release(campaign)


def events(kind):
    return [json.loads(e.payload) for e in db.session.execute(
        db.select(OutboxEvent).where(OutboxEvent.kind == kind).order_by(OutboxEvent.id)).scalars()]


def test_held_release_cannot_be_approved_until_cleared(held, make_user):
    campaign, release = held
    moderator = make_user(role="moderator")
    assert holds.hold_of(campaign.id).codes == ("silence", "milestones_overdue")
    with pytest.raises(ValidationFailed) as refused:
        releases.approve_release(release, moderator, "Report looks fine", utcnow())
    assert "No updates for a long time" in refused.value.message and "Milestones overdue" in refused.value.message
    db.session.rollback()
    assert db.session.get(Release, release.id).state == "requested"

    holds.clear(campaign, moderator, "Spoke to the founder: the oven supplier went bust, update coming.", utcnow())
    db.session.commit()
    assert holds.hold_of(campaign.id) is None
    releases.approve_release(db.session.get(Release, release.id), moderator, "Report checks out", utcnow())
    db.session.commit()
    assert db.session.get(Release, release.id).state == "approved"
    assert events("release.approved") == [{"campaign_id": campaign.id, "release_id": release.id}]


def test_below_the_threshold_nothing_is_held(app, make_campaign, make_user):
    campaign = make_campaign(state="successful")
    flag(campaign, SILENCE, NO_SPEND)  # 50 points
    app.config["RISK_HOLD_THRESHOLD"] = 51
    assert holds.hold_of(campaign.id) is None
    app.config["RISK_HOLD_THRESHOLD"] = 50
    assert holds.hold_of(campaign.id) is not None
    assert holds.hold_of(make_campaign(state="successful").id) is None  # never assessed


def test_clearing_needs_a_reason_and_a_moderator_and_is_audit_logged(held, make_user, founder):
    campaign, _release = held
    moderator = make_user(role="moderator", display_name="Mo Derator")
    for blank in ("", "   \n "):
        with pytest.raises(ValidationFailed):
            holds.clear(campaign, moderator, blank, utcnow())
    with pytest.raises(NotAllowed):
        holds.clear(campaign, founder, "I am fine, honestly", utcnow())
    db.session.rollback()
    assert db.session.execute(db.select(RiskClearance)).scalars().all() == []

    holds.clear(campaign, moderator, "  Checked the invoices.  ", utcnow())
    db.session.commit()
    clearance = db.session.execute(db.select(RiskClearance)).scalar_one()
    assert (clearance.moderator_id, clearance.reason, clearance.codes, clearance.score) == (
        moderator.id, "Checked the invoices.", ["silence", "milestones_overdue"], 55)
    entry = db.session.execute(db.select(AuditEntry).where(AuditEntry.action == "risk_cleared")).scalar_one()
    assert (entry.actor_id, entry.campaign_id, entry.reason) == (moderator.id, campaign.id, "Checked the invoices.")
    assert entry.details == {"codes": ["silence", "milestones_overdue"], "score": 55}


def test_a_new_reason_code_after_clearance_holds_again(held, make_user):
    campaign, release = held
    moderator = make_user(role="moderator")
    holds.clear(campaign, moderator, "Known delay, founder explained it.", utcnow())
    db.session.commit()
    flag(campaign, SILENCE)  # a covered code only, under the threshold anyway
    assert holds.hold_of(campaign.id) is None
    flag(campaign, SILENCE, OVERDUE)  # back to the cleared codes: still cleared
    assert holds.hold_of(campaign.id) is None
    flag(campaign, SILENCE, NO_SPEND)  # 50 and a new code
    hold = holds.hold_of(campaign.id)
    assert hold is not None and hold.codes == ("release_without_spend_report",)
    with pytest.raises(ValidationFailed, match="Release requested without a spend report"):
        releases.approve_release(release, moderator, "ok", utcnow())


def test_clearing_a_campaign_without_flags_is_refused(make_campaign, make_user):
    campaign = make_campaign(state="successful")
    with pytest.raises(ValidationFailed):
        holds.clear(campaign, make_user(role="moderator"), "Nothing to see", utcnow())


def test_held_release_over_http_explains_then_approves_once_cleared(held, login, make_user):
    campaign, release = held
    moderator = login(make_user(role="moderator"))
    queue = moderator.get("/moderation/releases").get_data(as_text=True)
    assert "held by risk" in queue and "No updates for a long time" in queue
    assert f"/moderation/risk/{campaign.id}" in queue

    response = moderator.post(f"/moderation/releases/{release.id}/decide",
                              data={f"r{release.id}-decision": "approve", f"r{release.id}-reason": "Looks done"},
                              follow_redirects=True)
    assert "held by the risk review" in response.get_data(as_text=True)
    assert db.session.get(Release, release.id).state == "requested"

    response = moderator.post(f"/moderation/risk/{campaign.id}/clear", data={"reason": "Founder called us."})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/moderation/risk/{campaign.id}")
    assert "held by risk" not in moderator.get("/moderation/releases").get_data(as_text=True)
    moderator.post(f"/moderation/releases/{release.id}/decide",
                   data={f"r{release.id}-decision": "approve", f"r{release.id}-reason": "Looks done"})
    db.session.expire_all()
    assert db.session.get(Release, release.id).state == "approved"


def test_first_tranche_waits_while_held(app, make_campaign, make_pledge, make_user):
    app.config["FIRST_TRANCHE_BP"] = 2000
    campaign = make_campaign(state="successful")
    make_pledge(campaign, state="collected")
    flag(campaign, SILENCE, OVERDUE)
    assert sending.create_first_tranches(utcnow()) == 0
    holds.clear(campaign, make_user(role="moderator"), "Checked", utcnow())
    db.session.commit()
    assert sending.create_first_tranches(utcnow()) == 1
    first = db.session.execute(db.select(Release).where(Release.campaign_id == campaign.id)).scalar_one()
    assert (first.tranche, first.state) == ("first", "approved")
    assert events("release.approved") == [{"campaign_id": campaign.id, "release_id": first.id}]


def test_founder_is_emailed_once_per_hold_with_what_to_do(held, outbox, make_user, founder):
    campaign, _release = held
    assert holds.note_hold_changes(campaign.id, utcnow()) is True
    assert holds.note_hold_changes(campaign.id, utcnow()) is False
    db.session.commit()
    assert [m["To"] for m in outbox] == [founder.email]
    body = outbox[0].get_body(preferencelist=("plain",)).get_content()
    assert "Post an update telling backers where the project stands." in body
    assert f"/campaigns/{campaign.slug}/releases" in body

    holds.clear(campaign, make_user(role="moderator"), "Explained", utcnow())
    db.session.commit()
    assert holds.note_hold_changes(campaign.id, utcnow()) is False  # cleared: no hold
    flag(campaign, SILENCE, OVERDUE, NO_SPEND)  # a new code: a new hold, a new email
    assert holds.note_hold_changes(campaign.id, utcnow()) is True
    db.session.commit()
    assert len(outbox) == 2 and "File a spend report" in outbox[1].get_body(("plain",)).get_content()


def test_request_release_emits_and_tells_a_held_founder(make_campaign, founder, outbox):
    from payouts.test_releases_support import report_completed

    campaign = make_campaign(founder=founder, state="successful")
    flag(campaign, SILENCE, OVERDUE)
    milestone = releases.milestones_of(campaign.id)[0]
    report_completed(campaign, milestone)
    release = releases.request_release(campaign, milestone.id, None, founder, utcnow())
    db.session.commit()
    assert events("release.requested") == [{"campaign_id": campaign.id, "release_id": release.id}]
    assert [e["campaign_id"] for e in events("risk.hold_started")] == [campaign.id]
    assert [m["To"] for m in outbox] == [founder.email]


def test_founder_sees_what_to_do_on_the_releases_page(held, founder_client, founder):
    campaign, _release = held
    page = founder_client.get(f"/campaigns/{campaign.slug}/releases").get_data(as_text=True)
    assert "Your releases are on hold" in page
    assert "Post an update telling backers where the project stands." in page
    assert "Report progress on the overdue milestones" in page
    flag(campaign, SILENCE)  # under the threshold
    page = founder_client.get(f"/campaigns/{campaign.slug}/releases").get_data(as_text=True)
    assert "Your releases are on hold" not in page


def test_a_release_requested_without_a_spend_report_is_held_and_the_founder_told(
        make_campaign, founder, founder_client, outbox):
    """With the real assessment (recomputed when the release is requested): the first tranche went
    out, no spend report since, and the founder has no verified payout account (the second signal a
    missing spend report needs to hold), so the next request is held and the founder told what to do."""
    from datetime import timedelta

    from payouts.test_releases_support import report_completed

    campaign = make_campaign(founder=founder, state="successful")
    db.session.add(Release(campaign_id=campaign.id, milestone_id=None, tranche="first", state="transferred",
                           amount=1900, requested_at=utcnow() - timedelta(days=20)))
    milestone = releases.milestones_of(campaign.id)[0]
    report_completed(campaign, milestone)
    page = founder_client.post(f"/campaigns/{campaign.slug}/milestones/{milestone.id}/release",
                               follow_redirects=True).get_data(as_text=True)
    assert "Release requested" in page and "Your releases are on hold after a risk review" in page
    hold = holds.hold_of(campaign.id)
    assert hold is not None and {"release_without_spend_report", "no_verified_payout"} <= set(hold.codes)
    page = founder_client.get(f"/campaigns/{campaign.slug}/releases").get_data(as_text=True)
    assert "File a spend report for the money already released before asking for more." in page
    assert [m["To"] for m in outbox] == [founder.email]
    assert "File a spend report" in outbox[0].get_body(("plain",)).get_content()
