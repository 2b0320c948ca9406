"""Signed-in pages from the cache (issue 17): the campaign page's body is made once per campaign version
for each kind of viewer and reused; each viewer's own parts — header, follow box, "Report" on comments,
CSRF tokens — are theirs. Runs on SQLite and PostgreSQL."""
import re

import pytest
from flask import g, request_started

from crowdfund import page_cache
from crowdfund.comments.models import Comment, CommentReport
from crowdfund.extensions import db
from crowdfund.notifications.models import Follow
PASSWORD = "correct horse battery"  # what make_user gives every user (tests/conftest.py)

pytestmark = pytest.mark.page_cache


def text_of(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def body_renders(monkeypatch) -> list:
    """Each time a shared body is rendered (not taken from the cache), its template's name."""
    from crowdfund import personal

    made, real = [], personal.render_shared

    def counting(template_name, **context):
        made.append(template_name)
        return real(template_name, **context)

    monkeypatch.setattr(personal, "render_shared", counting)
    return made


@pytest.fixture
def live(make_campaign):
    return make_campaign(state="live", title="Oven for the corner bakery", goal=100_000)


def test_signed_in_backers_share_one_body_and_each_sees_their_own_header(live, make_user, make_pledge, login,
                                                                          monkeypatch):
    ada, bea = make_user(display_name="Ada Lovelace"), make_user(display_name="Bea Baker")
    for backer in (ada, bea):
        make_pledge(live, backer=backer, amount=5_000)
    made = body_renders(monkeypatch)

    ada_page, bea_page = text_of(login(ada), f"/c/{live.slug}"), text_of(login(bea), f"/c/{live.slug}")

    assert made == ["campaigns/show.html"]  # made once, for the first backer
    assert "Ada Lovelace" in ada_page and "Bea Baker" not in ada_page
    assert "Bea Baker" in bea_page and "Ada Lovelace" not in bea_page
    assert "Log out" in ada_page and "Oven for the corner bakery" in bea_page and "$100" in bea_page


def test_a_pledge_shows_at_once_to_signed_in_viewers(live, make_user, make_pledge, login):
    viewer = login(make_user())
    assert "$420" not in text_of(viewer, f"/c/{live.slug}")

    make_pledge(live, amount=42_000)

    assert "$420" in text_of(viewer, f"/c/{live.slug}")
    assert "$420" in text_of(viewer, "/discover")


def test_backers_signed_in_visitors_and_anonymous_visitors_each_get_their_own_body(live, make_user, make_pledge,
                                                                                     login, client):
    backer, other = make_user(), make_user()
    make_pledge(live, backer=backer)

    backer_page = text_of(login(backer), f"/c/{live.slug}")
    other_page = text_of(login(other), f"/c/{live.slug}")
    anonymous_page = text_of(client, f"/c/{live.slug}")

    assert 'class="comment-form"' in backer_page  # backers may comment
    assert 'class="comment-form"' not in other_page and "Only backers of this campaign" in other_page
    assert "Log in if you backed it" in anonymous_page and "Log in if you backed it" not in other_page


def test_the_follow_box_is_each_viewers_own(live, make_user, login):
    follower, other = make_user(), make_user()
    db.session.add(Follow(user_id=follower.id, campaign_id=live.id))
    db.session.commit()

    assert "Following · Unfollow" in text_of(login(follower), f"/c/{live.slug}")
    other_page = text_of(login(other), f"/c/{live.slug}")
    assert "Following · Unfollow" not in other_page and ">Follow</button>" in other_page


def test_report_buttons_are_the_viewers_own(live, make_user, make_pledge, login):
    author, reporter, other = make_user(), make_user(), make_user()
    for backer in (author, reporter, other):
        make_pledge(live, backer=backer)
    comment = Comment(campaign_id=live.id, author_id=author.id, body="Is the oven gas or electric?")
    db.session.add(comment)
    db.session.flush()
    db.session.add(CommentReport(comment_id=comment.id, reporter_id=reporter.id, reason="Off topic"))
    db.session.commit()

    author_page = text_of(login(author), f"/c/{live.slug}")
    reporter_page = text_of(login(reporter), f"/c/{live.slug}")
    other_page = text_of(login(other), f"/c/{live.slug}")

    assert "Is the oven gas or electric?" in author_page
    assert "Report to the moderators" not in author_page  # nobody reports their own comment
    assert "You reported this comment." in reporter_page and "Report to the moderators" not in reporter_page
    assert "Report to the moderators" in other_page and "You reported this comment." not in other_page


@pytest.fixture
def fresh_tokens(csrf_app):
    """Forget Flask-WTF's token cached on `g` at each request, as a real server does (the tests keep
    one app context across requests)."""
    def forget(sender, **extra):
        g.pop("csrf_token", None)

    request_started.connect(forget, csrf_app)
    yield
    request_started.disconnect(forget, csrf_app)


def _tokens(page: str) -> set[str]:
    return set(re.findall(r'name="csrf_token"[^>]*value="([^"]+)"', page))


def test_each_viewer_gets_their_own_csrf_token_and_it_works(csrf_app, fresh_tokens, make_campaign, make_user,
                                                             make_pledge):
    campaign = make_campaign(state="live")
    ada, bea = make_user(), make_user()
    for backer in (ada, bea):
        make_pledge(campaign, backer=backer)

    def signed_in(user):
        client = csrf_app.test_client()
        token = _tokens(client.get("/login").get_data(as_text=True)).pop()
        client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
        return client

    ada_client, bea_client = signed_in(ada), signed_in(bea)
    ada_tokens = _tokens(text_of(ada_client, f"/c/{campaign.slug}"))
    bea_tokens = _tokens(text_of(bea_client, f"/c/{campaign.slug}"))

    assert len(ada_tokens) == 1 and len(bea_tokens) == 1 and ada_tokens != bea_tokens
    assert not any("crowdfund-csrf" in token for token in ada_tokens | bea_tokens)
    assert bea_client.post(f"/c/{campaign.slug}/comments",
                           data={"body": "Counting the days", "csrf_token": bea_tokens.pop()}).status_code == 303
    assert bea_client.post(f"/c/{campaign.slug}/comments",
                           data={"body": "With Ada's token", "csrf_token": ada_tokens.pop()}).status_code == 400
    stored = [value for value in csrf_app.extensions["crowdfund_page_cache"].backend._cache.values()]
    assert stored and not any(token in str(value) for value in stored for token in _tokens(
        text_of(ada_client, f"/c/{campaign.slug}")))


def test_the_founder_gets_a_page_of_their_own(live, login, monkeypatch, make_user):
    visitor = login(make_user())
    text_of(visitor, f"/c/{live.slug}")
    made = body_renders(monkeypatch)

    founder_page = text_of(login(live.founder), f"/c/{live.slug}")
    founder_again = text_of(login(live.founder), f"/c/{live.slug}")
    text_of(visitor, f"/c/{live.slug}")

    assert "Cancel campaign" in founder_page and "Cancel campaign" in founder_again
    assert made == ["campaigns/show.html", "campaigns/show.html"]  # the founder's, each time; the visitor's stored
    assert "Report this campaign" not in founder_page


def test_a_stored_body_costs_a_few_queries(live, make_user, make_pledge, login, count_queries):
    backer = make_user()
    make_pledge(live, backer=backer)
    viewer = login(backer)
    text_of(viewer, f"/c/{live.slug}")  # stores the body
    db.session.expunge_all()  # a request starts with an empty session

    with count_queries() as statements:
        page = text_of(viewer, f"/c/{live.slug}")

    assert "Oven for the corner bakery" in page
    # the user (with their log-in session), the campaign with "backs it and follows it", the request box
    assert len(statements) <= 3, "\n".join(statements)


def test_a_signed_in_listing_page_comes_from_the_stored_body(live, make_user, login, count_queries, monkeypatch):
    viewer = login(make_user(display_name="Cleo Cook"))
    text_of(viewer, "/discover")
    made = body_renders(monkeypatch)
    db.session.expunge_all()

    with count_queries() as statements:
        page = text_of(viewer, "/discover")

    assert made == [] and "Oven for the corner bakery" in page and "Cleo Cook" in page
    assert len(statements) == 1, "\n".join(statements)  # the user, with their log-in session


@pytest.mark.parametrize("silent_days", [40, 5])
def test_the_request_box_is_each_backers_own(make_campaign, make_user, make_pledge, login, silent_days):
    from datetime import timedelta

    from crowdfund.clock import utcnow
    from crowdfund.updates.models import UpdateRequest

    campaign = make_campaign(state="live", duration_days=60, launched_at=utcnow() - timedelta(days=silent_days))
    asked, waiting = make_user(), make_user()
    for backer in (asked, waiting):
        make_pledge(campaign, backer=backer)
    if silent_days > 30:
        db.session.add(UpdateRequest(campaign_id=campaign.id, user_id=asked.id, created_at=utcnow() - timedelta(days=1)))
        db.session.commit()

    asked_page = text_of(login(asked), f"/c/{campaign.slug}")
    waiting_page = text_of(login(waiting), f"/c/{campaign.slug}")

    if silent_days > 30:
        assert "You asked for an update on" in asked_page and "Request an update</button>" not in asked_page
        assert "Request an update</button>" in waiting_page and "You asked for an update" not in waiting_page
    else:  # a short silence: nothing to ask yet, for anyone
        assert "Request an update</button>" not in asked_page + waiting_page


def test_with_redis_away_signed_in_pages_are_made_for_each_request_and_nothing_is_lost(
        app, make_campaign, make_user, make_pledge):
    """The shared bodies live in Redis: with Redis refusing connections a signed-in backer still gets
    their page (made for them, with their own name and the latest totals), and what they post is kept."""
    from crowdfund import create_app

    broken = create_app({**app.config, "CACHE_REDIS_URL": "redis://127.0.0.1:9/0"})  # nothing listens on 9
    campaign = make_campaign(state="live", title="Kiln with Redis away")
    backer = make_user(display_name="Dora Potter")
    make_pledge(campaign, backer=backer, amount=5_000)
    url = f"/c/{campaign.slug}"

    with broken.app_context():
        client = broken.test_client()
        assert client.post("/login", data={"email": backer.email, "password": PASSWORD}).status_code == 302
        first = client.get(url)
        posted = client.post(f"{url}/comments", data={"body": "Still here while the cache is down"})
        make_pledge(campaign, amount=42_000)
        after = client.get(url)

    assert first.status_code == 200 and "Dora Potter" in first.get_data(as_text=True)
    assert posted.status_code == 303
    assert Comment.query.filter_by(body="Still here while the cache is down").count() == 1
    page = after.get_data(as_text=True)
    assert after.status_code == 200 and "Still here while the cache is down" in page and "$470" in page
