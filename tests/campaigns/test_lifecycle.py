"""The campaign state machine, through the lifecycle services: each legal transition works,
every other one raises IllegalTransition and changes nothing."""
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from crowdfund.campaigns import lifecycle
from crowdfund.campaigns.models import STATES, Campaign
from crowdfund.errors import IllegalTransition, NotAllowed
from crowdfund.extensions import db
from crowdfund.moderation.models import AuditEntry

from .helpers import fresh

NOW = datetime(2030, 1, 1, 12, 0)


@pytest.fixture
def moderator(make_user):
    return make_user(role="moderator", display_name="Mo Derator")


def _audit(campaign):
    db.session.rollback()
    return [(entry.actor_id, entry.action, entry.reason) for entry in db.session.execute(
        db.select(AuditEntry).where(AuditEntry.campaign_id == campaign.id).order_by(AuditEntry.id)).scalars()]


# Every action and the only states it may start from.
ACTIONS = {
    "submit": (("draft", "changes_requested"), lambda c, founder, mod: lifecycle.submit_for_review(c, founder, NOW)),
    "approve": (("in_review",), lambda c, founder, mod: lifecycle.approve(c, mod, "Clear budget.")),
    "request_changes": (("in_review",), lambda c, founder, mod: lifecycle.request_changes(c, mod, "Add photos.")),
    "reject": (("in_review",), lambda c, founder, mod: lifecycle.reject(c, mod, "Not a business.")),
    "launch": (("approved",), lambda c, founder, mod: lifecycle.launch(c, founder, NOW)),
    "cancel": (("live",), lambda c, founder, mod: lifecycle.cancel(c, founder, "Supplier closed.", NOW)),
    "suspend": (("live",), lambda c, founder, mod: lifecycle.suspend(c, mod, "Reported as a scam.", NOW)),
}


@pytest.mark.parametrize("action", ACTIONS)
def test_each_action_works_only_from_its_states(founder, moderator, make_campaign, action):
    allowed_from, act = ACTIONS[action]
    campaigns = {state: make_campaign(founder=founder, state=state) for state in STATES}

    succeeded, refused = [], []
    for state, campaign in campaigns.items():
        try:
            act(campaign, founder, moderator)
        except IllegalTransition:
            db.session.rollback()
            refused.append(state)
        else:
            db.session.commit()
            succeeded.append(state)

    assert succeeded == list(allowed_from)
    for state in refused:
        assert fresh(Campaign, campaigns[state].id).state == state, f"{action} from {state} changed the state"
        assert _audit(campaigns[state]) == [], f"{action} from {state} left an audit entry"


def test_submitting_a_complete_draft_puts_it_in_review(founder, make_campaign):
    campaign = make_campaign(founder=founder, state="draft")

    lifecycle.submit_for_review(campaign, founder, NOW)
    db.session.commit()

    after = fresh(Campaign, campaign.id)
    assert (after.state, after.submitted_at) == ("in_review", NOW)
    assert _audit(campaign) == [(founder.id, "submitted", "")]


def test_resubmitting_after_changes_puts_it_back_in_review(founder, moderator, make_campaign):
    campaign = make_campaign(founder=founder, state="in_review")
    lifecycle.request_changes(campaign, moderator, "Show the oven quote.")

    lifecycle.submit_for_review(campaign, founder, NOW)
    db.session.commit()

    assert fresh(Campaign, campaign.id).state == "in_review"
    assert [action for _, action, _ in _audit(campaign)] == ["changes_requested", "submitted"]


def test_incomplete_draft_cannot_be_submitted(founder, make_campaign):
    campaign = make_campaign(founder=founder, state="draft", complete=False)

    with pytest.raises(IllegalTransition, match="Complete these before submitting: A one-line blurb"):
        lifecycle.submit_for_review(campaign, founder, NOW)


@pytest.mark.parametrize("decide, state, action", [
    (lifecycle.approve, "approved", "approved"),
    (lifecycle.request_changes, "changes_requested", "changes_requested"),
    (lifecycle.reject, "rejected", "rejected"),
])
def test_moderator_decision_records_the_reason(founder, moderator, make_campaign, decide, state, action):
    campaign = make_campaign(founder=founder, state="in_review")

    decide(campaign, moderator, "  The budget is clear.  ")
    db.session.commit()

    after = fresh(Campaign, campaign.id)
    assert (after.state, after.review_reason) == (state, "The budget is clear.")
    assert _audit(campaign) == [(moderator.id, action, "The budget is clear.")]


def test_decision_without_a_reason_is_refused(founder, moderator, make_campaign):
    campaign = make_campaign(founder=founder, state="in_review")

    with pytest.raises(NotAllowed, match="needs a reason"):
        lifecycle.approve(campaign, moderator, "   ")
    assert fresh(Campaign, campaign.id).state == "in_review"


def test_only_moderators_review(founder, make_user, make_campaign):
    campaign = make_campaign(founder=founder, state="in_review")

    with pytest.raises(NotAllowed):
        lifecycle.approve(campaign, make_user(), "Looks fine to me.")
    with pytest.raises(NotAllowed):
        lifecycle.approve(campaign, founder, "I like my own campaign.")
    assert fresh(Campaign, campaign.id).state == "in_review"


