"""Launching and cancelling over HTTP: POST only, cancel needs a confirmation, CSRF is checked."""
import re
from datetime import timedelta

import pytest

from crowdfund.accounts.services import start_login_session
from crowdfund.campaigns.models import Campaign
from crowdfund.extensions import db
from crowdfund.moderation.models import AuditEntry
from crowdfund.pledges.models import Pledge

from .helpers import error_next_to, fresh, fresh_campaign


def _actions(campaign_id):
    db.session.rollback()
    return list(db.session.execute(
        db.select(AuditEntry.action, AuditEntry.reason).where(AuditEntry.campaign_id == campaign_id)).all())


@pytest.fixture
def live(founder, make_campaign, make_pledge):
    campaign = make_campaign(founder=founder, state="live", title="Fay's Oven")
    pledges = [make_pledge(campaign, amount=2500), make_pledge(campaign, amount=4000, state="pending")]
    return campaign, [p.id for p in pledges]


def test_cancel_page_asks_for_confirmation_and_changes_nothing(founder_client, live):
    campaign, pledge_ids = live

    response = founder_client.get(f"/c/{campaign.slug}/cancel")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<h1>Cancel “Fay&#39;s Oven”?</h1>" in html
    assert 'type="checkbox"' in html and 'name="confirm"' in html
    assert "I understand that cancelling is final" in html
    assert fresh(Campaign, campaign.id).state == "live"
    assert [fresh(Pledge, i).state for i in pledge_ids] == ["active", "pending"]


def test_cancelling_without_ticking_the_box_is_refused(founder_client, live):
    campaign, pledge_ids = live

    response = founder_client.post(f"/c/{campaign.slug}/cancel", data={"reason": "Our supplier closed."})

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert error_next_to(html, "confirm") == "Tick the box to confirm."
    assert "Our supplier closed." in html
    assert fresh(Campaign, campaign.id).state == "live"
    assert [fresh(Pledge, i).state for i in pledge_ids] == ["active", "pending"]


def test_cancelling_without_a_reason_is_refused(founder_client, live):
    campaign, _ = live

    response = founder_client.post(f"/c/{campaign.slug}/cancel", data={"reason": " ", "confirm": "y"})

    assert response.status_code == 422
    assert error_next_to(response.get_data(as_text=True), "reason") == "Tell your backers why."
    assert fresh(Campaign, campaign.id).state == "live"


def test_confirmed_cancel_ends_the_campaign_and_voids_pledges(founder, founder_client, live):
    campaign, pledge_ids = live

    response = founder_client.post(f"/c/{campaign.slug}/cancel",
                                   data={"reason": "Our supplier closed.", "confirm": "y"})

    assert response.status_code == 303
    assert response.headers["Location"] == f"/c/{campaign.slug}"
    after = fresh(Campaign, campaign.id)
    assert after.state == "cancelled" and after.ended_at is not None
    assert [fresh(Pledge, i).state for i in pledge_ids] == ["void", "void"]
    assert _actions(campaign.id) == [("cancelled", "Our supplier closed.")]
    page = founder_client.get(f"/c/{campaign.slug}").get_data(as_text=True)
    assert "The campaign is cancelled and every pledge released." in page
    assert "This campaign is: Cancelled" in page


def test_cancelling_a_campaign_that_is_not_live_is_refused(founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder, state="successful")

    response = founder_client.post(f"/c/{campaign.slug}/cancel", data={"reason": "Too late.", "confirm": "y"})

    assert response.status_code == 409
    assert "A campaign that is funded cannot become cancelled." in response.get_data(as_text=True)
    assert fresh(Campaign, campaign.id).state == "successful"


@pytest.mark.parametrize("state", ["draft", "approved", "failed"])
def test_cancel_page_of_a_campaign_that_is_not_live_sends_the_founder_back(founder, founder_client, make_campaign,
                                                                           state):
    campaign = make_campaign(founder=founder, state=state)

    response = founder_client.get(f"/c/{campaign.slug}/cancel")
    page = founder_client.get(response.headers["Location"]).get_data(as_text=True)

    assert response.status_code == 302
    assert response.headers["Location"] == f"/c/{campaign.slug}"
    assert "Only a live campaign can be cancelled." in page
    assert fresh(Campaign, campaign.id).state == state


