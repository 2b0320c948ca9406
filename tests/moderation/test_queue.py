"""The review queue at /moderation/: moderators only, oldest submission first, paginated."""
from datetime import timedelta

from crowdfund.clock import utcnow
from crowdfund.extensions import db


def test_visitor_is_sent_to_log_in(client):
    response = client.get("/moderation/")

    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_backer_gets_a_styled_403_page(client, auth, make_user):
    auth.login(make_user(role="backer"))

    response = client.get("/moderation/")

    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "Not allowed" in page
    assert "This page is for moderators." in page
    assert 'class="site-header"' in page  # the site's own layout, not a bare error


def test_backer_cannot_open_a_review_page_or_decide(client, auth, make_user, make_campaign):
    campaign = make_campaign(state="in_review")
    auth.login(make_user(role="backer"))

    assert client.get(f"/moderation/campaigns/{campaign.id}").status_code == 403
    response = client.post(f"/moderation/campaigns/{campaign.id}", data={"decision": "approve", "reason": "Fine"})

    assert response.status_code == 403
    db.session.refresh(campaign)
    assert campaign.state == "in_review"


def test_queue_lists_campaigns_in_review_oldest_submitted_first(client, as_moderator, make_campaign):
    now = utcnow()
    newer = make_campaign(state="in_review", title="Newer pottery kiln")
    older = make_campaign(state="in_review", title="Older bicycle workshop")
    newer.submitted_at = now - timedelta(hours=1)
    older.submitted_at = now - timedelta(days=2)
    db.session.commit()

    page = client.get("/moderation/").get_data(as_text=True)

    assert page.index("Older bicycle workshop") < page.index("Newer pottery kiln")
    assert "2 campaigns waiting" in page


def test_queue_leaves_out_campaigns_not_in_review(client, as_moderator, make_campaign):
    make_campaign(state="in_review", title="Waiting tea room")
    for state in ("draft", "changes_requested", "approved", "rejected", "live"):
        make_campaign(state=state, title=f"Not waiting {state} campaign")

    page = client.get("/moderation/").get_data(as_text=True)

    assert "Waiting tea room" in page
    assert "Not waiting" not in page


def test_queue_is_paginated(app, client, as_moderator, make_campaign):
    size = app.config["PAGE_SIZE"]
    now = utcnow()
    for n in range(size + 2):
        campaign = make_campaign(state="in_review", title=f"Queued campaign number {n:03d}")
        campaign.submitted_at = now - timedelta(days=100 - n)
    db.session.commit()

    first = client.get("/moderation/").get_data(as_text=True)
    second = client.get("/moderation/?page=2").get_data(as_text=True)

    assert "Queued campaign number 000" in first
    assert f"Queued campaign number {size - 1:03d}" in first
    assert f"Queued campaign number {size:03d}" not in first
    assert 'rel="next"' in first
    assert f"Queued campaign number {size:03d}" in second
    assert f"Queued campaign number {size + 1:03d}" in second
    assert "Queued campaign number 000" not in second


def test_queue_page_out_of_range_or_not_a_number_is_not_an_error(client, as_moderator, make_campaign):
    make_campaign(state="in_review", title="Only queued campaign")

    beyond = client.get("/moderation/?page=50")
    garbage = client.get("/moderation/?page=abc")
    huge = client.get("/moderation/?page=" + "9" * 30)

    assert beyond.status_code == 200
    assert "Only queued campaign" not in beyond.get_data(as_text=True)
    assert garbage.status_code == 200
    assert "Only queued campaign" in garbage.get_data(as_text=True)
    assert huge.status_code == 200
