"""Campaign reports (issue 16): someone signed in reports a campaign; a moderator upholds or
dismisses it (audit-logged)."""
import pytest
import json

from crowdfund.accounts.models import User
from crowdfund.extensions import db
from crowdfund.moderation.models import AuditEntry, CampaignReport
from crowdfund.outbox import OutboxEvent

pytestmark = pytest.mark.sqlite_only


def _events(kind):
    return [json.loads(e.payload) for e in db.session.execute(
        db.select(OutboxEvent).where(OutboxEvent.kind == kind).order_by(OutboxEvent.id)).scalars()]


def _reports():
    db.session.expire_all()
    return list(db.session.execute(db.select(CampaignReport).order_by(CampaignReport.id)).scalars())


def test_the_campaign_page_links_to_the_report_form(login, make_user, make_campaign):
    campaign = make_campaign(state="live")
    html = login(make_user()).get(f"/c/{campaign.slug}").get_data(as_text=True)
    assert f'href="/c/{campaign.slug}/report"' in html and "Report this campaign" in html


def test_a_signed_in_user_reports_a_campaign(login, make_user, make_campaign):
    campaign, reporter = make_campaign(state="live"), make_user()
    client = login(reporter)
    assert client.get(f"/c/{campaign.slug}/report").status_code == 200

    response = client.post(f"/c/{campaign.slug}/report", data={"reason": "The photos are from another bakery."})

    assert response.status_code == 303
    [report] = _reports()
    assert (report.campaign_id, report.reporter_id, report.reason, report.outcome) == (
        campaign.id, reporter.id, "The photos are from another bakery.", None)
    assert _events("report.created") == [{"campaign_id": campaign.id, "report_id": report.id}]


def test_one_open_report_per_person_and_campaign(login, make_user, make_campaign):
    campaign = make_campaign(state="live")
    client = login(make_user())
    client.post(f"/c/{campaign.slug}/report", data={"reason": "Copied story"})

    response = client.post(f"/c/{campaign.slug}/report", data={"reason": "Copied story, again"})

    assert response.status_code == 409
    assert "You reported this campaign" in response.get_data(as_text=True)
    assert len(_reports()) == 1


def test_the_founder_cannot_report_their_own_campaign(login, make_user, make_campaign):
    founder = make_user()
    campaign = make_campaign(founder=founder, state="live")
    client = login(founder)
    assert "Report this campaign" not in client.get(f"/c/{campaign.slug}").get_data(as_text=True)

    response = client.post(f"/c/{campaign.slug}/report", data={"reason": "Testing"})

    assert response.status_code == 403
    assert _reports() == []


def test_a_blank_reason_is_refused(login, make_user, make_campaign):
    campaign = make_campaign(state="live")

    response = login(make_user()).post(f"/c/{campaign.slug}/report", data={"reason": "   "})

    assert response.status_code == 422
    assert "Tell the moderators what is wrong." in response.get_data(as_text=True)
    assert _reports() == []


def test_a_draft_cannot_be_reported(login, make_user, make_campaign):
    campaign = make_campaign(state="draft")
    assert login(make_user()).post(f"/c/{campaign.slug}/report", data={"reason": "x"}).status_code == 404
    assert _reports() == []


def _reported(login, make_user, make_campaign, reason="Rewards never arrived"):
    campaign = make_campaign(state="successful")
    login(make_user()).post(f"/c/{campaign.slug}/report", data={"reason": reason})
    [report] = _reports()
    return campaign, report


def test_moderators_see_open_reports_newest_first(login, make_user, make_campaign):
    first = make_campaign(state="live", title="First reported campaign")
    second = make_campaign(state="live", title="Second reported campaign")
    reporter = login(make_user())
    reporter.post(f"/c/{first.slug}/report", data={"reason": "one"})
    reporter.post(f"/c/{second.slug}/report", data={"reason": "two"})
    moderator = make_user(role="moderator")

    html = login(moderator).get("/moderation/reports").get_data(as_text=True)

    assert html.index("Second reported campaign") < html.index("First reported campaign")
    assert login(make_user()).get("/moderation/reports").status_code == 403


def test_a_moderator_upholds_a_report(login, make_user, make_campaign):
    campaign, report = _reported(login, make_user, make_campaign)
    moderator = make_user(role="moderator")
    client = login(moderator)

    response = client.post(f"/moderation/reports/{report.id}/resolve",
                           data={f"report-{report.id}-outcome": "upheld",
                                 f"report-{report.id}-note": "Three backers confirmed nothing arrived."})

    assert response.status_code == 303
    [report] = _reports()
    assert (report.outcome, report.resolved_by_id, report.resolution_note) == (
        "upheld", moderator.id, "Three backers confirmed nothing arrived.")
    [entry] = db.session.execute(db.select(AuditEntry).where(AuditEntry.campaign_id == campaign.id)).scalars()
    assert (entry.action, entry.actor_id, entry.details) == ("report_upheld", moderator.id, {"report_id": report.id})
    assert _events("report.resolved") == [{"campaign_id": campaign.id, "report_id": report.id, "outcome": "upheld"}]
    assert "Rewards never arrived" not in client.get("/moderation/reports").get_data(as_text=True)
    # Resolved once: a second decision is refused.
    again = client.post(f"/moderation/reports/{report.id}/resolve",
                        data={f"report-{report.id}-outcome": "dismissed", f"report-{report.id}-note": "no"})
    assert again.status_code == 409
    assert _reports()[0].outcome == "upheld"


def test_a_moderator_dismisses_a_report(login, make_user, make_campaign):
    campaign, report = _reported(login, make_user, make_campaign)
    moderator = make_user(role="moderator")

    login(moderator).post(f"/moderation/reports/{report.id}/resolve",
                          data={f"report-{report.id}-outcome": "dismissed",
                                f"report-{report.id}-note": "The rewards shipped; tracking seen."})

    assert _reports()[0].outcome == "dismissed"
    actions = db.session.execute(db.select(AuditEntry.action).where(AuditEntry.campaign_id == campaign.id)).scalars()
    assert list(actions) == ["report_dismissed"]


def test_resolving_needs_an_outcome_and_a_note(login, make_user, make_campaign):
    _campaign, report = _reported(login, make_user, make_campaign)

    response = login(make_user(role="moderator")).post(
        f"/moderation/reports/{report.id}/resolve", data={f"report-{report.id}-outcome": "upheld"})

    assert response.status_code == 422
    assert "Give a reason." in response.get_data(as_text=True)
    assert _reports()[0].outcome is None
    assert db.session.execute(db.select(AuditEntry)).scalars().all() == []


def test_only_moderators_resolve_reports(login, make_user, make_campaign):
    campaign, report = _reported(login, make_user, make_campaign)
    founder = db.session.get(User, campaign.founder_id)

    response = login(founder).post(f"/moderation/reports/{report.id}/resolve",
                                   data={f"report-{report.id}-outcome": "dismissed",
                                         f"report-{report.id}-note": "not me"})

    assert response.status_code == 403
    assert _reports()[0].outcome is None
