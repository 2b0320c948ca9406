"""Founder updates: who may post, who may read a backers-only update (page, list, campaign page,
Atom feed), and that update text goes through the same sanitiser as the story."""
import re
from xml.etree import ElementTree

import pytest

from crowdfund.extensions import db
from crowdfund.updates.models import Update

ATOM = "{http://www.w3.org/2005/Atom}"
SECRET = "The supplier gave us a discount code only for backers"


@pytest.fixture
def live(founder, make_campaign):
    return make_campaign(founder=founder, state="live")


def post(client, campaign, title="Oven ordered", body="We **ordered** the oven.", visibility="public"):
    return client.post(f"/c/{campaign.slug}/updates/new",
                       data={"title": title, "body": body, "visibility": visibility})


def test_the_founder_posts_a_public_update_everyone_can_read(client, founder_client, live):
    response = post(founder_client, live)

    assert response.status_code == 302
    update = db.session.execute(db.select(Update)).scalar_one()
    assert response.headers["Location"] == f"/c/{live.slug}/updates/{update.id}"
    page = client.get(f"/c/{live.slug}/updates/{update.id}").get_data(as_text=True)
    assert "Oven ordered" in page and "<strong>ordered</strong>" in page
    campaign_page = client.get(f"/c/{live.slug}").get_data(as_text=True)
    assert "Oven ordered" in campaign_page
    assert "Last update just now" in campaign_page


def test_a_backers_only_update_is_read_by_backers_and_hidden_from_everyone_else(
        client, login, founder_client, live, make_user, make_pledge):
    backer, stranger, cancelled = make_user(), make_user(), make_user()
    make_pledge(live, backer=backer, state="active")
    make_pledge(live, backer=cancelled, state="cancelled")
    post(founder_client, live, title="Secret supplier news", body=SECRET, visibility="backers")
    update = db.session.execute(db.select(Update)).scalar_one()
    url = f"/c/{live.slug}/updates/{update.id}"

    backer_client = login(backer)
    assert SECRET in backer_client.get(url).get_data(as_text=True)
    assert SECRET in backer_client.get(f"/c/{live.slug}/updates").get_data(as_text=True)
    assert SECRET in founder_client.get(url).get_data(as_text=True)

    for outsider in (login(stranger), login(cancelled)):
        assert outsider.get(url).status_code == 404
        for page_url in (f"/c/{live.slug}/updates", f"/c/{live.slug}"):
            page = outsider.get(page_url).get_data(as_text=True)
            assert SECRET not in page and "Secret supplier news" not in page
            assert "Backers-only update posted" in page
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login")
    for page_url in (f"/c/{live.slug}/updates", f"/c/{live.slug}", f"/c/{live.slug}/updates.atom"):
        body = client.get(page_url).get_data(as_text=True)
        assert SECRET not in body and "Secret supplier news" not in body


def test_the_feed_lists_public_updates_only_with_escaped_html(client, founder_client, live):
    post(founder_client, live, title="First <oven>", body="Ordered [it](https://example.com) & paid.")
    post(founder_client, live, title="Backers note", body=SECRET, visibility="backers")

    response = client.get(f"/c/{live.slug}/updates.atom")

    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    feed = ElementTree.fromstring(response.data)
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == ["First <oven>"]
    content = entries[0].findtext(f"{ATOM}content")
    assert '<a href="https://example.com" rel="nofollow ugc noopener">it</a>' in content
    assert entries[0].find(f"{ATOM}link").get("href") .startswith("http://127.0.0.1:5000/c/")


@pytest.mark.parametrize("state", ["draft", "in_review", "approved"])
def test_updates_wait_for_the_launch(founder_client, founder, make_campaign, state):
    campaign = make_campaign(founder=founder, state=state)

    response = post(founder_client, campaign)

    assert response.status_code == 302
    assert response.headers["Location"] == f"/c/{campaign.slug}"
    assert db.session.execute(db.select(db.func.count(Update.id))).scalar_one() == 0


def test_only_the_founder_can_post(login, live, make_user, make_pledge):
    backer = make_user()
    make_pledge(live, backer=backer)

    assert post(login(backer), live).status_code == 404
    assert login(backer).get(f"/c/{live.slug}/updates/new").status_code == 404
    assert db.session.execute(db.select(db.func.count(Update.id))).scalar_one() == 0


def test_a_missing_title_is_refused_and_the_text_kept(founder_client, live):
    response = post(founder_client, live, title="", body="Half a story")

    assert response.status_code == 422
    assert "Half a story" in response.get_data(as_text=True)
    assert db.session.execute(db.select(db.func.count(Update.id))).scalar_one() == 0


def test_an_unknown_visibility_is_refused(founder_client, live):
    response = post(founder_client, live, visibility="everyone-and-their-dog")

    assert response.status_code == 422
    assert db.session.execute(db.select(db.func.count(Update.id))).scalar_one() == 0


def test_update_text_is_sanitised_like_the_story(client, founder_client, live):
    post(founder_client, live, body='<script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)>')
    update = db.session.execute(db.select(Update)).scalar_one()

    page = client.get(f"/c/{live.slug}/updates/{update.id}").get_data(as_text=True)

    prose = page[page.index('<div class="prose">'):].split("</div>")[0]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in prose  # shown as text
    assert re.search(r"<script|<img|href=\"javascript|onerror=\"", prose) is None


def test_an_update_of_another_campaign_is_not_found_under_this_one(client, founder_client, live, make_campaign,
                                                                    founder):
    other = make_campaign(founder=founder, state="live")
    post(founder_client, other)
    update = db.session.execute(db.select(Update)).scalar_one()

    assert client.get(f"/c/{live.slug}/updates/{update.id}").status_code == 404
    assert client.get(f"/c/{live.slug}/updates/999999").status_code == 404


def test_the_campaign_page_says_how_long_ago_the_last_update_was(client, founder, live):
    from datetime import timedelta

    from crowdfund.clock import utcnow

    db.session.add(Update(campaign_id=live.id, author_id=founder.id, title="Old news", body="Text",
                          created_at=utcnow() - timedelta(days=5, hours=3)))
    db.session.commit()

    assert "Last update 5 days ago" in client.get(f"/c/{live.slug}").get_data(as_text=True)