def test_founder_launches_an_approved_campaign(founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder, state="approved", duration_days=20)

    response = founder_client.post(f"/c/{campaign.slug}/launch")

    assert response.status_code == 303
    after = fresh(Campaign, campaign.id)
    assert after.state == "live"
    assert after.deadline - after.launched_at == timedelta(days=20)
    html = founder_client.get(f"/c/{campaign.slug}").get_data(as_text=True)
    assert "Your campaign is live. Share it!" in html


def test_launching_a_draft_over_http_is_refused(founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder, state="draft")

    response = founder_client.post(f"/c/{campaign.slug}/launch")

    assert response.status_code == 409
    assert "A campaign that is draft cannot become live." in response.get_data(as_text=True)
    assert fresh(Campaign, campaign.id).state == "draft"


@pytest.mark.parametrize("state, path", [
    ("approved", "launch"),
    ("draft", "submit"),
])
def test_state_changing_urls_refuse_get(founder, founder_client, make_campaign, state, path):
    campaign = make_campaign(founder=founder, state=state)

    response = founder_client.get(f"/c/{campaign.slug}/{path}")

    assert response.status_code == 405
    assert "Method not allowed" in response.get_data(as_text=True)
    assert fresh(Campaign, campaign.id).state == state


def test_viewing_every_founder_page_changes_nothing(founder, founder_client, make_campaign):
    draft = make_campaign(founder=founder, state="draft")
    live = make_campaign(founder=founder, state="live")
    details = fresh_campaign(draft.id)
    pages = [f"/c/{draft.slug}", f"/c/{draft.slug}/edit", f"/c/{draft.slug}/edit/budget",
             f"/c/{draft.slug}/edit/budget/{details.budget_lines[0].id}", f"/c/{draft.slug}/edit/rewards",
             f"/c/{draft.slug}/edit/milestones", f"/c/{draft.slug}/history", f"/c/{live.slug}",
             f"/c/{live.slug}/cancel", "/me/campaigns"]

    statuses = [founder_client.get(page).status_code for page in pages]

    assert statuses == [200] * len(pages)
    assert (fresh(Campaign, draft.id).state, fresh(Campaign, live.id).state) == ("draft", "live")
    assert len(fresh_campaign(draft.id).budget_lines) == 2
    assert _actions(draft.id) == _actions(live.id) == []


# CSRF: the same actions from a page without the form's token are refused.

def _logged_in(app, user):
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = start_login_session(user)  # as logging in does
        db.session.commit()
        session["_fresh"] = True
    return client


def _token(client, url):
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get(url).get_data(as_text=True))[1]


@pytest.fixture
def csrf_founder(csrf_app, make_user):
    return make_user(display_name="Fay Baker")


@pytest.mark.parametrize("state, action, data", [
    ("draft", "submit", {}),
    ("approved", "launch", {}),
    ("live", "cancel", {"reason": "Supplier closed.", "confirm": "y"}),
])
def test_actions_without_the_csrf_token_are_refused(csrf_app, csrf_founder, make_campaign, state, action, data):
    campaign = make_campaign(founder=csrf_founder, state=state)
    client = _logged_in(csrf_app, csrf_founder)

    forged = client.post(f"/c/{campaign.slug}/{action}", data=data)

    assert forged.status_code == 400
    assert "The form expired or was sent from another site." in forged.get_data(as_text=True)
    assert fresh(Campaign, campaign.id).state == state


def test_cancel_with_the_pages_csrf_token_works(csrf_app, csrf_founder, make_campaign):
    campaign = make_campaign(founder=csrf_founder, state="live")
    client = _logged_in(csrf_app, csrf_founder)
    token = _token(client, f"/c/{campaign.slug}/cancel")

    response = client.post(f"/c/{campaign.slug}/cancel",
                           data={"csrf_token": token, "reason": "Supplier closed.", "confirm": "y"})

    assert response.status_code == 303
    assert fresh(Campaign, campaign.id).state == "cancelled"


def test_removing_an_item_without_the_csrf_token_is_refused(csrf_app, csrf_founder, make_campaign):
    campaign = make_campaign(founder=csrf_founder, state="draft")
    client = _logged_in(csrf_app, csrf_founder)
    line_id = fresh_campaign(campaign.id).budget_lines[0].id

    forged = client.post(f"/c/{campaign.slug}/edit/budget/{line_id}/delete")

    assert forged.status_code == 400
    assert line_id in [line.id for line in fresh_campaign(campaign.id).budget_lines]
