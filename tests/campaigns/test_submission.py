"""The completeness checklist, and submitting a draft for review over HTTP."""
import re

import pytest

from crowdfund.campaigns.models import BudgetLine, Campaign
from crowdfund.extensions import db
from crowdfund.moderation.models import AuditEntry

from .helpers import fresh, fresh_campaign

ALL_ITEMS = [
    "A title", "A one-line blurb", "A category", "A story", "Risks and challenges",
    "A cover image, described for people who cannot see it", "A funding goal",
    "Budget lines that add up to the goal", "At least one reward tier", "Milestones whose shares add up to 100 %",
]


def _checklist(html: str) -> dict[str, bool]:
    """Checklist item label -> done, as the page shows it."""
    items = re.findall(r'<li class="(done|todo)">\s*<span class="visually-hidden">[^<]*</span>\s*([^<(]+?)\s*(?:<|\n)',
                       html)
    return {label: state == "done" for state, label in items}


def _flash_errors(html: str) -> list[str]:
    return re.findall(r'<p class="flash flash-error" role="alert">([^<]*)</p>', html)


def _audit_actions(campaign):
    db.session.rollback()
    return list(db.session.execute(
        db.select(AuditEntry.action).where(AuditEntry.campaign_id == campaign.id).order_by(AuditEntry.id)).scalars())


def test_fresh_draft_lists_what_is_missing(founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder, complete=False)

    html = founder_client.get(f"/c/{campaign.slug}/edit").get_data(as_text=True)

    checklist = _checklist(html)
    assert list(checklist) == ALL_ITEMS
    assert [label for label, done in checklist.items() if done] == ["A title", "A category"]
    assert "at least 200 characters" in html
    assert "Complete every item to submit your campaign for review." in html


def test_founder_sees_the_checklist_on_the_campaign_page(founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder, complete=False)

    html = founder_client.get(f"/c/{campaign.slug}").get_data(as_text=True)

    assert "Ready for review?" in html
    assert list(_checklist(html)) == ALL_ITEMS


def test_complete_draft_ticks_every_item(founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder)

    html = founder_client.get(f"/c/{campaign.slug}/edit").get_data(as_text=True)

    assert all(_checklist(html).values())
    assert "Complete every item" not in html


def test_submitting_an_incomplete_draft_is_refused_naming_what_is_missing(founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder, complete=False)

    response = founder_client.post(f"/c/{campaign.slug}/submit")
    page = founder_client.get(response.headers["Location"])

    assert response.status_code == 303
    assert response.headers["Location"] == f"/c/{campaign.slug}/edit"
    [message] = _flash_errors(page.get_data(as_text=True))
    assert message.startswith("Complete these before submitting:")
    for missing in ("A one-line blurb", "A story", "A funding goal", "Budget lines that add up to the goal",
                    "At least one reward tier", "Milestones whose shares add up to 100 %"):
        assert missing in message
    assert "A title" not in message
    assert fresh(Campaign, campaign.id).state == "draft"
    assert _audit_actions(campaign) == []


def test_budget_that_does_not_add_up_to_the_goal_is_refused(founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder, goal=100_000)
    line = fresh_campaign(campaign.id).budget_lines[0]
    line.amount -= 1
    db.session.commit()

    page = founder_client.post(f"/c/{campaign.slug}/submit", follow_redirects=True)

    assert _flash_errors(page.get_data(as_text=True)) == [
        "Complete these before submitting: Budget lines that add up to the goal."]
    assert fresh(Campaign, campaign.id).state == "draft"


def test_budget_over_the_goal_is_refused_too(founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder, goal=100_000)
    db.session.add(BudgetLine(campaign_id=campaign.id, purpose="Contingency", amount=5000))
    db.session.commit()

    page = founder_client.post(f"/c/{campaign.slug}/submit", follow_redirects=True)

    assert "Budget lines that add up to the goal" in _flash_errors(page.get_data(as_text=True))[0]
    assert fresh(Campaign, campaign.id).state == "draft"


def test_milestone_shares_short_of_100_percent_are_refused(founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder)
    fresh_campaign(campaign.id).milestones[0].release_bp = 5000
    db.session.commit()

    page = founder_client.post(f"/c/{campaign.slug}/submit", follow_redirects=True)

    assert _flash_errors(page.get_data(as_text=True)) == [
        "Complete these before submitting: Milestones whose shares add up to 100 %."]
    assert fresh(Campaign, campaign.id).state == "draft"


