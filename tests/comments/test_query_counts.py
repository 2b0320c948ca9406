"""The campaign page and an update page run as many SQL statements with 40 comment threads (each
with replies, some hidden, some reported) as with one."""
import pytest

from crowdfund.comments.models import Comment, CommentReport
from crowdfund.extensions import db


@pytest.fixture
def fill(live, make_user, make_pledge):
    """fill(n, reporter_id, update_id=None): n threads, each with a founder's reply and another reply;
    every fifth thread hidden; every thread reported by reporter_id (ids: the session is emptied
    between requests)."""
    campaign_id, founder_id = live.id, live.founder_id
    authors = [make_user() for _ in range(3)]
    for author in authors:
        make_pledge(live, backer=author, state="collected")
    author_ids = [a.id for a in authors]

    def add(n, reporter_id, update_id=None):
        for i in range(n):
            head = Comment(campaign_id=campaign_id, update_id=update_id, author_id=author_ids[i % 3], body=f"Thread {i}")
            db.session.add(head)
            db.session.flush()
            db.session.add_all([
                Comment(campaign_id=campaign_id, update_id=update_id, parent_id=head.id, author_id=founder_id,
                        body=f"Founder reply {i}"),
                Comment(campaign_id=campaign_id, update_id=update_id, parent_id=head.id,
                        author_id=author_ids[(i + 1) % 3], body=f"Reply {i}")])
            if i % 5 == 4:
                head.hidden_at, head.hidden_reason = head.created_at, "Spam"
            db.session.add(CommentReport(comment_id=head.id, reporter_id=reporter_id))
        db.session.commit()

    return add


def _count(client, count_queries, url):
    client.get(url)
    db.session.remove()
    with count_queries() as statements:
        response = client.get(url)
    assert response.status_code == 200
    return response.get_data(as_text=True), len(statements)


@pytest.mark.parametrize("viewer", ["visitor", "backer", "founder", "moderator"])
def test_campaign_and_update_pages_do_not_run_a_query_per_comment(
        viewer, client, login, founder, live, backer, fill, make_user, make_update, count_queries):
    update_id = make_update(live).id
    reader = {"visitor": None, "backer": backer, "founder": founder, "moderator": make_user(role="moderator")}[viewer]
    reporter_id = (reader or backer).id
    viewer_client = login(reader) if reader else client
    pages = (f"/c/{live.slug}", f"/c/{live.slug}/updates/{update_id}")

    fill(1, reporter_id)
    fill(1, reporter_id, update_id)
    small = [_count(viewer_client, count_queries, url) for url in pages]
    fill(39, reporter_id)
    fill(39, reporter_id, update_id)
    large = [_count(viewer_client, count_queries, url) for url in pages]

    for (_page, few), (page, many) in zip(small, large):
        assert few == many
        assert "Thread 38<" in page and "Founder reply 38<" in page
        assert ("Thread 4<" in page) == (viewer == "moderator")  # hidden: only moderators see it
        assert "Reply 4<" in page
