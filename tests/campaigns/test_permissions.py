"""Who may see and change a campaign: unpublished ones exist only for their founder and moderators."""
import pytest

from crowdfund.campaigns.models import Campaign

from .helpers import fresh, fresh_campaign

UNPUBLISHED = ["draft", "in_review", "changes_requested", "approved", "rejected"]
PUBLIC = ["live", "successful", "failed", "cancelled", "suspended"]


@pytest.fixture
def stranger_client(login, make_user):
    return login(make_user(display_name="Nosy Neighbour"))


def _founder_only_requests(campaign):
    """(method, url) of every page and action that only the founder may use."""
    details = fresh_campaign(campaign.id)
    line, tier, milestone = details.budget_lines[0], details.reward_tiers[0], details.milestones[0]
    base = f"/c/{campaign.slug}"
    return [
        ("GET", f"{base}/edit"), ("POST", f"{base}/edit"),
        ("GET", f"{base}/edit/budget"), ("POST", f"{base}/edit/budget"),
        ("GET", f"{base}/edit/budget/{line.id}"), ("POST", f"{base}/edit/budget/{line.id}"),
        ("POST", f"{base}/edit/budget/{line.id}/delete"),
        ("GET", f"{base}/edit/rewards/{tier.id}"), ("POST", f"{base}/edit/rewards/{tier.id}/delete"),
        ("GET", f"{base}/edit/milestones/{milestone.id}"), ("POST", f"{base}/edit/milestones/{milestone.id}/delete"),
        ("POST", f"{base}/submit"), ("POST", f"{base}/launch"),
        ("GET", f"{base}/cancel"), ("POST", f"{base}/cancel"),
        ("GET", f"{base}/history"),
    ]


@pytest.mark.parametrize("state", UNPUBLISHED)
def test_someone_elses_unpublished_campaign_is_not_found(founder, stranger_client, make_campaign, state):
    campaign = make_campaign(founder=founder, state=state)

    response = stranger_client.get(f"/c/{campaign.slug}")

    assert response.status_code == 404
    assert campaign.title not in response.get_data(as_text=True)


@pytest.mark.parametrize("state", UNPUBLISHED)
def test_visitor_gets_not_found_for_an_unpublished_campaign(founder, client, make_campaign, state):
    campaign = make_campaign(founder=founder, state=state)

    response = client.get(f"/c/{campaign.slug}")

    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


@pytest.mark.parametrize("state", ["draft", "in_review"])
def test_every_founder_page_and_action_is_not_found_for_someone_else(founder, stranger_client, make_campaign, state):
    campaign = make_campaign(founder=founder, state=state)

    statuses = {(method, url): stranger_client.open(url, method=method, data={"title": "Hijacked"}).status_code
                for method, url in _founder_only_requests(campaign)}

    assert set(statuses.values()) == {404}, statuses
    after = fresh_campaign(campaign.id)
    assert (after.state, after.title) == (state, campaign.title)
    assert len(after.budget_lines) == 2 and len(after.milestones) == 2 and len(after.reward_tiers) == 1


def test_someone_elses_draft_looks_like_a_campaign_that_does_not_exist(founder, stranger_client, make_campaign):
    campaign = make_campaign(founder=founder, state="draft")
    stranger_client.get("/")  # shows (and so clears) the "welcome back" message

    real = stranger_client.get(f"/c/{campaign.slug}")
    made_up = stranger_client.get("/c/no-such-campaign")

    assert real.status_code == made_up.status_code == 404
    assert real.get_data() == made_up.get_data()


def test_visitor_is_asked_to_log_in_for_founder_pages_whether_or_not_the_campaign_exists(founder, client,
                                                                                        make_campaign):
    campaign = make_campaign(founder=founder, state="draft")

    real = client.get(f"/c/{campaign.slug}/edit")
    made_up = client.get("/c/no-such-campaign/edit")
    submit = client.post(f"/c/{campaign.slug}/submit")

    assert real.status_code == made_up.status_code == submit.status_code == 302
    assert real.headers["Location"].startswith("/login")
    assert made_up.headers["Location"].startswith("/login")
    assert fresh(Campaign, campaign.id).state == "draft"


@pytest.mark.parametrize("state", ["draft", "in_review"])
def test_moderator_can_view_an_unpublished_campaign_but_not_edit_it(founder, login, make_user, make_campaign, state):
    campaign = make_campaign(founder=founder, state=state)
    moderator = login(make_user(role="moderator"))

    shown = moderator.get(f"/c/{campaign.slug}")
    edit = moderator.get(f"/c/{campaign.slug}/edit")
    submit = moderator.post(f"/c/{campaign.slug}/submit")

    assert shown.status_code == 200
    assert campaign.title in shown.get_data(as_text=True)
    assert "Ready for review?" not in shown.get_data(as_text=True)
    assert edit.status_code == submit.status_code == 404
    assert fresh(Campaign, campaign.id).state == state


def test_founder_sees_their_draft_with_the_checklist_and_an_edit_link(founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder, state="draft", complete=False)

    html = founder_client.get(f"/c/{campaign.slug}").get_data(as_text=True)

    assert "This campaign is: Draft" in html
    assert "Ready for review?" in html
    assert f'href="/c/{campaign.slug}/edit"' in html


@pytest.mark.parametrize("state", PUBLIC)
def test_published_campaign_is_visible_to_everyone(founder, client, stranger_client, make_campaign, state):
    campaign = make_campaign(founder=founder, state=state)

    for viewer in (client, stranger_client):
        response = viewer.get(f"/c/{campaign.slug}")
        assert response.status_code == 200
        assert campaign.title in response.get_data(as_text=True)


def test_strangers_get_no_owner_actions_on_a_live_campaign(founder, stranger_client, make_campaign):
    campaign = make_campaign(founder=founder, state="live")

    html = stranger_client.get(f"/c/{campaign.slug}").get_data(as_text=True)

    assert "Cancel campaign" not in html
    assert "Review history" not in html
    assert "Ready for review?" not in html


def test_strangers_cannot_launch_or_cancel(founder, stranger_client, make_campaign):
    approved = make_campaign(founder=founder, state="approved")
    live = make_campaign(founder=founder, state="live")

    launch = stranger_client.post(f"/c/{approved.slug}/launch")
    cancel_page = stranger_client.get(f"/c/{live.slug}/cancel")
    cancel = stranger_client.post(f"/c/{live.slug}/cancel", data={"reason": "Mine now", "confirm": "y"})

    assert launch.status_code == cancel_page.status_code == cancel.status_code == 404
    assert (fresh(Campaign, approved.id).state, fresh(Campaign, live.id).state) == ("approved", "live")