def test_moderator_cannot_review_their_own_campaign(moderator, make_campaign):
    campaign = make_campaign(founder=moderator, state="in_review")

    with pytest.raises(NotAllowed, match="your own campaign"):
        lifecycle.approve(campaign, moderator, "Trust me.")
    assert fresh(Campaign, campaign.id).state == "in_review"


def test_launch_sets_the_deadline_to_launch_time_plus_duration(founder, make_campaign):
    campaign = make_campaign(founder=founder, state="approved", duration_days=21)

    lifecycle.launch(campaign, founder, NOW)
    db.session.commit()

    after = fresh(Campaign, campaign.id)
    assert after.state == "live"
    assert after.launched_at == NOW
    assert after.deadline == NOW + timedelta(days=21) == datetime(2030, 1, 22, 12, 0)
    assert _audit(campaign) == [(founder.id, "launched", "")]


def test_launching_twice_is_refused_and_keeps_the_first_deadline(founder, make_campaign):
    campaign = make_campaign(founder=founder, state="approved")
    lifecycle.launch(campaign, founder, NOW)
    db.session.commit()

    with pytest.raises(IllegalTransition, match="live cannot become live"):
        lifecycle.launch(campaign, founder, NOW + timedelta(days=5))
    db.session.rollback()

    assert fresh(Campaign, campaign.id).deadline == NOW + timedelta(days=30)
    assert [action for _, action, _ in _audit(campaign)] == ["launched"]


@pytest.mark.parametrize("state, act", [
    ("draft", lambda c, founder, mod: lifecycle.launch(c, founder, NOW)),
    ("rejected", lambda c, founder, mod: lifecycle.approve(c, mod, "Second thoughts.")),
    ("successful", lambda c, founder, mod: lifecycle.cancel(c, founder, "Changed my mind.", NOW)),
    ("failed", lambda c, founder, mod: lifecycle.launch(c, founder, NOW)),
    ("cancelled", lambda c, founder, mod: lifecycle.submit_for_review(c, founder, NOW)),
    ("suspended", lambda c, founder, mod: lifecycle.suspend(c, mod, "Again.", NOW)),
])
def test_illegal_transition_names_both_states(founder, moderator, make_campaign, state, act):
    campaign = make_campaign(founder=founder, state=state)

    with pytest.raises(IllegalTransition, match="A campaign that is .+ cannot become"):
        act(campaign, founder, moderator)


@pytest.mark.parametrize("act", [
    lambda c, other: lifecycle.launch(c, other, NOW),
    lambda c, other: lifecycle.submit_for_review(c, other, NOW),
])
def test_only_the_founder_can_launch_or_submit(founder, make_user, moderator, make_campaign, act):
    campaign = make_campaign(founder=founder, state="approved")
    draft = make_campaign(founder=founder, state="draft")

    for other in (make_user(), moderator):
        for target in (campaign, draft):
            with pytest.raises(NotAllowed, match="Only the campaign's founder"):
                act(target, other)
    assert (fresh(Campaign, campaign.id).state, fresh(Campaign, draft.id).state) == ("approved", "draft")


def test_only_the_founder_can_cancel(founder, make_user, moderator, make_campaign, make_pledge):
    campaign = make_campaign(founder=founder, state="live")
    pledge = make_pledge(campaign)

    for other in (make_user(), moderator):
        with pytest.raises(NotAllowed, match="Only the campaign's founder"):
            lifecycle.cancel(campaign, other, "Not mine to cancel.", NOW)

    assert fresh(Campaign, campaign.id).state == "live"
    assert fresh(type(pledge), pledge.id).state == "active"


@pytest.mark.parametrize("end, state", [
    (lambda c, founder, mod: lifecycle.cancel(c, founder, "Supplier closed.", NOW), "cancelled"),
    (lambda c, founder, mod: lifecycle.suspend(c, mod, "Reported as a scam.", NOW), "suspended"),
])
def test_stopping_a_live_campaign_voids_open_pledges(founder, moderator, make_campaign, make_pledge, end, state):
    from crowdfund.pledges.models import Pledge

    campaign = make_campaign(founder=founder, state="live")
    open_pledges = [make_pledge(campaign, state="active"), make_pledge(campaign, state="pending")]
    cancelled = make_pledge(campaign, state="cancelled")

    end(campaign, founder, moderator)
    db.session.commit()

    after = fresh(Campaign, campaign.id)
    assert (after.state, after.ended_at) == (state, NOW)
    assert [fresh(Pledge, p.id).state for p in open_pledges] == ["void", "void"]
    assert fresh(Pledge, cancelled.id).state == "cancelled"


def test_transition_that_lost_a_race_raises(founder, make_campaign):
    campaign = make_campaign(founder=founder, state="approved")
    assert campaign.state == "approved"  # loaded into this session
    # Another request rejects it behind this session's back.
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE campaign SET state = 'suspended' WHERE id = :id"), {"id": campaign.id})

    with pytest.raises(IllegalTransition, match="changed state in the meantime"):
        lifecycle.launch(campaign, founder, NOW)
    db.session.rollback()

    after = fresh(Campaign, campaign.id)
    assert (after.state, after.launched_at, after.deadline) == ("suspended", None, None)
    assert _audit(campaign) == []