def test_complete_draft_goes_to_review(founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder)

    response = founder_client.post(f"/c/{campaign.slug}/submit")

    assert response.status_code == 303
    assert response.headers["Location"] == f"/c/{campaign.slug}"
    submitted = fresh(Campaign, campaign.id)
    assert submitted.state == "in_review"
    assert submitted.submitted_at is not None
    assert _audit_actions(campaign) == ["submitted"]
    page = founder_client.get(f"/c/{campaign.slug}").get_data(as_text=True)
    assert "A moderator will review your campaign" in page
    assert "Waiting for a moderator's review." in page


@pytest.fixture
def submitted(founder, founder_client, make_campaign):
    campaign = make_campaign(founder=founder)
    assert founder_client.post(f"/c/{campaign.slug}/submit").status_code == 303
    return fresh_campaign(campaign.id)


def test_submitted_campaign_edit_page_redirects_with_a_message(founder_client, submitted):
    response = founder_client.get(f"/c/{submitted.slug}/edit")
    page = founder_client.get(response.headers["Location"]).get_data(as_text=True)

    assert response.status_code == 302
    assert response.headers["Location"] == f"/c/{submitted.slug}"
    assert "This campaign can no longer be edited." in page


def test_submitted_campaign_basics_cannot_be_changed(founder_client, submitted):
    response = founder_client.post(f"/c/{submitted.slug}/edit", data={
        "title": "Changed behind the moderator's back", "category_id": str(submitted.category_id),
        "funding_model": "flexible", "currency": "USD", "goal": "1", "duration_days": "60"})

    assert response.status_code == 302
    after = fresh(Campaign, submitted.id)
    assert (after.title, after.goal, after.funding_model) == (submitted.title, submitted.goal, submitted.funding_model)


@pytest.mark.parametrize("kind, data", [
    ("budget", {"purpose": "Holiday", "amount": "1"}),
    ("milestones", {"title": "Whenever", "description": "-", "due_date": "2099-01-01", "release_percent": "1"}),
])
def test_submitted_campaign_items_cannot_be_added_changed_or_removed(founder_client, submitted, kind, data):
    items = submitted.budget_lines if kind == "budget" else submitted.milestones
    first = items[0]
    before = [(item.id, getattr(item, "purpose", None) or item.title) for item in items]

    added = founder_client.post(f"/c/{submitted.slug}/edit/{kind}", data=data)
    changed = founder_client.post(f"/c/{submitted.slug}/edit/{kind}/{first.id}", data=data)
    removed = founder_client.post(f"/c/{submitted.slug}/edit/{kind}/{first.id}/delete")

    assert added.status_code == changed.status_code == 302
    assert removed.status_code == 403
    after = fresh_campaign(submitted.id)
    after_items = after.budget_lines if kind == "budget" else after.milestones
    assert [(item.id, getattr(item, "purpose", None) or item.title) for item in after_items] == before


def test_submitting_twice_is_refused(founder_client, submitted):
    page = founder_client.post(f"/c/{submitted.slug}/submit", follow_redirects=True)

    assert _flash_errors(page.get_data(as_text=True)) == ["A campaign that is in review cannot become in review."]
    assert _audit_actions(submitted) == ["submitted"]


def test_campaign_sent_back_for_changes_is_editable_and_can_be_resubmitted(founder, founder_client, make_campaign,
                                                                          make_user):
    from crowdfund.campaigns.lifecycle import request_changes

    campaign = make_campaign(founder=founder, state="in_review")
    request_changes(campaign, make_user(role="moderator"), "Say who installs the oven.")
    db.session.commit()

    edit_page = founder_client.get(f"/c/{campaign.slug}/edit").get_data(as_text=True)
    saved = founder_client.post(f"/c/{campaign.slug}/edit/budget/{fresh_campaign(campaign.id).budget_lines[0].id}",
                                data={"purpose": "Oven (installed by Ovens Ltd)", "amount": "750"})
    resubmitted = founder_client.post(f"/c/{campaign.slug}/submit")

    assert "Say who installs the oven." in edit_page
    assert saved.status_code == 302
    assert resubmitted.status_code == 303
    after = fresh_campaign(campaign.id)
    assert after.state == "in_review"
    assert after.budget_lines[0].purpose == "Oven (installed by Ovens Ltd)"
