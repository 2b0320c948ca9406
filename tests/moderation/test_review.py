"""The review page and the decision form: every decision moves the state, needs a reason and is audited."""
from datetime import timedelta
from html import unescape

import pytest

from crowdfund.campaigns.models import Campaign
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.moderation.models import AuditEntry

DECISIONS = [("approve", "approved"), ("request_changes", "changes_requested"), ("reject", "rejected")]


def _state(campaign_id):
    db.session.expire_all()
    return db.session.get(Campaign, campaign_id).state


def test_review_page_shows_the_whole_campaign(client, as_moderator, make_campaign):
    campaign = make_campaign(state="in_review", title="Riverside bakery oven", tiers=2,
                             story="We bake **rye bread** for the riverside market every Saturday. " * 5)

    response = client.get(f"/moderation/campaigns/{campaign.id}")

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Riverside bakery oven" in page
    assert "<strong>rye bread</strong>" in page  # the story, rendered
    assert "Oven delivery can slip by a month" in page  # risks
    assert "Installation" in page and "$750.00" in page and "$250.00" in page  # budget lines
    assert "Tier 1" in page and "Tier 2" in page
    assert "Oven installed" in page and "First deliveries" in page
    assert "Record decision" in page


def test_review_page_of_unknown_campaign_is_404(client, as_moderator):
    assert client.get("/moderation/campaigns/999999").status_code == 404


@pytest.mark.parametrize("decision, new_state", DECISIONS)
def test_decision_moves_the_state_and_writes_an_audit_entry(
        client, as_moderator, make_campaign, audit_entries, decision, new_state):
    campaign = make_campaign(state="in_review")
    before = utcnow()

    response = client.post(f"/moderation/campaigns/{campaign.id}",
                           data={"decision": decision, "reason": "Clear budget and a believable plan."})

    assert response.status_code == 303
    assert response.headers["Location"].endswith("/moderation/")
    assert _state(campaign.id) == new_state
    [entry] = audit_entries(campaign.id)
    assert entry.actor_id == as_moderator.id
    assert entry.action == new_state
    assert entry.reason == "Clear budget and a believable plan."
    assert before - timedelta(seconds=1) <= entry.created_at <= utcnow()


@pytest.mark.parametrize("decision, new_state", DECISIONS)
def test_founder_sees_the_reason_on_their_campaign_page(
        client, auth, make_user, make_campaign, moderator, decision, new_state):
    founder = make_user()
    campaign = make_campaign(state="in_review", founder=founder)
    auth.login(moderator)
    client.post(f"/moderation/campaigns/{campaign.id}", data={"decision": decision, "reason": "Photos are blurry."})
    auth.logout()
    auth.login(founder)

    page = unescape(client.get(f"/c/{campaign.slug}").get_data(as_text=True))

    assert "Moderator's note:" in page
    assert "Photos are blurry." in page


def test_changes_requested_loop_ends_in_approval(client, auth, make_user, make_campaign, moderator, audit_entries):
    founder = make_user(display_name="Fern Founder")
    campaign = make_campaign(state="in_review", founder=founder, title="Fern's flower shop")
    slug, category_id = campaign.slug, campaign.category_id
    auth.login(moderator)
    client.post(f"/moderation/campaigns/{campaign.id}",
                data={"decision": "request_changes", "reason": "Say who grows the flowers."})
    auth.logout()

    auth.login(founder)
    edit_page = client.get(f"/c/{slug}/edit").get_data(as_text=True)
    assert "The moderator asked for changes" in edit_page
    assert "Say who grows the flowers." in edit_page
    saved = client.post(f"/c/{slug}/edit", data={
        "title": "Fern's flower shop", "blurb": "Flowers from our own field.", "category_id": str(category_id),
        "funding_model": "all_or_nothing", "currency": "USD", "goal": "1000.00", "duration_days": "30",
        "story": "All our flowers are grown by Fern's family on a field outside town. " * 5,
        "risks": "A late frost."})
    assert saved.status_code == 302
    resubmitted = client.post(f"/c/{slug}/submit")
    assert resubmitted.status_code == 303
    assert _state(campaign.id) == "in_review"
    auth.logout()

    auth.login(moderator)
    review_page = unescape(client.get(f"/moderation/campaigns/{campaign.id}").get_data(as_text=True))
    assert "grown by Fern's family" in review_page
    client.post(f"/moderation/campaigns/{campaign.id}", data={"decision": "approve", "reason": "Thanks, clear now."})

    assert _state(campaign.id) == "approved"
    assert [e.action for e in audit_entries(campaign.id)] == ["changes_requested", "submitted", "approved"]


def test_decision_without_a_reason_is_refused_next_to_the_field(client, as_moderator, make_campaign, audit_entries):
    campaign = make_campaign(state="in_review")

    response = client.post(f"/moderation/campaigns/{campaign.id}", data={"decision": "approve", "reason": "   "})

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert '<p class="error" id="reason-error">Every decision needs a reason.</p>' in page
    assert _state(campaign.id) == "in_review"
    assert audit_entries(campaign.id) == []


def test_decision_without_a_choice_is_refused(client, as_moderator, make_campaign):
    campaign = make_campaign(state="in_review")

    response = client.post(f"/moderation/campaigns/{campaign.id}", data={"reason": "Looks good"})
    invented = client.post(f"/moderation/campaigns/{campaign.id}", data={"decision": "launch", "reason": "Go"})

    assert response.status_code == 422
    assert "Choose a decision." in response.get_data(as_text=True)
    assert "Looks good" in response.get_data(as_text=True)  # what was typed is kept
    assert invented.status_code == 422
    assert _state(campaign.id) == "in_review"


def test_moderator_cannot_review_their_own_campaign(client, as_moderator, make_campaign, audit_entries):
    campaign = make_campaign(state="in_review", founder=as_moderator)

    page = client.get(f"/moderation/campaigns/{campaign.id}").get_data(as_text=True)
    response = client.post(f"/moderation/campaigns/{campaign.id}", data={"decision": "approve", "reason": "Mine"})

    assert "another moderator must review it" in page
    assert "Record decision" not in page
    assert response.status_code == 403
    assert "You cannot review your own campaign." in response.get_data(as_text=True)
    assert _state(campaign.id) == "in_review"
    assert audit_entries(campaign.id) == []


@pytest.mark.parametrize("state", ["approved", "draft", "live", "rejected"])
def test_decision_on_a_campaign_not_in_review_is_a_409_and_changes_nothing(
        client, as_moderator, make_campaign, audit_entries, state):
    campaign = make_campaign(state=state)

    response = client.post(f"/moderation/campaigns/{campaign.id}",
                           data={"decision": "reject", "reason": "Too late"})

    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "That cannot be done now" in page
    assert "cannot become rejected" in page
    assert _state(campaign.id) == state
    assert audit_entries(campaign.id) == []


def test_two_moderators_deciding_at_once_only_one_wins(client, as_moderator, make_user, make_campaign):
    from crowdfund.campaigns import lifecycle

    campaign = make_campaign(state="in_review")
    other = make_user(role="moderator")
    lifecycle.reject(db.session.get(Campaign, campaign.id), other, "Rejected first")
    db.session.commit()

    response = client.post(f"/moderation/campaigns/{campaign.id}", data={"decision": "approve", "reason": "OK"})

    assert response.status_code == 409
    assert _state(campaign.id) == "rejected"
    assert db.session.execute(db.select(db.func.count(AuditEntry.id)).where(
        AuditEntry.action == "approved")).scalar_one() == 0
