"""The moderators' risk queue (/moderation/risk) and a campaign's risk page: sorted by score with
reasons, trend and the held badge; every flag with its numbers, the history, the clearances; clearing
with a reason; moderators only."""
from datetime import timedelta

import pytest

from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.moderation.models import AuditEntry
from crowdfund.risk.models import RiskClearance
from risk.hold_support import NO_SPEND, OVERDUE, SILENCE, flag, requested_release

pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def moderator(login, make_user):
    return login(make_user(role="moderator", display_name="Mo Derator"))


def test_queue_lists_flagged_campaigns_highest_first_with_reasons_and_trend(moderator, make_campaign, make_user):
    low = make_campaign(state="successful", title="Low risk bakery", founder=make_user(display_name="Lou Low"))
    high = make_campaign(state="successful", title="High risk bakery", founder=make_user(display_name="Hi Gh"))
    calm = make_campaign(state="live", title="Calm bakery")
    flag(low, NO_SPEND, previous=40)  # 20, down from 40
    flag(high, SILENCE, OVERDUE, previous=30)  # 55, up from 30: held
    flag(calm)  # score 0: not listed
    page = moderator.get("/moderation/risk").get_data(as_text=True)
    assert page.index("High risk bakery") < page.index("Low risk bakery")
    assert "Calm bakery" not in page
    high_row = page[page.index(f'id="risk-{high.id}"'):page.index(f'id="risk-{low.id}"')]
    assert "No updates for a long time, Milestones overdue" in high_row and ">55<" in high_row
    assert "↑" in high_row and "from 30" in high_row and "held" in high_row and "Hi Gh" in high_row
    low_row = page[page.index(f'id="risk-{low.id}"'):]
    assert "↓" in low_row and "from 40" in low_row and "Release requested without a spend report" in low_row
    assert "held" not in low_row.split("</tr>")[0]
    assert f'href="/moderation/risk/{high.id}"' in page


def test_queue_lists_campaigns_past_draft_only(moderator, make_campaign):
    draft = make_campaign(state="draft", title="Draft bakery")
    reviewing = make_campaign(state="in_review", title="Reviewed bakery")
    for campaign in (draft, reviewing):
        flag(campaign, SILENCE, OVERDUE)
    page = moderator.get("/moderation/risk").get_data(as_text=True)
    assert "Reviewed bakery" in page and "Draft bakery" not in page
    draft.state = "in_review"  # submitted: now the moderators' business
    db.session.commit()
    assert "Draft bakery" in moderator.get("/moderation/risk").get_data(as_text=True)


def test_empty_queue(moderator):
    assert "No campaign is flagged." in moderator.get("/moderation/risk").get_data(as_text=True)


def test_only_moderators(client, login, make_user, make_campaign, founder):
    campaign = make_campaign(state="successful", founder=founder)
    flag(campaign, SILENCE, OVERDUE)
    for path in ("/moderation/risk", f"/moderation/risk/{campaign.id}"):
        assert client.get(path).status_code == 302  # to the log-in page
        assert login(make_user()).get(path).status_code == 403
        assert login(founder).get(path).status_code == 403
    founder = login(founder)
    assert founder.post(f"/moderation/risk/{campaign.id}/clear", data={"reason": "Trust me"}).status_code == 403
    assert db.session.execute(db.select(RiskClearance)).scalars().all() == []


def test_detail_shows_flags_numbers_history_releases_and_clearances(moderator, make_campaign, make_user):
    campaign = make_campaign(state="successful", title="Flagged bakery")
    now = utcnow()
    flag(campaign, SILENCE, OVERDUE, previous=30, history=[(now - timedelta(days=9), 30), (now, 55)])
    release = requested_release(campaign)
    page = moderator.get(f"/moderation/risk/{campaign.id}").get_data(as_text=True)
    assert "Score 55" in page and "Releases are held until a moderator clears these flags" in page
    assert "No updates for a long time" in page and "while milestones are still open" in page  # the explanation
    assert "days_since_update: 61" in page and "overdue_days: [20]" in page
    assert ">30<" in page and ">55<" in page  # the history, and its chart: the line ends at 55 of 55
    assert '<polyline points="8,' in page and '472,8"' in page
    assert f"/moderation/releases#release-{release.id}" in page
    assert "Never cleared." in page

    response = moderator.post(f"/moderation/risk/{campaign.id}/clear", data={"reason": "Called the founder."},
                              follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Flags cleared" in page and "Called the founder." in page and "Mo Derator" in page
    assert "Releases are held" not in page


def test_clearing_without_a_reason_is_422_and_stores_nothing(moderator, make_campaign):
    campaign = make_campaign(state="successful")
    flag(campaign, SILENCE, OVERDUE)
    response = moderator.post(f"/moderation/risk/{campaign.id}/clear", data={"reason": "   "})
    assert response.status_code == 422 and "Give a reason." in response.get_data(as_text=True)
    assert db.session.execute(db.select(RiskClearance)).scalars().all() == []
    assert db.session.execute(db.select(AuditEntry).where(AuditEntry.action == "risk_cleared")).first() is None


def test_unknown_campaign_is_404_and_an_unflagged_one_has_nothing_to_clear(moderator, make_campaign):
    assert moderator.get("/moderation/risk/999999").status_code == 404
    assert moderator.post("/moderation/risk/999999/clear", data={"reason": "x"}).status_code == 404
    campaign = make_campaign(state="live")
    assert "not been assessed yet" in moderator.get(f"/moderation/risk/{campaign.id}").get_data(as_text=True)
    response = moderator.post(f"/moderation/risk/{campaign.id}/clear", data={"reason": "x"}, follow_redirects=True)
    assert "no risk flags to clear" in response.get_data(as_text=True)
    assert db.session.execute(db.select(RiskClearance)).scalars().all() == []
