"""The campaign page and the updates list run as many SQL statements with 30 updates (each with a
milestone report and spend on two lines) and 30 update requests as with one of each."""
from datetime import timedelta

import pytest

from crowdfund.accounts.models import User
from crowdfund.campaigns.models import BudgetLine, Milestone
from crowdfund.clock import utcnow
from crowdfund.extensions import db
from crowdfund.updates.models import SpendReport, Update, UpdateRequest


def _fill(campaign, n, make_user, make_pledge):
    """n updates (alternately public and backers-only) reporting milestones and spend, and n requests."""
    milestones = list(db.session.execute(db.select(Milestone.id).where(Milestone.campaign_id == campaign.id)
                                         .order_by(Milestone.due_date)).scalars())
    lines = list(db.session.execute(db.select(BudgetLine.id).where(BudgetLine.campaign_id == campaign.id)
                                    .order_by(BudgetLine.id)).scalars())
    now = utcnow()
    for i in range(n):
        update = Update(campaign_id=campaign.id, author_id=campaign.founder_id, title=f"Update {i}", body="Text",
                        visibility="public" if i % 2 else "backers", created_at=now - timedelta(days=40 + i),
                        milestone_id=milestones[i % 2], milestone_status="on_track")
        update.spend_reports = [SpendReport(budget_line_id=lines[0], amount=100 + i, note=f"Note {i}"),
                                SpendReport(budget_line_id=lines[1], amount=50, note="")]
        db.session.add(update)
    for i in range(n):
        requester = make_user()
        make_pledge(campaign, backer=requester)
        db.session.add(UpdateRequest(campaign_id=campaign.id, user_id=requester.id, created_at=now - timedelta(days=i)))
    db.session.commit()


@pytest.fixture
def campaigns(founder, make_campaign, make_user, make_pledge):
    backer = make_user()
    result = {}
    for n in (1, 30):
        campaign = make_campaign(founder=founder, state="live", duration_days=60,
                                 launched_at=utcnow() - timedelta(days=45))
        _fill(campaign, n, make_user, make_pledge)
        make_pledge(campaign, backer=backer)
        result[n] = campaign.slug
    return result, backer.id


@pytest.mark.parametrize("viewer", ["visitor", "backer", "founder", "moderator"])
@pytest.mark.parametrize("page", ["/c/{slug}", "/c/{slug}/updates"])
def test_pages_run_as_many_statements_for_30_updates_and_requests_as_for_1(
        app, login, founder, make_user, campaigns, count_queries, viewer, page):
    slugs, backer_id = campaigns
    users = {"backer": db.session.get(User, backer_id), "founder": founder,
             "moderator": make_user(role="moderator")}
    client = login(users[viewer]) if viewer in users else app.test_client()

    counted = {}
    for n, slug in slugs.items():
        url = page.format(slug=slug)
        client.get(url)  # warm up
        db.session.remove()
        with count_queries() as statements:
            response = client.get(url)
        assert response.status_code == 200
        counted[n] = (response.get_data(as_text=True), list(statements))

    small, large = counted[1][1], counted[30][1]
    assert len(small) == len(large), "\n---\n".join(large)
    html = counted[30][0]
    if viewer in ("founder", "moderator") and page == "/c/{slug}":
        assert "30 backers asked for an update" in html
    if viewer == "visitor":
        assert "Note 0" not in html  # a backers-only note
    elif page == "/c/{slug}/updates":
        assert "Note 0" in html and "Note 29" in html
