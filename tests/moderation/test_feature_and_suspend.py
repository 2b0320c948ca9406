"""Featuring a campaign on the home page and suspending it: moderator actions with a reason, audited."""
from crowdfund.campaigns.models import Campaign
from crowdfund.extensions import db
from crowdfund.pledges.models import Pledge


def _campaign(campaign_id):
    db.session.expire_all()
    return db.session.get(Campaign, campaign_id)


def _featured_section(client):
    page = client.get("/").get_data(as_text=True)
    if 'id="featured-h"' not in page:
        return ""
    start = page.index('id="featured-h"')
    return page[start:page.index("</section>", start)]


def test_featured_campaign_appears_in_the_featured_section(client, as_moderator, make_campaign, audit_entries):
    campaign = make_campaign(state="live", title="Lighthouse ceramics studio")
    make_campaign(state="live", title="Unfeatured pickle works")

    response = client.post(f"/moderation/campaigns/{campaign.id}/feature",
                           data={"featured": "1", "feature-reason": "Great photos and a clear budget."})

    assert response.status_code == 303
    assert _campaign(campaign.id).featured is True
    section = _featured_section(client)
    assert "Lighthouse ceramics studio" in section
    assert "Unfeatured pickle works" not in section
    [entry] = audit_entries(campaign.id)
    assert (entry.action, entry.actor_id, entry.reason) == ("featured", as_moderator.id,
                                                            "Great photos and a clear budget.")


def test_unfeaturing_removes_it_from_the_featured_section(client, as_moderator, make_campaign, audit_entries):
    campaign = make_campaign(state="live", title="Lighthouse ceramics studio", featured=True)
    assert "Lighthouse ceramics studio" in _featured_section(client)

    client.post(f"/moderation/campaigns/{campaign.id}/feature",
                data={"featured": "0", "feature-reason": "Time for others."})

    assert _campaign(campaign.id).featured is False
    assert "Lighthouse ceramics studio" not in _featured_section(client)
    assert [e.action for e in audit_entries(campaign.id)] == ["unfeatured"]


def test_featuring_without_a_reason_is_refused(client, as_moderator, make_campaign, audit_entries):
    campaign = make_campaign(state="live")

    response = client.post(f"/moderation/campaigns/{campaign.id}/feature",
                           data={"featured": "1", "feature-reason": ""})

    assert response.status_code == 422
    assert '<p class="error" id="feature-reason-error">Give a reason.</p>' in response.get_data(as_text=True)
    assert _campaign(campaign.id).featured is False
    assert audit_entries(campaign.id) == []


def test_only_live_campaigns_can_be_featured(client, as_moderator, make_campaign, audit_entries):
    campaign = make_campaign(state="in_review")

    response = client.post(f"/moderation/campaigns/{campaign.id}/feature",
                           data={"featured": "1", "feature-reason": "Looks promising"})

    assert response.status_code == 409
    assert "Only live campaigns can be featured." in response.get_data(as_text=True)
    assert _campaign(campaign.id).featured is False
    assert audit_entries(campaign.id) == []


def test_suspending_voids_pledges_and_is_audited(client, as_moderator, make_campaign, make_pledge, audit_entries):
    campaign = make_campaign(state="live", title="Suspicious gadget")
    pledges = [make_pledge(campaign, state="active"), make_pledge(campaign, state="pending")]
    cancelled = make_pledge(campaign, state="cancelled")
    slug = campaign.slug

    response = client.post(f"/moderation/campaigns/{campaign.id}/suspend",
                           data={"suspend-reason": "The photos are copied from another site."})

    assert response.status_code == 303
    suspended = _campaign(campaign.id)
    assert suspended.state == "suspended"
    assert suspended.ended_at is not None
    assert [db.session.get(Pledge, p.id).state for p in pledges] == ["void", "void"]
    assert db.session.get(Pledge, cancelled.id).state == "cancelled"
    [entry] = audit_entries(campaign.id)
    assert (entry.action, entry.actor_id, entry.reason) == ("suspended", as_moderator.id,
                                                            "The photos are copied from another site.")
    assert "Suspended" in client.get(f"/c/{slug}").get_data(as_text=True)
    assert "Suspicious gadget" not in client.get("/").get_data(as_text=True)


def test_suspending_without_a_reason_is_refused(client, as_moderator, make_campaign, make_pledge, audit_entries):
    campaign = make_campaign(state="live")
    pledge = make_pledge(campaign, state="active")

    response = client.post(f"/moderation/campaigns/{campaign.id}/suspend", data={"suspend-reason": " "})

    assert response.status_code == 422
    assert '<p class="error" id="suspend-reason-error">Give a reason.</p>' in response.get_data(as_text=True)
    assert _campaign(campaign.id).state == "live"
    assert db.session.get(Pledge, pledge.id).state == "active"
    assert audit_entries(campaign.id) == []


def test_suspending_a_campaign_that_is_not_live_is_a_409(client, as_moderator, make_campaign, audit_entries):
    campaign = make_campaign(state="successful")

    response = client.post(f"/moderation/campaigns/{campaign.id}/suspend", data={"suspend-reason": "Fraud"})

    assert response.status_code == 409
    assert _campaign(campaign.id).state == "successful"
    assert audit_entries(campaign.id) == []


def test_moderator_cannot_suspend_their_own_campaign(client, as_moderator, make_campaign, audit_entries):
    campaign = make_campaign(state="live", founder=as_moderator)

    response = client.post(f"/moderation/campaigns/{campaign.id}/suspend", data={"suspend-reason": "Oops"})

    assert response.status_code == 403
    assert _campaign(campaign.id).state == "live"
    assert audit_entries(campaign.id) == []


def test_backer_cannot_feature_or_suspend(client, auth, make_user, make_campaign):
    campaign = make_campaign(state="live")
    auth.login(make_user())

    featured = client.post(f"/moderation/campaigns/{campaign.id}/feature",
                           data={"featured": "1", "feature-reason": "Mine is great"})
    suspended = client.post(f"/moderation/campaigns/{campaign.id}/suspend", data={"suspend-reason": "Rival"})

    assert (featured.status_code, suspended.status_code) == (403, 403)
    after = _campaign(campaign.id)
    assert (after.featured, after.state) == (False, "live")
