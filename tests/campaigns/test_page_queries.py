"""What a campaign page costs the database (issue 17): counted per page, with the page cache off (the
body rendered for this request) and on (the body stored), for an anonymous visitor, a signed-in visitor
and a backer. The counts do not grow with pledges, comments or updates."""
import pytest

from crowdfund.comments.models import Comment
from crowdfund.extensions import db
from crowdfund.updates.models import Update

# The body rendered (12): the campaign with its founder and category (one query), its gallery, budget, tiers
# and milestones (one each), the founder's credit profile (or their launched count when there is none), the
# latest updates and their spend reports, spend by budget line, milestone reports, the comments. A signed-in
# visitor adds the user, the campaign with "backs it / follows it", and "you reported" (3); a backer the
# request box (1). (Issue 17 asked for at most 6 for an uncached page: not reached — the collections are
# one query each. A stored body is what most requests get: tests/test_shared_pages.py.)
UNCACHED = {"anonymous": 12, "signed-in": 15, "backer": 16}


@pytest.fixture
def busy(make_campaign, make_user, make_pledge):
    """A campaign with backers, comments and updates."""
    def build(extra: int):
        campaign = make_campaign(state="live", goal=100_000)
        for number in range(extra):
            backer = make_user()
            make_pledge(campaign, backer=backer, amount=1_000 + number)
            db.session.add(Comment(campaign_id=campaign.id, author_id=backer.id, body=f"Comment {number}"))
            db.session.add(Update(campaign_id=campaign.id, author_id=campaign.founder_id, title=f"News {number}",
                                  body="Progress.", visibility="public"))
        db.session.commit()
        return campaign
    return build


def counted(client, url, count_queries) -> list[str]:
    db.session.expunge_all()  # each request starts with an empty session
    with count_queries() as statements:
        assert client.get(url).status_code == 200
    return statements


@pytest.mark.parametrize("viewer", ["anonymous", "signed-in", "backer"])
def test_an_uncached_campaign_page_costs_a_fixed_number_of_queries(busy, viewer, client, login, make_user,
                                                                    make_pledge, count_queries):
    counts = []
    for extra in (1, 12):
        campaign = busy(extra)
        if viewer == "anonymous":
            visitor = client
        else:
            person = make_user()
            if viewer == "backer":
                make_pledge(campaign, backer=person)
            visitor = login(person)
        counts.append(len(counted(visitor, f"/c/{campaign.slug}", count_queries)))

    assert counts[0] == counts[1] <= UNCACHED[viewer], counts
