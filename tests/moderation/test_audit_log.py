"""The audit log: moderators read every action newest first; a founder reads their own campaign's history."""
from datetime import timedelta

from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.moderation.models import AuditEntry


def _rows(page):
    """The rows of the audit table, as HTML."""
    body = page[page.index("<tbody>"):page.index("</tbody>")]
    return body.split("<tr>")[1:]


def _decide(client, campaign, decision, reason):
    response = client.post(f"/moderation/campaigns/{campaign.id}", data={"decision": decision, "reason": reason})
    assert response.status_code == 303


def test_audit_log_lists_entries_newest_first_with_who_what_and_why(client, as_moderator, make_campaign):
    first = make_campaign(state="in_review", title="Harbour fish smokery")
    second = make_campaign(state="in_review", title="Hilltop goat dairy")
    _decide(client, first, "reject", "No budget for the smoker itself.")
    _decide(client, second, "approve", "A clear and honest plan.")
    # Make the order unambiguous even where the clock is coarse.
    entries = db.session.execute(db.select(AuditEntry).order_by(AuditEntry.id)).scalars().all()
    entries[0].created_at = utcnow() - timedelta(minutes=5)
    db.session.commit()

    response = client.get("/moderation/audit")

    assert response.status_code == 200
    newest, oldest = _rows(response.get_data(as_text=True))
    for cell in ("Mira Moderator", ">approved<", "Hilltop goat dairy", "A clear and honest plan."):
        assert cell in newest
    for cell in ("Mira Moderator", ">rejected<", "Harbour fish smokery", "No budget for the smoker itself."):
        assert cell in oldest


def test_audit_log_shows_system_actions_without_an_actor(client, as_moderator, make_campaign):
    from crowdfund.moderation.services import record_action

    campaign = make_campaign(state="live", title="Canal boat café")
    record_action(None, "failed", campaign, details={"pledged": 0, "goal": 100_000})
    db.session.commit()

    page = client.get("/moderation/audit").get_data(as_text=True)

    assert "system" in page
    assert "Canal boat café" in page


def test_audit_log_is_for_moderators_only(client, auth, make_user):
    assert client.get("/moderation/audit").status_code == 302
    auth.login(make_user())
    assert client.get("/moderation/audit").status_code == 403


def test_founder_reads_their_campaigns_history(client, auth, make_user, make_campaign, moderator):
    founder = make_user()
    campaign = make_campaign(state="in_review", founder=founder, title="Corner bookshop")
    others = make_campaign(state="in_review", title="Someone else's bicycle shop")
    auth.login(moderator)
    _decide(client, campaign, "request_changes", "Add a photo of the shop.")
    _decide(client, others, "reject", "Secret reason about another campaign.")
    auth.logout()
    auth.login(founder)

    response = client.get(f"/c/{campaign.slug}/history")

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Add a photo of the shop." in page
    assert "changes requested" in page
    assert "Mira Moderator" in page
    assert "Secret reason about another campaign." not in page


def test_another_users_history_is_404(client, auth, make_user, make_campaign, moderator):
    campaign = make_campaign(state="changes_requested", title="Not yours")
    auth.login(make_user())
    assert client.get(f"/c/{campaign.slug}/history").status_code == 404
    auth.logout()
    auth.login(moderator)  # moderators use the review page, the history page is the founder's own
    assert client.get(f"/c/{campaign.slug}/history").status_code == 404


def test_history_of_unknown_campaign_is_404(client, auth, make_user):
    auth.login(make_user())
    assert client.get("/c/no-such-campaign/history").status_code == 404
